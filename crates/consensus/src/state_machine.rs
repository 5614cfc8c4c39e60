//! The state-machine bridge: openraft's `RaftStateMachine`, implemented by handing committed
//! entries to the server core (which owns the tree, the watches and the sessions) and waiting
//! until it has applied them.
//!
//! Invariants:
//! - Entries reach the core in log order, each exactly once per process run, and `apply`
//!   returns only after the core has applied them: openraft publishes `last_applied` after
//!   `apply` returns, and `sync` and reads wait on it.
//! - A snapshot is taken between applies (openraft asks for the builder on its state-machine
//!   worker, which applies nothing meanwhile), so the core's encoding is exactly the state at
//!   `last_applied`; only writing the file happens concurrently.
//! - A snapshot is durable in the data directory before it is reported built or installed.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use tokio::sync::{mpsc, oneshot};

use crate::types::{
    LogId, NodeId, PeerNode, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig,
};
use crate::{Proposal, snapshot};

/// What the core is asked to do. The core answers on `done`; a dropped `done` means the core
/// is gone, which stops this member's Raft (it can apply nothing more).
pub enum ApplyEvent {
    /// Apply these committed entries, in order.
    Apply {
        entries: Vec<Committed>,
        done: oneshot::Sender<()>,
    },
    /// Encode the state as of the last entry applied.
    Snapshot { done: oneshot::Sender<Vec<u8>> },
    /// Replace the whole state with a snapshot's, whose last entry is `index` (a lagging member
    /// catching up from the leader).
    Install {
        index: u64,
        state: Bytes,
        members: Members,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// One committed log entry, as the core sees it.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The zxid.
    pub index: u64,
    pub term: u64,
    pub kind: CommittedKind,
}

#[derive(Debug, Clone)]
pub enum CommittedKind {
    Proposal(Proposal),
    /// A new leader's first entry: changes no state, but the zxid moves on.
    Blank,
    /// A change of the ensemble's members.
    Membership(Members),
}

/// The ensemble's members as of one configuration entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// Voters (ZooKeeper's participants), by id.
    pub voters: Vec<(NodeId, PeerNode)>,
    /// Learners (ZooKeeper's observers), by id.
    pub observers: Vec<(NodeId, PeerNode)>,
    /// The log index of the configuration entry (ZooKeeper's config version); 0 before any.
    pub version: u64,
}

impl Members {
    /// The address of member `id`, voter or observer.
    pub fn node(&self, id: NodeId) -> Option<&PeerNode> {
        self.voters
            .iter()
            .chain(&self.observers)
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n)
    }

    pub(crate) fn of(stored: &StoredMembership) -> Members {
        let m = stored.membership();
        let voters: std::collections::BTreeSet<NodeId> = m.voter_ids().collect();
        let mut out = Members {
            version: stored.log_id().as_ref().map_or(0, |l| l.index()),
            ..Members::default()
        };
        for (id, node) in m.nodes() {
            if voters.contains(id) {
                out.voters.push((*id, node.clone()));
            } else {
                out.observers.push((*id, node.clone()));
            }
        }
        out
    }
}

/// What the state machine has applied, shared with its snapshot builders.
#[derive(Default)]
struct Applied {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The newest snapshot, built here or installed from the leader.
    current: Option<(SnapshotMeta, Bytes)>,
}

/// openraft's state machine for one member.
pub struct StateMachine {
    core: mpsc::Sender<ApplyEvent>,
    applied: Arc<Mutex<Applied>>,
    dir: PathBuf,
    /// Snapshot files kept.
    retain: usize,
}

