//! The plain data types of the API: session states, watch events and create options.

use std::time::Duration;

use watchkeeper_proto::{Acl, CreateMode, EventType, KeeperState};

/// Where a client's session stands. `Expired`, `AuthFailed` and `Closed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Looking for a server (before the first session, or after a connection broke).
    Connecting,
    /// Connected to a server that accepts writes.
    Connected,
    /// Connected to a read-only server (only with [`ClientBuilder::read_only`](crate::ClientBuilder::read_only)).
    ConnectedReadOnly,
    /// The connection broke; the session lives on while the client reconnects.
    Disconnected,
    /// The server ended the session. Final.
    Expired,
    /// The server rejected the client's credentials. Final.
    AuthFailed,
    /// [`Client::close`](crate::Client::close) was called or every handle was dropped. Final.
    Closed,
}

impl SessionState {
    /// True for the states a client never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Expired | SessionState::AuthFailed | SessionState::Closed
        )
    }

    /// True while requests can be sent.
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            SessionState::Connected | SessionState::ConnectedReadOnly
        )
    }
}

/// A watch notification, or a session event (`event_type == EventType::None`) delivered to a
/// watch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchedEvent {
    pub event_type: EventType,
    pub state: KeeperState,
    /// The changed node, relative to the chroot; empty for session events.
    pub path: String,
    /// The zxid of the change that fired it; -1 when the server did not say (catch-up events
    /// after a reconnect, session events, ZooKeeper before 3.9).
    pub zxid: i64,
}

impl WatchedEvent {
    /// A session event: no node, no zxid.
    pub fn session(state: KeeperState) -> WatchedEvent {
        WatchedEvent {
            event_type: EventType::None,
            state,
            path: String::new(),
            zxid: -1,
        }
    }

    /// True for session events (connection state changes), false for node events.
    pub fn is_session_event(&self) -> bool {
        self.event_type == EventType::None
    }
}

/// How [`Client::create`](crate::Client::create) creates a node: its mode, ACL and (for TTL
/// modes) time to live. The default ACL is `world:anyone` with every permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    pub mode: CreateMode,
    pub acl: Vec<Acl>,
    /// Only for [`CreateMode::PersistentWithTtl`] and [`CreateMode::PersistentSequentialWithTtl`].
    pub ttl: Option<Duration>,
}

impl CreateOptions {
    /// A node of `mode` with the open ACL.
    pub fn new(mode: CreateMode) -> CreateOptions {
        CreateOptions {
            mode,
            acl: Acl::open_unsafe(),
            ttl: None,
        }
    }

    pub fn persistent() -> CreateOptions {
        CreateOptions::new(CreateMode::Persistent)
    }

    pub fn persistent_sequential() -> CreateOptions {
        CreateOptions::new(CreateMode::PersistentSequential)
    }

    /// Deleted when the session ends.
    pub fn ephemeral() -> CreateOptions {
        CreateOptions::new(CreateMode::Ephemeral)
    }

    pub fn ephemeral_sequential() -> CreateOptions {
        CreateOptions::new(CreateMode::EphemeralSequential)
    }

    /// Deleted by the server once it had children and has none left.
    pub fn container() -> CreateOptions {
        CreateOptions::new(CreateMode::Container)
    }

    /// A persistent node the server deletes once unmodified and childless for `ttl` (servers
    /// must enable extended types).
    pub fn persistent_with_ttl(ttl: Duration) -> CreateOptions {
        CreateOptions::new(CreateMode::PersistentWithTtl).with_ttl(ttl)
    }

    pub fn persistent_sequential_with_ttl(ttl: Duration) -> CreateOptions {
        CreateOptions::new(CreateMode::PersistentSequentialWithTtl).with_ttl(ttl)
    }

    /// Replaces the ACL.
    pub fn with_acl(mut self, acl: Vec<Acl>) -> CreateOptions {
        self.acl = acl;
        self
    }

    /// Sets the TTL (only meaningful for the TTL modes).
    pub fn with_ttl(mut self, ttl: Duration) -> CreateOptions {
        self.ttl = Some(ttl);
        self
    }
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions::persistent()
    }
}
