//! Why the server closes a WebSocket, as a close code and a short reason.
//!
//! Codes, and what a client should do:
//! - `1001` going away ([`Disconnect::Shutdown`]): leaf is stopping; reconnect with back-off and
//!   resume from the last seq you saw.
//! - `1013` try again later ([`Disconnect::ReplayFailed`]): the events you asked to resume
//!   from could not be read from the log; reconnect with back-off and resume from the last
//!   seq you saw.
//! - `1009` message too big ([`Disconnect::MessageTooBig`]): the client sent a frame over the
//!   limit; fix the client before reconnecting.
//! - `4000`–`4499`: reconnect and resume.
//!   - `4008` [`Disconnect::Slow`]: your queue overflowed and messages were dropped; reconnect
//!     with `since=<last seq>` to get them again (this is the documented `resync` signal).
//!   - `4010` [`Disconnect::NoPong`]: no frame from you within the keepalive timeout.
//!   - `4011` [`Disconnect::WriteError`]: a write to your socket failed or timed out.
//! - `4500`–`4999`: final; reconnecting with the same request will fail the same way.
//!   - `4500` [`Disconnect::BadRequest`].
//!   - `4501` [`Disconnect::Revoked`]: the token's TD account or viewer link was removed.
//!   - `4502` [`Disconnect::Expired`]: the token expired; sign in again or scan a new link.
//!
//! A reason must fit a close frame: at most 123 bytes of UTF-8 (a unit test checks all).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The peer closed the connection or it dropped; nothing is sent.
    ConnectionClosed,
    Shutdown,
    Slow,
    NoPong,
    WriteError,
    MessageTooBig,
    BadRequest,
    Revoked,
    Expired,
    ReplayFailed,
}

impl Disconnect {
    pub const ALL: [Disconnect; 10] = [
        Disconnect::ConnectionClosed,
        Disconnect::Shutdown,
        Disconnect::Slow,
        Disconnect::NoPong,
        Disconnect::WriteError,
        Disconnect::MessageTooBig,
        Disconnect::BadRequest,
        Disconnect::Revoked,
        Disconnect::Expired,
        Disconnect::ReplayFailed,
    ];

    /// The close code to send, or `None` when the connection is already gone.
    pub fn code(self) -> Option<u16> {
        match self {
            Disconnect::ConnectionClosed => None,
            Disconnect::Shutdown => Some(1001),
            Disconnect::MessageTooBig => Some(1009),
            Disconnect::Slow => Some(4008),
            Disconnect::NoPong => Some(4010),
            Disconnect::WriteError => Some(4011),
            Disconnect::BadRequest => Some(4500),
            Disconnect::Revoked => Some(4501),
            Disconnect::Expired => Some(4502),
            Disconnect::ReplayFailed => Some(1013),
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Disconnect::ConnectionClosed => "connection closed",
            Disconnect::Shutdown => {
                "leaf is shutting down; reconnect and resume from your last seq"
            }
            Disconnect::Slow => {
                "resync: too slow, messages dropped; reconnect with since=<last seq>"
            }
            Disconnect::NoPong => "no frame within the keepalive timeout",
            Disconnect::WriteError => "write to the socket failed",
            Disconnect::MessageTooBig => "message too big",
            Disconnect::BadRequest => "bad request",
            Disconnect::Revoked => {
                "revoked: this token's TD account or viewer link no longer exists"
            }
            Disconnect::Expired => "expired: sign in again, or scan a new viewer link",
            Disconnect::ReplayFailed => {
                "try again later: the events to resume from could not be read; resume from your last seq"
            }
        }
    }

    /// Whether what is still queued is sent before the close frame. On shutdown the client
    /// is healthy and gets everything; a slow or broken client would only fall further behind.
    pub fn flushes_queue(self) -> bool {
        matches!(self, Disconnect::Shutdown)
    }

    /// A short name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Disconnect::ConnectionClosed => "connection_closed",
            Disconnect::Shutdown => "shutdown",
            Disconnect::Slow => "slow",
            Disconnect::NoPong => "no_pong",
            Disconnect::WriteError => "write_error",
            Disconnect::MessageTooBig => "message_too_big",
            Disconnect::BadRequest => "bad_request",
            Disconnect::Revoked => "revoked",
            Disconnect::Expired => "expired",
            Disconnect::ReplayFailed => "replay_failed",
        }
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_fits_a_close_frame() {
        for d in Disconnect::ALL {
            assert!(d.reason().len() <= 123, "{d}: {} bytes", d.reason().len());
        }
    }

    #[test]
    fn application_codes_stay_in_their_documented_ranges() {
        for d in Disconnect::ALL {
            if let Some(code) = d.code() {
                assert!(
                    matches!(code, 1001 | 1009 | 1013 | 4000..=4999),
                    "{d} has undocumented code {code}"
                );
            }
        }
        assert!(
            Disconnect::Slow.code().unwrap() < 4500,
            "slow must mean reconnect"
        );
        assert!(
            Disconnect::BadRequest.code().unwrap() >= 4500,
            "bad request is final"
        );
    }
}
