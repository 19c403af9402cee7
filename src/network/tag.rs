//! Which msgid tag this node claims: the top byte of every msgid it makes
//! ([`MsgId::NODE_SHIFT`](crate::event::MsgId::NODE_SHIFT)), unique among live nodes.
//!
//! A tag is a key `tag.N` (N in 1..=255) in the nodes bucket, whose TTL is the node's
//! liveness: created with `kv_create` (of two nodes asking for one tag at once exactly one gets
//! it), renewed with the node's key, gone within the TTL of the node's death. The lowest tag
//! neither seen held (the nodes watch) nor refused during this claim is asked for first, the
//! one held before a reconnection before any other. This module only chooses; the network
//! sends the requests.

use std::collections::HashMap;

/// The highest tag: one byte, 0 being a single server's.
pub const MAX_TAG: u8 = 255;

/// The key of tag `n` in the nodes bucket.
pub fn key(n: u8) -> String {
    format!("tag.{n}")
}

/// The tag a `tag.N` key names, if it is one.
pub fn parse_key(key: &str) -> Option<u8> {
    let n: u8 = key.strip_prefix("tag.")?.parse().ok()?;
    (n >= 1).then_some(n)
}

#[derive(Debug, Default)]
pub struct Tags {
    /// Tags held by other nodes, as the watch shows them: tag -> holder.
    seen: HashMap<u8, u64>,
    /// Tags refused during the current claim (a node the watch had not shown yet).
    refused: [u64; 4],
    /// The tag this node holds (or held before the connection was lost).
    held: Option<u8>,
    /// The tag asked for now.
    asking: Option<u8>,
}

impl Tags {
    /// The tag this node holds, if its claim succeeded.
    pub fn held(&self) -> Option<u8> {
        self.held.filter(|_| self.asking.is_none())
    }

    pub fn asking(&self) -> Option<u8> {
        self.asking
    }

    /// The next tag to ask for: the one held before (a reconnection), else the lowest free;
    /// None once all 255 are held or refused. It is remembered as asked for.
    pub fn next_to_ask(&mut self) -> Option<u8> {
        let free = |n: u8| !self.seen.contains_key(&n) && !self.is_refused(n);
        let pick = self
            .held
            .filter(|&n| free(n))
            .or_else(|| (1..=MAX_TAG).find(|&n| free(n)));
        self.asking = pick;
        pick
    }

    /// A new claim (after a (re)connection, or after all were refused): refusals forgotten.
    pub fn restart(&mut self) {
        self.refused = [0; 4];
        self.asking = None;
    }

    /// The tag asked for is this node's.
    pub fn won(&mut self, n: u8) {
        if self.asking == Some(n) {
            self.asking = None;
            self.held = Some(n);
            self.refused = [0; 4];
        }
    }

    /// The tag asked for is another node's.
    pub fn refuse(&mut self, n: u8) {
        self.refused[usize::from(n / 64)] |= 1 << (n % 64);
        if self.held == Some(n) {
            self.held = None;
        }
        if self.asking == Some(n) {
            self.asking = None;
        }
    }

    fn is_refused(&self, n: u8) -> bool {
        self.refused[usize::from(n / 64)] & (1 << (n % 64)) != 0
    }

    /// The watch shows `n` held by `holder` (None: let go). True if this node must give up
    /// its own tag: another node holds it too (renewed over an expiry while this node was
    /// slow), and of the two the smaller node id keeps it.
    pub fn seen(&mut self, n: u8, holder: Option<u64>, me: u64) -> bool {
        match holder {
            Some(h) if h == me => {
                self.seen.remove(&n);
                false
            }
            Some(h) => {
                self.seen.insert(n, h);
                let mine = self.held == Some(n) && self.asking.is_none();
                if mine && h < me {
                    self.held = None;
                    return true;
                }
                false
            }
            None => {
                self.seen.remove(&n);
                false
            }
        }
    }

    /// A node is gone: its tags are free (its keys expire, or it deleted them).
    pub fn forget_node(&mut self, node: u64) {
        self.seen.retain(|_, h| *h != node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_free_tag_is_asked_for_and_refusals_move_on() {
        let mut t = Tags::default();
        assert_eq!(t.next_to_ask(), Some(1));
        // Another node got 1 first (its key not seen yet): the next is asked for.
        t.refuse(1);
        assert_eq!(t.held(), None);
        assert_eq!(t.next_to_ask(), Some(2));
        t.won(2);
        assert_eq!(t.held(), Some(2));
        assert_eq!(t.asking(), None);
    }

    #[test]
    fn tags_seen_held_elsewhere_are_skipped_and_free_again_when_let_go() {
        let mut t = Tags::default();
        assert!(!t.seen(1, Some(0xa), 0xc));
        assert!(!t.seen(2, Some(0xb), 0xc));
        assert_eq!(t.next_to_ask(), Some(3));
        t.restart();
        assert!(!t.seen(1, None, 0xc));
        assert_eq!(t.next_to_ask(), Some(1));
        t.restart();
        t.seen(1, Some(0xa), 0xc);
        t.forget_node(0xa);
        assert_eq!(t.next_to_ask(), Some(1));
        // This node's own key is no one else's.
        t.won(1);
        assert!(!t.seen(1, Some(0xc), 0xc));
        assert_eq!(t.held(), Some(1));
    }

    #[test]
    fn after_a_reconnection_the_tag_held_before_is_asked_for_first() {
        let mut t = Tags::default();
        t.seen(1, Some(0xa), 0xc);
        assert_eq!(t.next_to_ask(), Some(2));
        t.won(2);
        t.seen(1, None, 0xc);
        t.restart();
        assert_eq!(
            t.next_to_ask(),
            Some(2),
            "not the lower one freed meanwhile"
        );
        // Taken by another node while this one was away: the lowest free one after it.
        t.refuse(2);
        assert_eq!(t.next_to_ask(), Some(1));
    }

    #[test]
    fn of_two_nodes_holding_one_tag_the_larger_id_gives_it_up() {
        let mut small = Tags::default();
        small.next_to_ask();
        small.won(1);
        let mut large = Tags::default();
        large.next_to_ask();
        large.won(1);
        assert!(!small.seen(1, Some(0x9), 0x5), "the smaller id keeps it");
        assert_eq!(small.held(), Some(1));
        assert!(large.seen(1, Some(0x5), 0x9));
        assert_eq!(large.held(), None);
        assert_eq!(large.next_to_ask(), Some(2));
    }

    #[test]
    fn past_255_held_tags_there_is_none_to_ask_for_until_one_is_let_go() {
        let mut t = Tags::default();
        for n in 1..=MAX_TAG {
            t.seen(n, Some(1000 + u64::from(n)), 1);
        }
        assert_eq!(t.next_to_ask(), None);
        assert_eq!(t.held(), None);
        t.seen(200, None, 1);
        assert_eq!(t.next_to_ask(), Some(200));
        // Refusals count too: all refused is none left.
        let mut r = Tags::default();
        for n in 1..=MAX_TAG {
            assert_eq!(r.next_to_ask(), Some(n));
            r.refuse(n);
        }
        assert_eq!(r.next_to_ask(), None);
        r.restart();
        assert_eq!(r.next_to_ask(), Some(1));
    }

    #[test]
    fn tag_keys_read_back() {
        assert_eq!(parse_key(&key(7)), Some(7));
        assert_eq!(parse_key(&key(255)), Some(255));
        for bad in [
            "tag.0",
            "tag.256",
            "tag.",
            "tag.x",
            "0123456789abcdef",
            "tag.-1",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }
}
