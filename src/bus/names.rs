//! The network's names on NATS (docs/NETWORK.md has the scheme and why): subjects per room,
//! per node and for everyone, and the key-value buckets, all under one network name so that
//! several snak networks can share a NATS cluster.
//!
//! A room or nick becomes one subject token and one key-value key through [`token`]: bytes
//! other than ASCII letters, digits, `-` and `_` are written `=XX` (hex), so `#lobby` is
//! `=23lobby` and `#café` is `=23caf=C3=A9`. The escape is reversible ([`untoken`]), never
//! makes a `.`, `*` or `>`, and its output is a valid key-value key (`[-/_=.A-Za-z0-9]`).
//! Names are folded by the hub first, so one room has one token.

use std::fmt::Write as _;

/// One subject token (and key-value key) for a name. Empty names give `=`, a token no
/// escaped name can be.
pub fn token(name: &str) -> String {
    if name.is_empty() {
        return "=".into();
    }
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            let _ = write!(out, "={b:02X}");
        }
    }
    out
}

/// The name a [`token`] stands for, if it is one.
pub fn untoken(token: &str) -> Option<String> {
    if token == "=" {
        return Some(String::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' => {
                let hex = token.get(i + 1..i + 3)?;
                if !hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
                {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// The subjects and buckets of one network (default name `snak`), so that several networks
/// can share one NATS cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    net: String,
}

impl Scheme {
    /// `net`: 1 to 32 ASCII letters, digits, `-` or `_` (it is part of bucket names, which
    /// allow no more).
    pub fn new(net: &str) -> Result<Scheme, String> {
        if net.is_empty() || net.len() > 32 || !valid_bucket(net) {
            return Err(format!(
                "network name {net:?}: 1 to 32 letters, digits, '-' or '_'"
            ));
        }
        Ok(Scheme { net: net.into() })
    }

    /// What happens in a room (messages, joins, parts, topic, modes): published by the node
    /// where it happened, subscribed by every node with a local member.
    pub fn room(&self, folded_room: &str) -> String {
        format!("snak.{}.room.{}", self.net, token(folded_room))
    }

    /// What is addressed to one user, whichever node holds it: DMs, notices, WHOIS and
    /// INVITE. The node holding the nick subscribes (and moves the subscription on a nick
    /// change), so NATS routes by nick and a DM to a nick nobody holds is answered "no
    /// responders" at once.
    pub fn user(&self, folded_nick: &str) -> String {
        format!("snak.{}.user.{}", self.net, token(folded_nick))
    }

    /// What is addressed to one node: room member lists asked for when it joins a room,
    /// operator commands. Each node subscribes to its own.
    pub fn node(&self, node: &str) -> String {
        format!("snak.{}.node.{}", self.net, token(node))
    }

    /// What every node hears: nick changes and quits (sent once, not once per room), away,
    /// network notices.
    pub fn all(&self) -> String {
        format!("snak.{}.all", self.net)
    }

    /// Nicks in use: key = folded nick, value = who holds it (node, client, since).
    pub fn nicks_bucket(&self) -> String {
        format!("snak_{}_nicks", self.net)
    }

    /// What each node holds: key = `<node token>.<nick token>`, empty value; the index a
    /// survivor reads (with a filtered watch) to free a dead node's nicks.
    pub fn held_bucket(&self) -> String {
        format!("snak_{}_held", self.net)
    }

    /// Live nodes: key = node id, value = its name and start time; the bucket's TTL is the
    /// liveness bound and each node renews its key.
    pub fn nodes_bucket(&self) -> String {
        format!("snak_{}_nodes", self.net)
    }

    /// Rooms across the network for LIST: key = `<room token>.<node token>`, value = that
    /// node's member count and the topic.
    pub fn members_bucket(&self) -> String {
        format!("snak_{}_rooms", self.net)
    }
}

/// A bucket name as JetStream wants it: `[A-Za-z0-9_-]+`.
pub fn valid_bucket(bucket: &str) -> bool {
    !bucket.is_empty()
        && bucket.len() <= 64
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A key-value key: `[-/_=.A-Za-z0-9]+`, no empty `.`-token, not starting with `_kv`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
        && !key.split('.').any(str::is_empty)
        && !key.starts_with("_kv")
}
