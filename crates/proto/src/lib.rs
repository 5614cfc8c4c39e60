//! ZooKeeper's client wire protocol ("jute"), as Apache ZooKeeper 3.9 speaks it.
//!
//! This crate is pure: no I/O, no async, no clocks. It knows how every request, response and
//! record is laid out on the wire and nothing about what they mean. Decoding is total: any
//! byte string either decodes or yields a [`DecodeError`]; it never panics and never allocates
//! more than the input holds.

pub mod codes;
pub mod data;
mod error;
pub mod jute;

pub use codes::{
    AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, WatcherType, perms, xid,
};
pub use data::{Acl, Id, Stat, decode_acls, encode_acls};
pub use error::DecodeError;
pub use jute::{JuteReader, JuteWrite, Record};

/// The default `jute.maxbuffer`: the largest frame a server accepts (1 MiB - 1).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;
