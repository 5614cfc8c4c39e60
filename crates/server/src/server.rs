//! Starting and stopping a server: recovery from disk, Raft (an ensemble of one when there are
//! no `server.N` lines), the core, and the client listener.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use watchkeeper_consensus::ConsensusError;
use watchkeeper_consensus::node::{Consensus, Member};
use watchkeeper_tree::DataTree;

use crate::config::Config;
use crate::connection::{self, ConnContext};
use crate::core::{ConnId, Core};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source} (is another server using the port?)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Consensus(#[from] ConsensusError),
    #[error(
        "the snapshot at zxid {zxid} cannot be read: {why}; move it aside to start from the log alone"
    )]
    Snapshot { zxid: u64, why: String },
    #[error("the configuration is invalid: {0}")]
    Config(String),
    #[error("cannot start: {0}")]
    Thread(std::io::Error),
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    core: JoinHandle<()>,
    accept: JoinHandle<()>,
    consensus: Consensus,
}

/// Capacity of the channel from connections to the core.
const CORE_QUEUE: usize = 8192;

impl RunningServer {
    /// Recovers state from `cfg.data_dir` and starts serving. Returns once the port accepts.
    pub async fn start(cfg: Config) -> Result<RunningServer, StartError> {
        cfg.validate()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let mut cfg = cfg;
        let member_cfg = cfg.member_config();
        let (member, start) = tokio::task::spawn_blocking(move || Member::open(member_cfg))
            .await
            .map_err(|e| StartError::Thread(std::io::Error::other(e)))??;
        let tree = match start {
            Some(s) => DataTree::decode_snapshot(&s.state).map_err(|e| StartError::Snapshot {
                zxid: s.index,
                why: e.to_string(),
            })?,
            None => DataTree::new(),
        };

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

        let (core_tx, core_rx) = mpsc::channel(CORE_QUEUE);
        let (apply_tx, apply_rx) = mpsc::channel(APPLY_QUEUE);
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let core = Core::new(cfg.clone(), tree, member.handle(), Core::now_ms());
        let core = tokio::spawn(core.run(core_rx, apply_rx, event_rx, shutdown_rx.clone()));
        // Replays what was committed before a restart through the core before clients come.
        let consensus = member.start(apply_tx, event_tx).await?;
        let status = consensus.handle().status();
        tracing::info!(
            zxid = format_args!("{:#x}", status.last_applied),
            mode = status.role.mode(),
            "state recovered"
        );

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
            consensus,
        })
    }

    /// Resolves, with the reason, if Raft stops on its own (the write-ahead log failed): from
    /// then on this member takes no writes. Pending forever otherwise.
    pub async fn storage_failure(&self) -> String {
        let mut status = self.consensus.handle().watch_status();
        loop {
            if let Some(why) = status.borrow_and_update().fatal.clone() {
                return why;
            }
            if status.changed().await.is_err() {
                // The status publisher is gone: Raft stopped; its last word was read above.
                return status
                    .borrow()
                    .fatal
                    .clone()
                    .unwrap_or_else(|| "Raft stopped".to_owned());
            }
        }
    }

    /// The address clients connect to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops: a leader of an ensemble first hands leadership to another member (so clients
    /// elsewhere see no election), then accepting stops, every connection is closed, and Raft
    /// and its log finish.
    pub async fn shutdown(mut self) {
        if self.consensus.hand_over_leadership(HAND_OVER_WITHIN).await {
            tracing::info!("leadership handed over before stopping");
        }
        let _ = self.shutdown.send(true);
        let _ = (&mut self.accept).await;
        let _ = (&mut self.core).await;
        self.consensus.shutdown().await;
    }
}

/// How long a stopping leader waits for another member to take over. A transfer takes a round
/// trip and an election; when every member stops at once nobody takes over, and the wait only
/// delays the stop.
const HAND_OVER_WITHIN: Duration = Duration::from_secs(2);

/// Capacity of the channel of committed-entry batches from Raft to the core.
const APPLY_QUEUE: usize = 64;

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
