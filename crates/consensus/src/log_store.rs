//! Raft log storage on `watchkeeper-log`: openraft's `RaftLogStorage` and `RaftLogReader`.
//!
//! One thread owns the write-ahead log and does group commit: it takes every command waiting,
//! appends all the entries among them, fdatasyncs once, and only then tells openraft they are
//! durable (`IOFlushed`). Entries are readable as soon as `append` returns, from an in-memory
//! cache of every entry not yet purged (openraft's state-machine worker and replication read
//! the log back constantly, and purges follow snapshots, so the cache stays within about
//! `snapCount` entries).
//!
//! Invariants:
//! - Every write (append, truncate, vote, purge, committed) goes through the one thread in the
//!   order openraft issued it, so they are serialized as openraft requires.
//! - A truncation is durable before `truncate_after` returns, and written as an appended record
//!   (never rewriting the log in place), so a crash can never revive a truncated tail.
//! - The vote and the last purged log id live in one small state file replaced atomically; the
//!   vote is durable before `save_vote` returns.
//! - Record `i` of the log holds the entry with log index `i`: checked at open.
//! - After a write fails, the log takes no more writes: the failed write's callers, and those
//!   of every command after it, get the error (the thread answers them until the store is
//!   dropped): the kernel may have dropped unwritten pages, so only a restart (re-reading the
//!   disk) is trustworthy.
//! - `append` checks that the whole batch continues the log before caching any of it.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, RwLock, mpsc as std_mpsc};
use std::thread;

use bytes::Bytes;
use openraft::OptionalSend;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use watchkeeper_log::{LogOptions, Wal};

use crate::error::ConsensusError;
use crate::snapshot;
use crate::types::{Entry, LogId, SnapshotMeta, TypeConfig, Vote};

/// Most entries written under one fsync; keeps the latency of the first one bounded.
const MAX_BATCH: usize = 4096;

/// The write-ahead log's index of a Raft log index. Raft counts from 0 (the initial
/// membership), the WAL from 1 (so a record header is never all zeros); snapshot files are
/// named by the WAL index too, so the WAL's recovery skips exactly what they cover.
pub(crate) fn wal_index(raft_index: u64) -> u64 {
    raft_index + 1
}

/// What survives in the state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DurableState {
    vote: Option<Vote>,
    purged: Option<LogId>,
}

/// The log as openraft sees it, shared by the storage handle and its readers.
#[derive(Debug, Default)]
struct Cache {
    /// Entries after `purged`, contiguous by index.
    entries: VecDeque<Entry>,
    durable: DurableState,
    committed: Option<LogId>,
}

impl Cache {
    fn first_index(&self) -> u64 {
        self.durable.purged.map_or(0, |l| l.index() + 1)
    }

    fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .back()
            .map(|e| e.log_id())
            .or(self.durable.purged)
    }
}

enum LogCmd {
    Append {
        entries: Vec<Entry>,
        callback: IOFlushed<TypeConfig>,
    },
    Truncate {
        after: u64,
        done: oneshot::Sender<io::Result<()>>,
    },
    Purge {
        upto: u64,
        state: Vec<u8>,
        done: oneshot::Sender<io::Result<()>>,
    },
    SaveState {
        state: Vec<u8>,
        done: oneshot::Sender<io::Result<()>>,
    },
    Committed {
        index: u64,
        payload: Vec<u8>,
    },
}

/// The Raft log of one member.
pub struct LogStore {
    cache: Arc<RwLock<Cache>>,
    tx: std_mpsc::Sender<LogCmd>,
}

/// A reader of the log; cheap to clone, reads from memory.
#[derive(Clone)]
pub struct LogReader {
    cache: Arc<RwLock<Cache>>,
}

/// What opening the data directory found besides the log: the newest snapshot.
pub struct Opened {
    pub store: LogStore,
    /// The newest snapshot's metadata and the server's state bytes.
    pub snapshot: Option<(SnapshotMeta, Bytes)>,
}

