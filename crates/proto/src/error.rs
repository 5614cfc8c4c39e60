//! Why a frame or record could not be decoded.

use crate::codes::OpCode;

/// A received record did not decode. The server answers with a closed connection (or, for a
/// request body, MarshallingError) and never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record ends early: needed {needed} more bytes, {remaining} left")]
    UnexpectedEof { needed: usize, remaining: usize },
    #[error("negative length prefix {0}")]
    NegativeLength(i32),
    #[error("length prefix {claimed} is larger than the {remaining} bytes left in the frame")]
    LengthBeyondInput { claimed: usize, remaining: usize },
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("{0} bytes left over after the record")]
    TrailingBytes(usize),
    #[error("unknown {what} value {value}")]
    UnknownValue { what: &'static str, value: i32 },
    /// The opcode exists but a client never sends it after a request header (notification,
    /// createSession, error), or no reply body belongs to it.
    #[error("opcode {0:?} has no {1} body")]
    NoBodyForOpCode(OpCode, &'static str),
    /// A multi holding a read op, or a multiRead holding a write op.
    #[error("{sub_op:?} is not allowed inside {multi:?}")]
    MultiOpNotAllowed { multi: OpCode, sub_op: OpCode },
}

/// A length prefix that cannot start a valid frame. The connection cannot be resynchronised
/// after one, so it must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {len} is outside 0..={max} (jute.maxbuffer)")]
    BadLength { len: i32, max: usize },
}
