//! What a server operator asks of the server itself (a reload, the live figures), written
//! for a native client; IRC writes its own answers in `irc::info`.

use super::{Ctx, Output, ServerAnswer, ServerAsk};
use crate::event::{Event, Fail};
use crate::hub::{Command, Hub};

/// `/oper NAME PASSWORD`: the credentials are checked against `--oper`; a password given as
/// an argon2 hash is slow to check on purpose, so for one the answer is the hash, for the
/// caller to have checked off the loop (then [`oper_checked`]).
pub fn oper(
    ctx: &Ctx<'_>,
    name: &str,
    password: &str,
    hub: &mut Hub,
    out: &mut impl Output,
) -> Option<String> {
    let named = || {
        ctx.cfg
            .opers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, pw)| pw)
    };
    let plain_ok = named().any(|pw| !pw.is_hash() && pw.verify(password));
    if !plain_ok {
        if let Some(crate::config::Secret::Hash(phc)) = named().find(|pw| pw.is_hash()) {
            return Some(phc.clone());
        }
    }
    oper_checked(ctx, plain_ok, hub, out);
    None
}

/// The outcome of an operator password check.
pub fn oper_checked(ctx: &Ctx<'_>, ok: bool, hub: &mut Hub, out: &mut impl Output) {
    if ok {
        hub.apply(ctx.id, Command::Oper, ctx.clock, out);
    } else {
        let me = hub.nick(ctx.id).unwrap_or("*");
        out.one(ctx.id, me, &Event::Fail(Fail::PasswordMismatch));
    }
}

/// `/rehash` and `/stats`: asked of the server for an operator, refused to anyone else.
pub fn ask(ctx: &Ctx<'_>, ask: ServerAsk, hub: &Hub, out: &mut impl Output) {
    if hub.is_oper(ctx.id) {
        out.ask_server(ctx.id, ask);
    } else {
        let me = hub.nick(ctx.id).unwrap_or("*");
        out.one(ctx.id, me, &Event::Fail(Fail::NoPrivileges));
    }
}

/// The server's answer, as native lines.
pub fn told(ctx: &Ctx<'_>, answer: ServerAnswer, out: &mut impl Output) {
    out.raw(ctx.id, |b| write_native(&answer, b));
}

/// `= rehash SOURCE`, one `= rehash changed TEXT` per change (or `= rehash nothing changed`);
/// a failed reload is `! rehash-failed TEXT` per reason. Figures are `= stats NAME VALUE`
/// lines, then `= end stats`.
fn write_native(answer: &ServerAnswer, b: &mut Vec<u8>) {
    let mut line = |parts: &[&str]| {
        for p in parts {
            b.extend_from_slice(p.as_bytes());
        }
        b.push(b'\n');
    };
    match answer {
        ServerAnswer::Reloaded {
            source,
            outcome: Ok(changes),
        } => {
            line(&["= rehash ", source]);
            if changes.is_empty() {
                line(&["= rehash nothing changed"]);
            }
            for c in changes {
                line(&["= rehash changed ", &one_line(c)]);
            }
        }
        ServerAnswer::Reloaded {
            outcome: Err(errors),
            ..
        } => {
            for e in errors {
                line(&["! rehash-failed ", &one_line(e), "; the old settings stay"]);
            }
        }
        ServerAnswer::Figures(figures) => {
            for (name, value) in figures {
                line(&["= stats ", name, " ", value]);
            }
            line(&["= end stats"]);
        }
    }
}

/// A text made safe for one line: control characters (a file's error may hold newlines)
/// become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(answer: ServerAnswer) -> String {
        let mut b = Vec::new();
        write_native(&answer, &mut b);
        String::from_utf8(b).unwrap_or_default()
    }

    #[test]
    fn a_reload_lists_its_changes_or_says_nothing_changed() {
        let changed = ServerAnswer::Reloaded {
            source: "snak.toml".into(),
            outcome: Ok(vec!["max_targets: 4 -> 8".into()]),
        };
        assert_eq!(
            native(changed),
            "= rehash snak.toml\n= rehash changed max_targets: 4 -> 8\n"
        );
        let same = ServerAnswer::Reloaded {
            source: "snak.toml".into(),
            outcome: Ok(vec![]),
        };
        assert_eq!(
            native(same),
            "= rehash snak.toml\n= rehash nothing changed\n"
        );
    }

    #[test]
    fn a_failed_reload_is_one_error_line_per_reason() {
        let failed = ServerAnswer::Reloaded {
            source: "snak.toml".into(),
            outcome: Err(vec!["snak.toml:2: bad\nvalue".into()]),
        };
        assert_eq!(
            native(failed),
            "! rehash-failed snak.toml:2: bad value; the old settings stay\n"
        );
    }

    #[test]
    fn figures_end_with_an_end_line() {
        let figures = ServerAnswer::Figures(vec![("snak_users".into(), "3".into())]);
        assert_eq!(native(figures), "= stats snak_users 3\n= end stats\n");
    }
}
