use super::*;
use proptest::prelude::*;

const U: NameRules = NameRules::Unicode;
const A: NameRules = NameRules::Ascii;

fn same_nick(a: &str, b: &str) {
    assert_eq!(U.check_nick(a), Ok(()), "{a:?}");
    assert_eq!(U.check_nick(b), Ok(()), "{b:?}");
    assert_eq!(U.fold(a), U.fold(b), "{a:?} and {b:?} are one nick");
    assert_eq!(&*U.key(a), &*U.fold(b), "{a:?} is looked up as {b:?}");
}

fn different_nicks(a: &str, b: &str) {
    assert_eq!(U.check_nick(a), Ok(()), "{a:?}");
    assert_eq!(U.check_nick(b), Ok(()), "{b:?}");
    assert_ne!(U.fold(a), U.fold(b), "{a:?} and {b:?} are two nicks");
}

/// Two different names that the hub must not let stand side by side.
fn look_alike(a: &str, b: &str) {
    assert_ne!(U.fold(a), U.fold(b), "{a:?} and {b:?} are different names");
    assert_eq!(U.skeleton(a), U.skeleton(b), "{a:?} looks like {b:?}");
}

#[test]
fn ascii_rules_nicks() {
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
        assert_eq!(A.check_nick(ok), Ok(()), "{ok}");
    }
    assert_eq!(A.check_nick(""), Err(NameError::Empty));
    assert_eq!(A.check_nick(&"n".repeat(32)), Err(NameError::TooLong));
    assert_eq!(A.check_nick("7up"), Err(NameError::BadStart));
    assert_eq!(A.check_nick("-x"), Err(NameError::BadStart));
    for bad in [
        "a b",
        "a,b",
        "a:b",
        "ålice",
        "søren",
        "a\u{200b}b",
        "a.b",
        "a!b",
        "a@b",
        "#a",
        "\u{ff41}lice",
    ] {
        assert_eq!(A.check_nick(bad), Err(NameError::BadChar), "{bad}");
        assert_eq!(check_nick(bad), Err(NameError::BadChar), "{bad}");
    }
}

#[test]
fn ascii_rules_rooms() {
    for ok in [
        "#a",
        "#lobby",
        "#rust-lang",
        "#a.b+c!d_e",
        &format!("#{}", "r".repeat(49)),
    ] {
        assert_eq!(A.check_room(ok), Ok(()), "{ok}");
        assert_eq!(check_room(ok), Ok(()), "{ok}");
    }
    assert_eq!(A.check_room(""), Err(NameError::Empty));
    assert_eq!(A.check_room("#"), Err(NameError::Empty));
    assert_eq!(A.check_room("lobby"), Err(NameError::BadStart));
    assert_eq!(
        A.check_room(&format!("#{}", "r".repeat(50))),
        Err(NameError::TooLong)
    );
    for bad in [
        "#a b",
        "#a,b",
        "#a:b",
        "#dansk-æ",
        "#rødgrød",
        "#a\u{200b}",
        "#a\x07",
    ] {
        assert_eq!(A.check_room(bad), Err(NameError::BadChar), "{bad}");
    }
}

#[test]
fn ascii_folding_ignores_ascii_case_only() {
    assert_eq!(fold("AliCE[]"), fold("alice[]"));
    assert_eq!(A.fold("AliCE[]"), fold("alice[]"));
    assert_ne!(fold("a{"), fold("a["));
    assert_eq!(&*Key::new("AliCE[]"), &*fold("alice[]"));
    assert_eq!(&*A.key("ÅliCE"), "Ålice");
    assert_eq!(&*Key::new("Ünï"), "Ünï");
    assert_eq!(&*Key::new(&"x".repeat(65)), "", "too long to be any name");
    assert_eq!(
        &*A.skeleton("AMOLD"),
        "amold",
        "no look-alike rules in ASCII mode"
    );
    assert_eq!(A.nick("Bob"), Ok(NameKeys::new("bob", "bob")));
    assert_eq!(A.room("#Bøb"), Err(NameError::BadChar));
}

#[test]
fn casemapping_is_advertised_per_rules() {
    assert_eq!(U.casemapping(), "rfc8265");
    assert_eq!(A.casemapping(), "ascii");
    assert_eq!(NameRules::ascii_only(true), A);
    assert_eq!(NameRules::ascii_only(false), U);
    assert_eq!(NameRules::default(), U);
}

