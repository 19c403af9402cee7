//! The ASCII rules, and the ASCII part of the Unicode rules.

use super::{NameError, NICK_MAX, ROOM_MAX};

/// The IRC "special" characters RFC 2812 allows in nicks, and `_`.
fn is_nick_special(b: u8) -> bool {
    matches!(
        b,
        b'[' | b']' | b'\\' | b'^' | b'{' | b'}' | b'|' | b'`' | b'_'
    )
}

/// The ASCII characters a nick may hold.
pub(super) fn nick_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || is_nick_special(b)
}

/// The ASCII characters a room name may hold after the `#`.
pub(super) fn room_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'!')
}

/// A nick's first character may not be a digit or `-`.
pub(super) fn bad_nick_start(b: u8) -> bool {
    b.is_ascii_digit() || b == b'-'
}

/// Checks a nick: 1 to 31 of letters, digits, `-` and the IRC specials, not starting with a
/// digit or `-`.
pub(super) fn check_nick(nick: &str) -> Result<(), NameError> {
    let bytes = nick.as_bytes();
    let first = *bytes.first().ok_or(NameError::Empty)?;
    if bytes.len() > NICK_MAX {
        return Err(NameError::TooLong);
    }
    if bad_nick_start(first) {
        return Err(NameError::BadStart);
    }
    if bytes.iter().all(|&b| nick_byte(b)) {
        Ok(())
    } else {
        Err(NameError::BadChar)
    }
}

/// Checks a room name: `#` and 1 to 49 of letters, digits and `- _ . + !`.
pub(super) fn check_room(room: &str) -> Result<(), NameError> {
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
    if bytes[1..].iter().all(|&b| room_byte(b)) {
        Ok(())
    } else {
        Err(NameError::BadChar)
    }
}
