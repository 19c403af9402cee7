//! Nick and room name rules, shared by every front end (pure).
//!
//! The operator picks one of two sets of rules, and the hub and the front ends carry it as a
//! small [`NameRules`] value:
//!
//! - [`NameRules::Unicode`], the default: names may be UTF-8. They are compared the way RFC 8265
//!   compares user names (the PRECIS `UsernameCaseMapped` profile: fullwidth and halfwidth forms
//!   map to their ordinary forms, letters to lower case, and the result to NFC), so `Åse`,
//!   `åse` and `A\u{30a}se` (NFD) are one nick. Advertised to IRC clients as
//!   `CASEMAPPING=rfc8265`, as ergo does. The part of a room name after the `#` follows the same
//!   profile: a room name is an identifier people type and compare just like a nick, and the
//!   profiles that allow spaces and symbols (RFC 8265 `OpaqueString`, RFC 8266 `Nickname`)
//!   would let in what IRC cannot carry.
//! - [`NameRules::Ascii`] (`--ascii-names`): the old rules, ASCII only, compared without regard
//!   to ASCII case, advertised as `CASEMAPPING=ascii`.
//!
//! On top of PRECIS, a name never holds a space of any kind, a control, an invisible character
//! (zero-width spaces and joiners, soft hyphens, variation selectors: Unicode's
//! Default_Ignorable_Code_Point, which PRECIS allows in some contexts and snak never does), a
//! bidirectional control, nor the characters IRC gives a meaning to. The ASCII part of the
//! rules is the same in both sets, so an ASCII name is valid under one exactly when it is
//! valid under the other. Each refusal has its own [`NameError`] with a reason for the user.
//!
//! Lengths are in bytes, as IRC clients read NICKLEN and CHANNELLEN and as line budgets count:
//! a nick is at most [`NICK_MAX`] bytes, a room name at most [`ROOM_MAX`] (`ø` takes two).
//!
//! ## Look-alikes
//! Two different names can look the same (`pаypal` with a Cyrillic `а` and `paypal`; `rn` and
//! `m`). [`NameRules::skeleton`] gives a name's confusable skeleton (Unicode TS #39, computed
//! from the folded form, so every spelling of one name has the same skeleton). The hub keeps,
//! beside its map from folded nick to user, a second map from skeleton to user, and one more
//! from skeleton to room, filled and emptied with the first ones. A nick (at registration or on
//! NICK, and a guest nick) is refused when its skeleton belongs to another user; a new room when
//! its skeleton belongs to another room. A name alone is never refused for its letters:
//! `søren` is fine, it only cannot appear beside `soren`'s look-alikes. Under the ASCII rules
//! the skeleton is the folded name itself, so the same hub code adds nothing there.
//!
//! ## The hot path
//! A nick or a room is looked up on every message: [`NameRules::key`] folds an ASCII name, and
//! a non-ASCII one that is already folded, on the stack, with no allocation. Only a lookup by
//! a non-ASCII spelling that folding changes (`#RødGrød`) allocates.
//!
//! ## Who uses what
//! The hub carries the operator's rules in `HubConfig::names` and makes every check, fold and
//! lookup through them (`rules.check_nick(n)`, `rules.nick(n)`, `rules.key(n)`); front ends
//! ask the hub (`Hub::nick_refusal`, `Hub::name_rules` for CASEMAPPING). The free functions
//! [`check_nick`], [`check_room`], [`fold`] and [`Key::new`] are the ASCII rules, for what is
//! ASCII whatever the operator chose (command words).

mod ascii;
mod unicode;

#[cfg(test)]
mod tests;

/// The longest nick in bytes, advertised as NICKLEN.
pub const NICK_MAX: usize = 31;
/// The longest room name in bytes, including the leading `#`, advertised as CHANNELLEN.
pub const ROOM_MAX: usize = 50;

/// Which names the server accepts and how it compares them (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameRules {
    /// UTF-8 names, RFC 8265 comparison, look-alike skeletons per Unicode TS #39.
    #[default]
    Unicode,
    /// ASCII names compared without regard to ASCII case (`--ascii-names`).
    Ascii,
}

