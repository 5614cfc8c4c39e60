//! Starting and stopping a server: recovery from disk, the listener, the core and the log thread.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use watchkeeper_log::{LogOptions, Wal};
use watchkeeper_tree::{DataTree, Entry};

use crate::config::Config;
use crate::connection::{self, ConnContext};
use crate::core::{ConnId, Core};
use crate::persist::LogThread;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source} (is another server using the port?)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the data directory: {0}")]
    Log(#[from] watchkeeper_log::LogError),
    #[error(
        "the snapshot at zxid {zxid} cannot be read: {why}; move it aside to start from the log alone"
    )]
    Snapshot { zxid: u64, why: String },
    #[error("log entry {zxid} cannot be decoded: {why}; the log is damaged")]
    Entry { zxid: u64, why: String },
    #[error("cannot start the log thread: {0}")]
    Thread(std::io::Error),
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    core: JoinHandle<()>,
    accept: JoinHandle<()>,
    log: Option<LogThread>,
}

/// Capacity of the channel from connections to the core.
const CORE_QUEUE: usize = 8192;

impl RunningServer {
    /// Recovers state from `cfg.data_dir` and starts serving. Returns once the port accepts.
    pub async fn start(cfg: Config) -> Result<RunningServer, StartError> {
        cfg.validate().map_err(|e| StartError::Snapshot {
            zxid: 0,
            why: e.to_string(),
        })?;
        let mut cfg = cfg;
        let log_dir = cfg.log_dir().to_owned();
        let (wal, tree) = tokio::task::spawn_blocking(move || recover(&log_dir))
            .await
            .map_err(|e| StartError::Thread(std::io::Error::other(e)))??;
        tracing::info!(
            zxid = format_args!("{:#x}", tree.last_zxid()),
            nodes = tree.node_count(),
            sessions = tree.sessions().count(),
            "state recovered"
        );

        let listener =
            TcpListener::bind(cfg.client_addr)
                .await
                .map_err(|source| StartError::Bind {
                    addr: cfg.client_addr,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: cfg.client_addr,
            source,
        })?;
        // `conf` and the logs report the port actually bound (port 0 picks one).
        cfg.client_addr = local_addr;
        let cfg = Arc::new(cfg);

        let (log_tx, log_rx) = mpsc::unbounded_channel();
        let log =
            LogThread::spawn(wal, cfg.snap_retain_count, log_tx).map_err(StartError::Thread)?;
        let (core_tx, core_rx) = mpsc::channel(CORE_QUEUE);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let core = Core::new(cfg.clone(), tree, log.tx.clone(), Core::now_ms());
        let core = tokio::spawn(core.run(core_rx, log_rx, shutdown_rx.clone()));

        let ctx = ConnContext {
            core: core_tx,
            max_buffer: cfg.max_buffer,
            max_outbound_bytes: cfg.max_outbound_bytes,
            handshake_timeout: cfg.max_session_timeout().max(Duration::from_secs(10)),
        };
        let accept = tokio::spawn(accept_loop(
            listener,
            ctx,
            cfg.max_client_cnxns,
            shutdown_rx,
        ));
        tracing::info!(%local_addr, "watchkeeper serving");
        Ok(RunningServer {
            local_addr,
            shutdown,
            core,
            accept,
            log: Some(log),
        })
    }

    /// The address clients connect to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection, and waits for the log to finish writing.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let _ = (&mut self.accept).await;
        let _ = (&mut self.core).await;
        if let Some(log) = self.log.take() {
            let _ = tokio::task::spawn_blocking(move || log.join()).await;
        }
    }
}

/// Reads the newest snapshot and replays the log after it.
fn recover(dir: &std::path::Path) -> Result<(Wal, DataTree), StartError> {
    let (wal, recovery) = Wal::open(dir, LogOptions::default())?;
    if let Some(repair) = &recovery.repaired_tail {
        tracing::warn!(?repair, "a torn write at the end of the log was cut off");
    }
    let mut tree = match recovery.snapshot {
        Some((zxid, bytes)) => {
            DataTree::decode_snapshot(&bytes).map_err(|e| StartError::Snapshot {
                zxid,
                why: e.to_string(),
            })?
        }
        None => DataTree::new(),
    };
    for (zxid, bytes) in recovery.entries {
        let entry = Entry::decode(&bytes).map_err(|e| StartError::Entry {
            zxid,
            why: e.to_string(),
        })?;
        tree.apply(zxid as i64, &entry);
    }
    Ok((wal, tree))
}

/// Open connections per client IP, for `maxClientCnxns`.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

async fn accept_loop(
    listener: TcpListener,
    ctx: ConnContext,
    max_per_ip: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let per_ip: PerIp = Arc::default();
    let mut next_conn: ConnId = 1;
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        {
            let mut map = per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = map.entry(peer.ip()).or_insert(0);
            if max_per_ip > 0 && *n >= max_per_ip {
                tracing::warn!(%peer, limit = max_per_ip, "too many connections from this address (maxClientCnxns); closing the new one");
                continue;
            }
            *n += 1;
        }
        let conn = next_conn;
        next_conn += 1;
        let ctx = ctx.clone();
        let per_ip = per_ip.clone();
        tasks.spawn(async move {
            connection::serve(stream, peer, conn, ctx).await;
            let mut map = per_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = map.get_mut(&peer.ip()) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&peer.ip());
                }
            }
        });
        // Reap finished tasks so the set does not grow with every connection ever accepted.
        while tasks.try_join_next().is_some() {}
    }
    drop(ctx);
    // Connections end when the core closes their outboxes at shutdown.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}
