//! Server information commands, answered by the front end alone: VERSION, TIME, ADMIN, INFO,
//! LINKS, STATS and HELP. Pure writers: everything they tell is passed in.

use crate::front::operator::one_line;
use crate::front::ServerAnswer;
use crate::proto::irc_msg::{numeric::*, write_message, write_numeric};

/// What the information commands need to know.
pub struct About<'a> {
    pub srv: &'a str,
    /// What the server says of itself.
    pub description: &'a str,
    pub me: &'a str,
    pub now_ms: u64,
    pub started_ms: u64,
    /// The ISUPPORT tokens, for VERSION.
    pub isupport: &'a [String],
}

pub fn version(a: &About<'_>, out: &mut Vec<u8>) {
    let v = format!("snak-{}.", env!("CARGO_PKG_VERSION"));
    write_numeric(
        out,
        a.srv,
        RPL_VERSION,
        a.me,
        &[&v, a.srv, "snak chat server"],
    );
    super::write_isupport(out, a.srv, a.me, a.isupport);
}

pub fn time(a: &About<'_>, out: &mut Vec<u8>) {
    let secs = (a.now_ms / 1000) as i64;
    let text = crate::text::rfc2822(secs, 0);
    let ts = secs.to_string();
    write_numeric(out, a.srv, RPL_TIME, a.me, &[a.srv, &ts, "0", &text]);
}

pub fn admin(a: &About<'_>, out: &mut Vec<u8>) {
    let n =
        |out: &mut Vec<u8>, code, params: &[&str]| write_numeric(out, a.srv, code, a.me, params);
    n(out, RPL_ADMINME, &[a.srv, "Administrative info"]);
    n(out, RPL_ADMINLOC1, &["This server runs snak"]);
    n(
        out,
        RPL_ADMINLOC2,
        &["Ask the server's operators (/STATS o)"],
    );
    n(out, RPL_ADMINEMAIL, &["no e-mail address is configured"]);
}

const INFO: &[&str] = &[
    "snak: a chat server for netcat-friendly native clients and IRC, in the same rooms.",
    "Written in Rust: one single-threaded event loop holding very many connections.",
    "IRCv3: message-tags, server-time, echo-message, labeled-response, batch, MONITOR, WHOX.",
];

pub fn info(a: &About<'_>, out: &mut Vec<u8>) {
    let version = format!("snak {}", env!("CARGO_PKG_VERSION"));
    write_numeric(out, a.srv, RPL_INFO, a.me, &[&version]);
    for line in INFO {
        write_numeric(out, a.srv, RPL_INFO, a.me, &[line]);
    }
    write_numeric(out, a.srv, RPL_ENDOFINFO, a.me, &["End of /INFO list"]);
}

/// LINKS: this server alone (no network of servers yet).
pub fn links(a: &About<'_>, out: &mut Vec<u8>) {
    let info = format!("0 {}", a.description);
    write_numeric(out, a.srv, RPL_LINKS, a.me, &[a.srv, a.srv, &info]);
    write_numeric(
        out,
        a.srv,
        RPL_ENDOFLINKS,
        a.me,
        &["*", "End of /LINKS list"],
    );
}

/// A server operator's REHASH (382, then a NOTICE per change or per reason it failed) or
/// `STATS f` (one 249 per figure, then 219).
pub fn told(srv: &str, me: &str, answer: &ServerAnswer, out: &mut Vec<u8>) {
    let notice = |out: &mut Vec<u8>, text: &str| {
        write_message(out, Some(srv), "NOTICE", &[me, &one_line(text)]);
    };
    match answer {
        ServerAnswer::Reloaded { source, outcome } => match outcome {
            Ok(changes) => {
                // A middle parameter cannot hold a space (a path might).
                let source = match source.contains(' ') || source.is_empty() {
                    true => "*",
                    false => source.as_str(),
                };
                write_numeric(out, srv, RPL_REHASHING, me, &[source, "Rehashing"]);
                if changes.is_empty() {
                    notice(out, "*** REHASH: nothing changed");
                }
                for c in changes {
                    notice(out, &format!("*** REHASH: {c}"));
                }
            }
            Err(errors) => {
                for e in errors {
                    notice(
                        out,
                        &format!("*** REHASH failed, the old settings stay: {e}"),
                    );
                }
            }
        },
        ServerAnswer::Figures(figures) => {
            for (name, value) in figures {
                let text = format!("{name} {value}");
                write_numeric(out, srv, RPL_STATSDEBUG, me, &["f", &text]);
            }
            write_numeric(out, srv, RPL_ENDOFSTATS, me, &["f", "End of /STATS report"]);
        }
    }
}

