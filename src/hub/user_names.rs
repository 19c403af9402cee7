//! A user's names in one allocation: the nick, the user name, the real name, and the keys the
//! hub files the nick under (its folded form and its look-alike skeleton). Every user holds
//! these; one allocation instead of two, and no copy of a key that is the same as the text
//! before it (a nick already folded, a skeleton that is the folded form), is what most users'
//! names then cost.

use crate::names::NameKeys;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UserNames {
    /// The nick, the user name, the real name, the folded nick unless it is the nick, the
    /// skeleton unless it is the folded nick.
    text: Box<str>,
    nick_len: u16,
    user_len: u16,
    real_len: u16,
    /// 0: the folded nick is the nick itself (a folded nick is never empty).
    key_len: u16,
}

/// The longest prefix of `s` that fits a `u16` length, cut at a character boundary.
fn cut(s: &str) -> &str {
    let mut len = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    &s[..len]
}

impl UserNames {
    /// Each part too long for its length is cut at a character boundary (no name the rules
    /// allow comes near).
    pub(super) fn new(nick: &str, user: &str, realname: &str, keys: &NameKeys) -> UserNames {
        let (nick, user, realname) = (cut(nick), cut(user), cut(realname));
        let key = cut(keys.key());
        let skeleton = cut(keys.skeleton());
        let key_part = if key == nick { "" } else { key };
        let skeleton_part = if skeleton == key { "" } else { skeleton };
        let parts = [nick, user, realname, key_part, skeleton_part];
        UserNames {
            text: parts.concat().into_boxed_str(),
            nick_len: nick.len() as u16,
            user_len: user.len() as u16,
            real_len: realname.len() as u16,
            key_len: key_part.len() as u16,
        }
    }

    fn part(&self, start: usize, len: u16) -> &str {
        self.text.get(start..start + usize::from(len)).unwrap_or("")
    }

    pub(super) fn nick(&self) -> &str {
        self.part(0, self.nick_len)
    }

    pub(super) fn username(&self) -> &str {
        self.part(usize::from(self.nick_len), self.user_len)
    }

    pub(super) fn realname(&self) -> &str {
        let start = usize::from(self.nick_len) + usize::from(self.user_len);
        self.part(start, self.real_len)
    }

    fn key_start(&self) -> usize {
        usize::from(self.nick_len) + usize::from(self.user_len) + usize::from(self.real_len)
    }

    /// The folded nick, the key of the hub's nick map.
    pub(super) fn key(&self) -> &str {
        match self.key_len {
            0 => self.nick(),
            len => self.part(self.key_start(), len),
        }
    }

    /// The nick's look-alike skeleton, the key of the hub's skeleton map.
    pub(super) fn skeleton(&self) -> &str {
        let start = self.key_start() + usize::from(self.key_len);
        match self.text.get(start..) {
            Some(rest) if !rest.is_empty() => rest,
            _ => self.key(),
        }
    }

    /// The keys, as a value of their own (for what outlives a rename).
    pub(super) fn keys(&self) -> NameKeys {
        NameKeys::new(self.key(), self.skeleton())
    }

    /// The same names under a new nick filed under `keys`.
    pub(super) fn with_nick(&self, nick: &str, keys: &NameKeys) -> UserNames {
        UserNames::new(nick, self.username(), self.realname(), keys)
    }

    /// The same names with a new real name.
    pub(super) fn with_realname(&self, realname: &str) -> UserNames {
        let keys = self.keys();
        UserNames::new(self.nick(), self.username(), realname, &keys)
    }

    /// The bytes of the one allocation (tests).
    #[cfg(test)]
    pub(super) fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_reads_back_and_keys_equal_to_the_text_before_are_not_copied() {
        let names = UserNames::new("c12", "c12", "stress client", &NameKeys::new("c12", "c12"));
        assert_eq!(names.text(), "c12c12stress client", "no copy of either key");
        assert_eq!(
            (names.nick(), names.username(), names.realname()),
            ("c12", "c12", "stress client")
        );
        assert_eq!((names.key(), names.skeleton()), ("c12", "c12"));

        let names = UserNames::new("Zoë", "zoe", "Zoë Ü", &NameKeys::new("zoë", "zoe"));
        assert_eq!(names.text(), "ZoëzoeZoë Üzoëzoe");
        assert_eq!(
            (names.nick(), names.username(), names.realname()),
            ("Zoë", "zoe", "Zoë Ü")
        );
        assert_eq!((names.key(), names.skeleton()), ("zoë", "zoe"));

        // A folded nick that is the nick, and a skeleton that is not.
        let names = UserNames::new("c1", "u", "", &NameKeys::new("c1", "cl"));
        assert_eq!(names.text(), "c1ucl");
        assert_eq!(
            (names.key(), names.skeleton(), names.realname()),
            ("c1", "cl", "")
        );

        // A folded nick that is not the nick, and a skeleton that is the folded nick.
        let names = UserNames::new("Bob", "b", "B", &NameKeys::new("bob", "bob"));
        assert_eq!(names.text(), "BobbBbob");
        assert_eq!((names.key(), names.skeleton()), ("bob", "bob"));
        assert_eq!(names.keys(), NameKeys::new("bob", "bob"));
    }

    #[test]
    fn a_rename_and_a_new_real_name_keep_the_rest() {
        let names = UserNames::new("Alice", "al", "Alice L", &NameKeys::new("alice", "alice"));
        let renamed = names.with_nick("alicia", &NameKeys::new("alicia", "alicia"));
        assert_eq!(renamed.text(), "aliciaalAlice L");
        assert_eq!((renamed.nick(), renamed.username()), ("alicia", "al"));
        assert_eq!(renamed.key(), "alicia");
        let renamed = renamed.with_realname("");
        assert_eq!(
            (
                renamed.nick(),
                renamed.username(),
                renamed.realname(),
                renamed.key()
            ),
            ("alicia", "al", "", "alicia")
        );
        assert_eq!(names.key(), "alice", "the old names are untouched");
    }

    #[test]
    fn a_part_too_long_for_its_length_is_cut_at_a_character_boundary() {
        let long = "é".repeat(40_000);
        let names = UserNames::new(&long, "u", "r", &NameKeys::new("k", "k"));
        assert_eq!(
            names.nick().len(),
            65_534,
            "é is two bytes: 65 535 would split one"
        );
        assert_eq!((names.username(), names.realname()), ("u", "r"));
        assert_eq!((names.key(), names.skeleton()), ("k", "k"));
    }
}
