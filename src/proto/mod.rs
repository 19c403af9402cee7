//! The codecs: pure functions from bytes to commands and from events to bytes.

pub mod filehost;
pub mod frame;
pub mod history;
pub mod http;
pub mod irc;
pub mod irc_msg;
pub mod line;
pub mod modes;
pub mod nats;
pub mod services;
pub mod ws;

#[cfg(test)]
mod irc_chunking;
