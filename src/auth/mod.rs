//! Accounts' credentials and SASL, pure: no sockets, no clock, no disk.
//!
//! - [`password`]: argon2id PHC strings and SCRAM-SHA-256 credentials, computed together at
//!   registration and password change (slow on purpose: the store runs them on its hashing
//!   thread, never the loop).
//! - [`hash_memory`]: argon2's working memory, mapped per hashing thread and given back to the
//!   kernel when the thread has nothing left to hash.
//! - [`chunks`]: the `AUTHENTICATE` framing of IRCv3 SASL 3.1 (base64 in 400-byte chunks).
//! - [`plain`], [`scram`], [`external`]: the three mechanisms, as parsers and state machines.
//! - [`sasl`]: one exchange from `AUTHENTICATE <mechanism>` to success or a numeric, telling
//!   the front end what to send and what to look up.
//! - [`limiter`]: failed-login backoff per account and per address, time passed in.

pub mod chunks;
pub mod external;
pub mod hash_memory;
pub mod limiter;
pub mod password;
pub mod plain;
pub mod sasl;
pub mod scram;
