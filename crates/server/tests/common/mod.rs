//! Shared setup for the integration tests: a real server on port 0 in a temporary directory,
//! clients of the third-party `zookeeper-client` crate connected to it, and (in [`raw`]) a
//! hand-written protocol speaker for what that crate cannot express.
//!
//! Every test runs under [`within`], so a server that stops answering fails the test instead
//! of hanging the suite.
//!
//! `zookeeper-client` spawns its session task through `asyncs`, which needs the crate's `tokio`
//! feature to find a runtime; without it every `connect` panics with "no spawner".

#![allow(dead_code)] // each test file uses a different part of this module

pub mod jute;
pub mod raw;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use watchkeeper_server::{Config, FourLetterWhitelist, RunningServer};
use zookeeper_client as zk;

/// Basic time unit of every test server: short so expiry tests are quick.
pub const TICK: Duration = Duration::from_millis(200);
/// What clients ask for by default; the server clamps it to 20 ticks (4 s).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// Fails the test if `f` takes longer than `secs` seconds.
pub async fn within<F: Future<Output = T>, T>(secs: u64, f: F) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("test did not finish within {secs} s (server not answering?)"),
    }
}

/// A server on 127.0.0.1 with its own data directory.
pub struct TestServer {
    server: Option<RunningServer>,
    pub cfg: Config,
    pub addr: SocketAddr,
    // Kept last so the directory outlives the server.
    dir: TempDir,
}

/// The settings every test starts from.
pub fn base_config(dir: &std::path::Path) -> Config {
    Config {
        client_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        tick_time: TICK,
        extended_types_enabled: true,
        container_check_interval: Duration::from_millis(200),
        four_letter_whitelist: FourLetterWhitelist::All,
        ..Config::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the base configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = base_config(dir.path());
        adjust(&mut cfg);
        let server = RunningServer::start(cfg.clone())
            .await
            .expect("server starts");
        let addr = server.local_addr();
        TestServer {
            server: Some(server),
            cfg,
            addr,
            dir,
        }
    }

    /// The connect string for `zookeeper-client`.
    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// A connected client with the default session timeout.
    pub async fn client(&self) -> zk::Client {
        self.connect(connector()).await
    }

    /// Connects with a customised connector.
    pub async fn connect(&self, c: zk::Connector) -> zk::Client {
        c.connect(&self.connect_string())
            .await
            .expect("client connects")
    }

    /// Stops the server and starts a new one on the same data directory and port.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let mut cfg = self.cfg.clone();
        cfg.client_addr = self.addr;
        // The old listener's port may take a moment to be free again.
        let deadline = Instant::now() + Duration::from_secs(5);
        let server = loop {
            match RunningServer::start(cfg.clone()).await {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("server does not restart on its data dir: {e}"),
            }
        };
        assert_eq!(server.local_addr(), self.addr);
        self.server = Some(server);
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// A connector with the test defaults.
pub fn connector() -> zk::Connector {
    zk::Client::connector().with_session_timeout(SESSION_TIMEOUT)
}

/// Options for a node with `world:anyone` and every permission.
pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

pub fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// Polls `check` every 50 ms until it returns true or `limit` passes; returns the time taken.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        if start.elapsed() > limit {
            panic!("{what}: not true after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a one-shot watcher's event, failing the test after `secs` seconds.
#[track_caller]
pub fn event_within(secs: u64, w: zk::OneshotWatcher) -> impl Future<Output = zk::WatchedEvent> {
    let caller = std::panic::Location::caller();
    async move {
        tokio::time::timeout(Duration::from_secs(secs), w.changed())
            .await
            .unwrap_or_else(|_| panic!("no watch event within {secs} s (awaited at {caller})"))
    }
}

/// Waits for a persistent watcher's next event, failing the test after `secs` seconds.
#[track_caller]
pub fn next_within(
    secs: u64,
    w: &mut zk::PersistentWatcher,
) -> impl Future<Output = zk::WatchedEvent> + '_ {
    let caller = std::panic::Location::caller();
    async move {
        tokio::time::timeout(Duration::from_secs(secs), w.changed())
            .await
            .unwrap_or_else(|_| panic!("no watch event within {secs} s (awaited at {caller})"))
    }
}

/// `user:base64(sha1("user:password"))` for the credentials the tests use, computed
/// independently of the server (Python's hashlib).
pub const ALICE: &str = "alice:secret";
pub const ALICE_DIGEST: &str = "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=";
pub const BOB: &str = "bob:pw";
pub const BOB_DIGEST: &str = "bob:ikIaKsbtGweaHnb/jKn7OHqbunM=";
pub const SUPER: &str = "super:pw";
pub const SUPER_DIGEST: &str = "super:0bX78nEegDzJM3ju0iLBEJdWzjg=";
