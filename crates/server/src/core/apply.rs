//! Applying committed entries: the tree changes, watches fire, waiters get their replies; and
//! the state-machine side of snapshots (encoding one, installing one from the leader).
//!
//! Every member applies every committed entry, in log order. Only the member that proposed an
//! entry (same id and incarnation) has a waiter for it; the others apply it and notify their
//! own watchers.

use std::sync::Arc;

use watchkeeper_consensus::state_machine::{ApplyEvent, Committed, CommittedKind};
use watchkeeper_proto::{Acl, EventType, KeeperState, perms};
use watchkeeper_tree::{Change, DataTree, Entry, Op};

use super::session::{Queued, Session};
use super::{Core, Pending, ReplyTo};

impl Core {
    pub(super) fn on_apply_event(&mut self, ev: ApplyEvent) {
        match ev {
            ApplyEvent::Apply { entries, done } => {
                for c in entries {
                    self.apply_committed(c);
                }
                self.drain_syncs();
                let _ = done.send(());
            }
            ApplyEvent::Snapshot { done } => {
                let mut bytes = Vec::new();
                self.tree.encode_snapshot(&mut bytes);
                let _ = done.send(bytes);
            }
            ApplyEvent::Install {
                index, state, done, ..
            } => {
                let _ = done.send(self.install_snapshot(index, &state));
            }
        }
    }

    fn apply_committed(&mut self, c: Committed) {
        let zxid = c.index as i64;
        let p = match c.kind {
            CommittedKind::Proposal(p) => p,
            CommittedKind::Blank => {
                self.tree.note_applied(zxid);
                return;
            }
            CommittedKind::Membership(members) => {
                self.apply_membership(zxid, &members);
                return;
            }
        };
        let mine = p.origin == self.consensus.id() && p.incarnation == self.incarnation;
        let (entry, waiter) = match mine.then(|| self.pending.remove(&p.seq)).flatten() {
            Some(Pending {
                entry,
                reply,
                sub_ops,
            }) => (entry, Some((reply, sub_ops))),
            None => match Entry::decode(&p.entry) {
                Ok(e) => (e, None),
                Err(e) => {
                    // Every member decodes the same bytes the same way, so every member skips
                    // it alike and the trees stay identical.
                    tracing::error!(zxid, error = %e, "a committed entry cannot be decoded; it changes nothing");
                    self.tree.note_applied(zxid);
                    return;
                }
            },
        };
        self.apply_one(zxid, &entry, p.incarnation, waiter, mine.then_some(p.seq));
    }

    fn apply_one(
        &mut self,
        zxid: i64,
        entry: &Entry,
        proposer: u64,
        waiter: Option<(ReplyTo, Vec<watchkeeper_proto::OpCode>)>,
        seq: Option<u64>,
    ) {
        let applied = self.tree.apply_proposed(zxid, entry, proposer);
        tracing::trace!(zxid, result = ?applied.result, "applied");
        // Rule 2: every notification of this entry is queued before its reply and before any
        // read that runs after it.
        self.notify(zxid, &applied.changes, &applied.acls);

        let session = entry.session;
        let is_close =
            matches!(entry.op, Op::CloseSession | Op::ExpireSession) && applied.result.is_ok();
        if let Op::CreateSession { timeout_ms, .. } = entry.op
            && applied.result.is_ok()
        {
            // Every member knows every session: the leader expires it, any member may be asked
            // to resume it.
            let now = self.now();
            self.sessions
                .entry(session)
                .or_insert_with(|| Session::restored(timeout_ms, now));
        }
        if let Op::AttachSession { owner } = entry.op
            && owner != self.incarnation
            && applied.result.is_ok()
            && let Some(s) = self.sessions.get_mut(&session)
            && let Some(conn) = s.conn.take()
        {
            // The client reconnected to another server: this connection is stale
            // (ZooKeeper's CLIENT_RECONNECT).
            tracing::info!(
                session = format_args!("{session:#x}"),
                "the session moved to another server; closing its connection here"
            );
            self.watches.remove_session(session);
            if let Some(c) = self.conns.remove(&conn) {
                c.outbox.close();
            }
        }
        match waiter {
            Some((
                ReplyTo::Client {
                    conn,
                    xid,
                    op,
                    received,
                },
                sub_ops,
            )) => {
                if self.conns.get(&conn).is_some_and(|c| c.session == session) {
                    let frame = super::write::write_reply(xid, zxid, op, &sub_ops, &applied.result);
                    self.record_latency(conn, received);
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.last_zxid = zxid;
                    }
                    self.send_frame(conn, frame);
                }
            }
            Some((
                ReplyTo::Handshake {
                    conn,
                    read_only_byte,
                },
                _,
            )) => {
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
            Some((ReplyTo::Attach { conn }, _)) => {
                if let Err(e) = &applied.result {
                    tracing::info!(
                        session = format_args!("{session:#x}"),
                        error = ?e,
                        "a resumed session could not be attached here (closed meanwhile); closing its connection"
                    );
                    self.drop_attached_connection(session, conn);
                }
            }
            Some((ReplyTo::Nobody, _)) | None => {}
        }

        if let Some(seq) = seq
            && let Some(s) = self.sessions.get_mut(&session)
            && matches!(s.queue.front(), Some(Queued::Write { seq: front }) if *front == seq)
        {
            s.queue.pop_front();
        }
        if is_close {
            self.session_closed(session);
        } else if seq.is_some() {
            self.drain_session_queue(session);
        }
    }

    /// Replaces the whole state with a snapshot from the leader (this member was too far
    /// behind to catch up from the log). Clients are disconnected, as ZooKeeper does on a
    /// snapshot sync: they reconnect and re-register their watches, with catch-up from the
    /// zxid they last saw.
    fn install_snapshot(&mut self, index: u64, state: &[u8]) -> Result<(), String> {
        let tree = DataTree::decode_snapshot(state).map_err(|e| e.to_string())?;
        tracing::info!(
            zxid = format_args!("{index:#x}"),
            nodes = tree.node_count(),
            "installing a snapshot from the leader; clients reconnect"
        );
        self.close_all_connections();
        self.conns.clear();
        self.watches = watchkeeper_watch::WatchIndex::new();
        self.journal = super::journal::Journal::new(self.cfg.event_journal_size, tree.last_zxid());
        // Our proposals still in flight were either in the snapshot (applied elsewhere) or
        // lost; their clients are disconnected either way.
        self.pending.clear();
        self.syncs.clear();
        let now = self.now();
        self.sessions = tree
            .sessions()
            .map(|(id, info)| (id, Session::restored(info.timeout_ms, now)))
            .collect();
        self.tree = tree;
        self.tree.note_applied(index as i64);
        Ok(())
    }

    /// Fires the watches of one applied entry's changes. `acls[i]` is the ACL that READ is
    /// checked against before the event of `changes[i]` is delivered.
    pub(super) fn notify(&mut self, zxid: i64, changes: &[Change], acls: &[Arc<[Acl]>]) {
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

    /// Proposes the removal of empty containers and expired TTL nodes.
    pub(super) fn reap_containers(&mut self) {
        if self.log_failed {
            return;
        }
        let now = self.wall_ms();
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
