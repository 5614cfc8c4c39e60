//! Why a frame could not be decoded.

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
}
