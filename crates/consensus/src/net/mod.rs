//! The peer transport: plain TCP between members, length-prefixed postcard frames, no gRPC.
//!
//! Parts:
//! - [`frame`]: the framing (`u32 length | u8 kind | u64 request id | payload`) and a reader that
//!   refuses bad frames without panicking or allocating for what has not arrived.

pub mod frame;

pub use frame::{FrameError, Kind};
