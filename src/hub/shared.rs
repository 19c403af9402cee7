//! Strings many users have alike (the host of an address many connect from), held once.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::sync::Arc;

/// A shared string as a single pointer (an `Arc<str>` is two words): every user holds one,
/// and reaching the text through one more pointer costs less than a word in each user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Shared(Arc<Box<str>>);

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One copy of each string in use; a string is forgotten when the last user of it goes.
#[derive(Debug, Default)]
pub(super) struct SharedStrings {
    set: HashSet<Shared, foldhash::fast::RandomState>,
}

impl SharedStrings {
    /// The shared copy of `s`, made if nobody has it yet.
    pub(super) fn get(&mut self, s: &str) -> Shared {
        if let Some(shared) = self.set.get(s) {
            return shared.clone();
        }
        let shared = Shared(Arc::new(s.into()));
        self.set.insert(shared.clone());
        shared
    }

    /// A user of `s` is gone: the last one's going forgets it.
    pub(super) fn release(&mut self, s: Shared) {
        // Two holders: the set and `s`, this last user.
        if Arc::strong_count(&s.0) <= 2 {
            self.set.remove(&*s);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_copy_until_the_last_goes() {
        let mut shared = SharedStrings::default();
        let a = shared.get("127.0.0.1");
        let b = shared.get("127.0.0.1");
        let c = shared.get("::1");
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(std::mem::size_of::<Shared>(), 8, "one pointer");
        assert_eq!(&*c, "::1");
        assert_eq!(shared.len(), 2);
        shared.release(a);
        assert_eq!(shared.len(), 2, "one user of 127.0.0.1 is left");
        shared.release(b);
        assert_eq!(shared.len(), 1);
        shared.release(c);
        assert_eq!(shared.len(), 0);
        let d = shared.get("127.0.0.1");
        assert_eq!(Arc::strong_count(&d.0), 2);
    }
}
