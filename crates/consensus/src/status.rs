//! What a member tells the server about itself: its role, the leader, the commit point, the
//! members. Derived from openraft's metrics, so the server never sees openraft types.

use std::time::Instant;

use crate::state_machine::Members;
use crate::types::{NodeId, TypeConfig};

/// A member's role, in ZooKeeper's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The only member (no `server.N` lines): ZooKeeper's "standalone".
    Standalone,
    Leader,
    Follower,
    /// A non-voting member (a Raft learner).
    Observer,
    /// Electing: no leader is known.
    Looking,
    Stopped,
}

impl Role {
    /// The word `srvr` prints after `Mode:`.
    pub fn mode(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Observer => "observer",
            Role::Looking => "looking",
            Role::Stopped => "stopped",
        }
    }

    /// Whether this member runs the ensemble's leader-only duties (session expiry, reaping).
    pub fn leads(self) -> bool {
        matches!(self, Role::Standalone | Role::Leader)
    }
}

/// One follower's replication progress, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerProgress {
    pub id: NodeId,
    /// The last log index known to be on that member (None: nothing yet).
    pub matched: Option<u64>,
}

/// A member's state, refreshed whenever openraft's metrics change.
#[derive(Debug, Clone)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: u64,
    pub committed: u64,
    pub last_applied: u64,
    pub members: Members,
    /// Leader only: every other member's progress.
    pub followers: Vec<FollowerProgress>,
    /// Leader only: when a quorum last acknowledged this leader.
    pub quorum_acked: Option<Instant>,
    /// Why Raft stopped on its own (a storage failure), if it did: the member can take no
    /// more writes and should say so and stop.
    pub fatal: Option<String>,
}

impl Status {
    /// Before Raft runs.
    pub fn starting(id: NodeId) -> Status {
        Status {
            id,
            role: Role::Looking,
            leader: None,
            term: 0,
            last_log_index: 0,
            committed: 0,
            last_applied: 0,
            members: Members::default(),
            followers: Vec::new(),
            quorum_acked: None,
            fatal: None,
        }
    }

    pub(crate) fn from_metrics(m: &openraft::RaftMetrics<TypeConfig>, standalone: bool) -> Status {
        use openraft::ServerState;
        let members = crate::state_machine::Members::of(&m.membership_config);
        let is_voter = members.voters.iter().any(|(id, _)| *id == m.id);
        let role = match m.state {
            ServerState::Leader if standalone => Role::Standalone,
            ServerState::Leader => Role::Leader,
            ServerState::Follower if m.current_leader.is_some() => Role::Follower,
            ServerState::Learner if m.current_leader.is_some() && !is_voter => Role::Observer,
            ServerState::Shutdown => Role::Stopped,
            _ => Role::Looking,
        };
        let followers = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, _)| **id != m.id)
                    .map(|(id, matched)| FollowerProgress {
                        id: *id,
                        matched: matched.as_ref().map(|l| l.index()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Status {
            id: m.id,
            role,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            committed: m.local_committed.map_or(0, |l| l.index()),
            last_applied: m.last_applied.map_or(0, |l| l.index()),
            members,
            followers,
            quorum_acked: m.last_quorum_acked.as_ref().map(|t| {
                use openraft::Instant as _;
                Instant::now() - t.elapsed()
            }),
            fatal: match &m.running_state {
                Ok(()) | Err(openraft::error::Fatal::Stopped) => None,
                Err(e) => Some(e.to_string()),
            },
        }
    }
}