#[test]
fn danish_names() {
    assert_eq!(U.check_nick("søren"), Ok(()));
    assert_eq!(U.check_room("#rødgrød"), Ok(()));
    assert_eq!(U.check_room("#RødGrød-med-fløde"), Ok(()));
    same_nick("Åse", "åse");
    same_nick("ÅSE", "åse");
    same_nick("SØREN", "søren");
    different_nicks("søren", "soren");
    assert_ne!(U.skeleton("søren"), U.skeleton("soren"), "ø is no o");
    assert_eq!(U.fold("#RødGrød"), "#rødgrød".into());
    assert_eq!(&*U.key("#RØDGRØD"), "#rødgrød");
    let keys = U.room("#Rødgrød").unwrap();
    assert_eq!(keys.key(), "#rødgrød");
    assert_eq!(keys.skeleton(), &*U.skeleton("#rødgrød"));
}

#[test]
fn nfd_and_nfc_are_one_name() {
    // Å as A + combining ring above; ø has no decomposition, é does.
    same_nick("A\u{30a}se", "Åse");
    same_nick("a\u{30a}se", "åse");
    same_nick("Rene\u{301}", "rené");
    assert_eq!(U.fold("#A\u{30a}rhus"), U.fold("#århus"));
    assert_eq!(&*U.key("#a\u{30a}rhus"), "#århus");
}

#[test]
fn german_sharp_s() {
    // RFC 8265 maps to lower case (it does not case-fold): ß stays ß, capital ẞ becomes ß.
    same_nick("Straße", "straße");
    same_nick("STRAẞE", "straße");
    different_nicks("straße", "strasse");
    assert_ne!(U.skeleton("straße"), U.skeleton("strasse"));
}

#[test]
fn turkish_dotless_and_dotted_i() {
    same_nick("KIVANÇ", "kivanç");
    different_nicks("kıvanç", "kivanç");
    look_alike("kıvanç", "kivanç");
    // İ lowers to i with a combining dot above: another nick than i, but a look-alike of none
    // (the dot is a mark of its own).
    assert_eq!(&*U.fold("İstanbul"), "i\u{307}stanbul");
    different_nicks("İstanbul", "istanbul");
}

#[test]
fn full_width_forms_are_their_ordinary_forms() {
    same_nick("ＡＬＩＣＥ", "alice");
    same_nick("ｓøren", "søren");
    same_nick("ｂｏｂ", "Bob");
    assert_eq!(U.fold("#ｌｏｂｂｙ"), "#lobby".into());
    // Fullwidth forms of what IRC reserves are what they stand for.
    assert_eq!(U.check_nick("ａ＠ｂ"), Err(NameError::Reserved));
    assert_eq!(U.check_nick("ａ，ｂ"), Err(NameError::Reserved));
    assert_eq!(U.check_room("#ａ：ｂ"), Err(NameError::Reserved));
    assert_eq!(U.check_nick("７up"), Err(NameError::BadStart));
}

#[test]
fn mixed_script_confusables_share_a_skeleton() {
    // Cyrillic а in the first, р in the room.
    assert_eq!(U.check_nick("p\u{430}ypal"), Ok(()), "fine alone");
    look_alike("p\u{430}ypal", "paypal");
    look_alike("P\u{430}YPAL", "paypal");
    look_alike("#\u{440}ython", "#python");
    // Greek omicron, digit zero and rn in ASCII.
    look_alike("b\u{3bf}b", "bob");
    look_alike("b0b", "BOB");
    look_alike("amold", "arnold");
    // Names are not look-alikes of everything.
    assert_ne!(U.skeleton("søren"), U.skeleton("sören"));
    assert_ne!(U.skeleton("alice"), U.skeleton("alicia"));
    let keys = U.nick("P\u{430}ypal").unwrap();
    assert_eq!(keys.skeleton(), "paypal");
    assert_eq!(keys.key(), "p\u{430}ypal");
}

