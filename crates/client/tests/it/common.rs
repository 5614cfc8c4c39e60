//! The test environment: a real Watchkeeper server started in-process on port 0, or the server
//! named by `WATCHKEEPER_TEST_SERVER=host:port` (e.g. Apache ZooKeeper). Every test works under
//! its own random root path, used as the clients' chroot and deleted at the end, so tests can
//! share an external server.

#![allow(dead_code)] // each test module uses a different part of this one

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use watchkeeper_client::{
    Client, ClientBuilder, CreateOptions, OneshotWatch, PersistentWatch, WatchedEvent,
};
use watchkeeper_server::{Config, FourLetterWhitelist, RunningServer};

/// Tick of the in-process server: short, so session timeouts (2..20 ticks) are short.
pub const TICK: Duration = Duration::from_millis(200);
/// What test clients ask for (the in-process server's maximum).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// Fails the test if `f` takes longer than `secs` seconds.
#[track_caller]
pub fn within<F: Future>(secs: u64, f: F) -> impl Future<Output = F::Output> {
    let caller = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(Duration::from_secs(secs), f).await {
            Ok(v) => v,
            Err(_) => panic!("not done within {secs} s (at {caller})"),
        }
    }
}

/// Waits for a one-shot watch.
#[track_caller]
pub fn fired(w: OneshotWatch) -> impl Future<Output = WatchedEvent> {
    within(10, w)
}

/// The next event of a persistent watch that is not a session event.
#[track_caller]
pub fn next_node_event(w: &mut PersistentWatch) -> impl Future<Output = WatchedEvent> + '_ {
    within(10, async move {
        loop {
            let e = w.next_event().await.expect("watch ended");
            if !e.is_session_event() {
                return e;
            }
        }
    })
}

/// Polls `check` until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        if start.elapsed() > limit {
            panic!("{what}: not true after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

struct Local {
    server: Option<RunningServer>,
    cfg: Config,
    addr: SocketAddr,
    _dir: TempDir,
}

pub struct Env {
    upstream: String,
    root: String,
    local: Option<Local>,
}

impl Env {
    pub async fn start() -> Env {
        let (upstream, local) = match std::env::var("WATCHKEEPER_TEST_SERVER") {
            Ok(addr) if !addr.trim().is_empty() => (addr.trim().to_owned(), None),
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let cfg = Config {
                    client_addr: "127.0.0.1:0".parse().expect("addr"),
                    data_dir: dir.path().into(),
                    tick_time: TICK,
                    extended_types_enabled: true,
                    four_letter_whitelist: FourLetterWhitelist::All,
                    max_client_cnxns: 0,
                    ..Config::default()
                };
                let server = RunningServer::start(cfg.clone())
                    .await
                    .expect("server starts");
                let addr = server.local_addr();
                let local = Local {
                    server: Some(server),
                    cfg,
                    addr,
                    _dir: dir,
                };
                (addr.to_string(), Some(local))
            }
        };
        let root = format!("/wk-it-{:016x}", rand::random::<u64>());
        let env = Env {
            upstream,
            root,
            local,
        };
        let admin = env.admin().await;
        admin
            .create(&env.root, b"", &CreateOptions::persistent())
            .await
            .expect("test root created");
        admin.close().await.expect("admin closes");
        env
    }

    /// True when the server runs in this process (and so can be restarted).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// `host:port` of the server.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The test's root, which clients use as their chroot.
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn connect_string(&self) -> String {
        format!("{}{}", self.upstream, self.root)
    }

    pub fn builder(&self) -> ClientBuilder {
        Client::builder(&self.connect_string())
            .session_timeout(SESSION_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
    }

    pub async fn client(&self) -> Client {
        self.builder().connect().await.expect("client connects")
    }

    /// A client without the chroot.
    pub async fn admin(&self) -> Client {
        Client::builder(&self.upstream)
            .session_timeout(SESSION_TIMEOUT)
            .connect()
            .await
            .expect("admin connects")
    }

    /// Stops the in-process server.
    pub async fn stop_server(&mut self) {
        let local = self.local.as_mut().expect("only for the in-process server");
        if let Some(s) = local.server.take() {
            s.shutdown().await;
        }
    }

    /// Starts the in-process server again on its data directory: on its old port, or on a fresh
    /// one (returned) so that clients of the old port cannot reach it.
    pub async fn start_server(&mut self, same_port: bool) -> (RunningServer, SocketAddr) {
        let local = self.local.as_mut().expect("only for the in-process server");
        let mut cfg = local.cfg.clone();
        cfg.client_addr = if same_port {
            local.addr
        } else {
            "127.0.0.1:0".parse().expect("addr")
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match RunningServer::start(cfg.clone()).await {
                Ok(s) => {
                    let addr = s.local_addr();
                    return (s, addr);
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("server does not restart: {e}"),
            }
        }
    }

    /// Makes `server` the one [`Env::finish`] stops.
    pub fn adopt(&mut self, server: RunningServer) {
        let local = self.local.as_mut().expect("only for the in-process server");
        local.server = Some(server);
    }

    /// Deletes the test root and stops the in-process server.
    pub async fn finish(mut self) {
        let admin = self.admin().await;
        admin
            .delete_recursive(&self.root)
            .await
            .expect("test root deleted");
        admin.close().await.expect("admin closes");
        if let Some(local) = self.local.as_mut()
            && let Some(s) = local.server.take()
        {
            s.shutdown().await;
        }
    }
}
