//! The session task's loop: find a server, open or resume the session, restore auth and
//! watches, then pipeline requests and route replies and notifications until the connection
//! breaks; repeat until the session ends.
//!
//! Invariants:
//! - replies are matched to requests strictly in send order; a reply whose xid is not the oldest
//!   outstanding one is a protocol error that drops the connection;
//! - a watch is registered when its request's reply is processed, before any later frame, so
//!   no event meant for it can be routed before it exists;
//! - nothing already sent is ever re-sent: when a connection breaks every outstanding request
//!   fails with ConnectionLoss (callers retry idempotent reads themselves); requests that were
//!   never sent wait for the next connection, at most one session timeout;
//! - `last_zxid` only grows, so a resumed session never goes back in time (a server behind it
//!   refuses the handshake and the next one is tried).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use watchkeeper_proto::frame::request_frame;
use watchkeeper_proto::{
    AuthPacket, ConnectRequest, ConnectResponse, ErrorCode, JuteReader, KeeperState, Record,
    ReplyHeader, Request, RequestHeader, SESSION_PASSWORD_LEN, WatcherEvent, WatcherType,
    WatchesRequest, xid,
};

use super::conn::{self, Conn};
use super::registry::{Registry, Removal};
use super::{Command, Outgoing, Reply, SessionConfig, SessionInfo, Shared, XID_OFFSET};
use crate::error::{Error, Result};
use crate::types::SessionState;

/// How often queued requests are checked against their deadline while disconnected.
const OFFLINE_TICK: Duration = Duration::from_millis(100);
/// Backoff between full rounds of failed connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Bounds on one connection attempt (TCP connect plus handshake).
const ATTEMPT_MIN: Duration = Duration::from_millis(500);
const ATTEMPT_MAX: Duration = Duration::from_secs(10);

/// Whether the loop goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// A request that waits for a connection.
enum Waiting {
    Request(Box<Outgoing>),
    Auth {
        scheme: String,
        auth: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
        queued_at: Instant,
    },
}

/// What an outstanding xid is for.
enum PendingKind {
    User(Box<Outgoing>),
    /// setWatches: the reply only needs checking.
    Internal(&'static str),
    /// removeWatches of a persistent watch on this path.
    RemovePersistent(String),
    /// removeWatches of type Any, for servers before ZooKeeper 3.9.
    RemoveAny,
    Close,
}

struct Pending {
    xid: i32,
    kind: PendingKind,
}

/// Who waits for an auth reply (matched by xid -4, in order, outside the xid sequence).
enum AuthWaiter {
    Replay,
    User {
        scheme: String,
        auth: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
}

struct Closing {
    replies: Vec<oneshot::Sender<Result<()>>>,
    deadline: Instant,
}

/// The per-connection part of the state.
struct Online {
    conn: Conn,
    pending: VecDeque<Pending>,
    auth_waiters: VecDeque<AuthWaiter>,
    last_send: Instant,
    last_recv: Instant,
}

impl Online {
    fn send(&mut self, frame: Bytes) {
        // A failed send means the writer is gone; its join handle reports why.
        let _ = self.conn.writer.send(frame);
        self.last_send = Instant::now();
    }
}

pub(crate) struct Task {
    cfg: SessionConfig,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    commands_closed: bool,
    ready: Option<oneshot::Sender<Result<()>>>,
    registry: Registry,
    auths: Vec<(String, Vec<u8>)>,
    waiting: VecDeque<Waiting>,
    session_id: i64,
    password: Vec<u8>,
    timeout: Duration,
    last_zxid: i64,
    next_xid: i32,
    host_cursor: usize,
    closing: Option<Closing>,
    /// The server rejected removeWatches of the persistent types (ZooKeeper before 3.9).
    remove_with_any: bool,
}

impl Task {
    pub(crate) fn new(
        mut cfg: SessionConfig,
        shared: Arc<Shared>,
        commands: mpsc::UnboundedReceiver<Command>,
        ready: oneshot::Sender<Result<()>>,
    ) -> Task {
        shuffle(&mut cfg.hosts);
        let (session_id, password) = cfg.resume.clone().unwrap_or((0, Vec::new()));
        Task {
            auths: cfg.auth.clone(),
            timeout: cfg.session_timeout,
            cfg,
            shared,
            commands,
            commands_closed: false,
            ready: Some(ready),
            registry: Registry::default(),
            waiting: VecDeque::new(),
            session_id,
            password,
            last_zxid: 0,
            next_xid: 1,
            host_cursor: 0,
            closing: None,
            remove_with_any: false,
        }
    }