fn stopped() -> io::Error {
    io::Error::other("the write-ahead log thread has stopped after an error; restart the server")
}

fn read(cache: &RwLock<Cache>) -> std::sync::RwLockReadGuard<'_, Cache> {
    cache.read().unwrap_or_else(|e| e.into_inner())
}

fn write(cache: &RwLock<Cache>) -> std::sync::RwLockWriteGuard<'_, Cache> {
    cache.write().unwrap_or_else(|e| e.into_inner())
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, recovering what is on disk, and starts its thread.
    /// `retain_snapshots` is how many snapshot files purges keep.
    pub fn open(dir: &Path, retain_snapshots: usize) -> Result<Opened, ConsensusError> {
        let (wal, recovery) = Wal::open(dir, LogOptions::default())?;
        if let Some(repair) = &recovery.repaired_tail {
            tracing::warn!(?repair, "a torn write at the end of the log was cut off");
        }
        let snapshot = match recovery.snapshot {
            Some((index, payload)) => {
                let (meta, state) = snapshot::decode(&Bytes::from(payload))
                    .map_err(|source| ConsensusError::Snapshot { index, source })?;
                Some((meta, state))
            }
            None => None,
        };
        let mut durable = match &recovery.state {
            Some(bytes) => postcard::from_bytes::<DurableState>(bytes)
                .map_err(|e| ConsensusError::State(e.to_string()))?,
            None => DurableState::default(),
        };
        let snap_last = snapshot.as_ref().and_then(|(m, _)| m.last_log_id);
        // The log keeps nothing at or below the snapshot, so that is purged too.
        if snap_last > durable.purged {
            durable.purged = snap_last;
        }
        let first = durable.purged.map_or(0, |l| l.index() + 1);
        let mut entries = VecDeque::with_capacity(recovery.entries.len());
        for (wal_at, bytes) in &recovery.entries {
            let index = &(wal_at - 1);
            if *index < first {
                continue;
            }
            let entry: Entry = postcard::from_bytes(bytes).map_err(|e| ConsensusError::Record {
                index: *index,
                why: format!(
                    "{e} (a data directory written by a Watchkeeper without replication holds \
                     entries of another format: start that version, `watchkeeper cli export` \
                     the tree, and import it into a fresh directory)"
                ),
            })?;
            if entry.log_id().index() != *index {
                return Err(ConsensusError::Record {
                    index: *index,
                    why: format!("it holds the entry of index {}", entry.log_id().index()),
                });
            }
            entries.push_back(entry);
        }
        let committed = match &recovery.committed {
            Some((_, bytes)) => Some(
                postcard::from_bytes::<LogId>(bytes)
                    .map_err(|e| ConsensusError::State(format!("committed record: {e}")))?,
            ),
            None => None,
        };
        let cache = Cache {
            entries,
            durable,
            committed,
        };
        // A committed mark past the surviving log (it cannot be, but a hand-edited directory
        // could) would make openraft apply entries that are not there.
        let committed = cache.committed.filter(|c| Some(*c) <= cache.last_log_id());
        let cache = Arc::new(RwLock::new(Cache { committed, ..cache }));
        let (tx, rx) = std_mpsc::channel();
        thread::Builder::new()
            .name("watchkeeper-log".into())
            .spawn(move || run(wal, rx, retain_snapshots))
            .map_err(ConsensusError::Thread)?;
        Ok(Opened {
            store: LogStore { cache, tx },
            snapshot,
        })
    }

    /// The newest membership in the log, if it holds one.
    pub(crate) fn last_membership(&self) -> Option<crate::types::StoredMembership> {
        let c = read(&self.cache);
        c.entries.iter().rev().find_map(|e| match &e.payload {
            openraft::EntryPayload::Membership(m) => Some(crate::types::StoredMembership::new(
                Some(e.log_id()),
                m.clone(),
            )),
            _ => None,
        })
    }

    fn send(&self, cmd: LogCmd) -> io::Result<()> {
        self.tx.send(cmd).map_err(|_| stopped())
    }

    async fn call(
        &self,
        cmd: impl FnOnce(oneshot::Sender<io::Result<()>>) -> LogCmd,
    ) -> io::Result<()> {
        let (done, rx) = oneshot::channel();
        self.send(cmd(done))?;
        rx.await.map_err(|_| stopped())?
    }

    fn encoded_state(&self) -> io::Result<Vec<u8>> {
        postcard::to_allocvec(&read(&self.cache).durable).map_err(io::Error::other)
    }
}