#[test]
fn invisible_characters_are_refused() {
    for c in [
        '\u{200b}',  // zero-width space
        '\u{200c}',  // zero-width non-joiner
        '\u{200d}',  // zero-width joiner
        '\u{2060}',  // word joiner
        '\u{feff}',  // byte order mark
        '\u{ad}',    // soft hyphen
        '\u{34f}',   // combining grapheme joiner
        '\u{fe0f}',  // variation selector 16
        '\u{3164}',  // Hangul filler
        '\u{e0041}', // tag letter A
    ] {
        let nick = format!("al{c}ice");
        assert_eq!(U.check_nick(&nick), Err(NameError::Invisible), "{nick:?}");
        let room = format!("#ru{c}st");
        assert_eq!(U.check_room(&room), Err(NameError::Invisible), "{room:?}");
        assert_eq!(
            U.check_nick(&format!("{c}alice")),
            Err(NameError::Invisible)
        );
    }
    // Joiners inside words of scripts that use them (Devanagari after a virama) too.
    assert_eq!(
        U.check_nick("\u{915}\u{94d}\u{200d}\u{937}"),
        Err(NameError::Invisible)
    );
}

#[test]
fn bidi_controls_are_refused() {
    for c in [
        '\u{202e}', '\u{202d}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
    ] {
        let nick = format!("{c}ecila");
        assert_eq!(U.check_nick(&nick), Err(NameError::BidiControl), "{nick:?}");
        let room = format!("#{c}tsur");
        assert_eq!(U.check_room(&room), Err(NameError::BidiControl), "{room:?}");
    }
}

#[test]
fn right_to_left_names_follow_the_bidi_rule() {
    assert_eq!(U.check_nick("שלום"), Ok(()));
    assert_eq!(U.check_nick("سلام"), Ok(()));
    assert_eq!(U.check_room("#שלום"), Ok(()));
    assert_eq!(U.check_nick("שלוםabc"), Err(NameError::Direction));
    assert_eq!(U.check_nick("abcשלום"), Err(NameError::Direction));
}

#[test]
fn spaces_controls_and_reserved_characters() {
    for space in [
        ' ', '\u{a0}', '\u{3000}', '\u{2003}', '\u{2028}', '\u{1680}',
    ] {
        assert_eq!(
            U.check_nick(&format!("a{space}b")),
            Err(NameError::Space),
            "{space:?}"
        );
        assert_eq!(U.check_room(&format!("#a{space}b")), Err(NameError::Space));
    }
    for control in ['\x07', '\t', '\x7f', '\u{85}', '\u{9b}', '\0'] {
        assert_eq!(
            U.check_nick(&format!("a{control}b")),
            Err(NameError::Control)
        );
        assert_eq!(
            U.check_room(&format!("#a{control}")),
            Err(NameError::Control)
        );
    }
    for reserved in [
        ',', '*', '?', '!', '@', ':', '#', '&', '$', '%', '+', '~', '.',
    ] {
        assert_eq!(
            U.check_nick(&format!("ø{reserved}")),
            Err(NameError::Reserved)
        );
        assert_eq!(
            U.check_nick(&format!("a{reserved}")),
            Err(NameError::Reserved)
        );
    }
    for reserved in [',', ':', '*', '?', '@', '#', '&', '$', '%', '~'] {
        assert_eq!(
            U.check_room(&format!("#ø{reserved}")),
            Err(NameError::Reserved)
        );
    }
    for fine in ['.', '+', '!', '-', '_'] {
        assert_eq!(U.check_room(&format!("#ø{fine}x")), Ok(()), "{fine}");
    }
    for symbol in ["a'b", "a/b", "a\"b", "a€", "a☃", "a😀", "a¿"] {
        assert_eq!(U.check_nick(symbol), Err(NameError::Symbol), "{symbol}");
    }
    assert_eq!(U.check_room("#a=b"), Err(NameError::Symbol));
    assert_eq!(U.check_room("#ø€"), Err(NameError::Symbol));
}

#[test]
fn unassigned_unstable_and_leading_marks() {
    // U+0378 is unassigned; Adlam (Unicode 9) is newer than the Unicode 6.3 PRECIS names.
    assert_eq!(U.check_nick("a\u{378}"), Err(NameError::Unassigned));
    assert_eq!(U.check_nick("\u{1e900}"), Err(NameError::Unassigned));
    // Cherokee capitals lower (since Unicode 8) to letters that Unicode 6.3 did not have, so
    // the fold does not settle.
    assert_eq!(U.check_nick("\u{13a0}bc"), Err(NameError::Unstable));
    assert_eq!(U.check_nick("\u{301}a"), Err(NameError::LeadingMark));
    assert_eq!(U.check_room("#\u{301}a"), Err(NameError::LeadingMark));
    assert_eq!(U.check_nick("a\u{301}"), Ok(()));
}

