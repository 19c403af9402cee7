//! Nick and room name rules, shared by both protocols (pure).
//!
//! Names are ASCII so that look-alike and invisible characters cannot appear in them, and they
//! compare without regard to ASCII case (advertised to IRC clients as `CASEMAPPING=ascii`).

/// The longest nick, advertised as NICKLEN.
pub const NICK_MAX: usize = 31;
/// The longest room name including the leading `#`, advertised as CHANNELLEN.
pub const ROOM_MAX: usize = 50;

/// Why a name was refused; the text completes "NAME: ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    BadStart,
    BadChar,
}

impl NameError {
    pub fn nick_reason(self) -> &'static str {
        match self {
            NameError::Empty => "a nick cannot be empty",
            NameError::TooLong => "nicks are at most 31 characters",
            NameError::BadStart => "a nick cannot start with a digit or -",
            NameError::BadChar => "nicks use ASCII letters, digits and - _ [ ] \\ ^ { } | `",
        }
    }

    pub fn room_reason(self) -> &'static str {
        match self {
            NameError::Empty => "a room name is # and at least one character",
            NameError::TooLong => "room names are at most 50 characters",
            NameError::BadStart => "room names start with #",
            NameError::BadChar => "room names use ASCII letters, digits and - _ . + !",
        }
    }
}

fn is_nick_special(b: u8) -> bool {
    matches!(
        b,
        b'[' | b']' | b'\\' | b'^' | b'{' | b'}' | b'|' | b'`' | b'_'
    )
}

/// Checks a nick: 1 to 31 of letters, digits, `-` and the IRC specials, not starting with a
/// digit or `-`.
pub fn check_nick(nick: &str) -> Result<(), NameError> {
    let bytes = nick.as_bytes();
    let first = *bytes.first().ok_or(NameError::Empty)?;
    if bytes.len() > NICK_MAX {
        return Err(NameError::TooLong);
    }
    if first.is_ascii_digit() || first == b'-' {
        return Err(NameError::BadStart);
    }
    if bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || is_nick_special(b))
    {
        Ok(())
    } else {
        Err(NameError::BadChar)
    }
}

/// Checks a room name: `#` and 1 to 49 of letters, digits and `- _ . + !`.
pub fn check_room(room: &str) -> Result<(), NameError> {
    let bytes = room.as_bytes();
    if bytes.first() != Some(&b'#') {
        return Err(if bytes.is_empty() {
            NameError::Empty
        } else {
            NameError::BadStart
        });
    }
    if bytes.len() == 1 {
        return Err(NameError::Empty);
    }
    if bytes.len() > ROOM_MAX {
        return Err(NameError::TooLong);
    }
    let ok = bytes[1..]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'!'));
    if ok {
        Ok(())
    } else {
        Err(NameError::BadChar)
    }
}

/// The case-folded form used as a map key.
pub fn fold(name: &str) -> Box<str> {
    name.to_ascii_lowercase().into_boxed_str()
}

/// Longer than any valid name: such a name is looked up as one that matches nothing.
const KEY_MAX: usize = 64;

/// The folded form of a name for a lookup, made on the stack: looking up a nick or a room on
/// every message costs no allocation.
pub struct Key {
    buf: [u8; KEY_MAX],
    len: usize,
}

impl Key {
    pub fn new(name: &str) -> Key {
        let mut key = Key {
            buf: [0; KEY_MAX],
            len: 0,
        };
        if name.len() <= KEY_MAX {
            key.buf[..name.len()].copy_from_slice(name.as_bytes());
            key.buf[..name.len()].make_ascii_lowercase();
            key.len = name.len();
        }
        key
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        // Lowercasing ASCII letters keeps UTF-8 valid, so this never falls back.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks() {
        for ok in [
            "a",
            "guest-7",
            "Alice",
            "[bot]",
            "x_y",
            "a`b",
            &"n".repeat(31),
        ] {
            assert_eq!(check_nick(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_nick(""), Err(NameError::Empty));
        assert_eq!(check_nick(&"n".repeat(32)), Err(NameError::TooLong));
        assert_eq!(check_nick("7up"), Err(NameError::BadStart));
        assert_eq!(check_nick("-x"), Err(NameError::BadStart));
        for bad in [
            "a b",
            "a,b",
            "a:b",
            "ålice",
            "a\u{200b}b",
            "a.b",
            "a!b",
            "a@b",
            "#a",
        ] {
            assert!(check_nick(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rooms() {
        for ok in [
            "#a",
            "#lobby",
            "#rust-lang",
            "#a.b+c!d_e",
            &format!("#{}", "r".repeat(49)),
        ] {
            assert_eq!(check_room(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_room(""), Err(NameError::Empty));
        assert_eq!(check_room("#"), Err(NameError::Empty));
        assert_eq!(check_room("lobby"), Err(NameError::BadStart));
        assert_eq!(
            check_room(&format!("#{}", "r".repeat(50))),
            Err(NameError::TooLong)
        );
        for bad in ["#a b", "#a,b", "#a:b", "#dansk-æ", "#a\u{200b}", "#a\x07"] {
            assert_eq!(check_room(bad), Err(NameError::BadChar), "{bad}");
        }
    }

    #[test]
    fn folding_ignores_ascii_case_only() {
        assert_eq!(fold("AliCE[]"), fold("alice[]"));
        assert_ne!(fold("a{"), fold("a["));
        assert_eq!(&*Key::new("AliCE[]"), &*fold("alice[]"));
        assert_eq!(&*Key::new("Ünï"), "Ünï");
        assert_eq!(&*Key::new(&"x".repeat(65)), "", "too long to be any name");
    }
}
