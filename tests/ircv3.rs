//! IRCv3 over real sockets against the real binary: CAP 302, tags and msgid relayed between IRC
//! and native users, TAGMSG, echo-message, labeled-response batches, MONITOR, WHOX, STATUSMSG,
//! CTCP and DCC to native users, and the bad input the issue lists.

mod common;

use std::time::Duration;

use common::{Client, Daemon};

const S: &str = ":snak.localhost";
const QUIET: Duration = Duration::from_millis(300);

struct Irc {
    c: Client,
}

impl Irc {
    /// Registers as `nick` with the capabilities `caps` (space separated); skips the burst.
    fn with_caps(d: &Daemon, nick: &str, caps: &str) -> Irc {
        let mut irc = Irc {
            c: Client::connect(d.irc.expect("an IRC listener")),
        };
        irc.send("CAP LS 302");
        if !caps.is_empty() {
            irc.send(&format!("CAP REQ :{caps}"));
        }
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER {nick} 0 * :The {nick}"));
        irc.send("CAP END");
        irc.c.line_starting(&format!("{S} 422 "));
        irc
    }

    fn send(&mut self, line: &str) {
        self.c.send_raw(format!("{line}\r\n").as_bytes());
    }

    fn line(&mut self) -> String {
        self.c.line()
    }

    fn expect(&mut self, want: &str) {
        assert_eq!(self.c.line(), want);
    }

    fn join(&mut self, room: &str) {
        self.send(&format!("JOIN {room}"));
        self.c.line_starting(&format!("{S} 366 "));
    }

    fn silence(&mut self) {
        self.c.expect_silence(QUIET);
    }

    /// Skips lines until one whose untagged body starts with `prefix`; returns it whole.
    fn until(&mut self, prefix: &str) -> String {
        loop {
            let line = self.c.line();
            if untagged(&line).starts_with(prefix) {
                return line;
            }
        }
    }
}

/// The value of tag `key` in `line`, if it has one.
fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| match t.split_once('=') {
        Some((k, v)) if k == key => Some(v),
        None if t == key => Some(""),
        _ => None,
    })
}

/// `line` without its tag section.
fn untagged(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, body)| body),
        None => line,
    }
}

#[test]
fn cap_302_lists_every_capability_and_pipelined_requests_are_answered_in_order() {
    let d = Daemon::start(&[]);
    let mut c = Client::connect(d.irc.expect("an IRC listener"));
    c.send_raw(b"CAP LS 302\r\nCAP REQ :server-time bogus\r\nCAP REQ server-time\r\n");
    let ls = c.line();
    assert!(ls.starts_with(&format!("{S} CAP * LS :")), "{ls}");
    for cap in ["message-tags", "labeled-response", "echo-message", "batch"] {
        assert!(ls.contains(cap), "{cap} missing: {ls}");
    }
    c.expect(&format!("{S} CAP * NAK :server-time bogus"));
    c.expect(&format!("{S} CAP * ACK server-time"));
    let many = vec!["batch"; 80].join(" ");
    c.send_raw(format!("CAP REQ :{many}\r\nCAP LIST\r\n").as_bytes());
    let nak = c.line();
    assert!(nak.starts_with(&format!("{S} CAP * NAK :batch")), "{nak}");
    c.expect(&format!("{S} CAP * LIST :cap-notify server-time"));
}

