//! The log thread: group commit of proposed entries and snapshot installation.
//!
//! The core sends each proposed entry here already encoded. The thread takes everything that is
//! waiting, appends it all, fdatasyncs once, and tells the core the highest durable zxid; the
//! core applies and acknowledges only up to that zxid. So nothing is acknowledged before its
//! fsync, and under load one fsync covers many writes.

use std::path::PathBuf;
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
        snapshot_dir: PathBuf,
        snap_retain: usize,
        events: tmpsc::UnboundedSender<LogEvent>,
    ) -> std::io::Result<LogThread> {
        let (tx, rx) = mpsc::channel::<LogCmd>();
        let handle = thread::Builder::new()
            .name("watchkeeper-log".into())
            .spawn(move || {
                if let Err(e) = run(&mut wal, &rx, &snapshot_dir, snap_retain, &events) {
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

fn run(
    wal: &mut Wal,
    rx: &mpsc::Receiver<LogCmd>,
    snapshot_dir: &std::path::Path,
    snap_retain: usize,
    events: &tmpsc::UnboundedSender<LogEvent>,
) -> Result<(), String> {
    let mut snapshots = Vec::new();
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
                LogCmd::Snapshot { zxid, bytes } => snapshots.push((zxid, bytes)),
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
        for (zxid, bytes) in snapshots.drain(..) {
            // A failed snapshot is not fatal: the log still holds everything.
            if let Err(e) = wal.install_snapshot(zxid, &bytes, snap_retain) {
                tracing::warn!(zxid, error = %e, dir = %snapshot_dir.display(), "snapshot failed; the log is kept whole");
            } else {
                tracing::info!(zxid, bytes = bytes.len(), "snapshot written");
            }
        }
    }
    Ok(())
}
