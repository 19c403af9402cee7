//! The users by id: those of this server's connections (ids the loop gives, from 0) and, on a
//! network, those of other nodes (ids from [`REMOTE_BASE`], which the loop never gives). Two
//! dense vectors, so a lookup stays one index either way.

use super::{ClientId, User};

/// The first id of a user connected to another node. The loop's ids are slab keys, small
/// numbers far below it; these never name a connection.
pub const REMOTE_BASE: ClientId = usize::MAX / 4 + 1;

/// Whether `id` is a user of another node.
pub fn is_remote(id: ClientId) -> bool {
    id >= REMOTE_BASE
}

/// A dense index for per-user scratch arrays: local and remote ids interleaved.
pub fn dense(id: ClientId) -> usize {
    if is_remote(id) {
        (id - REMOTE_BASE) * 2 + 1
    } else {
        id * 2
    }
}

/// The id of a [`dense`] index.
pub fn from_dense(i: usize) -> ClientId {
    if i % 2 == 1 {
        REMOTE_BASE + i / 2
    } else {
        i / 2
    }
}

#[derive(Debug, Default)]
pub(super) struct UserTable {
    local: Vec<Option<User>>,
    remote: Vec<Option<User>>,
}

impl UserTable {
    pub(super) fn get(&self, id: ClientId) -> Option<&Option<User>> {
        if is_remote(id) {
            self.remote.get(id - REMOTE_BASE)
        } else {
            self.local.get(id)
        }
    }

    pub(super) fn get_mut(&mut self, id: ClientId) -> Option<&mut Option<User>> {
        if is_remote(id) {
            self.remote.get_mut(id - REMOTE_BASE)
        } else {
            self.local.get_mut(id)
        }
    }

    /// Files `user` under `id`, growing the vector as needed.
    pub(super) fn put(&mut self, id: ClientId, user: User) {
        let (v, i) = if is_remote(id) {
            (&mut self.remote, id - REMOTE_BASE)
        } else {
            (&mut self.local, id)
        };
        if v.len() <= i {
            v.resize_with(i + 1, || None);
        }
        v[i] = Some(user);
    }

    /// Every user with its id: local ones first.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (ClientId, &User)> {
        let local = self.local.iter().enumerate();
        let remote = self.remote.iter().enumerate();
        local
            .filter_map(|(i, u)| Some((i, u.as_ref()?)))
            .chain(remote.filter_map(|(i, u)| Some((REMOTE_BASE + i, u.as_ref()?))))
    }

    /// A free remote id: the lowest free slot, so the vector stays as small as the most
    /// remote users there ever were at once.
    pub(super) fn free_remote(&self, hint: &mut usize) -> ClientId {
        while *hint < self.remote.len() && self.remote[*hint].is_some() {
            *hint += 1;
        }
        REMOTE_BASE + *hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_indices_interleave_and_never_collide() {
        assert_eq!(dense(0), 0);
        assert_eq!(dense(REMOTE_BASE), 1);
        assert_eq!(dense(3), 6);
        assert_eq!(dense(REMOTE_BASE + 3), 7);
        assert!(!is_remote(100_000_000));
        assert!(is_remote(REMOTE_BASE + 5));
        for id in [0, 3, REMOTE_BASE, REMOTE_BASE + 3] {
            assert_eq!(from_dense(dense(id)), id);
        }
    }
}
