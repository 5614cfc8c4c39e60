//! Sessions at run time: the handshake, resume, expiry, and each session's queue of requests
//! waiting behind its own writes.
//!
//! A session's existence, timeout and password are tree state (created and closed by log
//! entries, so they survive restarts); what lives here is only what a running server needs on
//! top: which connection serves the session now, when it expires, and its request queue.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use watchkeeper_proto::{ConnectRequest, ConnectResponse, Id, Request};
use watchkeeper_tree::{Entry, Op};

use super::{Conn, ConnId, Core, ReplyTo};
use crate::outbox::Outbox;

/// Something waiting in a session's queue.
#[derive(Debug)]
pub(crate) enum Queued {
    /// A write we proposed (by sequence number); everything behind it waits for its apply.
    Write { seq: u64 },
    /// A `sync`: everything behind it waits until this member has applied the leader's commit
    /// point as of the sync (`target`, unknown until the leader answers).
    Sync {
        conn: ConnId,
        xid: i32,
        path: String,
        token: u64,
        target: Option<i64>,
    },
    /// A reconfig: everything behind it waits until this member has applied the configuration
    /// the leader made (`target`, unknown until the leader answers); its reply is
    /// `/zookeeper/config` then.
    Reconfig {
        conn: ConnId,
        xid: i32,
        token: u64,
        target: Option<i64>,
    },
    /// A request that must not run before the writes ahead of it.
    Request {
        conn: ConnId,
        xid: i32,
        req: Request,
        received: Instant,
    },
    /// A reply decided already (an error found before proposing), waiting for its turn.
    Ready {
        conn: ConnId,
        frame: Bytes,
        close_after: bool,
    },
}

pub(crate) struct Session {
    /// The connection serving this session, if any.
    pub conn: Option<ConnId>,
    pub timeout: Duration,
    /// When the session expires unless the client is heard from.
    pub deadline: Instant,
    pub queue: VecDeque<Queued>,
    /// A close has been proposed (expiry or closeSession); the session takes no more requests.
    pub closing: bool,
}

impl Session {
    pub(crate) fn restored(timeout_ms: i32, now: Instant) -> Session {
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        Session {
            conn: None,
            timeout,
            deadline: now + timeout,
            queue: VecDeque::new(),
            closing: false,
        }
    }

    pub(crate) fn touch(&mut self, now: Instant) {
        self.deadline = now + self.timeout;
    }
}

/// The first session id: this member's id in the top byte, so members never hand out the same
/// id, and the clock below it, so ids handed out after a restart do not repeat earlier ones
/// (ZooKeeper's rule).
pub(crate) fn initial_session_id(member: u64, now_ms: i64) -> i64 {
    ((((now_ms as u64) << 24) >> 8) | (member << 56)) as i64
}

const PASSWORD_LEN: usize = 16;

