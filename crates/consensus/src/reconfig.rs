//! Membership changes (ZooKeeper's `reconfig`), decided and carried out by the leader.
//!
//! Any member takes the client's request, parses it and checks its ACL; the leader then runs
//! ZooKeeper's checks in ZooKeeper's order (a change in progress, the `fromConfig` version, the
//! shape of the new configuration, a synced quorum in it, the ACL) and carries the change out
//! through openraft, one membership entry per step.
//!
//! Invariants:
//! - A joining voter is first a learner and is caught up before it becomes a voter; if it does
//!   not catch up in time, it is removed again and the change fails with NewConfigNoQuorum.
//! - A new configuration needs at least two voters (ZooKeeper's rule with standalone enabled)
//!   and a majority of its voters in sync with the leader now.
//! - A leader that the change removes hands leadership to a remaining voter first and asks the
//!   member to send the change again (to the new leader): the ensemble is never left without a
//!   leader by a reconfig.
//! - Nothing is changed before every check has passed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::node::Raft;
use crate::types::{NodeId, PeerNode, TypeConfig};

/// How long a joining voter gets to catch up as a learner.
const CATCH_UP: Duration = Duration::from_secs(8);

/// A member that acknowledged the leader this recently counts as in sync with it.
const SYNCED_WITHIN: Duration = Duration::from_secs(2);

/// A membership change as the client asked for it (already parsed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconfigRequest {
    /// Incremental: members to add (or whose address or role changes).
    pub joining: Vec<(NodeId, PeerNode)>,
    /// Incremental: members to remove.
    pub leaving: Vec<NodeId>,
    /// Non-incremental: the whole new membership (then `joining` and `leaving` are empty).
    pub new_members: Option<Vec<(NodeId, PeerNode)>>,
    /// `fromConfig`: the configuration version the change is based on (None: any).
    pub from_version: Option<u64>,
    /// Whether the client may write `/zookeeper/config` (checked where the client is, since
    /// that member knows its identities; ZooKeeper checks it last, so it travels as a flag).
    pub authorized: bool,
}

/// Why a change was not made, in ZooKeeper's error codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ReconfigError {
    #[error("another membership change is still in progress")]
    InProgress,
    #[error("the configuration is at version {current:#x}, not the one the change is based on")]
    BadVersion { current: u64 },
    #[error("{0}")]
    BadArguments(String),
    #[error("the new configuration has no quorum of voters in sync with the leader")]
    NewConfigNoQuorum,
    #[error("not authorized to change the configuration")]
    NoAuth,
    /// The leader left leadership (or had none to give): send the change again.
    #[error("the leader changed; send the change to the new leader")]
    NotLeader,
    #[error("the membership change failed: {0}")]
    Failed(String),
}

/// Members by id with their role in `PeerNode::observer`.
type Nodes = BTreeMap<NodeId, PeerNode>;

/// The membership a request asks for, from the current one.
fn target_of(current: &Nodes, req: &ReconfigRequest) -> Nodes {
    match &req.new_members {
        Some(all) => all.iter().cloned().collect(),
        None => {
            let mut next = current.clone();
            for id in &req.leaving {
                next.remove(id);
            }
            for (id, node) in &req.joining {
                next.insert(*id, node.clone());
            }
            next
        }
    }
}

fn voters(nodes: &Nodes) -> BTreeSet<NodeId> {
    nodes
        .iter()
        .filter(|(_, n)| !n.observer)
        .map(|(id, _)| *id)
        .collect()
}

