//! The log thread: group commit of proposed entries and snapshot installation.
//!
//! The core sends each proposed entry here already encoded. The thread takes everything that is
//! waiting, appends it all, fdatasyncs once, and tells the core the highest durable zxid; the
//! core applies and acknowledges only up to that zxid. So nothing is acknowledged before its
//! fsync, and under load one fsync covers many writes.
//!
//! A snapshot is written to disk by a thread of its own, so appends and fsyncs go on meanwhile;
//! once it is durable, the log thread purges what it covers after its next batch.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

use tokio::sync::mpsc as tmpsc;
use watchkeeper_log::Wal;

/// Work for the log thread.
pub(crate) enum LogCmd {
    Append {
        zxid: u64,
        entry: Vec<u8>,
    },
    /// A consistent snapshot of the tree at `zxid` (every entry up to it is durable already).
    Snapshot {
        zxid: u64,
        bytes: Vec<u8>,
    },
}

/// What the log thread reports back to the core.
#[derive(Debug)]
pub(crate) enum LogEvent {
    /// Every entry up to and including this zxid is on disk.
    Durable(u64),
    /// The log can no longer be written; the server must stop accepting writes.
    Failed(String),
}

/// Most entries written under one fsync; keeps the latency of the first one bounded.
const MAX_BATCH: usize = 4096;

pub(crate) struct LogThread {
    pub(crate) tx: mpsc::Sender<LogCmd>,
    handle: Option<thread::JoinHandle<()>>,
}

impl LogThread {
    pub(crate) fn spawn(
        mut wal: Wal,
        snap_retain: usize,
        events: tmpsc::UnboundedSender<LogEvent>,
    ) -> std::io::Result<LogThread> {
        // Snapshots live beside the log, where recovery looks for them.
        let snapshot_dir = wal.dir().to_path_buf();
        let (tx, rx) = mpsc::channel::<LogCmd>();
        let handle = thread::Builder::new()
            .name("watchkeeper-log".into())
            .spawn(move || {
                let ctx = Ctx {
                    snapshot_dir,
                    snap_retain,
                    snapshot_running: Arc::new(AtomicBool::new(false)),
                    snapshot_done: Arc::new(AtomicU64::new(0)),
                };
                if let Err(e) = run(&mut wal, &rx, &ctx, &events) {
                    tracing::error!(error = %e, "write-ahead log failed; no further writes can be acknowledged");
                    let _ = events.send(LogEvent::Failed(e));
                }
            })?;
        Ok(LogThread {
            tx,
            handle: Some(handle),
        })
    }

    /// Waits for the thread to finish what it was sent (after the sender side is dropped).
    pub(crate) fn join(mut self) {
        let LogThread { tx, handle } = &mut self;
        drop(std::mem::replace(tx, mpsc::channel().0));
        if let Some(h) = handle.take() {
            let _ = h.join();
        }
    }
}

struct Ctx {
    snapshot_dir: PathBuf,
    snap_retain: usize,
    /// At most one snapshot is written at a time; a newer one asked for meanwhile is skipped
    /// (the next one comes `snapCount` entries later).
    snapshot_running: Arc<AtomicBool>,
    /// The zxid of the last snapshot made durable and not yet purged behind (0: none). Not a
    /// channel message: a sender held here would keep the log thread's channel open forever.
    snapshot_done: Arc<AtomicU64>,
}

fn run(
    wal: &mut Wal,
    rx: &mpsc::Receiver<LogCmd>,
    ctx: &Ctx,
    events: &tmpsc::UnboundedSender<LogEvent>,
) -> Result<(), String> {
    while let Ok(first) = rx.recv() {
        let mut last_appended = None;
        let mut next = Some(first);
        let mut n = 0;
        while let Some(cmd) = next.take() {
            match cmd {
                LogCmd::Append { zxid, entry } => {
                    wal.append(zxid, &entry).map_err(|e| e.to_string())?;
                    last_appended = Some(zxid);
                    n += 1;
                }
                LogCmd::Snapshot { zxid, bytes } => {
                    if !ctx.snapshot_running.swap(true, Ordering::AcqRel) {
                        spawn_snapshot_writer(ctx, zxid, bytes);
                    }
                }
            }
            if n < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if let Some(zxid) = last_appended {
            wal.sync().map_err(|e| e.to_string())?;
            tracing::trace!(zxid, entries = n, "log batch durable");
            if events.send(LogEvent::Durable(zxid)).is_err() {
                return Ok(());
            }
        }
        let purge = ctx.snapshot_done.swap(0, Ordering::AcqRel);
        if purge > 0 {
            let zxid = purge;
            // A failed purge is not fatal: the log and the snapshots are all still valid.
            if let Err(e) = wal.purge(zxid, ctx.snap_retain) {
                tracing::warn!(zxid, error = %e, "purging after a snapshot failed; old files are kept");
            }
        }
    }
    Ok(())
}

/// Writes a snapshot file on a thread of its own, then asks the log thread for the purge.
fn spawn_snapshot_writer(ctx: &Ctx, zxid: u64, bytes: Vec<u8>) {
    let dir = ctx.snapshot_dir.clone();
    let done = ctx.snapshot_done.clone();
    let running = ctx.snapshot_running.clone();
    let spawned = thread::Builder::new()
        .name("watchkeeper-snapshot".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            match watchkeeper_log::write_snapshot_file(&dir, zxid, &bytes) {
                Ok(path) => {
                    tracing::info!(zxid, bytes = bytes.len(), file = %path.display(), ms = started.elapsed().as_millis() as u64, "snapshot written");
                    done.store(zxid, Ordering::Release);
                }
                // Not fatal: the log still holds everything.
                Err(e) => tracing::warn!(zxid, error = %e, "snapshot failed; the log is kept whole"),
            }
            running.store(false, Ordering::Release);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the snapshot writer; snapshot skipped");
        ctx.snapshot_running.store(false, Ordering::Release);
    }
}
