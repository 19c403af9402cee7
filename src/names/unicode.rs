//! The Unicode rules: PRECIS `UsernameCaseMapped` (RFC 8264, RFC 8265) with snak's additions,
//! and confusable skeletons (Unicode TS #39).

use std::borrow::Cow;

use precis_profiles::precis_core::profile::{PrecisFastInvocation, Rules};
use precis_profiles::precis_core::{DerivedPropertyValue, Error as PrecisError};
use precis_profiles::UsernameCaseMapped;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::{ascii, NameError, NICK_MAX, ROOM_MAX};

/// Which of the two name spaces a name is in: they differ in length and in their ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Nick,
    Room,
}

impl Kind {
    fn max(self) -> usize {
        match self {
            Kind::Nick => NICK_MAX,
            Kind::Room => ROOM_MAX,
        }
    }

    fn allowed(self, b: u8) -> bool {
        match self {
            Kind::Nick => ascii::nick_byte(b),
            Kind::Room => ascii::room_byte(b),
        }
    }

    /// The ASCII characters that mean something in IRC where a name stands: list separators,
    /// mask wildcards, the parts of `nick!user@host`, trailing parameters, room and
    /// membership prefixes, server names.
    fn reserved(self, b: u8) -> bool {
        match self {
            Kind::Nick => b",*?!@:#&$%+~.".contains(&b),
            Kind::Room => b",:*?@#&$%~".contains(&b),
        }
    }
}

/// Checks a name by the Unicode rules and gives its folded form, as `prefix` (the `#` of a
/// room) and the folded rest.
pub(super) fn check(name: &str, kind: Kind) -> Result<(&'static str, Cow<'_, str>), NameError> {
    let (prefix, body) = match kind {
        Kind::Nick => ("", name),
        Kind::Room => match name.strip_prefix('#') {
            Some(body) => ("#", body),
            None if name.is_empty() => return Err(NameError::Empty),
            None => return Err(NameError::BadStart),
        },
    };
    let first = body.chars().next().ok_or(NameError::Empty)?;
    if name.len() > kind.max() {
        return Err(NameError::TooLong);
    }
    if kind == Kind::Nick && bad_nick_start(first) {
        return Err(NameError::BadStart);
    }
    // What the user typed, character by character, so the reason names the first problem.
    for c in body.chars() {
        plain_char(c, kind)?;
    }
    let folded = if body.is_ascii() {
        ascii_lower(body)
    } else {
        let folded = precis_fold(body).map_err(|e| refusal(e, kind))?;
        // Width mapping turns fullwidth punctuation into ASCII: check that ASCII again.
        for c in folded.chars().filter(char::is_ascii) {
            plain_char(c, kind)?;
        }
        folded
    };
    // Again, as fullwidth digits fold to ASCII ones.
    let first = folded.chars().next().ok_or(NameError::Empty)?;
    if kind == Kind::Nick && bad_nick_start(first) {
        return Err(NameError::BadStart);
    }
    if is_combining_mark(first) {
        return Err(NameError::LeadingMark);
    }
    Ok((prefix, folded))
}

/// A nick starts with neither a digit of any script nor `-`.
fn bad_nick_start(c: char) -> bool {
    c == '-' || c.is_numeric()
}

/// Folds any string for a lookup, cheaply: the profile's mappings without its checks (of a
/// valid name this is exactly the PRECIS fold; an invalid one matches nothing or, mapped, the
/// name it spells). One whose mappings do not settle gives an empty key, which no valid name
/// has.
pub(super) fn fold(name: &str) -> (&'static str, Cow<'_, str>) {
    let (prefix, body) = match name.strip_prefix('#') {
        Some(body) => ("#", body),
        None => ("", name),
    };
    if body.is_ascii() {
        return (prefix, ascii_lower(body));
    }
    match map_fold(body) {
        Some(folded) => (prefix, folded),
        None => ("", Cow::Borrowed("")),
    }
}

/// The TS #39 skeleton of a folded name, in lower case: prototypes can be capitals (`0` has
/// `O`), and keys are in lower case, so `b0b` and `bob` meet.
pub(super) fn skeleton(key: &str) -> Box<str> {
    let skeleton: String = unicode_security::skeleton(key).collect();
    skeleton.to_lowercase().nfd().collect::<String>().into()
}

