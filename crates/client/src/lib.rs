//! An async (tokio) client for ZooKeeper-protocol servers — Watchkeeper and Apache ZooKeeper
//! 3.6 to 3.9 — with the usual coordination recipes.
//!
//! # Connecting
//!
//! A [`Client`] holds one session, kept alive across connections. The connect string lists
//! servers and may end with a chroot that every path is then relative to:
//!
//! ```no_run
//! # async fn demo() -> watchkeeper_client::Result<()> {
//! use std::time::Duration;
//! use watchkeeper_client::{Client, CreateOptions, SessionState};
//!
//! let client = Client::builder("10.0.0.1:2181,10.0.0.2:2181/my-app")
//!     .session_timeout(Duration::from_secs(10))
//!     .connect()
//!     .await?;
//! assert_eq!(client.state(), SessionState::Connected);
//! let (path, _stat) = client.create("/jobs/job-", b"{}", &CreateOptions::persistent_sequential()).await?;
//! println!("created {path}"); // e.g. /jobs/job-0000000007, without the chroot
//! # Ok(()) }
//! ```
//!
//! # Errors, retries and reconnects
//!
//! Every call returns [`Result`]. A server's answer about a node is
//! [`Error::Server`]`(`[`ErrorCode`]`)` (NoNode, NodeExists, BadVersion...). When a connection
//! breaks the client reconnects by itself (to another server if there are several, with
//! backoff) and resumes the session, re-sending credentials and then every watch so none is
//! lost. Idempotent reads caught by the break are retried transparently for up to one session
//! timeout; writes are not — a write that fails with [`Error::ConnectionLoss`] may or may not
//! have been applied. When the server reports the session gone the state becomes
//! [`SessionState::Expired`], every watch resolves with `Expired`, and every call fails with
//! [`Error::SessionExpired`]; create a new client then.
//!
//! # Watches
//!
//! One-shot watches come from the `*_watch` reads and are futures:
//!
//! ```no_run
//! # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
//! let (data, _stat, watch) = client.get_data_watch("/config").await?;
//! let event = watch.await; // NodeDataChanged or NodeDeleted (or a final session state)
//! println!("{:?} on {} at zxid {}", event.event_type, event.path, event.zxid);
//! # Ok(()) }
//! ```
//!
//! Persistent watches from [`Client::add_watch`] are streams that last until dropped; see
//! [`PersistentWatch`]. A slow consumer never blocks the connection.
//!
//! # Recipes
//!
//! The [`recipes`] module builds locks, leader election, caches, barriers, a queue, a counter,
//! service discovery and configuration watching on top of the client:
//!
//! ```no_run
//! # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
//! use watchkeeper_client::recipes::Mutex;
//!
//! let guard = Mutex::new(&client, "/locks/report").lock().await?;
//! // ... exclusive work ...
//! guard.release().await?;
//! # Ok(()) }
//! ```

mod builder;
mod client;
mod connect_string;
mod error;
mod multi;
mod path;
pub mod recipes;
mod retry;
mod session;
mod types;
mod watch;

pub use builder::{
    ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BUFFER, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_SESSION_TIMEOUT,
};
pub use client::{Client, SessionId};
pub use error::{Error, Result};
pub use multi::{MultiBuilder, MultiReadBuilder, MultiReadResult, MultiResult};
pub use types::{CreateOptions, SessionState, WatchedEvent};
pub use watch::{OneshotWatch, PERSISTENT_LAG_LIMIT, PersistentWatch};
pub use watchkeeper_proto::{
    Acl, AddWatchMode, ClientInfo, CreateMode, ErrorCode, EventType, Id, KeeperState, Stat, perms,
};
