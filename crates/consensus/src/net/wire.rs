//! The payloads the peer protocol's frames carry, besides openraft's own messages.
//!
//! A conversation on one connection:
//! - the caller sends [`Hello`] (id 0), then requests with ids counting up from 1;
//! - the server answers each request with a [`Kind::Reply`](super::frame::Kind::Reply) of the
//!   same id: for Raft RPCs a [`RemoteResult`] of openraft's response, for a forward a
//!   [`crate::ForwardResponse`];
//! - a snapshot is a [`SnapshotBegin`] and then [`SnapshotChunk`]s, each acknowledged with the
//!   count of bytes received so far (a `u64`), except the frame that completes the snapshot,
//!   which is answered with the install's `RemoteResult<SnapshotResponse>`;
//! - the server may send [`Kind::Refused`](super::frame::Kind::Refused) with a reason (a
//!   string) and close, at any point.

use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::types::{SnapshotMeta, Vote};

/// Bumped when the protocol changes incompatibly; a server refuses a hello of another version.
pub const PROTOCOL_VERSION: u32 = 1;

/// The first frame of every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// The calling member: forwarded proposals are attributed to it.
    pub from: NodeId,
    /// The member the caller means to reach. The server refuses a hello meant for another id,
    /// so a stale or wrong address never delivers a vote or entries to the wrong member.
    pub to: NodeId,
}

/// A Raft RPC's outcome on the remote member: its response, or why its Raft could not answer
/// (it stopped, or its storage failed), as text.
pub type RemoteResult<T> = Result<T, String>;

/// Announces a snapshot: what it is, and what the bytes that follow must add up to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotBegin {
    /// The leader's vote, handed to `install_full_snapshot`.
    pub vote: Vote,
    pub meta: SnapshotMeta,
    /// The number of bytes the chunks carry in all.
    pub total_len: u64,
    /// CRC32C of all of them.
    pub crc: u32,
}

/// One piece of a snapshot, checked on its own before it is kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// Where these bytes start: always the count received so far (chunks come in order).
    pub offset: u64,
    /// CRC32C of `data`.
    pub crc: u32,
    pub data: bytes::Bytes,
}