    pub(crate) async fn run(mut self) {
        while let Some((conn, response)) = self.connect().await {
            if self.serve(conn, response).await == Flow::Stop {
                break;
            }
        }
        tracing::debug!(
            session = format_args!("{:#x}", self.session_id),
            state = ?*self.shared.state.borrow(),
            "session task ends"
        );
    }

    // ---- finding a server -------------------------------------------------------------------

    /// Tries hosts in turn until one opens the session. `None` when the session ended meanwhile.
    async fn connect(&mut self) -> Option<(Conn, ConnectResponse)> {
        let mut tried_in_round = 0;
        let mut failed_rounds = 0u32;
        loop {
            let (host, port) = self.cfg.hosts[self.host_cursor % self.cfg.hosts.len()].clone();
            self.host_cursor = self.host_cursor.wrapping_add(1);
            let request = ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: self.last_zxid,
                timeout: duration_ms(self.cfg.session_timeout),
                session_id: self.session_id,
                passwd: if self.session_id == 0 {
                    vec![0; SESSION_PASSWORD_LEN]
                } else {
                    self.password.clone()
                },
                read_only: Some(self.cfg.read_only),
            };
            let attempt = conn::open(
                &host,
                port,
                &request,
                self.attempt_timeout(),
                self.cfg.max_buffer,
            );
            tokio::pin!(attempt);
            let result = loop {
                tokio::select! {
                    r = &mut attempt => break r,
                    cmd = self.commands.recv(), if !self.commands_closed => {
                        if self.on_command_offline(cmd) == Flow::Stop {
                            return None;
                        }
                    }
                    _ = tokio::time::sleep(OFFLINE_TICK) => self.expire_waiting(),
                }
            };
            match result {
                Ok((conn, response)) if response.timeout <= 0 => {
                    tracing::info!(
                        session = format_args!("{:#x}", self.session_id),
                        server = %conn.addr,
                        "server says the session has expired"
                    );
                    self.terminal(SessionState::Expired);
                    return None;
                }
                Ok(ok) => return Some(ok),
                Err(e) => {
                    tracing::debug!(host, port, error = %e, "connection attempt failed");
                    tried_in_round += 1;
                    if tried_in_round < self.cfg.hosts.len() {
                        continue;
                    }
                    tried_in_round = 0;
                    let delay = backoff(failed_rounds);
                    failed_rounds = failed_rounds.saturating_add(1);
                    if self.pause(delay).await == Flow::Stop {
                        return None;
                    }
                }
            }
        }
    }

    /// Sleeps while still answering commands.
    async fn pause(&mut self, delay: Duration) -> Flow {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = self.commands.recv(), if !self.commands_closed => {
                    if self.on_command_offline(cmd) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
            }
        }
        self.expire_waiting();
        Flow::Continue
    }

    fn attempt_timeout(&self) -> Duration {
        let per_host = self.cfg.session_timeout / self.cfg.hosts.len().max(1) as u32;
        per_host.clamp(ATTEMPT_MIN, ATTEMPT_MAX)
    }

    fn on_command_offline(&mut self, cmd: Option<Command>) -> Flow {
        match cmd {
            None | Some(Command::Shutdown) => {
                self.commands_closed |= cmd.is_none();
                self.terminal(SessionState::Closed);
                Flow::Stop
            }
            Some(Command::Close { reply }) => {
                // No server to tell: the session ends on the server when it times out.
                self.closing = Some(Closing {
                    replies: vec![reply],
                    deadline: Instant::now(),
                });
                self.terminal(SessionState::Closed);
                Flow::Stop
            }
            Some(Command::Request(out)) => {
                self.waiting.push_back(Waiting::Request(out));
                Flow::Continue
            }
            Some(Command::AddAuth {
                scheme,
                auth,
                reply,
            }) => {
                self.waiting.push_back(Waiting::Auth {
                    scheme,
                    auth,
                    reply,
                    queued_at: Instant::now(),
                });
                Flow::Continue
            }
            Some(Command::RemovePersistent { id }) => {
                // The server dropped it with the connection; forgetting it here is enough.
                let _ = self.registry.remove_persistent(id);
                Flow::Continue
            }
        }
    }

