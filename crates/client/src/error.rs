//! The client's error type: what a call can fail with, and how server codes map onto it.
//!
//! Connection-level conditions (loss, expiry, authentication failure, a closed client) have
//! their own variants because callers react to them differently from a server's answer about a
//! znode; [`Error::code`] gives every variant that has one its ZooKeeper error code, so code
//! written against ZooKeeper's numeric codes keeps working.

use watchkeeper_proto::ErrorCode;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered with this error code (NoNode, NodeExists, BadVersion, NoAuth, ...).
    #[error("server answered {0}")]
    Server(ErrorCode),
    /// A multi was rejected as a whole; `index` is the op (from 0) that failed, `code` its error.
    #[error("multi op #{index} failed: {code}")]
    MultiFailed { index: usize, code: ErrorCode },
    /// The connection broke before the reply arrived. A write may or may not have been applied;
    /// the session itself is still alive and the client is reconnecting.
    #[error("connection lost before the reply arrived")]
    ConnectionLoss,
    /// The session is gone: its ephemerals are deleted and this client cannot be used again.
    #[error("session expired")]
    SessionExpired,
    /// The server rejected the credentials; the client cannot be used again.
    #[error("authentication failed")]
    AuthFailed,
    /// The client was closed.
    #[error("client is closed")]
    Closed,
    /// No answer in time (the initial connect, or a close).
    #[error("timed out")]
    Timeout,
    /// The call was refused before anything was sent (an invalid path, an oversized request).
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The server sent something this client cannot make sense of.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// The ZooKeeper error code this error corresponds to, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Server(c) => Some(*c),
            Error::MultiFailed { code, .. } => Some(*code),
            Error::ConnectionLoss => Some(ErrorCode::ConnectionLoss),
            Error::SessionExpired => Some(ErrorCode::SessionExpired),
            Error::AuthFailed => Some(ErrorCode::AuthFailed),
            Error::Timeout => Some(ErrorCode::OperationTimeout),
            Error::BadArguments(_) => Some(ErrorCode::BadArguments),
            Error::Closed | Error::Protocol(_) => None,
        }
    }

    /// Builds the error for a non-zero `ReplyHeader.err`.
    pub(crate) fn from_wire(err: i32) -> Error {
        match ErrorCode::from_i32(err) {
            Some(ErrorCode::ConnectionLoss) => Error::ConnectionLoss,
            Some(ErrorCode::SessionExpired) => Error::SessionExpired,
            Some(ErrorCode::AuthFailed) => Error::AuthFailed,
            Some(code) => Error::Server(code),
            None => Error::Protocol(format!("unknown error code {err}")),
        }
    }

    /// True for the error a transparent retry of an idempotent read may cure.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, Error::ConnectionLoss)
    }
}

impl From<watchkeeper_proto::DecodeError> for Error {
    fn from(e: watchkeeper_proto::DecodeError) -> Self {
        Error::Protocol(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_map_to_variants() {
        assert_eq!(Error::from_wire(-101), Error::Server(ErrorCode::NoNode));
        assert_eq!(Error::from_wire(-4), Error::ConnectionLoss);
        assert_eq!(Error::from_wire(-112), Error::SessionExpired);
        assert_eq!(Error::from_wire(-115), Error::AuthFailed);
        assert!(matches!(Error::from_wire(-9999), Error::Protocol(_)));
    }

    #[test]
    fn every_variant_with_a_code_reports_it() {
        assert_eq!(
            Error::Server(ErrorCode::BadVersion).code(),
            Some(ErrorCode::BadVersion)
        );
        let m = Error::MultiFailed {
            index: 2,
            code: ErrorCode::NodeExists,
        };
        assert_eq!(m.code(), Some(ErrorCode::NodeExists));
        assert!(m.to_string().contains("#2"));
        assert_eq!(
            Error::SessionExpired.code(),
            Some(ErrorCode::SessionExpired)
        );
        assert_eq!(Error::Closed.code(), None);
        assert!(Error::ConnectionLoss.is_retryable());
        assert!(!Error::SessionExpired.is_retryable());
    }
}
