//! Mode strings (pure): `+ko-v key nick nick` into typed changes and back. Both protocols use
//! the same syntax, so `/mode #room +k key` reads as `MODE #room +k key` does.

use crate::event::{ListMode, ModeChange, ModeSet, Role, RoomFlag, UserMode};

/// Most changes with a parameter one command may carry (ISUPPORT `MODES`).
pub const MAX_PARAM_MODES: usize = 4;

/// What a room mode string asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoomModeRequest<'a> {
    pub changes: Vec<ModeChange<'a>>,
    /// Lists asked to be shown (`+b` with no mask).
    pub queries: Vec<ListMode>,
    /// Letters that are no mode of ours.
    pub unknown: Vec<char>,
    /// A mode that needs a parameter came without one.
    pub missing_param: bool,
}

fn flag(c: char) -> Option<RoomFlag> {
    RoomFlag::ALL.into_iter().find(|f| f.letter() == c)
}

fn list(c: char) -> Option<ListMode> {
    [ListMode::Ban, ListMode::Except, ListMode::InviteExcept]
        .into_iter()
        .find(|l| l.letter() == c)
}

/// Reads `changes` (`+nt-k`) with its parameters. A key with a space, comma or colon, an empty
/// key and a limit that is not a positive number are dropped, as servers do; past
/// [`MAX_PARAM_MODES`] changes with parameters the rest is ignored.
pub fn parse_room<'a>(changes: &str, params: &[&'a str]) -> RoomModeRequest<'a> {
    let mut req = RoomModeRequest::default();
    let mut params = params.iter().copied();
    let mut with_param = 0;
    let mut plus = true;
    for c in changes.chars() {
        match c {
            '+' => plus = true,
            '-' => plus = false,
            _ if flag(c).is_some() => {
                if let Some(f) = flag(c) {
                    req.changes.push(ModeChange::Flag(plus, f));
                }
            }
            'l' if !plus => req.changes.push(ModeChange::Limit(None)),
            'k' | 'l' | 'o' | 'v' | 'b' | 'e' | 'I' => {
                let takes = matches!(c, 'o' | 'v' | 'b' | 'e' | 'I') || plus;
                let param = if takes { params.next() } else { None };
                if c == 'k' && !plus {
                    // -k takes the key as a parameter by tradition; any value is fine.
                    let _ = params.next();
                    req.changes.push(ModeChange::Key(None));
                    continue;
                }
                let Some(param) = param else {
                    match list(c) {
                        Some(l) => req.queries.push(l),
                        None => req.missing_param = true,
                    }
                    continue;
                };
                with_param += 1;
                if with_param > MAX_PARAM_MODES {
                    continue;
                }
                match c {
                    'k' => {
                        let bad = param.is_empty()
                            || param.len() > KEY_MAX
                            || param.contains([',', ':', ' ']);
                        if !bad {
                            req.changes.push(ModeChange::Key(Some(param)));
                        }
                    }
                    'l' => {
                        if let Some(n) = param.parse::<usize>().ok().filter(|&n| n > 0) {
                            req.changes.push(ModeChange::Limit(Some(n)));
                        }
                    }
                    'o' => req.changes.push(ModeChange::Member(plus, Role::Op, param)),
                    'v' => req
                        .changes
                        .push(ModeChange::Member(plus, Role::Voice, param)),
                    _ => {
                        if let Some(l) = list(c) {
                            req.changes.push(ModeChange::List(plus, l, param));
                        }
                    }
                }
            }
            _ => req.unknown.push(c),
        }
    }
    req
}

/// The longest room key.
pub const KEY_MAX: usize = 23;

/// Reads a user mode string (`+i-w`); unknown letters are returned apart.
pub fn parse_user(changes: &str) -> (Vec<(bool, UserMode)>, Vec<char>) {
    let (mut out, mut unknown) = (Vec::new(), Vec::new());
    let mut plus = true;
    for c in changes.chars() {
        match c {
            '+' => plus = true,
            '-' => plus = false,
            _ => match UserMode::ALL.into_iter().find(|m| m.letter() == c) {
                Some(m) => out.push((plus, m)),
                None => unknown.push(c),
            },
        }
    }
    (out, unknown)
}

