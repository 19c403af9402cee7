//! The hash map of the hot paths: foldhash, not SipHash. A nick, room or conversation is
//! looked up on every message, several times cheaper this way; each map's seed is random, so
//! colliding names cannot be prepared in advance.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
