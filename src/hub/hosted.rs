//! Files stored for FILEHOST uploads: what the loop knows of them (the bytes are on disk, in
//! the hands of the file thread). Who stored what, how much each account and the whole
//! server hold (uploads under way count as if done), and when each file expires. Pure: no
//! disk, no clock of its own (times are Unix seconds given by the caller).

use std::collections::{BTreeSet, HashMap};

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedFile {
    pub token: u128,
    /// The folded name of the account that uploaded it.
    pub account: Box<str>,
    pub name: Box<str>,
    pub content_type: Box<str>,
    /// Shown in place (`inline`) rather than saved (`attachment`).
    pub inline: bool,
    pub size: u64,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; the file is deleted then.
    pub expires: u64,
}

/// The limits an upload is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    /// The largest file.
    pub max_size: u64,
    /// All files together.
    pub total: u64,
    /// All files of one account together.
    pub quota: u64,
    /// Uploads under way at once, on the whole server.
    pub uploads: usize,
}

/// Why an upload may not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRefusal {
    TooLarge {
        max: u64,
    },
    /// The server's storage is full.
    Full {
        total: u64,
    },
    OverQuota {
        quota: u64,
        used: u64,
    },
    /// Too many uploads under way.
    Busy,
}

/// The stored files and the space they take.
#[derive(Debug, Default)]
pub struct Hosted {
    files: HashMap<u128, HostedFile>,
    /// Bytes held by each account: stored plus under way.
    used: HashMap<Box<str>, u64>,
    /// Bytes held by everyone.
    total: u64,
    /// Uploads under way.
    uploading: usize,
    /// (expiry, token), soonest first.
    expiry: BTreeSet<(u64, u128)>,
}

impl Hosted {
    /// Files found on disk at start.
    pub fn load(&mut self, files: Vec<HostedFile>) {
        for f in files {
            self.hold(&f.account, f.size);
            self.insert(f);
        }
    }

    fn hold(&mut self, account: &str, size: u64) {
        *self.used.entry(account.into()).or_default() += size;
        self.total += size;
    }

    fn release(&mut self, account: &str, size: u64) {
        if let Some(used) = self.used.get_mut(account) {
            *used = used.saturating_sub(size);
            if *used == 0 {
                self.used.remove(account);
            }
        }
        self.total = self.total.saturating_sub(size);
    }

    fn insert(&mut self, f: HostedFile) {
        self.expiry.insert((f.expires, f.token));
        self.files.insert(f.token, f);
    }

    /// Takes room for an upload of `size` bytes by `account`, if the limits allow.
    pub fn reserve(
        &mut self,
        account: &str,
        size: u64,
        limits: &HostLimits,
    ) -> Result<(), HostRefusal> {
        if size > limits.max_size {
            return Err(HostRefusal::TooLarge {
                max: limits.max_size,
            });
        }
        if self.uploading >= limits.uploads {
            return Err(HostRefusal::Busy);
        }
        let used = self.used_by(account);
        if used.saturating_add(size) > limits.quota {
            return Err(HostRefusal::OverQuota {
                quota: limits.quota,
                used,
            });
        }
        if self.total.saturating_add(size) > limits.total {
            return Err(HostRefusal::Full {
                total: limits.total,
            });
        }
        self.hold(account, size);
        self.uploading += 1;
        Ok(())
    }

    /// An upload reserved with [`Hosted::reserve`] did not finish: its room is free again.
    pub fn unreserve(&mut self, account: &str, size: u64) {
        self.release(account, size);
        self.uploading = self.uploading.saturating_sub(1);
    }

    /// An upload reserved with [`Hosted::reserve`] is stored.
    pub fn stored(&mut self, f: HostedFile) {
        self.uploading = self.uploading.saturating_sub(1);
        self.insert(f);
    }

    pub fn get(&self, token: u128) -> Option<&HostedFile> {
        self.files.get(&token)
    }

    pub fn contains(&self, token: u128) -> bool {
        self.files.contains_key(&token)
    }

    /// Bytes `account` holds (stored and under way).
    pub fn used_by(&self, account: &str) -> u64 {
        self.used.get(account).copied().unwrap_or(0)
    }

    /// Bytes held on the whole server, and the number of files stored.
    pub fn totals(&self) -> (u64, usize) {
        (self.total, self.files.len())
    }

    /// When the next file expires (Unix seconds).
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.first().map(|&(at, _)| at)
    }

    /// Forgets the files expired by `now` (Unix seconds) and returns their tokens, for the
    /// file thread to delete.
    pub fn take_expired(&mut self, now: u64) -> Vec<u128> {
        let mut gone = Vec::new();
        while let Some(&(at, token)) = self.expiry.first() {
            if at > now {
                break;
            }
            self.expiry.pop_first();
            if let Some(f) = self.files.remove(&token) {
                self.release(&f.account, f.size);
            }
            gone.push(token);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HostLimits = HostLimits {
        max_size: 100,
        total: 250,
        quota: 150,
        uploads: 3,
    };

    fn file(token: u128, account: &str, size: u64, expires: u64) -> HostedFile {
        HostedFile {
            token,
            account: account.into(),
            name: "f".into(),
            content_type: "text/plain".into(),
            inline: false,
            size,
            created: 0,
            expires,
        }
    }

    #[test]
    fn limits_in_the_order_a_client_is_told() {
        let mut h = Hosted::default();
        assert_eq!(
            h.reserve("a", 101, &LIMITS),
            Err(HostRefusal::TooLarge { max: 100 })
        );
        h.reserve("a", 100, &LIMITS).unwrap();
        assert_eq!(
            h.reserve("a", 60, &LIMITS),
            Err(HostRefusal::OverQuota {
                quota: 150,
                used: 100
            })
        );
        h.reserve("b", 100, &LIMITS).unwrap();
        assert_eq!(
            h.reserve("c", 60, &LIMITS),
            Err(HostRefusal::Full { total: 250 })
        );
        h.reserve("c", 10, &LIMITS).unwrap();
        assert_eq!(h.reserve("d", 1, &LIMITS), Err(HostRefusal::Busy));
        // One that fails frees its room; one that is stored keeps it.
        h.unreserve("b", 100);
        h.stored(file(1, "a", 100, 50));
        assert_eq!(h.used_by("a"), 100);
        assert_eq!(h.used_by("b"), 0);
        assert_eq!(h.totals(), (110, 1));
        h.reserve("d", 100, &LIMITS).unwrap();
    }

    #[test]
    fn expiry_frees_room_soonest_first() {
        let mut h = Hosted::default();
        h.load(vec![
            file(1, "a", 10, 30),
            file(2, "a", 20, 10),
            file(3, "b", 5, 20),
        ]);
        assert_eq!(h.used_by("a"), 30);
        assert_eq!(h.next_expiry(), Some(10));
        assert_eq!(h.take_expired(9), Vec::<u128>::new());
        assert_eq!(h.take_expired(20), vec![2, 3]);
        assert!(h.get(2).is_none() && h.get(1).is_some());
        assert_eq!(h.used_by("a"), 10);
        assert_eq!(h.used_by("b"), 0);
        assert_eq!(h.totals(), (10, 1));
        assert_eq!(h.next_expiry(), Some(30));
    }
}
