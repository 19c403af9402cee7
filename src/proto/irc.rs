//! The IRC codec for events (pure): each event as the lines an IRC client expects.

use crate::event::Event;

/// Appends the IRC form of `event` as told to the client `me`.
pub fn encode(event: &Event<'_>, me: &str, server_name: &str, out: &mut Vec<u8>) {
    let _ = (event, me, server_name, out);
}