    /// Fails requests that have waited a whole session timeout for a connection.
    fn expire_waiting(&mut self) {
        let now = Instant::now();
        let limit = self.timeout;
        let mut kept = VecDeque::with_capacity(self.waiting.len());
        for w in self.waiting.drain(..) {
            let queued_at = match &w {
                Waiting::Request(out) => out.queued_at,
                Waiting::Auth { queued_at, .. } => *queued_at,
            };
            if now.duration_since(queued_at) < limit {
                kept.push_back(w);
                continue;
            }
            match w {
                Waiting::Request(out) => {
                    let _ = out.reply.send(Err(Error::ConnectionLoss));
                }
                Waiting::Auth { reply, .. } => {
                    let _ = reply.send(Err(Error::ConnectionLoss));
                }
            }
        }
        self.waiting = kept;
    }

    // ---- one connection ---------------------------------------------------------------------

    async fn serve(&mut self, conn: Conn, response: ConnectResponse) -> Flow {
        self.session_id = response.session_id;
        self.password = response.passwd;
        self.timeout = Duration::from_millis(u64::try_from(response.timeout).unwrap_or(1));
        self.shared.set_session(SessionInfo {
            id: self.session_id,
            password: self.password.clone(),
            timeout: self.timeout,
        });
        let read_only = response.read_only == Some(true);
        tracing::info!(
            session = format_args!("{:#x}", self.session_id),
            server = %conn.addr,
            timeout_ms = response.timeout,
            read_only,
            "session established"
        );
        let now = Instant::now();
        let mut online = Online {
            conn,
            pending: VecDeque::new(),
            auth_waiters: VecDeque::new(),
            last_send: now,
            last_recv: now,
        };

        let (state, keeper) = if read_only {
            (
                SessionState::ConnectedReadOnly,
                KeeperState::ConnectedReadOnly,
            )
        } else {
            (SessionState::Connected, KeeperState::SyncConnected)
        };
        self.shared.state.send_replace(state);
        // Before the watches are re-sent, so that a watch this ends is not re-sent.
        self.registry.session_event(keeper);
        // Auth first, so every later request (setWatches included) runs with it.
        for (scheme, auth) in self.auths.clone() {
            self.send_auth(&mut online, scheme, auth, AuthWaiter::Replay);
        }
        for request in self.registry.set_watches(self.last_zxid) {
            self.send_internal(&mut online, &request, "setWatches");
        }
        // The first session is reported once the server has accepted the builder's
        // credentials, so that `connect` fails with AuthFailed rather than succeeding first.
        if online.auth_waiters.is_empty() {
            self.report_ready();
        }
        while let Some(w) = self.waiting.pop_front() {
            match w {
                Waiting::Request(out) => self.send_request(&mut online, out),
                Waiting::Auth {
                    scheme,
                    auth,
                    reply,
                    ..
                } => self.send_user_auth(&mut online, scheme, auth, reply),
            }
        }

        let flow = self.run_connection(&mut online).await;
        self.after_connection(online, flow)
    }

    async fn run_connection(&mut self, online: &mut Online) -> Flow {
        let ping_interval = self.timeout / 3;
        let read_timeout = self.timeout * 2 / 3;
        loop {
            let ping_at = online.last_send + ping_interval;
            let dead_at = online.last_recv + read_timeout;
            let mut wake = ping_at.min(dead_at);
            if let Some(c) = &self.closing {
                wake = wake.min(c.deadline);
            }
            tokio::select! {
                r = online.conn.reader.read_buf(&mut online.conn.buf) => {
                    match r {
                        Ok(0) => return lost("the server closed the connection"),
                        Err(e) => return lost(&e.to_string()),
                        Ok(_) => {}
                    }
                    online.last_recv = Instant::now();
                    loop {
                        match online.conn.decoder.decode(&mut online.conn.buf) {
                            Ok(Some(frame)) => match self.on_frame(online, frame) {
                                Ok(Flow::Continue) => {}
                                Ok(Flow::Stop) => return Flow::Stop,
                                Err(why) => return lost(&why),
                            },
                            Ok(None) => break,
                            Err(e) => return lost(&e.to_string()),
                        }
                    }
                }
                cmd = self.commands.recv(), if !self.commands_closed => {
                    if self.on_command_online(online, cmd) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= dead_at {
                        return lost(&format!("nothing from the server for {read_timeout:?}"));
                    }
                    if self.closing.as_ref().is_some_and(|c| now >= c.deadline) {
                        tracing::debug!("no reply to closeSession in time");
                        self.terminal(SessionState::Closed);
                        return Flow::Stop;
                    }
                    if now >= ping_at {
                        let ping = request_frame(&RequestHeader::new(xid::PING, watchkeeper_proto::OpCode::Ping), &Request::Ping);
                        online.send(ping);
                    }
                }
                r = &mut online.conn.write_task => {
                    let why = match r {
                        Ok(Ok(())) => "the writer stopped".to_owned(),
                        Ok(Err(e)) => e.to_string(),
                        Err(e) => e.to_string(),
                    };
                    return lost(&why);
                }
            }
        }
    }

