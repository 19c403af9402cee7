//! An index from a folded name to the user filed under it that keeps no copy of the name.
//!
//! Every user's folded nick and skeleton are in the user already ([`super::User::names`]); a
//! map keyed by its own copy would hold each twice (a 32-byte allocation per user and map).
//! Here an entry is 32 bits of the name's hash and the user's dense index (8 bytes): a lookup
//! compares the name with the one the caller reads from the user, so whoever changes a user's
//! keys files the user again under the new ones (as with any map).

use hashbrown::HashTable;

use super::table::{dense, from_dense};
use super::ClientId;

pub(super) struct NameIndex {
    /// (32 bits of the name's hash, whose it is as a [`dense`] index): the hash is kept so
    /// the table can grow without reading the names again.
    table: HashTable<(u32, u32)>,
    /// A random seed per index, so colliding names cannot be prepared in advance.
    seed: foldhash::fast::RandomState,
}

impl Default for NameIndex {
    fn default() -> NameIndex {
        NameIndex {
            table: HashTable::new(),
            seed: foldhash::fast::RandomState::default(),
        }
    }
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NameIndex({} names)", self.table.len())
    }
}

impl NameIndex {
    /// The stored part of `name`'s hash.
    fn hash(&self, name: &str) -> u32 {
        use std::hash::BuildHasher;
        let h = self.seed.hash_one(name);
        (h >> 32) as u32 ^ h as u32
    }

    /// What the table files a stored hash under: both halves of the table's 64 bits (it
    /// takes the bucket from the low bits and a tag from the top ones).
    fn spread(h: u32) -> u64 {
        u64::from(h) << 32 | u64::from(h)
    }