/// Runs a change on this member, which must lead. Returns the log index of the configuration
/// in force afterwards (ZooKeeper's config version).
pub(crate) async fn execute(raft: &Raft, req: ReconfigRequest) -> Result<u64, ReconfigError> {
    use openraft::async_runtime::watch::WatchReceiver;
    let metrics = raft.metrics().borrow_watched().clone();
    if !raft.is_leader() {
        return Err(ReconfigError::NotLeader);
    }
    let stored = &metrics.membership_config;
    let membership = stored.membership();
    let version = stored.log_id().as_ref().map_or(0, |l| l.index());
    let committed = metrics.local_committed.as_ref().map_or(0, |l| l.index());
    if membership.get_joint_config().len() > 1 || version > committed {
        return Err(ReconfigError::InProgress);
    }
    if let Some(from) = req.from_version
        && from != version
    {
        return Err(ReconfigError::BadVersion { current: version });
    }
    let current: Nodes = {
        let voter_ids: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, n)| {
                let mut n = n.clone();
                n.observer = !voter_ids.contains(id);
                (*id, n)
            })
            .collect()
    };
    let target = target_of(&current, &req);
    let target_voters = voters(&target);
    if target_voters.len() < 2 {
        return Err(ReconfigError::BadArguments(
            "the new configuration must include at least 2 voting members".into(),
        ));
    }
    // In sync (ZooKeeper's "synced" learners): the leader, and every member that has
    // acknowledged the leader lately.
    let me = metrics.id;
    let synced: BTreeSet<NodeId> = metrics
        .heartbeat
        .as_ref()
        .map(|h| {
            use openraft::Instant as _;
            h.iter()
                .filter(|(_, at)| at.as_ref().is_some_and(|t| t.elapsed() <= SYNCED_WITHIN))
                .map(|(id, _)| *id)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain([me])
        .collect();
    let synced_voters = target_voters.intersection(&synced).count();
    if synced_voters * 2 <= target_voters.len() {
        return Err(ReconfigError::NewConfigNoQuorum);
    }
    if !req.authorized {
        return Err(ReconfigError::NoAuth);
    }
    if !target_voters.contains(&me) {
        // Hand over first, to the most caught-up voter that stays.
        let best = metrics
            .replication
            .as_ref()
            .and_then(|r| {
                r.iter()
                    .filter(|(id, _)| target_voters.contains(id) && synced.contains(id))
                    .max_by_key(|(_, m)| m.as_ref().map(|l| l.index()))
                    .map(|(id, _)| *id)
            })
            .ok_or(ReconfigError::NewConfigNoQuorum)?;
        tracing::info!(
            to = best,
            "reconfig removes this leader: handing leadership over first"
        );
        raft.trigger()
            .transfer_leader(best)
            .await
            .map_err(|e| ReconfigError::Failed(e.to_string()))?;
        let _ = raft
            .wait(Some(Duration::from_secs(5)))
            .metrics(
                |m| m.current_leader.is_some_and(|l| l != me),
                "leadership handed over for a reconfig",
            )
            .await;
        return Err(ReconfigError::NotLeader);
    }
    apply_change(raft, &current, &target).await?;
    let after = raft.metrics().borrow_watched().membership_config.clone();
    Ok(after.log_id().as_ref().map_or(0, |l| l.index()))
}

/// Carries a checked change out: new members join as learners (voters among them caught up
/// first), the voter set changes, and the members that leave go.
async fn apply_change(raft: &Raft, current: &Nodes, target: &Nodes) -> Result<(), ReconfigError> {
    use openraft::ChangeMembers;
    let failed = |e: openraft::error::RaftError<
        TypeConfig,
        openraft::error::ClientWriteError<TypeConfig>,
    >| ReconfigError::Failed(e.to_string());
    let new_nodes: Nodes = target
        .iter()
        .filter(|(id, _)| !current.contains_key(id))
        .map(|(id, n)| (*id, n.clone()))
        .collect();
    // Every voter to be (a new member, or an observer promoted) is caught up as a learner
    // first; openraft re-adds an existing learner and waits for it the same way.
    let joining_voters: Nodes = target
        .iter()
        .filter(|(id, n)| !n.observer && current.get(id).is_none_or(|c| c.observer))
        .map(|(id, n)| (*id, n.clone()))
        .collect();
    for (id, node) in &joining_voters {
        let caught_up =
            tokio::time::timeout(CATCH_UP, raft.add_learner(*id, node.clone(), true)).await;
        if !matches!(caught_up, Ok(Ok(_))) {
            tracing::info!(member = id, "a joining voter did not catch up in time");
            if !current.contains_key(id) {
                let _ = raft
                    .change_membership(ChangeMembers::RemoveNodes([*id].into()), false)
                    .await;
            }
            return Err(ReconfigError::NewConfigNoQuorum);
        }
    }
    let observers: Nodes = new_nodes
        .iter()
        .filter(|(_, n)| n.observer)
        .map(|(id, n)| (*id, n.clone()))
        .collect();
    if !observers.is_empty() {
        raft.change_membership(ChangeMembers::AddNodes(observers), false)
            .await
            .map_err(failed)?;
    }
    // Addresses or roles of members that stay.
    let changed: Nodes = target
        .iter()
        .filter(|(id, n)| current.get(id).is_some_and(|c| c != *n))
        .map(|(id, n)| (*id, n.clone()))
        .collect();
    if !changed.is_empty() {
        raft.change_membership(ChangeMembers::SetNodes(changed), false)
            .await
            .map_err(failed)?;
    }
    let target_voters = voters(target);
    if target_voters != voters(current) {
        // Voters that leave stay as learners for the moment; the next step removes those that
        // leave the ensemble altogether.
        raft.change_membership(ChangeMembers::ReplaceAllVoters(target_voters), true)
            .await
            .map_err(failed)?;
    }
    let gone: BTreeSet<NodeId> = current
        .keys()
        .filter(|id| !target.contains_key(id))
        .copied()
        .collect();
    if !gone.is_empty() {
        raft.change_membership(ChangeMembers::RemoveNodes(gone), false)
            .await
            .map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16, observer: bool) -> PeerNode {
        PeerNode {
            host: "127.0.0.1".into(),
            quorum_port: port,
            election_port: port + 1,
            observer,
            ..PeerNode::default()
        }
    }

    fn three() -> Nodes {
        [
            (1, node(10, false)),
            (2, node(20, false)),
            (3, node(30, false)),
        ]
        .into()
    }

    #[test]
    fn an_incremental_change_removes_then_adds() {
        let req = ReconfigRequest {
            joining: vec![(4, node(40, true)), (2, node(22, false))],
            leaving: vec![3],
            ..ReconfigRequest::default()
        };
        let t = target_of(&three(), &req);
        assert_eq!(t.keys().copied().collect::<Vec<_>>(), vec![1, 2, 4]);
        assert_eq!(
            t[&2].quorum_port, 22,
            "a joiner with a known id replaces it"
        );
        assert_eq!(voters(&t), [1, 2].into());
    }

    #[test]
    fn new_members_replace_everything() {
        let req = ReconfigRequest {
            new_members: Some(vec![(5, node(50, false)), (6, node(60, false))]),
            ..ReconfigRequest::default()
        };
        assert_eq!(
            target_of(&three(), &req)
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![5, 6]
        );
    }
}