/// The log thread: group commit of appends; other writes in order, each durable when done.
fn run(mut wal: Wal, rx: std_mpsc::Receiver<LogCmd>, retain: usize) {
    let mut flushed: Vec<IOFlushed<TypeConfig>> = Vec::new();
    let mut buf = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut appended = 0usize;
        let result: Result<(), String> = (|| {
            while let Some(cmd) = next.take() {
                match cmd {
                    LogCmd::Append { entries, callback } => {
                        // Queued first, so that if a write below fails, this callback hears
                        // the error with the others of the batch.
                        flushed.push(callback);
                        for e in &entries {
                            buf.clear();
                            postcard::to_io(e, &mut buf).map_err(|e| e.to_string())?;
                            wal.append(wal_index(e.log_id().index()), &buf)
                                .map_err(|e| e.to_string())?;
                        }
                        appended += entries.len();
                    }
                    LogCmd::Committed { index, payload } => {
                        wal.append_committed(wal_index(index), &payload)
                            .map_err(|e| e.to_string())?;
                    }
                    LogCmd::Truncate { after, done } => {
                        let r = sync_and_ack(&mut wal, &mut flushed)
                            .and_then(|()| wal.truncate_after(after).map_err(|e| e.to_string()))
                            .and_then(|()| wal.sync().map_err(|e| e.to_string()));
                        let failed = r.clone().err();
                        let _ = done.send(r.map_err(io::Error::other));
                        if let Some(why) = failed {
                            return Err(why);
                        }
                    }
                    LogCmd::Purge { upto, state, done } => {
                        let r = sync_and_ack(&mut wal, &mut flushed)
                            .and_then(|()| wal.save_state(&state).map_err(|e| e.to_string()));
                        let failed = r.clone().err();
                        if failed.is_none()
                            && let Err(e) = wal.purge(wal_index(upto), retain)
                        {
                            // Not fatal: the files kept are still valid, only larger.
                            tracing::warn!(upto, error = %e, "purging the log failed; old files are kept");
                        }
                        let _ = done.send(r.map_err(io::Error::other));
                        if let Some(why) = failed {
                            return Err(why);
                        }
                    }
                    LogCmd::SaveState { state, done } => {
                        let r = wal.save_state(&state).map_err(|e| e.to_string());
                        let failed = r.clone().err();
                        let _ = done.send(r.map_err(io::Error::other));
                        if let Some(why) = failed {
                            return Err(why);
                        }
                    }
                }
                if appended < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            sync_and_ack(&mut wal, &mut flushed)
        })();
        if let Err(why) = result {
            tracing::error!(error = %why, "write-ahead log failed; this member stops taking writes");
            for cb in flushed.drain(..) {
                cb.io_completed(Err(io::Error::other(why.clone())));
            }
            // Every command already queued or sent later is answered with the error until the
            // store is dropped. (Dropping the receiver instead would drop the queued appends'
            // callbacks unanswered, and openraft would wait for those flushes forever.)
            let why = format!("the write-ahead log failed earlier: {why}; restart the server");
            for cmd in rx.iter() {
                refuse(cmd, &why);
            }
            return;
        }
    }
}