    /// Fails what the connection still owed and decides whether to reconnect.
    fn after_connection(&mut self, mut online: Online, flow: Flow) -> Flow {
        let terminal = self.shared.state.borrow().is_terminal();
        let err = if terminal {
            self.shared.terminal_error()
        } else {
            Error::ConnectionLoss
        };
        for p in online.pending.drain(..) {
            if let PendingKind::User(out) = p.kind {
                let out = *out;
                if let Some(w) = out.watch {
                    // Nothing was registered; only in-flight bookkeeping is undone.
                    let _ = self
                        .registry
                        .on_reply(w, ErrorCode::ConnectionLoss.as_i32());
                }
                let _ = out.reply.send(Err(err.clone()));
            }
        }
        for a in online.auth_waiters.drain(..) {
            if let AuthWaiter::User { reply, .. } = a {
                let _ = reply.send(Err(err.clone()));
            }
        }
        if terminal || flow == Flow::Stop {
            return Flow::Stop;
        }
        if self.closing.is_some() {
            // The connection went before the close was answered: the session is ours to drop.
            self.terminal(SessionState::Closed);
            return Flow::Stop;
        }
        self.shared.state.send_replace(SessionState::Disconnected);
        self.registry.session_event(KeeperState::Disconnected);
        Flow::Continue
    }

    fn on_command_online(&mut self, online: &mut Online, cmd: Option<Command>) -> Flow {
        match cmd {
            None | Some(Command::Shutdown) => {
                self.commands_closed |= cmd.is_none();
                self.begin_close(online, None);
            }
            Some(Command::Close { reply }) => self.begin_close(online, Some(reply)),
            Some(Command::Request(out)) => {
                if self.closing.is_some() {
                    let _ = out.reply.send(Err(Error::Closed));
                } else {
                    self.send_request(online, out);
                }
            }
            Some(Command::AddAuth {
                scheme,
                auth,
                reply,
            }) => {
                if self.closing.is_some() {
                    let _ = reply.send(Err(Error::Closed));
                } else {
                    self.send_user_auth(online, scheme, auth, reply);
                }
            }
            Some(Command::RemovePersistent { id }) => {
                if let Some(removal) = self.registry.remove_persistent(id) {
                    self.send_remove_watches(online, removal);
                }
            }
        }
        Flow::Continue
    }

    fn begin_close(&mut self, online: &mut Online, reply: Option<oneshot::Sender<Result<()>>>) {
        if let Some(c) = &mut self.closing {
            c.replies.extend(reply);
            return;
        }
        let frame = request_frame(
            &RequestHeader::new(0, watchkeeper_proto::OpCode::CloseSession),
            &Request::CloseSession,
        );
        let xid = self.next_xid();
        online.send(with_xid(frame, xid));
        online.pending.push_back(Pending {
            xid,
            kind: PendingKind::Close,
        });
        self.closing = Some(Closing {
            replies: reply.into_iter().collect(),
            deadline: Instant::now() + self.timeout,
        });
    }

    // ---- sending ----------------------------------------------------------------------------

    fn next_xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    fn send_request(&mut self, online: &mut Online, mut out: Box<Outgoing>) {
        if out.reply.is_closed() {
            // The caller gave up before it was sent: sending it now would surprise them.
            return;
        }
        let xid = self.next_xid();
        out.frame[XID_OFFSET..XID_OFFSET + 4].copy_from_slice(&xid.to_be_bytes());
        if let Some(w) = &out.watch {
            self.registry.add_sent(w);
        }
        let frame = std::mem::take(&mut out.frame).freeze();
        online.pending.push_back(Pending {
            xid,
            kind: PendingKind::User(out),
        });
        online.send(frame);
    }

    fn send_internal(&mut self, online: &mut Online, request: &Request, what: &'static str) {
        self.send_pending(online, request, PendingKind::Internal(what));
    }

    fn send_pending(&mut self, online: &mut Online, request: &Request, kind: PendingKind) {
        let xid = self.next_xid();
        online.send(request_frame(
            &RequestHeader::new(xid, request.op_code()),
            request,
        ));
        online.pending.push_back(Pending { xid, kind });
    }