/// ASCII lower case, borrowed when there is nothing to change.
fn ascii_lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Why the PRECIS fold failed.
enum Fault {
    First(PrecisError),
    Unstable,
}

/// Applies the profile until its output stops changing, at most four times, as RFC 8264
/// section 7 asks; a string that does not settle is refused.
fn precis_fold(s: &str) -> Result<Cow<'_, str>, Fault> {
    let mut folded = UsernameCaseMapped::enforce(s).map_err(Fault::First)?;
    if let Cow::Borrowed(_) = folded {
        return Ok(folded);
    }
    for _ in 0..3 {
        let again = match UsernameCaseMapped::enforce(&*folded) {
            Ok(Cow::Borrowed(_)) => None,
            Ok(Cow::Owned(again)) => Some(again),
            Err(_) => return Err(Fault::Unstable),
        };
        match again {
            Some(again) if again != *folded => folded = Cow::Owned(again),
            _ => return Ok(folded),
        }
    }
    Err(Fault::Unstable)
}

/// The profile's mapping rules (width, case, NFC), applied until they change nothing, at most
/// four times as in [`precis_fold`].
fn map_fold(s: &str) -> Option<Cow<'_, str>> {
    let profile = UsernameCaseMapped::new();
    let mut folded = Cow::Borrowed(s);
    for _ in 0..4 {
        let again = match map_once(&profile, &folded)? {
            Cow::Borrowed(_) => None,
            Cow::Owned(again) => Some(again),
        };
        match again {
            Some(again) if again != *folded => folded = Cow::Owned(again),
            _ => return Some(folded),
        }
    }
    None
}

fn map_once<'a>(profile: &UsernameCaseMapped, s: &'a str) -> Option<Cow<'a, str>> {
    let s = profile.width_mapping_rule(s).ok()?;
    let s = profile.case_mapping_rule(s).ok()?;
    profile.normalization_rule(s).ok()
}

/// Names the problem PRECIS found.
fn refusal(fault: Fault, kind: Kind) -> NameError {
    let e = match fault {
        Fault::Unstable => return NameError::Unstable,
        Fault::First(e) => e,
    };
    match e {
        PrecisError::BadCodepoint(info) => match info.property {
            DerivedPropertyValue::Unassigned => NameError::Unassigned,
            // Zero-width joiners and non-joiners, which PRECIS allows in some contexts.
            DerivedPropertyValue::ContextJ => NameError::Invisible,
            _ => char::from_u32(info.cp)
                .and_then(|c| plain_char(c, kind).err())
                .unwrap_or(NameError::Symbol),
        },
        // The input is not empty, so this is the Bidi Rule (RFC 5893) failing.
        PrecisError::Invalid => NameError::Direction,
        PrecisError::Unexpected(_) => NameError::Symbol,
    }
}

/// The checks snak makes on every character before PRECIS (which refuses more, but says less).
fn plain_char(c: char, kind: Kind) -> Result<(), NameError> {
    if c.is_ascii() {
        let b = c as u8;
        return if kind.allowed(b) {
            Ok(())
        } else if b == b' ' {
            Err(NameError::Space)
        } else if b.is_ascii_control() {
            Err(NameError::Control)
        } else if kind.reserved(b) {
            Err(NameError::Reserved)
        } else {
            Err(NameError::Symbol)
        };
    }
    if c.is_control() {
        Err(NameError::Control)
    } else if is_bidi_control(c) {
        Err(NameError::BidiControl)
    } else if is_default_ignorable(c) {
        Err(NameError::Invisible)
    } else if c.is_whitespace() {
        Err(NameError::Space)
    } else {
        Ok(())
    }
}

/// Unicode's Bidi_Control characters, the explicit formatting characters of UAX #9: ALM,
/// LRM, RLM, the embeddings and overrides with PDF, the isolates with PDI.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's Default_Ignorable_Code_Point: characters shown as nothing. TS #39's skeleton
/// drops exactly these and maps every other character to at least one, so a character whose
/// skeleton is empty is one (this uses the crate's table without a copy of it).
fn is_default_ignorable(c: char) -> bool {
    let mut buf = [0; 4];
    let is_empty = unicode_security::skeleton(c.encode_utf8(&mut buf))
        .next()
        .is_none();
    is_empty
}