#[test]
fn starts_and_lengths_count_bytes() {
    assert_eq!(U.check_nick(""), Err(NameError::Empty));
    assert_eq!(U.check_room("#"), Err(NameError::Empty));
    assert_eq!(U.check_room(""), Err(NameError::Empty));
    assert_eq!(U.check_room("rødgrød"), Err(NameError::BadStart));
    assert_eq!(U.check_nick("9lives"), Err(NameError::BadStart));
    assert_eq!(U.check_nick("-ø"), Err(NameError::BadStart));
    assert_eq!(
        U.check_nick("\u{663}ali"),
        Err(NameError::BadStart),
        "Arabic-Indic 3"
    );
    assert_eq!(U.check_room("#9ø"), Ok(()));
    assert_eq!(U.check_nick(&"ø".repeat(15)), Ok(()), "30 bytes");
    assert_eq!(
        U.check_nick(&format!("a{}", "ø".repeat(15))),
        Ok(()),
        "31 bytes"
    );
    assert_eq!(U.check_nick(&"ø".repeat(16)), Err(NameError::TooLong));
    assert_eq!(
        U.check_room(&format!("#{}", "ø".repeat(24))),
        Ok(()),
        "49 bytes"
    );
    assert_eq!(
        U.check_room(&format!("#{}", "ø".repeat(25))),
        Err(NameError::TooLong)
    );
    assert_eq!(U.check_nick(&"日".repeat(10)), Ok(()));
    assert_eq!(U.check_nick(&"日".repeat(11)), Err(NameError::TooLong));
}

#[test]
fn every_error_has_reasons() {
    use NameError::*;
    for e in [
        Empty,
        TooLong,
        BadStart,
        BadChar,
        Symbol,
        Space,
        Reserved,
        Control,
        Invisible,
        BidiControl,
        Unassigned,
        Direction,
        Unstable,
        LeadingMark,
    ] {
        assert!(e.nick_reason().contains("nick"), "{e:?}");
        assert!(e.room_reason().contains("room"), "{e:?}");
    }
    // The texts the ASCII rules gave before stay, word for word.
    assert_eq!(
        BadStart.nick_reason(),
        "a nick cannot start with a digit or -"
    );
    assert_eq!(BadStart.room_reason(), "room names start with #");
    assert_eq!(
        BadChar.nick_reason(),
        "nicks use ASCII letters, digits and - _ [ ] \\ ^ { } | `"
    );
    assert_eq!(
        BadChar.room_reason(),
        "room names use ASCII letters, digits and - _ . + !"
    );
}

#[test]
fn keys_are_made_on_the_stack_when_they_fit() {
    fn on_stack(k: &Key) -> bool {
        matches!(k.repr, KeyRepr::Stack { .. })
    }
    assert!(on_stack(&U.key("Alice")));
    assert!(on_stack(&U.key("#rødgrød")));
    assert!(on_stack(&U.key("#RødGrød")));
    let long = format!("#{}", "İ".repeat(24));
    assert_eq!(U.check_room(&long), Ok(()));
    let key = U.key(&long);
    assert!(!on_stack(&key), "folds to 73 bytes");
    assert_eq!(&*key, &*U.fold(&long));
    assert_eq!(&*U.key(&"ø".repeat(40)), "", "longer than any name");
}

#[test]
fn invalid_input_is_found_nowhere() {
    // Folding for a lookup maps without checking: what an invalid name folds to is no
    // valid name, so it finds nothing.
    for bad in [
        "a\u{378}",
        "#a\u{202e}",
        "a b",
        "\u{13a0}bc",
        "a\u{200b}",
        "ǅa",
    ] {
        let folded = U.fold(bad);
        assert_eq!(&*U.key(bad), &*folded);
        assert!(
            U.check_nick(&folded).is_err(),
            "{bad:?} folds to {folded:?}"
        );
        assert!(
            U.check_room(&folded).is_err(),
            "{bad:?} folds to {folded:?}"
        );
    }
    assert_eq!(&*U.fold("A B"), "a b", "ASCII folds as ASCII");
    // A titlecase letter is no valid character, but lowered it spells a valid name.
    assert_eq!(U.check_nick("A\u{1f88}"), Err(NameError::Symbol));
    assert_eq!(U.check_nick("a\u{1f80}"), Ok(()));
    assert_eq!(U.fold("A\u{1f88}"), U.fold("a\u{1f80}"));
}