    /// Removes a persistent watch from the server. ZooKeeper before 3.9 knows no watcher type
    /// for persistent watches; there, once that is known, type Any is used instead, and only
    /// when this session watches nothing else on the path (Any would remove that too).
    fn send_remove_watches(&mut self, online: &mut Online, (path, recursive): Removal) {
        if self.remove_with_any {
            self.send_remove_any(online, path);
            return;
        }
        let watcher_type = if recursive {
            WatcherType::PersistentRecursive
        } else {
            WatcherType::Persistent
        };
        let request = Request::RemoveWatches(WatchesRequest {
            path: path.clone(),
            watcher_type: watcher_type.as_i32(),
        });
        self.send_pending(online, &request, PendingKind::RemovePersistent(path));
    }

    fn send_remove_any(&mut self, online: &mut Online, path: String) {
        if self.registry.watches_path(&path) {
            // Left on the server: its events are ignored here, and it is not re-sent after
            // a reconnect.
            return;
        }
        let request = Request::RemoveWatches(WatchesRequest {
            path,
            watcher_type: WatcherType::Any.as_i32(),
        });
        self.send_pending(online, &request, PendingKind::RemoveAny);
    }

    /// Sends a caller's auth packet; the caller hears the server's answer on `reply`.
    fn send_user_auth(
        &mut self,
        online: &mut Online,
        scheme: String,
        auth: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    ) {
        let waiter = AuthWaiter::User {
            scheme: scheme.clone(),
            auth: auth.clone(),
            reply,
        };
        self.send_auth(online, scheme, auth, waiter);
    }

    fn send_auth(
        &mut self,
        online: &mut Online,
        scheme: String,
        auth: Vec<u8>,
        waiter: AuthWaiter,
    ) {
        let packet = Request::Auth(AuthPacket {
            auth_type: 0,
            scheme,
            auth,
        });
        online.send(request_frame(
            &RequestHeader::new(xid::AUTH, watchkeeper_proto::OpCode::Auth),
            &packet,
        ));
        online.auth_waiters.push_back(waiter);
    }

    // ---- receiving --------------------------------------------------------------------------

    /// Handles one frame. `Err` is a protocol violation that must drop the connection.
    fn on_frame(&mut self, online: &mut Online, frame: Bytes) -> std::result::Result<Flow, String> {
        let mut r = JuteReader::new(&frame);
        let header = ReplyHeader::decode(&mut r).map_err(|e| format!("bad reply header: {e}"))?;
        let body = frame.slice(ReplyHeader::ENCODED_LEN..);
        match header.xid {
            xid::NOTIFICATION => {
                let event = WatcherEvent::decode(&mut JuteReader::new(&body))
                    .map_err(|e| format!("bad notification: {e}"))?;
                // An event seen is a zxid seen: after a reconnect, setWatches asks only for
                // what came after it, so a persistent watch hears each event once.
                if header.zxid > self.last_zxid {
                    self.last_zxid = header.zxid;
                }
                for removal in self
                    .registry
                    .dispatch(&event, header.zxid, &self.cfg.chroot)
                {
                    self.send_remove_watches(online, removal);
                }
                Ok(Flow::Continue)
            }
            xid::PING | xid::SET_WATCHES => Ok(Flow::Continue),
            xid::AUTH => Ok(self.on_auth_reply(online, header.err)),
            xid => {
                let Some(p) = online.pending.pop_front() else {
                    return Err(format!("reply with xid {xid} but nothing outstanding"));
                };
                if p.xid != xid {
                    let expected = p.xid;
                    online.pending.push_front(p);
                    return Err(format!("xid out of order: expected {expected}, got {xid}"));
                }
                if header.zxid > self.last_zxid {
                    self.last_zxid = header.zxid;
                }
                match p.kind {
                    PendingKind::User(out) => {
                        let out = *out;
                        if let Some(w) = out.watch
                            && let Some(removal) = self.registry.on_reply(w, header.err)
                        {
                            self.send_remove_watches(online, removal);
                        }
                        let _ = out.reply.send(Ok(Reply {
                            err: header.err,
                            body,
                        }));
                    }
                    PendingKind::Internal(what) => {
                        if header.err != 0 {
                            tracing::warn!(what, err = header.err, "internal request failed");
                        }
                    }
                    PendingKind::RemovePersistent(path) => {
                        let benign = header.err == 0 || header.err == ErrorCode::NoWatcher.as_i32();
                        if !benign {
                            tracing::debug!(
                                err = header.err,
                                "the server knows no persistent watcher type; removing with Any"
                            );
                            self.remove_with_any = true;
                            self.send_remove_any(online, path);
                        }
                    }
                    PendingKind::RemoveAny => {}
                    PendingKind::Close => {
                        self.terminal(SessionState::Closed);
                        return Ok(Flow::Stop);
                    }
                }
                Ok(Flow::Continue)
            }
        }
    }