#[test]
fn tags_msgid_and_time_reach_irc_users_from_irc_and_native_senders() {
    let d = Daemon::start(&[]);
    let mut a = Irc::with_caps(&d, "ann", "message-tags server-time echo-message");
    let mut b = Irc::with_caps(&d, "bob", "message-tags");
    let mut p = Irc::with_caps(&d, "pat", "");
    let mut n = d.named("nat");
    a.join("#t");
    b.join("#t");
    p.join("#t");
    n.send("/join #t");
    n.expect("* nat joined #t");
    // Each skips the joins before the native user's.
    for irc in [&mut a, &mut b, &mut p] {
        irc.until(":nat!native@127.0.0.1 JOIN #t");
    }

    a.send("@+draft/react=\\:)\\s;+typing=active;time=forged PRIVMSG #t :hello");
    let echo = a.line();
    let got = b.line();
    assert_eq!(untagged(&got), ":ann!ann@127.0.0.1 PRIVMSG #t :hello");
    assert_eq!(tag(&got, "+draft/react"), Some("\\:)\\s"));
    assert_eq!(tag(&got, "+typing"), Some("active"));
    assert_eq!(
        tag(&got, "time"),
        None,
        "bob has no server-time; no forged time passes"
    );
    let id = tag(&got, "msgid").expect("a msgid");
    assert_eq!(id.len(), 16);
    assert_eq!(tag(&echo, "msgid"), Some(id), "the echo has the same msgid");
    assert!(tag(&echo, "time").is_some_and(|t| t.ends_with('Z') && t != "forged"));
    p.expect(":ann!ann@127.0.0.1 PRIVMSG #t :hello");
    n.expect("#t <ann> hello");

    a.send("@+typing=active TAGMSG #t");
    a.until(":ann!ann@127.0.0.1 TAGMSG #t");
    let tagmsg = b.line();
    assert_eq!(untagged(&tagmsg), ":ann!ann@127.0.0.1 TAGMSG #t");
    p.silence();
    n.expect_silence(QUIET);

    n.send("hi from native");
    let got = a.line();
    assert_eq!(
        untagged(&got),
        ":nat!native@127.0.0.1 PRIVMSG #t :hi from native"
    );
    assert!(tag(&got, "msgid").is_some() && tag(&got, "time").is_some());
    p.expect(":nat!native@127.0.0.1 PRIVMSG #t :hi from native");
}

#[test]
fn labeled_commands_get_one_answer_and_statusmsg_reaches_operators_only() {
    let d = Daemon::start(&[]);
    let mut a = Irc::with_caps(&d, "ann", "labeled-response batch echo-message");
    let mut b = Irc::with_caps(&d, "bob", "");
    a.send("@label=one PING x");
    a.expect(&format!("@label=one {S} PONG snak.localhost x"));
    a.send("@label=two PONG x");
    a.expect(&format!("@label=two {S} ACK"));
    a.send("@label=three JOIN #l");
    let start = a.line();
    assert!(
        start.starts_with(&format!("@label=three {S} BATCH +")),
        "{start}"
    );
    let id = start
        .rsplit(' ')
        .nth(1)
        .and_then(|b| b.strip_prefix('+'))
        .unwrap();
    let id = id.to_string();
    a.expect(&format!("@batch={id} :ann!ann@127.0.0.1 JOIN #l"));
    assert!(a.line().starts_with(&format!("@batch={id} {S} 353 ann ")));
    a.expect(&format!("@batch={id} {S} 366 ann #l :End of /NAMES list"));
    a.expect(&format!("{S} BATCH -{id}"));
    b.join("#l");
    a.line();
    a.send("@label=four PRIVMSG @#l :ops only");
    a.expect("@label=four :ann!ann@127.0.0.1 PRIVMSG @#l :ops only");
    b.silence();
    a.send("MODE #l +v bob");
    a.line();
    b.line();
    b.send("PRIVMSG +#l :to voiced and ops");
    a.expect(":bob!bob@127.0.0.1 PRIVMSG +#l :to voiced and ops");
    // Bad labels and client batches change nothing.
    a.send(&format!("@label={} PING y", "l".repeat(65)));
    a.expect(&format!(
        "{S} FAIL * INVALID_LABEL :Labels are 1 to 64 bytes"
    ));
    a.send("BATCH +b draft/multiline #l");
    a.expect(&format!(
        "{S} FAIL BATCH UNSUPPORTED :This server takes no batches from clients"
    ));
    b.silence();
}

