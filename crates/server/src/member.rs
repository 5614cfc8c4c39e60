//! From the server's settings to a Raft member's: no `server.N` lines is an ensemble of one.

use watchkeeper_consensus::config::MemberConfig;

use crate::config::Config;

impl Config {
    /// The Raft member this configuration describes.
    pub(crate) fn member_config(&self) -> MemberConfig {
        let mut m = MemberConfig::standalone(self.log_dir().to_path_buf());
        m.snapshot_every = self.snap_count;
        m.retain_snapshots = self.snap_retain_count;
        m
    }

    /// ZooKeeper's `syncLimit`: ticks a member may be out of touch with its leader.
    pub(crate) fn sync_limit_ticks(&self) -> u32 {
        5
    }
}
