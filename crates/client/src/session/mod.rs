//! The session: one task per client that owns the connection, the in-flight requests and the
//! watch registry, and keeps the session alive across connections.
//!
//! Callers talk to it through [`Command`]s; each request carries its already encoded frame (the
//! xid is patched in when it is sent) and a oneshot for the raw reply, which the caller decodes
//! itself, so the task does no per-request work beyond bookkeeping.

mod conn;
pub(crate) mod registry;
mod task;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result};
use crate::path::Chroot;
use crate::types::SessionState;
pub(crate) use registry::{OneshotKind, WatchRequest};

/// What callers ask of the session task.
#[derive(Debug)]
pub(crate) enum Command {
    Request(Box<Outgoing>),
    AddAuth {
        scheme: String,
        auth: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// A persistent watch's stream was dropped.
    RemovePersistent {
        id: u64,
    },
    /// Close the session (closeSession) and stop.
    Close {
        reply: oneshot::Sender<Result<()>>,
    },
    /// The last client handle is gone: close as for `Close`, with nobody to tell.
    Shutdown,
}

/// A request ready to go: its frame is complete except for the xid.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// Length prefix, RequestHeader (xid 0 until sent) and body.
    pub(crate) frame: BytesMut,
    pub(crate) watch: Option<WatchRequest>,
    pub(crate) reply: oneshot::Sender<Result<Reply>>,
    pub(crate) queued_at: Instant,
}

/// A reply as it came off the wire: the header's error code and the undecoded body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) err: i32,
    pub(crate) body: Bytes,
}

/// Byte offset of the xid inside a request frame (after the length prefix).
pub(crate) const XID_OFFSET: usize = 4;

/// The session as the client handles see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionInfo {
    pub(crate) id: i64,
    pub(crate) password: Vec<u8>,
    /// The negotiated timeout once connected, the requested one before.
    pub(crate) timeout: Duration,
}

/// State shared between the task and the handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: watch::Sender<SessionState>,
    pub(crate) session: Mutex<SessionInfo>,
}

impl Shared {
    pub(crate) fn session(&self) -> SessionInfo {
        match self.session.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_session(&self, info: SessionInfo) {
        match self.session.lock() {
            Ok(mut s) => *s = info,
            Err(poisoned) => *poisoned.into_inner() = info,
        }
    }

    /// The error for a call that finds the task gone.
    pub(crate) fn terminal_error(&self) -> Error {
        match *self.state.borrow() {
            SessionState::Expired => Error::SessionExpired,
            SessionState::AuthFailed => Error::AuthFailed,
            _ => Error::Closed,
        }
    }
}

/// Everything the task needs to know from the builder.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    pub(crate) hosts: Vec<(String, u16)>,
    pub(crate) chroot: Chroot,
    pub(crate) session_timeout: Duration,
    pub(crate) read_only: bool,
    pub(crate) auth: Vec<(String, Vec<u8>)>,
    pub(crate) resume: Option<(i64, Vec<u8>)>,
    pub(crate) max_buffer: usize,
}

/// Starts the session task. `ready` is answered once the first session is established (or
/// cannot be).
pub(crate) fn spawn(
    cfg: SessionConfig,
) -> (
    Arc<Shared>,
    mpsc::UnboundedSender<Command>,
    oneshot::Receiver<Result<()>>,
) {
    let (state, _) = watch::channel(SessionState::Connecting);
    let (id, password) = cfg.resume.clone().unwrap_or((0, Vec::new()));
    let shared = Arc::new(Shared {
        state,
        session: Mutex::new(SessionInfo {
            id,
            password,
            timeout: cfg.session_timeout,
        }),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let task = task::Task::new(cfg, shared.clone(), rx, ready_tx);
    tokio::spawn(task.run());
    (shared, tx, ready_rx)
}