#[test]
fn monitor_and_whox_over_sockets() {
    let d = Daemon::start(&[]);
    let mut a = Irc::with_caps(&d, "ann", "");
    a.send("MONITOR + bob,nat");
    a.expect(&format!("{S} 731 ann bob,nat"));
    let mut b = Irc::with_caps(&d, "bob", "");
    a.expect(&format!("{S} 730 ann bob!bob@127.0.0.1"));
    let _n = d.named("nat");
    a.expect(&format!("{S} 730 ann nat!native@127.0.0.1"));
    b.send("QUIT");
    a.expect(&format!("{S} 731 ann bob"));
    a.send("WHO nat %tnuhfar,7");
    a.expect(&format!(
        "{S} 354 ann 7 native 127.0.0.1 nat H 0 :snak native client"
    ));
    a.expect(&format!("{S} 315 ann nat :End of /WHO list"));
    a.send("WHO n* %n");
    a.expect(&format!("{S} 354 ann nat"));
    a.expect(&format!("{S} 315 ann n* :End of /WHO list"));
    let list: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
    a.send(&format!("MONITOR + {}", list.join(",")));
    let full = a.c.line_starting(&format!("{S} 734 "));
    assert!(
        full.starts_with(&format!("{S} 734 ann 100 m98,m99,m100")),
        "{full}"
    );
}

#[test]
fn ctcp_and_dcc_to_native_users_never_reach_them() {
    // No web listener: no file links, so a file offer to an IRC user is refused.
    let d = Daemon::start(&["--no-web"]);
    let mut a = Irc::with_caps(&d, "ann", "");
    let mut n = d.named("nat");
    a.send("PRIVMSG nat :\x01VERSION\x01");
    let answer = a.line();
    assert!(
        answer.starts_with(":nat!native@127.0.0.1 NOTICE ann :\x01VERSION snak "),
        "{answer}"
    );
    a.send("PRIVMSG nat :\x01DCC SEND dccfile.txt 2130706433 52791 16\x01");
    let refusal = a.line();
    assert!(refusal.starts_with(&format!("{S} NOTICE ann :nat uses snak's own client")));
    a.join("#c");
    n.send("/join #c");
    n.expect("* nat joined #c");
    a.line();
    a.send("PRIVMSG #c :\x01VERSION\x01");
    a.send("PRIVMSG #c :\x01ACTION waves\x01");
    n.expect("#c * ann waves");
    // The native user's file offer, refused, is still told to the IRC user.
    n.send("/offer ann 10 notes.txt");
    n.expect("! cannot-receive-files ann uses a client that cannot take files");
    let told = a.line();
    assert!(
        told.starts_with(&format!(
            "{S} NOTICE ann :nat wanted to send you the file \"notes.txt\" (10 bytes)"
        )),
        "{told}"
    );
}

#[test]
fn bad_input_gets_its_numeric_and_nothing_else_changes() {
    let d = Daemon::start(&[]);
    let mut a = Irc::with_caps(&d, "ann", "message-tags");
    let mut b = Irc::with_caps(&d, "bob", "message-tags");
    a.join("#x");
    b.join("#x");
    a.line();
    // A tag section over 4096 bytes: 417, nothing relayed.
    a.send(&format!("@+k={} PRIVMSG #x :hi", "v".repeat(4100)));
    a.expect(&format!(
        "{S} 417 ann :Input line was too long (client tags)"
    ));
    // Over 8191 bytes: the line is dropped with 417.
    a.send(&format!("@+k={} PRIVMSG #x :hi", "v".repeat(9000)));
    a.expect(&format!("{S} 417 ann :Input line was too long"));
    // Malformed escapes are relayed as sent.
    a.send("@+k=a\\;+j=\\ PRIVMSG #x :odd");
    let got = b.line();
    assert_eq!(untagged(&got), ":ann!ann@127.0.0.1 PRIVMSG #x :odd");
    assert_eq!(tag(&got, "+k"), Some("a\\"));
    a.send("WHO ann %");
    a.expect(&format!("{S} 354 ann"));
    a.expect(&format!("{S} 315 ann ann :End of /WHO list"));
    a.send("MONITOR Q");
    a.expect(&format!(
        "{S} FAIL MONITOR INVALID_PARAMS :MONITOR takes +, -, C, L or S"
    ));
    a.c.send_raw(b"PRIVMSG #x :\xff\r\n");
    a.expect(&format!(
        "{S} FAIL PRIVMSG INVALID_UTF8 :Your line was not valid UTF-8; this server takes UTF-8 only"
    ));
    b.silence();
}