    /// Who is filed under `name`; `name_of` reads the name a user is filed under.
    pub(super) fn get<'u>(
        &self,
        name: &str,
        name_of: impl Fn(ClientId) -> Option<&'u str>,
    ) -> Option<ClientId> {
        let h = self.hash(name);
        self.table
            .find(Self::spread(h), |&(eh, d)| {
                eh == h && name_of(from_dense(d as usize)) == Some(name)
            })
            .map(|&(_, d)| from_dense(d as usize))
    }

    /// Files `id` under `name`, in the place of whoever was filed under it (returned).
    pub(super) fn insert<'u>(
        &mut self,
        name: &str,
        id: ClientId,
        name_of: impl Fn(ClientId) -> Option<&'u str>,
    ) -> Option<ClientId> {
        let Some(d) = dense32(id) else {
            log::warn!("user {id}: not filed under {name:?} (id out of range)");
            return None;
        };
        let h = self.hash(name);
        let found = self.table.find_mut(Self::spread(h), |&(eh, other)| {
            eh == h && (other == d || name_of(from_dense(other as usize)) == Some(name))
        });
        match found {
            Some(entry) => Some(from_dense(std::mem::replace(&mut entry.1, d) as usize)),
            None => {
                let hasher = |&(eh, _): &(u32, u32)| Self::spread(eh);
                self.table.insert_unique(Self::spread(h), (h, d), hasher);
                None
            }
        }
    }

    /// Files `id` under `name` unless someone is filed under it already.
    pub(super) fn insert_if_free<'u>(
        &mut self,
        name: &str,
        id: ClientId,
        name_of: impl Fn(ClientId) -> Option<&'u str>,
    ) {
        if self.get(name, &name_of).is_none() {
            self.insert(name, id, name_of);
        }
    }

    /// Takes `id`'s entry under `name` out, if it is filed there (no one else's). Needs no
    /// name from the user: the user may be gone already.
    pub(super) fn remove(&mut self, name: &str, id: ClientId) -> bool {
        let Some(d) = dense32(id) else {
            return false;
        };
        let h = self.hash(name);
        match self
            .table
            .find_entry(Self::spread(h), |&(eh, other)| eh == h && other == d)
        {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Everyone filed, in no particular order.
    pub(super) fn ids(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.table.iter().map(|&(_, d)| from_dense(d as usize))
    }
}

/// `id`'s dense index, if it fits an entry (four billion users, local and remote).
fn dense32(id: ClientId) -> Option<u32> {
    u32::try_from(dense(id)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names users are filed under, by id (as the hub reads them from its users).
    fn names<'a>(list: &'a [&'static str]) -> impl Fn(ClientId) -> Option<&'static str> + 'a {
        move |id| list.get(id).copied().filter(|n| !n.is_empty())
    }

    #[test]
    fn remote_users_are_filed_too() {
        let remote = super::super::REMOTE_BASE + 7;
        let name_of = |id: ClientId| (id == remote).then_some("rita");
        let mut index = NameIndex::default();
        index.insert("rita", remote, name_of);
        assert_eq!(index.get("rita", name_of), Some(remote));
        assert_eq!(index.ids().collect::<Vec<_>>(), [remote]);
        assert!(index.remove("rita", remote));
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn finds_whoever_is_filed_under_a_name() {
        let users = ["alice", "bob", "carol"];
        let mut index = NameIndex::default();
        for (id, name) in users.iter().enumerate() {
            assert_eq!(index.insert(name, id, names(&users)), None);
        }
        assert_eq!(index.len(), 3);
        assert_eq!(index.get("bob", names(&users)), Some(1));
        assert_eq!(index.get("carol", names(&users)), Some(2));
        assert_eq!(index.get("dave", names(&users)), None);
        let mut all: Vec<ClientId> = index.ids().collect();
        all.sort();
        assert_eq!(all, [0, 1, 2]);
    }

    #[test]
    fn a_second_user_under_a_name_takes_the_place_of_the_first() {
        let users = ["alice", "alice"];
        let mut index = NameIndex::default();
        index.insert("alice", 0, names(&users));
        assert_eq!(index.insert("alice", 1, names(&users)), Some(0));
        assert_eq!(index.len(), 1);
        assert_eq!(index.get("alice", names(&users)), Some(1));
        // The first one's removal leaves the second filed.
        assert!(!index.remove("alice", 0));
        assert_eq!(index.get("alice", names(&users)), Some(1));
        index.insert_if_free("alice", 0, names(&users));
        assert_eq!(index.get("alice", names(&users)), Some(1));
    }

    #[test]
    fn removal_needs_no_name_from_the_user_and_takes_only_its_own_entry() {
        let mut users = ["alice", "bob"];
        let mut index = NameIndex::default();
        index.insert("alice", 0, names(&users));
        index.insert("bob", 1, names(&users));
        users[0] = ""; // gone from the users before it is taken out of the index
        assert!(index.remove("alice", 0));
        assert!(!index.remove("alice", 0));
        assert!(!index.remove("bob", 0));
        assert_eq!(index.len(), 1);
        assert_eq!(index.get("bob", names(&users)), Some(1));
    }

    #[test]
    fn a_renamed_user_is_found_under_its_new_name_only() {
        let mut users = ["alice", "bob"];
        let mut index = NameIndex::default();
        index.insert("alice", 0, names(&users));
        index.insert("bob", 1, names(&users));
        assert!(index.remove("alice", 0));
        index.insert("alicia", 0, names(&users));
        users[0] = "alicia";
        assert_eq!(index.get("alicia", names(&users)), Some(0));
        assert_eq!(index.get("alice", names(&users)), None);
        index.insert_if_free("alice", 1, names(&users));
        assert_eq!(index.get("alice", names(&["", "alice"])), Some(1));
    }

    #[test]
    fn many_names_survive_the_table_growing() {
        let owned: Vec<String> = (0..5000).map(|i| format!("user{i}")).collect();
        let name_of = |id: ClientId| owned.get(id).map(String::as_str);
        let mut index = NameIndex::default();
        for (id, name) in owned.iter().enumerate() {
            index.insert(name, id, name_of);
        }
        assert_eq!(index.len(), 5000);
        for (id, name) in owned.iter().enumerate() {
            assert_eq!(index.get(name, name_of), Some(id), "{name}");
        }
        for (id, name) in owned.iter().enumerate().filter(|(id, _)| id % 2 == 0) {
            assert!(index.remove(name, id));
        }
        assert_eq!(index.len(), 2500);
        assert_eq!(index.get("user1", name_of), Some(1));
        assert_eq!(index.get("user2", name_of), None);
    }
}
