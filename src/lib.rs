//! snak: a small, fast chat server on one single-threaded mio event loop.
//!
//! The modules, from the socket inwards (each imports only those below it):
//!
//! - [`server`]: the event loop, the only module that touches the poller: listeners and
//!   connections in a slab; admission (`accept`: caps, per-address limits, polite refusals),
//!   input (`input`: bounded reads, framing, flood limit), delivery (`deliver`: the hub's sink
//!   and the front ends' output, encoding each event once per wire variant) and output
//!   (`output`: one vectored write per connection per pass); timers, deferred closes and
//!   graceful shutdown in `server` itself.
//! - [`transport`]: how bytes cross the wire (plain TCP; TLS).
//! - [`front`]: one front end per protocol (`native`, `irc`): framed input to hub commands,
//!   hub events to bytes; each gets a small context and an output trait, never the loop.
//! - [`outbox`]: the per-pass arena of encoded bytes and per-connection queues of spans into
//!   it; what a slow reader leaves over is kept, bounded, and freed when it catches up.
//! - [`limits`]: flood limit and per-address connection limits (pure).
//! - [`proto`]: the codecs, pure: `frame` cuts a stream into lines and data frames, `line` is
//!   the native protocol, `irc_msg` parses and writes IRC messages, `irc` encodes events as IRC.
//! - [`hub`]: the chat state (users, nicks, rooms, transfers), protocol-agnostic: commands in,
//!   events with recipients out through a [`hub::Sink`].
//! - [`event`]: the vocabulary between the hub and the codecs.
//! - [`names`]: the nick and room name rules (UTF-8 per PRECIS, or ASCII), look-alike skeletons.
//! - [`text`]: message text rules (pure): IRC formatting stripped, long text split, CTCP.
//! - [`network`]: this server as one node of a network of snak servers over NATS (`--bus`):
//!   the glue between the hub's typed network changes and the [`bus`]; `wire` is its codec.
//! - [`bus`]: a NATS client the loop owns (one more non-blocking connection on its poll).
//! - [`store`]: what survives a restart (accounts, registered rooms, history) in SQLite, or
//!   in a PostgreSQL database the nodes of a network share, on a thread of its own, behind a
//!   small interface; the loop never waits for the disk or the database.
//! - [`filehost`]: files uploaded for FILEHOST clients, on disk under the data directory, by
//!   a thread of its own that writes uploads and reads downloads a chunk at a time.
//! - [`auth`]: password hashing and SASL (PLAIN, SCRAM-SHA-256, EXTERNAL), pure state machines.
//! - [`clock`]: the time, read once per loop pass and passed down.
//! - [`fast_map`]: the hash map of the hot paths (foldhash, a random seed per map).
//! - [`config`]: one table of every option and its default, from which the command line, the
//!   TOML config file, `--help`, `--check-config` and reload diffs follow; passwords as secrets.

pub mod auth;
pub mod bus;
pub mod clock;
pub mod config;
pub mod event;
pub mod fast_map;
pub mod filehost;
pub mod front;
pub mod hub;
pub mod limits;
pub mod names;
pub mod network;
pub mod outbox;
pub mod proto;
pub mod server;
pub mod store;
pub mod text;
pub mod transport;