    fn on_auth_reply(&mut self, online: &mut Online, err: i32) -> Flow {
        let waiter = online.auth_waiters.pop_front();
        if err == ErrorCode::AuthFailed.as_i32() {
            tracing::warn!("the server rejected our credentials");
            // The state changes first, so the caller sees it once the call returns.
            self.terminal(SessionState::AuthFailed);
            if let Some(AuthWaiter::User { reply, .. }) = waiter {
                let _ = reply.send(Err(Error::AuthFailed));
            }
            return Flow::Stop;
        }
        match waiter {
            Some(AuthWaiter::User {
                scheme,
                auth,
                reply,
            }) => {
                if err == 0 {
                    self.auths.push((scheme, auth));
                    let _ = reply.send(Ok(()));
                } else {
                    let _ = reply.send(Err(Error::from_wire(err)));
                }
            }
            Some(AuthWaiter::Replay) => {
                if err != 0 {
                    tracing::warn!(err, "re-sent credentials were not accepted");
                }
                if !online
                    .auth_waiters
                    .iter()
                    .any(|w| matches!(w, AuthWaiter::Replay))
                {
                    self.report_ready();
                }
            }
            None => tracing::warn!(err, "auth reply with no auth outstanding"),
        }
        Flow::Continue
    }

    /// Tells `connect` that the first session is up (once; later calls do nothing).
    fn report_ready(&mut self) {
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Ok(()));
        }
    }

    // ---- the end ----------------------------------------------------------------------------

    /// Enters a final state: every watch hears it, everything waiting fails with it.
    fn terminal(&mut self, state: SessionState) {
        self.shared.state.send_replace(state);
        let keeper = match state {
            SessionState::Expired => KeeperState::Expired,
            SessionState::AuthFailed => KeeperState::AuthFailed,
            _ => KeeperState::Closed,
        };
        self.registry.session_event(keeper);
        let err = self.shared.terminal_error();
        for w in self.waiting.drain(..) {
            match w {
                Waiting::Request(out) => {
                    let _ = out.reply.send(Err(err.clone()));
                }
                Waiting::Auth { reply, .. } => {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Err(err));
        }
        if let Some(c) = self.closing.take() {
            for r in c.replies {
                let _ = r.send(Ok(()));
            }
        }
    }
}

fn lost(why: &str) -> Flow {
    tracing::info!(why, "connection lost");
    Flow::Continue
}

/// Writes `xid` into a frame built with a placeholder.
fn with_xid(frame: Bytes, xid: i32) -> Bytes {
    let mut f = bytes::BytesMut::from(&frame[..]);
    f[XID_OFFSET..XID_OFFSET + 4].copy_from_slice(&xid.to_be_bytes());
    f.freeze()
}

fn duration_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn backoff(failed_rounds: u32) -> Duration {
    let base = BACKOFF_MIN
        .saturating_mul(1u32 << failed_rounds.min(16))
        .min(BACKOFF_MAX);
    // Jitter so that many clients of one restarted server do not come back in lockstep.
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 2);
    base + Duration::from_millis(jitter)
}

fn shuffle<T>(v: &mut [T]) {
    let mut rng = rand::rng();
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= BACKOFF_MIN && backoff(0) <= BACKOFF_MIN * 3 / 2);
        assert!(backoff(3) >= BACKOFF_MIN * 8);
        for n in [5, 20, u32::MAX] {
            assert!(backoff(n) <= BACKOFF_MAX * 3 / 2);
        }
    }

    #[test]
    fn xid_is_patched_in_place() {
        let frame = request_frame(
            &RequestHeader::new(0, watchkeeper_proto::OpCode::CloseSession),
            &Request::CloseSession,
        );
        let f = with_xid(frame, 0x01020304);
        assert_eq!(&f[..], &[0, 0, 0, 8, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xf5]);
    }

    #[test]
    fn shuffle_keeps_every_element() {
        let mut v: Vec<u32> = (0..50).collect();
        shuffle(&mut v);
        v.sort();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}
