//! The Raft type configuration, and the values that travel in the log and between members.
//!
//! Everything here is serde-encoded with postcard, both in the write-ahead log and on the wire.
//! A [`Proposal`] carries the server's own encoding of a tree entry as opaque bytes: this crate
//! never looks inside it, so the tree's entry format stays the tree's business.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A member's id: ZooKeeper's `myid`, 1..=255 (the top byte of the session ids it hands out).
pub type NodeId = u64;

/// One client write (or session operation) on its way into the log.
///
/// `(origin, incarnation, seq)` identifies the proposal for its whole life: the member that
/// holds the client's connection finds its waiter by it when the entry is applied. The zxid is
/// not known until then (it is the Raft log index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The member that accepted the request from a client.
    pub origin: NodeId,
    /// A number fresh at every start of the origin's process, so that a proposal of a previous
    /// run is never mistaken for one of this run.
    pub incarnation: u64,
    /// Increases with every proposal of one incarnation.
    pub seq: u64,
    /// The server's encoding of the entry (`watchkeeper_tree::Entry`).
    pub entry: Bytes,
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "proposal {}/{}/{} ({} bytes)",
            self.origin,
            self.incarnation,
            self.seq,
            self.entry.len()
        )
    }
}

/// How a member is reached: ZooKeeper's `server.N=host:quorumPort:electionPort[:role][;clientHost:clientPort]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// Where the quorum and election ports listen, and the address outgoing peer sockets bind to.
    pub host: String,
    /// Log replication, snapshots, and write forwarding.
    pub quorum_port: u16,
    /// Votes, pre-votes, heartbeats and leadership transfer, so elections never queue behind
    /// bulk replication.
    pub election_port: u16,
    /// Where clients connect ("" when the line had no client part).
    pub client_host: String,
    /// 0 when the line had no client part.
    pub client_port: u16,
    /// An observer: receives the log and serves clients but never votes (a Raft learner).
    pub observer: bool,
}

impl fmt::Display for PeerNode {
    /// ZooKeeper's `QuorumServer` text: `host:port:electionPort:role;clientHost:clientPort`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = if self.observer {
            "observer"
        } else {
            "participant"
        };
        write!(
            f,
            "{}:{}:{}:{role}",
            self.host, self.quorum_port, self.election_port
        )?;
        if self.client_port != 0 {
            let host = if self.client_host.is_empty() {
                "0.0.0.0"
            } else {
                &self.client_host
            };
            write!(f, ";{host}:{}", self.client_port)?;
        }
        Ok(())
    }
}

openraft::declare_raft_types!(
    /// Watchkeeper's Raft types: standard Raft leader ids (one leader per term), so a newer term
    /// always means a newer leader.
    pub TypeConfig:
        D = Proposal,
        R = (),
        NodeId = NodeId,
        Node = PeerNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;

/// What a member sends the leader besides Raft's own messages (on the forward connection).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ForwardRequest {
    /// Client writes accepted by a follower or observer, in the order they were accepted.
    Propose(Vec<Proposal>),
    /// The leader's commit point, for `sync`.
    ReadIndex,
    /// Sessions heard from since the last touch (ZooKeeper's learner ping), with their timeouts.
    Touch(Vec<(i64, u32)>),
    /// A membership change (ZooKeeper's reconfig).
    Reconfig(crate::reconfig::ReconfigRequest),
}

/// The leader's answer to a [`ForwardRequest`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ForwardResponse {
    /// The `seq`s of the proposals the leader could not take into its log (it lost leadership
    /// meanwhile): they are definitely not applied.
    Proposed {
        rejected: Vec<u64>,
    },
    /// The index a `sync` must wait for, or why the leader cannot give one.
    ReadIndex(Result<u64, String>),
    Touched,
    /// The configuration version after a reconfig, or why it was not made.
    Reconfigured(Result<u64, crate::reconfig::ReconfigError>),
}

/// Snapshot bytes as they travel and sit in memory: the snapshot file's payload (see
/// `snapshot.rs`), shared cheaply between the state machine and the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotData(pub Bytes);
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;
