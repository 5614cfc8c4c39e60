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

pub mod acl;
mod apply;
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