/// STATS `u` (uptime) and `m` (commands used, from `counts`); other letters list nothing.
pub fn stats(a: &About<'_>, query: &str, counts: &[(&str, u64)], out: &mut Vec<u8>) {
    let letter = query.chars().next().unwrap_or('*');
    match letter {
        'u' => {
            let up = a.now_ms.saturating_sub(a.started_ms) / 1000;
            let text = format!(
                "Server Up {} days {}:{:02}:{:02}",
                up / 86_400,
                up / 3600 % 24,
                up / 60 % 60,
                up % 60
            );
            write_numeric(out, a.srv, RPL_STATSUPTIME, a.me, &[&text]);
        }
        'm' => {
            for (command, count) in counts {
                let n = count.to_string();
                write_numeric(out, a.srv, RPL_STATSCOMMANDS, a.me, &[command, &n, "0"]);
            }
        }
        _ => {}
    }
    let mut buf = [0u8; 4];
    let shown = if letter.is_ascii_alphanumeric() {
        &*letter.encode_utf8(&mut buf)
    } else {
        "*"
    };
    write_numeric(
        out,
        a.srv,
        RPL_ENDOFSTATS,
        a.me,
        &[shown, "End of /STATS report"],
    );
}

/// HELP texts, by command.
const HELP: &[(&str, &[&str])] = &[
    (
        "*",
        &[
            "snak understands these commands:",
            "ADMIN AWAY CAP HELP INFO INVITE ISON JOIN KICK KNOCK LINKS LIST LUSERS MODE",
            "MONITOR MOTD NAMES NICK NOTICE OPER PART PING PRIVMSG QUIT REHASH SETNAME",
            "STATS TAGMSG TIME TOPIC USERHOST VERSION WALLOPS WHO WHOIS WHOWAS",
            "HELP <command> tells more about one.",
        ],
    ),
    (
        "AWAY",
        &["AWAY [:<message>]: marks you away, or back without a message."],
    ),
    (
        "INVITE",
        &["INVITE <nick> <#room>: invites a user into a room."],
    ),
    (
        "JOIN",
        &["JOIN <#room>[,<#room>...] [<key>,...]: enters rooms; JOIN 0 leaves all."],
    ),
    (
        "KICK",
        &["KICK <#room> <nick> [:<reason>]: removes a member (room operators)."],
    ),
    (
        "KNOCK",
        &["KNOCK <#room> [:<message>]: asks a closed room's operators for an invite."],
    ),
    ("LIST", &["LIST [<#room>,...|>N|<N|<mask>]: lists rooms."]),
    (
        "MODE",
        &[
            "MODE <#room> [<changes> [<params>]]: shows or changes a room's modes.",
            "MODE <nick> [<changes>]: your own modes (+i invisible, +w wallops, +B bot).",
        ],
    ),
    (
        "MONITOR",
        &[
            "MONITOR + <nick>,...: tells you when these nicks come and go.",
            "MONITOR - <nick>,... removes them; C clears; L lists; S tells who is on line.",
        ],
    ),
    ("NAMES", &["NAMES [<#room>,...]: who is in a room."]),
    ("NICK", &["NICK <nick>: changes your nick."]),
    (
        "NOTICE",
        &["NOTICE <target> :<text>: like PRIVMSG, never answered automatically."],
    ),
    ("PART", &["PART <#room>[,...] [:<reason>]: leaves rooms."]),
    (
        "PRIVMSG",
        &[
            "PRIVMSG <target>[,<target>...] :<text>: sends a message to rooms",
            "(#room, or @#room for its operators) and users.",
        ],
    ),
    ("QUIT", &["QUIT [:<reason>]: disconnects."]),
    (
        "SETNAME",
        &["SETNAME :<real name>: changes your real name."],
    ),
    (
        "TAGMSG",
        &["TAGMSG <target>: sends client-only tags alone (message-tags)."],
    ),
    (
        "TOPIC",
        &["TOPIC <#room> [:<topic>]: shows or sets a room's topic."],
    ),
    (
        "WHO",
        &["WHO <mask|#room> [%<fields>[,<token>]]: lists users (WHOX fields tcuihsnfdlaor)."],
    ),
    ("WHOIS", &["WHOIS <nick>: tells about a user."]),
];

/// HELP [subject]: 704, 705 lines, 706; 524 for an unknown subject.
pub fn help(a: &About<'_>, subject: Option<&str>, out: &mut Vec<u8>) {
    let key = subject.unwrap_or("*");
    let Some((_, lines)) = HELP.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
        let shown = super::middle(key);
        write_numeric(
            out,
            a.srv,
            ERR_HELPNOTFOUND,
            a.me,
            &[shown, "No help available on this topic"],
        );
        return;
    };
    let shown = super::middle(subject.unwrap_or("index"));
    let mut lines = lines.iter();
    let first = lines.next().copied().unwrap_or("");
    write_numeric(out, a.srv, RPL_HELPSTART, a.me, &[shown, first]);
    for line in lines {
        write_numeric(out, a.srv, RPL_HELPTXT, a.me, &[shown, line]);
    }
    write_numeric(out, a.srv, RPL_ENDOFHELP, a.me, &[shown, "End of /HELP"]);
}
