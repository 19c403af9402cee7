//! An index from a folded name to the user filed under it that keeps no copy of the name.
//!
//! Every user's folded nick and skeleton are in the user already ([`super::User::keys`]); a
//! map keyed by its own copy would hold each twice (a 32-byte allocation per user and map).
//! Here an entry is the name's hash and the user's id (16 bytes): a lookup compares the name
//! with the one the caller reads from the user, so whoever changes a user's keys files the
//! user again under the new ones (as with any map).

use hashbrown::HashTable;

use super::ClientId;

pub(super) struct NameIndex {
    /// (the name's hash, whose it is): the hash is kept so the table can grow without
    /// reading the names again.
    table: HashTable<(u64, ClientId)>,
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
    fn hash(&self, name: &str) -> u64 {
        use std::hash::BuildHasher;
        self.seed.hash_one(name)
    }

    /// Who is filed under `name`; `name_of` reads the name a user is filed under.
    pub(super) fn get<'u>(
        &self,
        name: &str,
        name_of: impl Fn(ClientId) -> Option<&'u str>,
    ) -> Option<ClientId> {
        let h = self.hash(name);
        self.table
            .find(h, |&(eh, id)| eh == h && name_of(id) == Some(name))
            .map(|&(_, id)| id)
    }

    /// Files `id` under `name`, in the place of whoever was filed under it (returned).
    pub(super) fn insert<'u>(
        &mut self,
        name: &str,
        id: ClientId,
        name_of: impl Fn(ClientId) -> Option<&'u str>,
    ) -> Option<ClientId> {
        let h = self.hash(name);
        let found = self.table.find_mut(h, |&(eh, other)| {
            eh == h && (other == id || name_of(other) == Some(name))
        });
        match found {
            Some(entry) => Some(std::mem::replace(&mut entry.1, id)),
            None => {
                self.table.insert_unique(h, (h, id), |&(eh, _)| eh);
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
        let h = self.hash(name);
        match self
            .table
            .find_entry(h, |&(eh, other)| eh == h && other == id)
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
        self.table.iter().map(|&(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names users are filed under, by id (as the hub reads them from its users).
    fn names<'a>(list: &'a [&'static str]) -> impl Fn(ClientId) -> Option<&'static str> + 'a {
        move |id| list.get(id).copied().filter(|n| !n.is_empty())
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
