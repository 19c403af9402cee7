//! snak: a small, fast chat server on one single-threaded mio event loop.
//!
//! The modules, from the socket inwards:
//!
//! - [`server`]: the event loop, the only module that touches the poller: listeners and
//!   connections in a slab; admission (`accept`: caps, per-address limits, polite refusals),
//!   input (`input`: bounded reads, framing, flood limit, dispatch by protocol), delivery
//!   (`deliver`: the hub's sink) and output (`output`: one vectored write per connection per
//!   pass); timers, deferred closes and graceful shutdown in `server` itself.
//! - [`conn`]: one connection's socket, buffers, protocol state and close reason.
//! - [`irc`]: the IRC session: registration, capabilities, pings, IRC commands to hub commands.
//! - [`outbox`]: the per-pass arena of encoded bytes and per-connection queues of spans into
//!   it; what a slow reader leaves over is kept, bounded, and freed when it catches up.
//! - [`limits`]: flood limit and per-address connection limits (pure).
//! - [`proto`]: the codecs, pure: `frame` cuts a stream into lines and data frames, `line` is
//!   the native protocol, `irc_msg` parses and writes IRC messages, `irc` encodes events as IRC.
//! - [`hub`]: the chat state (users, nicks, rooms, transfers), protocol-agnostic: commands in,
//!   events with recipients out through a [`hub::Sink`].
//! - [`event`]: the vocabulary between the hub and the codecs.
//! - [`names`]: the nick and room name rules.
//! - [`config`]: the command line and every limit's default.

pub mod auth;
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
pub mod store;