/// Writes changes as `+ov-k nick nick *`: signs only where they change, parameters after.
pub fn write_room_changes(changes: &[ModeChange<'_>], out: &mut String) {
    let mut params = String::new();
    let mut sign = None;
    for change in changes {
        let (plus, letter, param): (bool, char, Option<std::borrow::Cow<'_, str>>) = match *change {
            ModeChange::Flag(on, f) => (on, f.letter(), None),
            ModeChange::Key(Some(k)) => (true, 'k', Some(k.into())),
            ModeChange::Key(None) => (false, 'k', Some("*".into())),
            ModeChange::Limit(Some(n)) => (true, 'l', Some(n.to_string().into())),
            ModeChange::Limit(None) => (false, 'l', None),
            ModeChange::Member(on, Role::Op, nick) => (on, 'o', Some(nick.into())),
            ModeChange::Member(on, Role::Voice, nick) => (on, 'v', Some(nick.into())),
            ModeChange::List(on, l, mask) => (on, l.letter(), Some(mask.into())),
        };
        if sign != Some(plus) {
            out.push(if plus { '+' } else { '-' });
            sign = Some(plus);
        }
        out.push(letter);
        if let Some(p) = param {
            params.push(' ');
            params.push_str(&p);
        }
    }
    out.push_str(&params);
}

/// Writes a room's modes as `+kmnt KEY LIMIT` (the key as `*` unless `show_key`).
pub fn write_mode_set(modes: &ModeSet<'_>, show_key: bool, out: &mut String) {
    out.push('+');
    for f in RoomFlag::ALL {
        if modes.has(f) {
            out.push(f.letter());
        }
    }
    let mut params = String::new();
    if let Some(key) = modes.key {
        out.push('k');
        params.push(' ');
        params.push_str(if show_key { key } else { "*" });
    }
    if let Some(limit) = modes.limit {
        out.push('l');
        params.push(' ');
        params.push_str(&limit.to_string());
    }
    out.push_str(&params);
}

/// Writes user mode changes as `+i-w`.
pub fn write_user_changes(changes: &[(bool, UserMode)], out: &mut String) {
    let mut sign = None;
    for &(plus, m) in changes {
        if sign != Some(plus) {
            out.push(if plus { '+' } else { '-' });
            sign = Some(plus);
        }
        out.push(m.letter());
    }
}

/// Writes a user's modes as `+iw`.
pub fn write_user_modes(bits: u8, out: &mut String) {
    out.push('+');
    for m in UserMode::ALL {
        if bits & m.bit() != 0 {
            out.push(m.letter());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_changes_with_parameters_in_order() {
        let req = parse_room("+ko-v+lb", &["sesame", "bob", "carol", "10", "*!*@bad"]);
        assert_eq!(
            req.changes,
            vec![
                ModeChange::Key(Some("sesame")),
                ModeChange::Member(true, Role::Op, "bob"),
                ModeChange::Member(false, Role::Voice, "carol"),
                ModeChange::Limit(Some(10)),
            ],
            "the fifth parameter mode is past MODES=4"
        );
        let mut s = String::new();
        write_room_changes(&req.changes, &mut s);
        assert_eq!(s, "+ko-v+l sesame bob carol 10");
    }

    #[test]
    fn queries_unknown_letters_and_bad_values() {
        let req = parse_room("+bxZ", &[]);
        assert_eq!(req.queries, vec![ListMode::Ban]);
        assert_eq!(req.unknown, vec!['x', 'Z']);
        let req = parse_room("+k", &[]);
        assert!(req.missing_param && req.changes.is_empty());
        let req = parse_room("+k-l+l", &["a b", "0"]);
        assert!(
            req.changes == vec![ModeChange::Limit(None)],
            "{:?}",
            req.changes
        );
        let req = parse_room("-k", &["whatever"]);
        assert_eq!(req.changes, vec![ModeChange::Key(None)]);
        let mut s = String::new();
        write_room_changes(&req.changes, &mut s);
        assert_eq!(s, "-k *");
    }

    #[test]
    fn mode_sets_and_user_modes() {
        let set = ModeSet {
            flags: RoomFlag::NoOutside.bit() | RoomFlag::TopicOps.bit(),
            key: Some("k1"),
            limit: Some(5),
        };
        let mut s = String::new();
        write_mode_set(&set, false, &mut s);
        assert_eq!(s, "+ntkl * 5");
        let (changes, unknown) = parse_user("+iw-o+q");
        assert_eq!(
            changes,
            vec![
                (true, UserMode::Invisible),
                (true, UserMode::Wallops),
                (false, UserMode::Oper)
            ]
        );
        assert_eq!(unknown, vec!['q']);
        let mut s = String::new();
        write_user_changes(&changes, &mut s);
        assert_eq!(s, "+iw-o");
        let mut s = String::new();
        write_user_modes(UserMode::Invisible.bit() | UserMode::Bot.bit(), &mut s);
        assert_eq!(s, "+iB");
    }
}