/// Why a name was refused; [`NameError::nick_reason`] and [`NameError::room_reason`] complete
/// "NAME: ...". The ASCII rules use only the first four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    /// A nick starting with a digit or `-`; a room name not starting with `#`.
    BadStart,
    /// Under the ASCII rules: anything outside the allowed ASCII characters.
    BadChar,
    /// Punctuation or a symbol other than the few allowed, or a compatibility form.
    Symbol,
    /// A space, of any kind.
    Space,
    /// A character IRC gives a meaning to (`, * ? ! @ : #` and the like).
    Reserved,
    /// A control character (C0, DEL, C1).
    Control,
    /// An invisible character: zero-width space or joiner, soft hyphen, byte order mark,
    /// variation selector and the rest of Unicode's default-ignorable code points.
    Invisible,
    /// A bidirectional control: marks, embeddings, overrides, isolates.
    BidiControl,
    /// A code point that Unicode does not assign (as of Unicode 6.3, the version PRECIS names).
    Unassigned,
    /// Right-to-left letters in an order that could display wrongly (the Bidi Rule, RFC 5893).
    Direction,
    /// The name changes again each time it is folded: PRECIS's rules do not settle on it.
    Unstable,
    /// A name (after the `#` for rooms) starting with a combining mark, which would sit on
    /// whatever is shown before it.
    LeadingMark,
}

impl NameError {
    pub fn nick_reason(self) -> &'static str {
        match self {
            NameError::Empty => "a nick cannot be empty",
            NameError::TooLong => "nicks are at most 31 bytes long (ø and other non-ASCII letters take 2 or more)",
            NameError::BadStart => "a nick cannot start with a digit or -",
            NameError::BadChar => "nicks use ASCII letters, digits and - _ [ ] \\ ^ { } | `",
            NameError::Symbol => "nicks use letters, digits and - _ [ ] \\ ^ { } | `",
            NameError::Space => "nicks cannot contain spaces",
            NameError::Reserved => "nicks cannot contain , * ? ! @ : # & $ % + ~ . (IRC gives them meanings)",
            NameError::Control => "nicks cannot contain control characters",
            NameError::Invisible => "nicks cannot contain invisible characters (zero-width spaces or joiners, soft hyphens and the like)",
            NameError::BidiControl => "nicks cannot contain bidirectional controls (such as right-to-left overrides)",
            NameError::Unassigned => "nicks cannot contain unassigned code points (names follow Unicode 6.3, as PRECIS does)",
            NameError::Direction => "a nick with right-to-left letters must start with one and cannot mix in left-to-right letters",
            NameError::Unstable => "this nick changes each time it is normalised; choose another",
            NameError::LeadingMark => "a nick cannot start with a combining mark",
        }
    }

    pub fn room_reason(self) -> &'static str {
        match self {
            NameError::Empty => "a room name is # and at least one character",
            NameError::TooLong => "room names are at most 50 bytes long (ø and other non-ASCII letters take 2 or more)",
            NameError::BadStart => "room names start with #",
            NameError::BadChar => "room names use ASCII letters, digits and - _ . + !",
            NameError::Symbol => "room names use letters, digits and - _ . + !",
            NameError::Space => "room names cannot contain spaces",
            NameError::Reserved => "room names cannot contain , : * ? @ # & $ % ~ after the # (IRC gives them meanings)",
            NameError::Control => "room names cannot contain control characters",
            NameError::Invisible => "room names cannot contain invisible characters (zero-width spaces or joiners, soft hyphens and the like)",
            NameError::BidiControl => "room names cannot contain bidirectional controls (such as right-to-left overrides)",
            NameError::Unassigned => "room names cannot contain unassigned code points (names follow Unicode 6.3, as PRECIS does)",
            NameError::Direction => "a room name with right-to-left letters must start with one after the # and cannot mix in left-to-right letters",
            NameError::Unstable => "this room name changes each time it is normalised; choose another",
            NameError::LeadingMark => "a room name cannot start with a combining mark after the #",
        }
    }
}

