//! From the server's settings to a Raft member's: no `server.N` lines is an ensemble of one.

use watchkeeper_consensus::PeerNode;
use watchkeeper_consensus::config::{MemberConfig, Timing};

use crate::config::Config;

/// ZooKeeper's default `syncLimit`, in ticks, for a standalone server (where it is unused).
const DEFAULT_SYNC_LIMIT: u32 = 5;

impl Config {
    /// The Raft member this configuration describes.
    pub(crate) fn member_config(&self) -> MemberConfig {
        let mut m = MemberConfig::standalone(self.log_dir().to_path_buf());
        m.snapshot_every = self.snap_count;
        m.retain_snapshots = self.snap_retain_count;
        m.timing = Timing {
            heartbeat: self.raft_timing.heartbeat,
            election_min: self.raft_timing.election_min,
            election_max: self.raft_timing.election_max,
        };
        if let Some(e) = &self.ensemble {
            m.id = e.my_id;
            m.members = e.servers.iter().map(|s| (s.id, peer_node(s))).collect();
        }
        m
    }

    /// ZooKeeper's `syncLimit`: ticks a member may be out of touch with its leader.
    pub(crate) fn sync_limit_ticks(&self) -> u32 {
        self.ensemble
            .as_ref()
            .map_or(DEFAULT_SYNC_LIMIT, |e| e.sync_limit)
    }
}

/// A `server.N` line as the membership holds it.
pub(crate) fn peer_node(s: &crate::config::server_line::ServerLine) -> PeerNode {
    PeerNode {
        host: s.host.clone(),
        quorum_port: s.quorum_port,
        election_port: s.election_port,
        client_host: s.client_host.clone(),
        client_port: s.client_port,
        observer: s.observer,
    }
}