/// Answers a command with an error, writing nothing.
fn refuse(cmd: LogCmd, why: &str) {
    let err = || io::Error::other(why.to_string());
    match cmd {
        LogCmd::Append { callback, .. } => callback.io_completed(Err(err())),
        LogCmd::Truncate { done, .. }
        | LogCmd::Purge { done, .. }
        | LogCmd::SaveState { done, .. } => {
            let _ = done.send(Err(err()));
        }
        // Saving the committed position is best effort; it has no one to answer.
        LogCmd::Committed { .. } => {}
    }
}

fn sync_and_ack(wal: &mut Wal, flushed: &mut Vec<IOFlushed<TypeConfig>>) -> Result<(), String> {
    if flushed.is_empty() {
        return Ok(());
    }
    wal.sync().map_err(|e| e.to_string())?;
    for cb in flushed.drain(..) {
        cb.io_completed(Ok(()));
    }
    Ok(())
}

fn range_of<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = range_of(&range);
        let c = read(&self.cache);
        let first = c.first_index();
        let from = start.max(first);
        if from >= end {
            return Ok(Vec::new());
        }
        let skip = (from - first) as usize;
        let take = (end - from).min(c.entries.len() as u64) as usize;
        Ok(c.entries.iter().skip(skip).take(take).cloned().collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(read(&self.cache).durable.vote)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.get_log_reader().await.try_get_log_entries(range).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(read(&self.cache).durable.vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let c = read(&self.cache);
        Ok(LogState {
            last_purged_log_id: c.durable.purged,
            last_log_id: c.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader {
            cache: self.cache.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        write(&self.cache).durable.vote = Some(*vote);
        let state = self.encoded_state()?;
        self.call(|done| LogCmd::SaveState { state, done }).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        write(&self.cache).committed = committed;
        if let Some(c) = committed {
            let payload = postcard::to_allocvec(&c).map_err(io::Error::other)?;
            self.send(LogCmd::Committed {
                index: c.index(),
                payload,
            })?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(read(&self.cache).committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        {
            let mut c = write(&self.cache);
            // The whole batch is checked before any of it is cached: a refused batch leaves
            // the cache exactly as it was (the log thread never sees it).
            let next = c.last_log_id().map_or(0, |l| l.index() + 1);
            for (expected, e) in (next..).zip(&entries) {
                let index = e.log_id().index();
                if index != expected {
                    return Err(io::Error::other(format!(
                        "append of index {index} out of order: expected index {expected}"
                    )));
                }
            }
            c.entries.extend(entries.iter().cloned());
        }
        self.send(LogCmd::Append { entries, callback })
    }

    async fn truncate_after(&mut self, last: Option<LogId>) -> Result<(), io::Error> {
        {
            let mut c = write(&self.cache);
            let first = c.first_index();
            let keep = match last {
                Some(l) => (l.index() + 1).saturating_sub(first) as usize,
                None => 0,
            };
            if c.entries.len() > keep {
                // A leader of a later term has other entries at these indexes: ours were never
                // committed. Worth a line, since it follows a leader's loss.
                tracing::info!(
                    after = last.map_or(0, |l| l.index()),
                    dropped = c.entries.len() - keep,
                    "truncating this member's uncommitted log tail"
                );
            }
            c.entries.truncate(keep);
        }
        // The WAL index of the last entry kept (0: none).
        let after = last.map_or(0, |l| wal_index(l.index()));
        self.call(|done| LogCmd::Truncate { after, done }).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let upto = log_id.index();
        {
            let mut c = write(&self.cache);
            while c
                .entries
                .front()
                .is_some_and(|e| e.log_id().index() <= upto)
            {
                c.entries.pop_front();
            }
            if Some(log_id) > c.durable.purged {
                c.durable.purged = Some(log_id);
            }
        }
        let state = self.encoded_state()?;
        self.call(|done| LogCmd::Purge { upto, state, done }).await
    }
}