/// A name checked and folded in one pass: what the hub files it under. The folded form and
/// the skeleton are kept in one allocation (one string when they are the same), as every
/// user and room holds a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameKeys {
    /// The folded form, then the skeleton unless it is the same.
    both: Box<str>,
    /// The folded form's length.
    key_len: u32,
}

impl NameKeys {
    /// `key` is the folded form, the key of the name maps ([`NameRules::fold`]); `skeleton`
    /// the look-alike skeleton, the key of the skeleton maps ([`NameRules::skeleton`]).
    pub fn new(key: &str, skeleton: &str) -> NameKeys {
        // Names are short (a few hundred bytes at most); a longer key is kept whole with
        // its skeleton taken as the same.
        let Ok(key_len) = u32::try_from(key.len()) else {
            return NameKeys {
                both: key.into(),
                key_len: u32::MAX,
            };
        };
        let both = if skeleton == key {
            key.into()
        } else {
            [key, skeleton].concat().into_boxed_str()
        };
        NameKeys { both, key_len }
    }

    /// The folded form.
    pub fn key(&self) -> &str {
        self.both.get(..self.key_len as usize).unwrap_or(&self.both)
    }

    /// The look-alike skeleton.
    pub fn skeleton(&self) -> &str {
        match self.both.get(self.key_len as usize..) {
            Some(rest) if !rest.is_empty() => rest,
            _ => self.key(),
        }
    }
}

impl NameRules {
    /// The rules for the `--ascii-names` flag.
    pub fn ascii_only(ascii_names: bool) -> NameRules {
        if ascii_names {
            NameRules::Ascii
        } else {
            NameRules::Unicode
        }
    }

    /// The value of ISUPPORT `CASEMAPPING`.
    pub fn casemapping(self) -> &'static str {
        match self {
            NameRules::Unicode => "rfc8265",
            NameRules::Ascii => "ascii",
        }
    }

    /// Checks a nick: 1 to [`NICK_MAX`] bytes, not starting with a digit or `-`.
    pub fn check_nick(self, nick: &str) -> Result<(), NameError> {
        match self {
            NameRules::Ascii => ascii::check_nick(nick),
            NameRules::Unicode => unicode::check(nick, unicode::Kind::Nick).map(drop),
        }
    }

    /// Checks a room name: `#` and 1 to [`ROOM_MAX`]` - 1` bytes.
    pub fn check_room(self, room: &str) -> Result<(), NameError> {
        match self {
            NameRules::Ascii => ascii::check_room(room),
            NameRules::Unicode => unicode::check(room, unicode::Kind::Room).map(drop),
        }
    }

    /// Checks a nick and gives its key and skeleton, for the hub to file a new nick under.
    pub fn nick(self, nick: &str) -> Result<NameKeys, NameError> {
        self.keys(nick, unicode::Kind::Nick)
    }

    /// Checks a room name and gives its key and skeleton, for the hub to file a new room under.
    pub fn room(self, room: &str) -> Result<NameKeys, NameError> {
        self.keys(room, unicode::Kind::Room)
    }

    fn keys(self, name: &str, kind: unicode::Kind) -> Result<NameKeys, NameError> {
        let key: Box<str> = match self {
            NameRules::Ascii => {
                match kind {
                    unicode::Kind::Nick => ascii::check_nick(name)?,
                    unicode::Kind::Room => ascii::check_room(name)?,
                }
                name.to_ascii_lowercase().into()
            }
            NameRules::Unicode => {
                let (prefix, body) = unicode::check(name, kind)?;
                joined(prefix, &body)
            }
        };
        let skeleton = self.skeleton_of_key(&key);
        Ok(NameKeys::new(&key, &skeleton))
    }

    /// The folded form used as a map key: names that compare equal fold to the same string.
    /// Folding maps and does not check (check a name before filing it, or use
    /// [`NameRules::nick`] and [`NameRules::room`]): an invalid name folds to no valid name's
    /// key, so looking it up finds nothing, or, mapped, to the key of the name it spells (a
    /// titlecase `ᾈ` after a capital lowers to `ᾀ`).
    pub fn fold(self, name: &str) -> Box<str> {
        match self {
            NameRules::Ascii => fold(name),
            NameRules::Unicode => {
                let (prefix, body) = unicode::fold(name);
                joined(prefix, &body)
            }
        }
    }

    /// The folded form of a name for a lookup: on the stack for an ASCII name and for one
    /// already folded; see the module docs.
    /// Whether `name` is its own [`NameRules::key`] under either rules (ASCII without
    /// capitals, not too long): a lookup may then use it as it is, without folding a copy.
    pub fn is_own_key(self, name: &str) -> bool {
        name.len() <= KEY_MAX
            && name
                .bytes()
                .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    }

    pub fn key(self, name: &str) -> Key {
        if self == NameRules::Ascii || name.is_ascii() || name.len() > KEY_MAX {
            return Key::new(name);
        }
        let (prefix, body) = unicode::fold(name);
        Key::from_parts(prefix, &body)
    }

    /// The confusable skeleton of a name (of its folded form): two names with the same skeleton
    /// look alike. Meant for valid names; see the module docs for how the hub uses it.
    pub fn skeleton(self, name: &str) -> Box<str> {
        self.skeleton_of_key(&self.fold(name))
    }

    fn skeleton_of_key(self, key: &str) -> Box<str> {
        match self {
            NameRules::Ascii => key.into(),
            NameRules::Unicode => unicode::skeleton(key),
        }
    }
}

