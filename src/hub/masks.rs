//! IRC masks (`nick!user@host` with `*` and `?`), matched without regard to ASCII case; the
//! nick part is folded by the name rules first.

/// Whether `text` matches the glob `mask` (`*` any run, `?` any one character). Linear in
/// `mask.len() * text.len()` at worst, with no recursion, whatever the input.
pub fn matches(mask: &str, text: &str) -> bool {
    let (m, t): (Vec<char>, Vec<char>) = (
        mask.chars().map(|c| c.to_ascii_lowercase()).collect(),
        text.chars().map(|c| c.to_ascii_lowercase()).collect(),
    );
    let (mut mi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if mi < m.len() && (m[mi] == '?' || m[mi] == t[ti]) {
            mi += 1;
            ti += 1;
        } else if mi < m.len() && m[mi] == '*' {
            star = Some((mi, ti));
            mi += 1;
        } else if let Some((smi, sti)) = star {
            mi = smi + 1;
            ti = sti + 1;
            star = Some((smi, sti + 1));
        } else {
            return false;
        }
    }
    m[mi..].iter().all(|&c| c == '*')
}

/// A mask as given, completed to `nick!user@host` form (`bob` is `bob!*@*`, `*@host` is
/// `*!*@host`), so every stored mask has all three parts.
pub fn normalize(mask: &str) -> String {
    let (nick_user, host) = mask.split_once('@').unwrap_or((mask, "*"));
    let (nick, user) = nick_user.split_once('!').unwrap_or((nick_user, "*"));
    let part = |p: &str| {
        if p.is_empty() {
            "*".to_string()
        } else {
            p.to_string()
        }
    };
    format!("{}!{}@{}", part(nick), part(user), part(host))
}

/// A completed mask with its nick part folded by `rules`, so it matches a user's mask made
/// from the folded nick whatever the case (`Søren!*@*` bans `søren`); the user and host parts
/// are matched without regard to ASCII case, as before.
pub fn fold_nick(mask: &str, rules: crate::names::NameRules) -> String {
    let (nick, rest) = mask.split_once('!').unwrap_or((mask, ""));
    format!("{}!{rest}", rules.fold(nick))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("*!*@bad.host", "Eve!eve@BAD.host"));
        assert!(matches("e?e!*@*", "eve!x@y"));
        assert!(!matches("e?e!*@*", "ee!x@y"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("**a", "a"));
        let long = "a".repeat(2000);
        assert!(matches(&"*a".repeat(100), &long));
        assert!(!matches(&"*a".repeat(100), &format!("{long}b")));
    }

    #[test]
    fn masks_are_completed() {
        assert_eq!(normalize("bob"), "bob!*@*");
        assert_eq!(normalize("*@host"), "*!*@host");
        assert_eq!(normalize("n!u"), "n!u@*");
        assert_eq!(normalize("n!u@h"), "n!u@h");
    }

    #[test]
    fn nick_parts_fold_by_the_rules() {
        use crate::names::NameRules;
        assert_eq!(fold_nick("Søren!*@*", NameRules::Unicode), "søren!*@*");
        assert_eq!(fold_nick("ÅSE*!U@Host", NameRules::Unicode), "åse*!U@Host");
        assert_eq!(fold_nick("Bob!*@*", NameRules::Ascii), "bob!*@*");
        assert!(matches(
            &fold_nick("Søren!*@*", NameRules::Unicode),
            "søren!x@h"
        ));
    }
}
