//! Routing a request: writes are proposed, everything else runs now or waits behind the
//! session's own writes.

use std::time::Instant;

use bytes::Bytes;
use watchkeeper_proto::{DecodeError, ErrorCode, JuteReader, OpCode, Request, xid};

use super::session::Queued;
use super::{ConnId, Core, Incoming, ReplyTo};

/// Decodes a request body for a known opcode (runs on the connection's task, not the core).
pub(crate) fn decode_request(op: OpCode, body: &[u8]) -> Result<Request, DecodeError> {
    let mut r = JuteReader::new(body);
    Request::decode(op, &mut r)
}

impl Core {
    pub(super) fn request(
        &mut self,
        conn: ConnId,
        xid: i32,
        incoming: Incoming,
        received: Instant,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.packets_received += 1;
        self.stats.packets_received += 1;
        let session_id = c.session;
        let Some(s) = self.sessions.get_mut(&session_id) else {
            return;
        };
        s.touch(received);
        if !self.leading {
            self.touched.insert(session_id);
        }
        let Some(s) = self.sessions.get(&session_id) else {
            return;
        };
        let queue_empty = s.queue.is_empty();
        if s.closing {
            let frame =
                super::reply::error_frame(xid, self.tree.last_zxid(), ErrorCode::SessionExpired);
            self.reply_in_order(conn, session_id, frame, false);
            return;
        }

        let req = match incoming {
            Incoming::Request(req) => req,
            Incoming::Malformed => {
                let frame = super::reply::error_frame(
                    xid,
                    self.tree.last_zxid(),
                    ErrorCode::MarshallingError,
                );
                self.reply_in_order(conn, session_id, frame, false);
                return;
            }
            Incoming::Unknown { op } => {
                tracing::info!(
                    conn,
                    op,
                    "unknown opcode: answering Unimplemented and closing"
                );
                let frame = super::reply::error_frame(xid, -1, ErrorCode::Unimplemented);
                self.reply_in_order(conn, session_id, frame, true);
                return;
            }
        };

        let op = req.op_code();
        // A top-level check is only valid inside a multi (ZooKeeper's Request.isValid).
        if op == OpCode::Check {
            let frame = super::reply::error_frame(xid, -1, ErrorCode::Unimplemented);
            self.reply_in_order(conn, session_id, frame, true);
            return;
        }
        if let Request::Reconfig(r) = &req {
            self.reconfig(conn, session_id, xid, r);
            return;
        }
        if op == OpCode::CloseSession {
            self.close_session(
                session_id,
                ReplyTo::Client {
                    conn,
                    xid,
                    op,
                    received,
                },
                watchkeeper_tree::Op::CloseSession,
            );
            return;
        }
        if op.is_write() {
            match self.write_op(conn, &req) {
                Ok((tree_op, sub_ops)) => {
                    let auth = self
                        .conns
                        .get(&conn)
                        .map(|c| c.auth.clone())
                        .unwrap_or_default();
                    let entry = watchkeeper_tree::Entry {
                        session: session_id,
                        time: self.wall_ms(),
                        auth,
                        op: tree_op,
                    };
                    let seq = self.propose_with(
                        entry,
                        ReplyTo::Client {
                            conn,
                            xid,
                            op,
                            received,
                        },
                        sub_ops,
                    );
                    if let Some(s) = self.sessions.get_mut(&session_id) {
                        s.queue.push_back(Queued::Write { seq });
                    }
                }
                Err(code) => {
                    let frame = super::reply::error_frame(xid, self.tree.last_zxid(), code);
                    self.reply_in_order(conn, session_id, frame, false);
                }
            }
            return;
        }
        if let Request::Sync(r) = &req
            && !self.consensus.role().leads()
        {
            // On a follower, sync catches up to the leader's commit point first (ZooKeeper's
            // sync); a leader or a standalone server is there already.
            let path = r.path.clone();
            self.queue_sync(conn, session_id, xid, path);
            return;
        }
        if queue_empty {
            self.execute(conn, xid, req, received);
        } else if let Some(s) = self.sessions.get_mut(&session_id) {
            s.queue.push_back(Queued::Request {
                conn,
                xid,
                req,
                received,
            });
        }
    }

    /// Sends a ready reply now, or queues it behind the session's pending writes.
    fn reply_in_order(&mut self, conn: ConnId, session: i64, frame: Bytes, close_after: bool) {
        match self.sessions.get_mut(&session) {
            Some(s) if !s.queue.is_empty() => s.queue.push_back(Queued::Ready {
                conn,
                frame,
                close_after,
            }),
            _ => {
                self.send_frame(conn, frame);
                if close_after && let Some(c) = self.conns.get(&conn) {
                    c.outbox.close();
                }
            }
        }
    }

    /// Runs what waits at the head of a session's queue until the next unapplied write.
    pub(super) fn drain_session_queue(&mut self, session: i64) {
        loop {
            let Some(s) = self.sessions.get_mut(&session) else {
                return;
            };
            match s.queue.front() {
                None | Some(Queued::Write { .. }) => return,
                Some(Queued::Sync { target, .. } | Queued::Reconfig { target, .. }) => match target
                {
                    Some(t) if *t <= self.tree.last_zxid() => {}
                    _ => return,
                },
                _ => {}
            }
            match s.queue.pop_front() {
                Some(Queued::Request {
                    conn,
                    xid,
                    req,
                    received,
                }) => {
                    if self.conns.contains_key(&conn) {
                        self.execute(conn, xid, req, received);
                    }
                }
                Some(Queued::Ready {
                    conn,
                    frame,
                    close_after,
                }) => {
                    self.send_frame(conn, frame);
                    if close_after && let Some(c) = self.conns.get(&conn) {
                        c.outbox.close();
                    }
                }
                Some(Queued::Reconfig {
                    conn, xid, token, ..
                }) => {
                    self.syncs.remove(&token);
                    let frame = self.reconfig_reply(xid);
                    self.send_frame(conn, frame);
                }
                Some(Queued::Sync {
                    conn,
                    xid,
                    path,
                    token,
                    ..
                }) => {
                    self.syncs.remove(&token);
                    let frame = super::reply::reply_frame(
                        xid,
                        self.tree.last_zxid(),
                        &watchkeeper_proto::responses::SyncResponse { path },
                    );
                    self.send_frame(conn, frame);
                }
                _ => return,
            }
        }
    }

    /// Runs a non-write request now and queues its reply.
    fn execute(&mut self, conn: ConnId, xid_value: i32, req: Request, received: Instant) {
        let frame = match req {
            Request::Ping => super::reply::empty_frame(xid::PING, self.tree.last_zxid()),
            Request::Auth(p) => match self.authenticate(conn, xid_value, p) {
                Some(frame) => frame,
                None => return,
            },
            Request::SetWatches(sw) => self.set_watches(conn, xid_value, sw.into()),
            Request::SetWatches2(sw) => self.set_watches(conn, xid_value, sw.into()),
            other => self.read(conn, xid_value, other),
        };
        self.record_latency(conn, received);
        self.send_frame(conn, frame);
    }
}