/// Characters that make names hard: marks, joiners, both directions, wide and narrow forms,
/// letters whose case changes their length, reserved ASCII, controls.
fn tricky() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "aAzZ09-_[]#,:*@!. \t\x01\u{7f}øØåÅßẞıIİiɪ\u{301}\u{30a}\u{338}\u{200b}\u{200d}\u{200c}\u{202e}\u{2066}\u{61c}\u{fe0f}ＡａＺ＠７\u{3000}\u{a0}אשلام\u{663}\u{94d}क\u{13a0}\u{ab70}ǅΣσς\u{345}\u{1e900}\u{378}\u{10ffff}\u{fffd}€😀"
        .chars()
        .collect();
    proptest::collection::vec(proptest::sample::select(alphabet), 0..40)
        .prop_map(|cs| cs.into_iter().collect())
}

fn exercise(s: &str) -> Result<(), TestCaseError> {
    for rules in [U, A] {
        let _ = rules.check_nick(s);
        let _ = rules.check_room(s);
        let _ = rules.nick(s);
        let _ = rules.room(s);
        let _ = rules.skeleton(s);
        let folded = rules.fold(s);
        prop_assert_eq!(&rules.fold(&folded), &folded, "fold is idempotent");
        if s.len() <= KEY_MAX {
            prop_assert_eq!(&*rules.key(s), &*folded, "key and fold agree");
        }
        if rules.check_nick(s).is_ok() {
            prop_assert!(!folded.is_empty());
            prop_assert!(!rules.skeleton(s).is_empty());
            prop_assert_eq!(
                rules.nick(s).map(|k| Box::<str>::from(k.key())),
                Ok(folded.clone())
            );
            // The folded form is a name of its own (it may be longer, as İ is).
            let again = rules.check_nick(&folded);
            prop_assert!(
                matches!(again, Ok(()) | Err(NameError::TooLong)),
                "{:?}",
                again
            );
        }
        if rules.check_room(s).is_ok() {
            prop_assert!(folded.starts_with('#') && folded.len() > 1);
            let again = rules.check_room(&folded);
            prop_assert!(
                matches!(again, Ok(()) | Err(NameError::TooLong)),
                "{:?}",
                again
            );
        }
    }
    if s.is_ascii() {
        prop_assert_eq!(U.check_nick(s).is_ok(), A.check_nick(s).is_ok());
        prop_assert_eq!(U.check_room(s).is_ok(), A.check_room(s).is_ok());
        prop_assert_eq!(U.fold(s), A.fold(s));
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        exercise(&s)?;
        exercise(&format!("#{s}"))?;
    }

    #[test]
    fn tricky_strings_fold_stably(s in tricky()) {
        exercise(&s)?;
        exercise(&format!("#{s}"))?;
    }

    #[test]
    fn ascii_names_fold_the_same_under_both_rules(s in "[ -~]{0,40}") {
        exercise(&s)?;
        prop_assert_eq!(&*U.key(&s), &*Key::new(&s));
    }
}

#[test]
fn a_name_that_is_its_own_key_is_looked_up_as_it_is() {
    for rules in [U, A] {
        for own in ["bob", "guest-7", "#room", "a[b]^_", ""] {
            assert!(rules.is_own_key(own), "{own:?}");
            assert_eq!(&*rules.key(own), own, "{own:?}");
        }
        let long = "a".repeat(KEY_MAX + 1);
        for folded in ["Bob", "#Room", "bÉb", "é", long.as_str()] {
            assert!(!rules.is_own_key(folded), "{folded:?}");
        }
    }
}

proptest! {
    #[test]
    fn own_keys_fold_to_themselves(name in "[ -~]{0,70}") {
        for rules in [U, A] {
            if rules.is_own_key(&name) {
                prop_assert_eq!(&*rules.key(&name), name.as_str());
            }
        }
    }
}
