//! The IRC session: registration, capability negotiation, pings, and the translation of IRC
//! commands into hub commands. (Being built: for now it only holds the interface.)

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::conn::CloseReason;
use crate::hub::{ClientId, Hub};
use crate::server::Deliver;

/// A connection that has not registered within this time is closed.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// What the loop must do after a line.
pub enum IrcAction {
    None,
    /// The client is now a hub user.
    Registered,
    Close(CloseReason),
}

pub struct IrcSession {
    started: Instant,
}

impl IrcSession {
    pub fn new(now: Instant) -> IrcSession {
        IrcSession { started: now }
    }

    /// Handles one line (None: the line was too long).
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        _id: ClientId,
        _line: Option<&[u8]>,
        _peer: IpAddr,
        _in_hub: bool,
        _now: Instant,
        _server_name: &str,
        _hub: &mut Hub,
        _out: &mut Deliver<'_>,
    ) -> IrcAction {
        IrcAction::None
    }

    /// A timer of this connection fired.
    pub fn on_timer(&mut self, now: Instant) -> IrcAction {
        if now >= self.started + REGISTRATION_TIMEOUT {
            return IrcAction::Close(CloseReason::Other("registration timed out"));
        }
        IrcAction::None
    }
}