impl StateMachine {
    /// A state machine whose state starts as `snapshot` (already handed to the core) or empty.
    pub(crate) fn new(
        core: mpsc::Sender<ApplyEvent>,
        dir: PathBuf,
        retain: usize,
        snapshot: Option<(SnapshotMeta, Bytes)>,
    ) -> StateMachine {
        let applied = match snapshot {
            Some((meta, state)) => Applied {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
                current: Some((meta, state)),
            },
            None => Applied::default(),
        };
        StateMachine {
            core,
            applied: Arc::new(Mutex::new(applied)),
            dir,
            retain,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn core_gone() -> io::Error {
    io::Error::other("the server core has stopped; this member can apply nothing more")
}

async fn ask<T>(
    core: &mpsc::Sender<ApplyEvent>,
    event: impl FnOnce(oneshot::Sender<T>) -> ApplyEvent,
) -> io::Result<T> {
    let (tx, rx) = oneshot::channel();
    core.send(event(tx)).await.map_err(|_| core_gone())?;
    rx.await.map_err(|_| core_gone())
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let a = self.lock();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut batch = Vec::new();
        let mut responders = Vec::new();
        let mut last = None;
        let mut membership = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let kind = match entry.payload {
                EntryPayload::Normal(p) => CommittedKind::Proposal(p),
                EntryPayload::Blank => CommittedKind::Blank,
                EntryPayload::Membership(m) => {
                    let stored = StoredMembership::new(Some(log_id), m);
                    let members = Members::of(&stored);
                    membership = Some(stored);
                    CommittedKind::Membership(members)
                }
            };
            batch.push(Committed {
                index: log_id.index(),
                term: log_id.committed_leader_id().term,
                kind,
            });
            responders.extend(responder);
            last = Some(log_id);
        }
        if batch.is_empty() {
            return Ok(());
        }
        ask(&self.core, |done| ApplyEvent::Apply {
            entries: batch,
            done,
        })
        .await?;
        {
            let mut a = self.lock();
            a.last_applied = last;
            if let Some(m) = membership {
                a.membership = m;
            }
        }
        for r in responders {
            r.send(());
        }
        Ok(())
    }

    async fn try_create_snapshot_builder(&mut self, _force: bool) -> Option<SnapshotBuilder> {
        Some(self.get_snapshot_builder().await)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        // On the worker, between applies: the core's encoding is the state at last_applied.
        let encoded = ask(&self.core, |done| ApplyEvent::Snapshot { done }).await;
        let a = self.lock();
        let meta = SnapshotMeta {
            last_log_id: a.last_applied,
            last_membership: a.membership.clone(),
        };
        SnapshotBuilder {
            meta,
            state: encoded.map(Bytes::from),
            applied: self.applied.clone(),
            dir: self.dir.clone(),
            retain: self.retain,
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let index = meta.last_log_id.map_or(0, |l| l.index());
        write_file(&self.dir, meta, &snapshot.0, self.retain).await?;
        let members = Members::of(&meta.last_membership);
        ask(&self.core, |done| ApplyEvent::Install {
            index,
            state: snapshot.0.clone(),
            members,
            done,
        })
        .await?
        .map_err(|why| io::Error::other(format!("the core refused the snapshot: {why}")))?;
        let mut a = self.lock();
        a.last_applied = meta.last_log_id;
        a.membership = meta.last_membership.clone();
        a.current = Some((meta.clone(), snapshot.0));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let a = self.lock();
        Ok(a.current.as_ref().map(|(meta, state)| Snapshot {
            meta: meta.clone(),
            snapshot: SnapshotData(state.clone()),
        }))
    }
}

/// Writes a snapshot file durably, off the async threads, then removes the oldest beyond
/// `retain` (older ones are never needed: the log is kept from the newest on).
async fn write_file(
    dir: &std::path::Path,
    meta: &SnapshotMeta,
    state: &Bytes,
    retain: usize,
) -> io::Result<()> {
    let Some(last) = meta.last_log_id else {
        // Nothing applied: nothing to keep.
        return Ok(());
    };
    let index = crate::log_store::wal_index(last.index());
    let payload = snapshot::encode(meta, state);
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        watchkeeper_log::write_snapshot_file(&dir, index, &payload)?;
        watchkeeper_log::remove_old_snapshots(&dir, retain)
    })
    .await
    .map_err(io::Error::other)?
    .map(|_| ())
    .map_err(io::Error::other)
}

/// Writes the snapshot the core encoded; made between applies, run on a task of its own.
pub struct SnapshotBuilder {
    meta: SnapshotMeta,
    state: io::Result<Bytes>,
    applied: Arc<Mutex<Applied>>,
    dir: PathBuf,
    retain: usize,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let state = match &self.state {
            Ok(s) => s.clone(),
            Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
        };
        let started = std::time::Instant::now();
        write_file(&self.dir, &self.meta, &state, self.retain).await?;
        tracing::info!(
            index = self.meta.last_log_id.map_or(0, |l| l.index()),
            bytes = state.len(),
            ms = started.elapsed().as_millis() as u64,
            "snapshot written"
        );
        let mut a = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let newer = a
            .current
            .as_ref()
            .is_none_or(|(m, _)| m.last_log_id <= self.meta.last_log_id);
        if newer {
            a.current = Some((self.meta.clone(), state.clone()));
        }
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: SnapshotData(state),
        })
    }
}