impl Core {
    pub(super) fn connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        req: ConnectRequest,
        outbox: Arc<Outbox>,
    ) {
        let now = self.now();
        let read_only_byte = req.read_only.is_some();
        if !self.serving {
            tracing::info!(%peer, "refusing a client: this member has no leader or quorum now");
            outbox.close();
            return;
        }
        if req.last_zxid_seen > self.tree.last_zxid() {
            tracing::warn!(
                %peer,
                client_zxid = format_args!("{:#x}", req.last_zxid_seen),
                our_zxid = format_args!("{:#x}", self.tree.last_zxid()),
                "refusing session: the client has seen a newer zxid than this server; it must try another server"
            );
            outbox.close();
            return;
        }
        self.conns.insert(
            conn,
            Conn {
                peer,
                outbox: outbox.clone(),
                session: 0,
                auth: vec![Id::new("ip", peer.ip().to_string())],
                established: now,
                packets_received: 1,
                packets_sent: 0,
                last_zxid: 0,
                last_op: "NA",
                last_latency_ms: 0,
            },
        );
        self.stats.packets_received += 1;
        let timeout_ms = self.cfg.negotiate_timeout(req.timeout);

        if req.session_id == 0 {
            let id = self.allocate_session_id();
            let mut password = vec![0u8; PASSWORD_LEN];
            self.sources.fill_random(&mut password);
            let entry = Entry {
                session: id,
                time: self.wall_ms(),
                auth: Vec::new(),
                op: Op::CreateSession {
                    timeout_ms,
                    password,
                    owner: self.incarnation,
                },
            };
            let seq = self.propose(
                entry,
                ReplyTo::Handshake {
                    conn,
                    read_only_byte,
                },
            );
            let mut s = Session::restored(timeout_ms, now);
            s.conn = Some(conn);
            s.queue.push_back(Queued::Write { seq });
            self.sessions.insert(id, s);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = id;
            }
            return;
        }

        let id = req.session_id;
        let valid = match (self.tree.session(id), self.sessions.get(&id)) {
            (Some(info), Some(rt)) => !rt.closing && info.password == req.passwd,
            _ => false,
        };
        if !valid {
            tracing::info!(%peer, session = format_args!("{id:#x}"), "session expired or unknown, or wrong password");
            self.send_connect_response(conn, 0, 0, vec![0; PASSWORD_LEN], read_only_byte);
            if let Some(c) = self.conns.remove(&conn) {
                c.outbox.close();
            }
            return;
        }
        let password = req.passwd.clone();
        let s = self.sessions.get_mut(&id).expect("checked above");
        let previous = s.conn.replace(conn);
        s.timeout = Duration::from_millis(timeout_ms as u64);
        s.touch(now);
        if let Some(old) = previous.filter(|old| *old != conn) {
            // The client moved to a new connection; the old one must not receive its replies.
            if let Some(c) = self.conns.remove(&old) {
                c.outbox.close();
            }
            self.watches.remove_session(id);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = id;
        }
        self.send_connect_response(conn, timeout_ms, id, password, read_only_byte);
        if self
            .tree
            .session(id)
            .is_some_and(|info| info.owner != self.incarnation)
        {
            // The session comes from another server (or an earlier run of this one): it is
            // attached here through the log. Every write that went out through the old server
            // is then either before the attach in the log or fails with SessionMoved, and every
            // write the client sends here is proposed after the attach, so the client's order
            // of writes holds across the move. The client is answered without waiting for the
            // attach to commit: its reads and watches need nothing from it (this member has
            // applied everything the client saw), and its writes are ordered behind it anyway.
            // ZooKeeper, too, answers after a round trip to the leader, not a commit.
            tracing::debug!(
                session = format_args!("{id:#x}"),
                "attaching a session that moved here"
            );
            let entry = Entry {
                session: id,
                time: self.wall_ms(),
                auth: Vec::new(),
                op: Op::AttachSession {
                    owner: self.incarnation,
                },
            };
            self.propose(entry, ReplyTo::Attach { conn });
        }
    }

    fn allocate_session_id(&mut self) -> i64 {
        loop {
            let id = self.next_session_id;
            self.next_session_id = self.next_session_id.wrapping_add(1);
            if id != 0 && self.tree.session(id).is_none() && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    pub(super) fn send_connect_response(
        &mut self,
        conn: ConnId,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
        read_only_byte: bool,
    ) {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout: timeout_ms,
            session_id,
            passwd,
            read_only: read_only_byte.then_some(false),
        };
        let frame = super::reply::frame_of(&resp);
        self.send_frame(conn, frame);
    }

    /// Stages a frame for a connection; it leaves when the core's batch is done (see
    /// [`Core::flush_outboxes`]). A connection whose outbox overflowed is being dropped.
    pub(crate) fn send_frame(&mut self, conn: ConnId, frame: Bytes) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        self.stats.packets_sent += 1;
        c.stage(frame, &mut self.flush_due);
    }

    /// Sends everything staged during this batch: one write per connection, straight to the
    /// socket when its writer is idle.
    pub(crate) fn flush_outboxes(&mut self) {
        for outbox in self.flush_due.drain(..) {
            outbox.flush();
        }
    }

    pub(super) fn disconnected(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        c.outbox.close();
        if let Some(s) = self.sessions.get_mut(&c.session)
            && s.conn == Some(conn)
        {
            s.conn = None;
            // Watches belong to the connection, as in ZooKeeper: the client re-registers them
            // with setWatches when it reconnects, and gets catch-up events then.
            self.watches.remove_session(c.session);
        }
    }

    /// Proposes a close for every session whose deadline passed.
    pub(super) fn expire_sessions(&mut self, now: Instant) {
        let expired: Vec<i64> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.closing && s.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            tracing::info!(session = format_args!("{id:#x}"), "session expired");
            self.close_session(id, ReplyTo::Nobody, Op::ExpireSession);
        }
    }

    /// Proposes the close of a session: `op` is `CloseSession` (the client asked) or
    /// `ExpireSession` (this leader found it expired).
    pub(super) fn close_session(&mut self, id: i64, reply: ReplyTo, op: Op) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
        let entry = Entry {
            session: id,
            time: self.wall_ms(),
            auth: Vec::new(),
            op,
        };
        let seq = self.propose(entry, reply);
        if let Some(s) = self.sessions.get_mut(&id) {
            s.queue.push_back(Queued::Write { seq });
        }
    }

    /// After a session's close is applied: forget it and drop its connection.
    pub(super) fn session_closed(&mut self, id: i64) {
        self.watches.remove_session(id);
        if let Some(s) = self.sessions.remove(&id)
            && let Some(conn) = s.conn
            && let Some(c) = self.conns.get(&conn)
        {
            c.outbox.close();
        }
    }

    /// Closes the connection of a session whose attach here failed, if it still serves the
    /// session: the client reconnects and learns the session's fate from that handshake.
    pub(super) fn drop_attached_connection(&mut self, session: i64, conn: ConnId) {
        if let Some(s) = self.sessions.get_mut(&session)
            && s.conn == Some(conn)
        {
            s.conn = None;
            self.watches.remove_session(session);
        }
        if let Some(c) = self.conns.remove(&conn) {
            c.outbox.close();
        }
    }
}