fn joined(prefix: &str, body: &str) -> Box<str> {
    [prefix, body].concat().into_boxed_str()
}

/// Checks a nick by the ASCII rules; [`NameRules::check_nick`] checks by either.
pub fn check_nick(nick: &str) -> Result<(), NameError> {
    ascii::check_nick(nick)
}

/// Checks a room name by the ASCII rules; [`NameRules::check_room`] checks by either.
pub fn check_room(room: &str) -> Result<(), NameError> {
    ascii::check_room(room)
}

/// The ASCII-folded form used as a map key; [`NameRules::fold`] folds by either rules.
pub fn fold(name: &str) -> Box<str> {
    name.to_ascii_lowercase().into_boxed_str()
}

/// Longer than any valid name: such a name is looked up as one that matches nothing.
pub const KEY_MAX: usize = 64;

/// The folded form of a name for a lookup, made on the stack when it fits: looking up a nick
/// or a room on every message costs no allocation.
pub struct Key {
    repr: KeyRepr,
}

enum KeyRepr {
    Stack { buf: [u8; KEY_MAX], len: usize },
    Heap(Box<str>),
}

impl Key {
    /// Folds ASCII letters only (the ASCII rules, and any command word); for a name under
    /// the operator's rules use [`NameRules::key`].
    pub fn new(name: &str) -> Key {
        let mut buf = [0; KEY_MAX];
        let mut len = 0;
        if name.len() <= KEY_MAX {
            buf[..name.len()].copy_from_slice(name.as_bytes());
            buf[..name.len()].make_ascii_lowercase();
            len = name.len();
        }
        Key {
            repr: KeyRepr::Stack { buf, len },
        }
    }

    /// `prefix` then `body`, both already folded.
    fn from_parts(prefix: &str, body: &str) -> Key {
        let len = prefix.len() + body.len();
        if len > KEY_MAX {
            return Key {
                repr: KeyRepr::Heap(joined(prefix, body)),
            };
        }
        let mut buf = [0; KEY_MAX];
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        buf[prefix.len()..len].copy_from_slice(body.as_bytes());
        Key {
            repr: KeyRepr::Stack { buf, len },
        }
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.repr {
            // Made of whole strings, or lowercased ASCII letters of one, so never the fallback.
            KeyRepr::Stack { buf, len } => std::str::from_utf8(&buf[..*len]).unwrap_or(""),
            KeyRepr::Heap(s) => s,
        }
    }
}
