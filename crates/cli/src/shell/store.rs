//! The operations the shell's commands need from a ZooKeeper session, as a trait.
//!
//! Commands are written against [`Store`] rather than the client type so that their dispatch,
//! walking and output can be tested without a server (see `fake.rs`). The one production
//! implementation, for `watchkeeper_client::Client`, lives in `client_store.rs` and does nothing
//! but translate names and errors.

use std::fmt;
use std::future::Future;

use futures::Stream;
use watchkeeper_proto::{Acl, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, Stat};

/// A watch notification as the shell shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    pub state: KeeperState,
    pub path: String,
    pub zxid: i64,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The server answered with an error code (NoNode, NodeExists, BadVersion, …).
    Server(ErrorCode),
    /// The session cannot serve requests any more: connection lost, expired, closed, timed out.
    Connection(String),
    /// Anything else the client reports (bad arguments, protocol trouble, a lagging watch).
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Server(code) => write!(f, "{code}"),
            StoreError::Connection(why) | StoreError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// The session operations commands use; every path is absolute.
pub trait Store {
    /// A one-shot watch that resolves with its event (or a session event ending it).
    type Oneshot: Future<Output = Event> + Send + 'static;
    /// A persistent watch's events; dropping it removes the watch.
    type Watch: Stream<Item = StoreResult<Event>> + Send + Unpin + 'static;

    /// Creates a node and returns its actual path (sequential nodes get a suffix).
    /// `acl: None` means the open ACL (`world:anyone:cdrwa`).
    fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: Option<&[Acl]>,
        ttl: Option<i64>,
    ) -> impl Future<Output = StoreResult<String>>;
    fn delete(&self, path: &str, version: Option<i32>) -> impl Future<Output = StoreResult<()>>;
    fn exists(&self, path: &str) -> impl Future<Output = StoreResult<Option<Stat>>>;
    fn exists_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = StoreResult<(Option<Stat>, Self::Oneshot)>>;
    fn get_data(&self, path: &str) -> impl Future<Output = StoreResult<(Vec<u8>, Stat)>>;
    fn get_data_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = StoreResult<(Vec<u8>, Stat, Self::Oneshot)>>;
    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = StoreResult<Stat>>;
    fn get_children(&self, path: &str) -> impl Future<Output = StoreResult<(Vec<String>, Stat)>>;
    fn get_children_watch(
        &self,
        path: &str,
    ) -> impl Future<Output = StoreResult<(Vec<String>, Stat, Self::Oneshot)>>;
    fn get_acl(&self, path: &str) -> impl Future<Output = StoreResult<(Vec<Acl>, Stat)>>;
    fn set_acl(
        &self,
        path: &str,
        acl: &[Acl],
        version: Option<i32>,
    ) -> impl Future<Output = StoreResult<Stat>>;
    fn sync(&self, path: &str) -> impl Future<Output = StoreResult<()>>;
    fn add_auth(&self, scheme: &str, auth: &[u8]) -> impl Future<Output = StoreResult<()>>;
    fn add_watch(
        &self,
        path: &str,
        mode: AddWatchMode,
    ) -> impl Future<Output = StoreResult<Self::Watch>>;
}
