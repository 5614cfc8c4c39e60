//! Tests of the Raft storage adapters (`LogStore`, `StateMachine`) against real data
//! directories: openraft's storage conformance suite (`suite`) and crash-and-reopen tests
//! (`crash`).
//!
//! The state machine needs the server core on the other end of its channel: [`Core`] plays
//! that part for real, applying committed entries to a `watchkeeper_tree::DataTree` the way the
//! server does, encoding snapshots with `DataTree::encode_snapshot` and installing them with
//! `DataTree::decode_snapshot`.

mod crash;
mod suite;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::storage::IOFlushed;
use openraft::{ErrorSubject, ErrorVerb, StorageError};
use tokio::sync::mpsc;
use watchkeeper_tree::DataTree;

use crate::ConsensusError;
use crate::log_store::{LogStore, Opened};
use crate::state_machine::{ApplyEvent, Committed, CommittedKind, StateMachine};
use crate::types::{Entry, SnapshotMeta, TypeConfig};

/// Snapshot files kept by purges in these tests.
const RETAIN: usize = 2;

/// The server core's part, for tests: owns a tree and applies what the state machine sends.
#[derive(Clone)]
pub(crate) struct Core {
    tx: mpsc::Sender<ApplyEvent>,
    tree: Arc<Mutex<DataTree>>,
}

impl Core {
    /// Starts the core's task on the current runtime; it ends when every sender is dropped.
    pub(crate) fn spawn() -> Core {
        let (tx, mut rx) = mpsc::channel::<ApplyEvent>(16);
        let tree = Arc::new(Mutex::new(DataTree::new()));
        let shared = tree.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let mut tree = shared.lock().unwrap();
                match ev {
                    ApplyEvent::Apply { entries, done } => {
                        for c in entries {
                            apply_committed(&mut tree, c);
                        }
                        let _ = done.send(());
                    }
                    ApplyEvent::Snapshot { done } => {
                        let mut bytes = Vec::new();
                        tree.encode_snapshot(&mut bytes);
                        let _ = done.send(bytes);
                    }
                    ApplyEvent::Install {
                        index, state, done, ..
                    } => {
                        let r = match DataTree::decode_snapshot(&state) {
                            Ok(t) => {
                                *tree = t;
                                tree.note_applied(index as i64);
                                Ok(())
                            }
                            Err(e) => Err(e.to_string()),
                        };
                        let _ = done.send(r);
                    }
                }
            }
        });
        Core { tx, tree }
    }

    pub(crate) fn tree(&self) -> std::sync::MutexGuard<'_, DataTree> {
        self.tree.lock().unwrap()
    }
}

/// What the server's `apply_committed` does, minus the waiters: a proposal's entry is decoded
/// and applied at its zxid; an undecodable one, a blank or a membership entry changes nothing
/// but the zxid.
fn apply_committed(tree: &mut DataTree, c: Committed) {
    let zxid = c.index as i64;
    match c.kind {
        CommittedKind::Proposal(p) => match watchkeeper_tree::Entry::decode(&p.entry) {
            Ok(entry) => {
                tree.apply(zxid, &entry);
            }
            Err(_) => tree.note_applied(zxid),
        },
        CommittedKind::Blank | CommittedKind::Membership(_) => tree.note_applied(zxid),
    }
}

/// Opens the log in `dir`, waiting for a store of the same directory that was just dropped to
/// let go of it: its thread drains the commands already sent, then drops the WAL, which
/// releases the directory lock. So a successful open here is a join of the old thread.
pub(crate) fn reopen(dir: &Path) -> Opened {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match LogStore::open(dir, RETAIN) {
            Ok(opened) => return opened,
            Err(ConsensusError::Log(watchkeeper_log::LogError::Locked { .. }))
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("reopening {}: {e}", dir.display()),
        }
    }
}

/// A state machine in `dir` starting from what opening the log found, with a core of its own.
pub(crate) fn state_machine(
    dir: &Path,
    opened_snapshot: Option<(SnapshotMeta, Bytes)>,
) -> (StateMachine, Core) {
    let core = Core::spawn();
    let sm = StateMachine::new(core.tx.clone(), dir.to_path_buf(), RETAIN, opened_snapshot);
    (sm, core)
}

/// Appends through `RaftLogStorage::append` and waits until the entries are durable.
pub(crate) async fn append(store: &mut LogStore, entries: Vec<Entry>) -> io::Result<()> {
    use openraft::storage::RaftLogStorage;
    use openraft::type_config::TypeConfigExt;
    let (tx, rx) = TypeConfig::oneshot();
    store.append(entries, IOFlushed::signal(tx)).await?;
    rx.await
        .map_err(|_| io::Error::other("the flush callback was dropped without an answer"))?
}

pub(crate) fn storage_error(e: impl std::fmt::Display) -> StorageError<TypeConfig> {
    StorageError::from_io_error(
        ErrorSubject::Store,
        ErrorVerb::Read,
        io::Error::other(e.to_string()),
    )
}
