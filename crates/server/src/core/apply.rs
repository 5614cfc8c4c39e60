//! Applying durable entries: the tree changes, watches fire, waiters get their replies.

use std::sync::Arc;

use watchkeeper_proto::{Acl, EventType, KeeperState, perms};
use watchkeeper_tree::{Change, Op};

use super::session::Queued;
use super::{Core, Pending, ReplyTo};
use crate::persist::LogCmd;

impl Core {
    /// Applies, in zxid order, every pending entry up to `durable`.
    pub(super) fn apply_durable(&mut self, durable: i64) {
        while self.pending.front().is_some_and(|p| p.zxid <= durable) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.apply_one(p);
        }
        if self.since_snapshot >= self.cfg.snap_count {
            self.take_snapshot();
        }
    }

    fn apply_one(&mut self, p: Pending) {
        let applied = self.tree.apply(p.zxid, &p.entry);
        tracing::trace!(zxid = p.zxid, result = ?applied.result, "applied");
        self.since_snapshot += 1;
        // Rule 2: every notification of this entry is queued before its reply and before any
        // read that runs after it.
        self.notify(p.zxid, &applied.changes, &applied.acls);

        let session = p.entry.session;
        let is_close = matches!(p.entry.op, Op::CloseSession);
        match p.reply {
            ReplyTo::Client {
                conn,
                xid,
                op,
                received,
            } => {
                if self.conns.get(&conn).is_some_and(|c| c.session == session) {
                    let frame =
                        super::write::write_reply(xid, p.zxid, op, &p.sub_ops, &applied.result);
                    self.record_latency(conn, received);
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.last_zxid = p.zxid;
                    }
                    self.send_frame(conn, frame);
                }
            }
            ReplyTo::Handshake {
                conn,
                read_only_byte,
            } => {
                let info = self
                    .tree
                    .session(session)
                    .map(|i| (i.timeout_ms, i.password.clone()));
                match (info, &applied.result) {
                    (Some((timeout, password)), Ok(_)) => {
                        self.send_connect_response(conn, timeout, session, password, read_only_byte)
                    }
                    _ => {
                        tracing::error!(
                            session = format_args!("{session:#x}"),
                            "session creation failed to apply"
                        );
                        if let Some(c) = self.conns.get(&conn) {
                            c.outbox.close();
                        }
                    }
                }
            }
            ReplyTo::Nobody => {}
        }

        if let Some(s) = self.sessions.get_mut(&session)
            && matches!(s.queue.front(), Some(Queued::Write { zxid }) if *zxid == p.zxid)
        {
            s.queue.pop_front();
        }
        if is_close {
            self.session_closed(session);
        } else {
            self.drain_session_queue(session);
        }
    }

    /// Fires the watches of one applied entry's changes. `acls[i]` is the ACL that READ is
    /// checked against before the event of `changes[i]` is delivered.
    fn notify(&mut self, zxid: i64, changes: &[Change], acls: &[Arc<[Acl]>]) {
        debug_assert_eq!(changes.len(), acls.len());
        let mut targets = Vec::new();
        for (change, acl) in changes.iter().zip(acls) {
            let event = match change {
                Change::Created(_) => EventType::NodeCreated,
                Change::Deleted(_) => EventType::NodeDeleted,
                Change::DataChanged(_) => EventType::NodeDataChanged,
                Change::ChildrenChanged(_) => EventType::NodeChildrenChanged,
            };
            let path = change.path();
            self.journal.record(zxid, event, path, acl);
            targets.clear();
            self.watches.trigger(path, event, &mut targets);
            if targets.is_empty() {
                continue;
            }
            // Encoded once; every connection shares these bytes.
            let frame =
                super::reply::notification_frame(zxid, event, KeeperState::SyncConnected, path);
            // Events are dropped for sessions that may not read the changed node (ZooKeeper
            // 3.9.2, CVE-2024-23944); the one-shot watch is still consumed. Most nodes are
            // readable by anyone, which needs no look at each session's identities.
            let anyone_reads = watchkeeper_tree::acl::check(acl, perms::READ, &[]);
            for &session in &targets {
                let Some(conn) = self.sessions.get(&session).and_then(|s| s.conn) else {
                    continue;
                };
                let Some(c) = self.conns.get_mut(&conn) else {
                    continue;
                };
                if !anyone_reads && !watchkeeper_tree::acl::check(acl, perms::READ, &c.auth) {
                    continue;
                }
                self.stats.notifications_sent += 1;
                self.stats.packets_sent += 1;
                c.send_now(frame.clone());
            }
        }
    }

    fn take_snapshot(&mut self) {
        let mut bytes = Vec::new();
        self.tree.encode_snapshot(&mut bytes);
        let zxid = self.tree.last_zxid();
        self.since_snapshot = 0;
        let _ = self.log.send(LogCmd::Snapshot {
            zxid: zxid as u64,
            bytes,
        });
    }

    /// Proposes the removal of empty containers and expired TTL nodes.
    pub(super) fn reap_containers(&mut self) {
        if self.log_failed {
            return;
        }
        let now = Core::now_ms();
        for path in self.tree.reap_candidates(now, 1000) {
            let entry = watchkeeper_tree::Entry {
                session: 0,
                time: now,
                auth: Vec::new(),
                op: Op::ReapNode { path },
            };
            self.propose(entry, ReplyTo::Nobody);
        }
    }
}
