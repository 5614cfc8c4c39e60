//! The deterministic znode state machine of Watchkeeper.
//!
//! A [`DataTree`] holds the znodes, their stats and ACLs, the sessions table and the indexes
//! beside them (ephemerals by session, containers, TTL nodes). [`DataTree::apply`] takes one
//! [`Entry`] of the log at its zxid and returns the result and the changes the watch index
//! turns into events. Apply decides everything from the entry and the tree alone: no clock, no
//! randomness, no I/O, so replicas that apply the same log agree exactly, and identical trees
//! encode to identical snapshot bytes.
//!
//! Apache ZooKeeper 3.9 is the specification: the order of checks (and so which error wins),
//! the stat arithmetic, sequential names, container/TTL encodings and ACL rules follow its
//! `PrepRequestProcessor`, `DataTree`, `DataNode`, `EphemeralType` and auth providers.
//!
//! What a caller must know:
//! - `Op::Create::ttl_ms` is -1 ([`NO_TTL`]) unless the request was a createTTL: ZooKeeper
//!   answers `BadArguments` to a TTL on a non-TTL mode. Whether TTL nodes are enabled at all
//!   (`Unimplemented` otherwise) is the server's decision; apply assumes they are.
//! - Every client op needs its session in the table (`SessionExpired` otherwise). Session 0 is
//!   the server's own and needs none, but cannot own ephemerals. Session ids that read as a
//!   container or TTL marker ([`is_reserved_session_id`]) are refused by `CreateSession`.
//! - Clients see `ephemeralOwner` 0 on containers and TTL nodes, and a parent's cversion as
//!   `creations * 2 - numChildren` (so deletions count too), exactly as ZooKeeper reports them.
//! - [`Applied::acls`] gives, per change, the ACL ZooKeeper 3.9 checks READ against before
//!   delivering the event; a deleted node's ACL is no longer in the tree.
//! - Quota accounting under `/zookeeper/quota` (`zookeeper_stats` data) is not kept.

pub mod acl;
mod apply;
mod config_node;
mod entry;
mod ip;
mod node;
mod outcome;
pub mod path;
mod snapshot;
mod tree;

pub use entry::{Entry, EntryDecodeError, NO_TTL, Op};
pub use node::{CONTAINER_EPHEMERAL_OWNER, MAX_TTL_MS, NodeRef, is_reserved_session_id};
pub use outcome::{Applied, Change, OpResult};
pub use snapshot::SnapshotDecodeError;
pub use tree::{DataTree, SessionInfo};
