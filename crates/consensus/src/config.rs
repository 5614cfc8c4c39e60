//! A member's settings: who it is, the ensemble it starts with, and Raft's timing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::types::{NodeId, PeerNode};

/// Raft's timing. The defaults hold on a loaded two-core machine: under about a second of
/// election timeout, a busy machine (a build beside three members) invites spurious elections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub heartbeat: Duration,
    pub election_min: Duration,
    pub election_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_millis(100),
            election_min: Duration::from_millis(1000),
            election_max: Duration::from_millis(2000),
        }
    }
}

/// Everything a member needs to start.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// This member's id (`myid`).
    pub id: NodeId,
    /// The ensemble as configured (`server.N` lines). Only a pristine member uses it to
    /// bootstrap; after that the membership in the log is authoritative.
    pub members: BTreeMap<NodeId, PeerNode>,
    /// Where the log, the snapshots and the Raft state file live.
    pub data_dir: PathBuf,
    pub timing: Timing,
    /// A snapshot is taken after this many entries (`snapCount`).
    pub snapshot_every: u64,
    /// Snapshot files kept by purges (`autopurge.snapRetainCount`).
    pub retain_snapshots: usize,
}

impl MemberConfig {
    /// A standalone server: an ensemble of one voter, on addresses nobody connects to.
    pub fn standalone(data_dir: PathBuf) -> MemberConfig {
        let mut members = BTreeMap::new();
        members.insert(
            1,
            PeerNode {
                host: "127.0.0.1".into(),
                ..PeerNode::default()
            },
        );
        MemberConfig {
            id: 1,
            members,
            data_dir,
            timing: Timing::default(),
            snapshot_every: 100_000,
            retain_snapshots: 3,
        }
    }

    /// One member and nobody else: it never listens for peers.
    pub fn is_standalone(&self) -> bool {
        self.members.len() == 1 && self.members.contains_key(&self.id)
    }

    pub(crate) fn me(&self) -> Option<&PeerNode> {
        self.members.get(&self.id)
    }

    pub(crate) fn raft_config(&self) -> Result<openraft::Config, String> {
        let ms = |d: Duration| d.as_millis() as u64;
        let cfg = openraft::Config {
            cluster_name: "watchkeeper".into(),
            heartbeat_interval: ms(self.timing.heartbeat),
            election_timeout_min: ms(self.timing.election_min),
            election_timeout_max: ms(self.timing.election_max),
            // The transport bounds each snapshot chunk itself; this is only openraft's overall
            // bound on one transfer.
            install_snapshot_timeout: 600_000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every.max(1)),
            // A follower a little behind catches up from the log, one far behind by snapshot;
            // alone, nobody needs the log a snapshot covers.
            max_in_snapshot_log_to_keep: if self.is_standalone() { 0 } else { 1000 },
            replication_lag_threshold: self.snapshot_every.max(1).saturating_mul(2),
            // Entries per AppendEntries: one request is in flight per follower, and each costs the
            // follower an fsync, so a large batch is what carries a heavy write load.
            max_payload_entries: 4096,
            // Pre-vote: an isolated member that rejoins does not depose a healthy leader.
            enable_pre_vote: Some(true),
            // Our state machine is rebuilt from snapshot + log at start, and apply is not
            // durable: a restarted leader must not restore itself with a stale state.
            enable_leader_restore: Some(false),
            allow_log_reversion: Some(false),
            ..openraft::Config::default()
        };
        cfg.validate().map_err(|e| e.to_string())
    }
}
