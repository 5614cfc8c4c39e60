//! Watchkeeper's replication, on openraft. This is the only crate that names openraft types:
//! the server talks to it through [`Consensus`] and the [`ApplyEvent`]s it receives.
//!
//! Parts:
//! - `types`: the Raft type configuration, proposals, peer addresses, forwarded requests.
//! - `log_store`: Raft log storage on `watchkeeper-log` (group commit kept).
//! - `state_machine`: the bridge that hands committed entries to the server core and asks it
//!   for snapshots.
//! - `net`: the peer transport (plain TCP, length-prefixed postcard frames).
//! - `node`: starting a member, proposing, forwarding to the leader, status.
//! - `reconfig`: membership changes (ZooKeeper's reconfig), carried out by the leader.

pub mod config;
pub mod error;
pub mod log_store;
pub mod net;
pub mod node;
pub mod reconfig;
pub mod snapshot;
pub mod state_machine;
pub mod status;
#[cfg(test)]
mod storage_tests;
pub mod types;

pub use error::ConsensusError;
pub use reconfig::{ReconfigError, ReconfigRequest};
pub use types::{
    ForwardRequest, ForwardResponse, NodeId, PeerNode, Proposal, SnapshotData, TypeConfig,
};
