//! snak: a small, fast chat server on one single-threaded mio event loop.
//!
//! The modules, from the socket inwards:
//!
//! - [`server`]: the event loop: listeners and connections in a slab, accept, read, dispatch,
//!   coalesced writes, timers, deferred closes and graceful shutdown. The only module that
//!   touches the poller.
//! - [`outbox`]: per-pass arena of encoded bytes and per-connection queues of spans into it,
//!   flushed with one `writev` per connection; what a slow reader leaves over is kept, bounded.
//! - [`proto`]: the codecs, pure: bytes in, commands out; events in, bytes out.
//! - [`hub`]: the chat state (users, nicks, rooms, transfers), protocol-agnostic: commands in,
//!   events with recipients out through a [`hub::Sink`].
//! - [`event`]: the vocabulary between the hub and the codecs.
//! - [`names`]: the nick and room name rules.
//! - [`config`]: the command line and every limit's default.

pub mod config;
pub mod conn;
pub mod event;
pub mod hub;
pub mod irc;
pub mod limits;
pub mod names;
pub mod outbox;
pub mod proto;
pub mod server;
