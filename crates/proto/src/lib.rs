//! ZooKeeper's client wire protocol ("jute"), as Apache ZooKeeper 3.9 speaks it.
//!
//! This crate is pure: no I/O, no async, no clocks. It knows how every request, response and
//! record is laid out on the wire and nothing about what they mean: fields whose values carry
//! meaning (create flags, watch modes, error codes) stay raw integers with accessors that
//! classify them, so an unknown value is an answerable request rather than a broken stream.
//! Decoding is total: any byte string either decodes or yields a [`DecodeError`]; it never
//! panics and never allocates more than the input holds.
//!
//! - [`jute`]: the primitive encoding and the [`Record`] trait every record implements.
//! - [`session`]: the handshake (`ConnectRequest`/`ConnectResponse`, optional readOnly byte).
//! - [`header`]: `RequestHeader` and `ReplyHeader`.
//! - [`requests`], [`responses`], [`watches`], [`multi`]: the bodies, one type per jute class.
//! - [`Request`] / [`Response`]: a whole body chosen by opcode, for dispatch on either side.
//! - [`frame`]: length-prefixed framing, a pure [`FrameDecoder`] and frame builders.
//! - [`codes`], [`data`]: numeric codes and the shared `Stat`, `Id`, `ACL` records.

pub mod codes;
pub mod data;
mod error;
mod field;
pub mod frame;
pub mod header;
pub mod jute;
mod message;
pub mod multi;
pub mod path;
pub mod requests;
pub mod responses;
pub mod session;
pub mod watches;

#[cfg(test)]
mod arbitrary;

pub use codes::{
    AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, WatcherType, perms, xid,
};
pub use data::{Acl, ClientInfo, Id, Stat, decode_acls, encode_acls};
pub use error::{DecodeError, FrameError};
pub use frame::FrameDecoder;
pub use header::{ReplyHeader, RequestHeader};
pub use jute::{JuteReader, JuteWrite, Record};
pub use message::{Request, Response};
pub use multi::{MultiHeader, MultiOp, MultiRequest, MultiResponse, MultiResult};
// The body modules hold nothing but record types, so all of them are named from the root.
pub use requests::*;
pub use responses::*;
pub use session::{ConnectRequest, ConnectResponse, SESSION_PASSWORD_LEN};
pub use watches::*;

/// The default `jute.maxbuffer`: the largest frame a server accepts (1 MiB - 1).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;
