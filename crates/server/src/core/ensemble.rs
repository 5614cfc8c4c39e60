//! The core's part in the ensemble: which duties this member runs as its role changes, the
//! session touches a non-leader forwards, `sync`, proposals Raft refused, and the rule that a
//! member cut off from its leader or quorum stops serving clients.
//!
//! Invariants:
//! - Only the member that leads expires sessions and reaps containers; a member that becomes
//!   leader restarts every session's deadline first (it cannot know when the old leader last
//!   heard from them), as ZooKeeper's new leader does.
//! - A client is disconnected before the majority can expire its session: a member that has
//!   not heard from a leader (or, as leader, from a quorum) for `syncLimit` ticks closes its
//!   clients, and refuses new ones until it has a leader again.
//! - A proposal Raft refused is never applied, and one whose fate is unknown may be: either
//!   way its client's connection is closed (ConnectionLoss, the session survives), so the
//!   client retries and no reply is ever sent for a write that was not applied.

use std::time::{Duration, Instant};

use watchkeeper_consensus::node::Event;
use watchkeeper_consensus::status::Role;

use super::session::Queued;
use super::{Core, ReplyTo};

impl Core {
    /// The periodic work: role changes, expiry (leader) or touches (others), the cut-off rule.
    pub(super) fn tick(&mut self, now: Instant) {
        let status = self.consensus.status();
        let leads = status.role.leads();
        if leads && !self.leading {
            tracing::info!(
                term = status.term,
                sessions = self.sessions.len(),
                "leading: every session's deadline starts afresh"
            );
            for s in self.sessions.values_mut() {
                s.touch(now);
            }
        }
        self.leading = leads;
        if leads {
            self.touched.clear();
            self.expire_sessions(now);
        } else if !self.touched.is_empty() {
            let touched: Vec<(i64, u32)> = self
                .touched
                .drain()
                .filter_map(|id| {
                    self.sessions
                        .get(&id)
                        .map(|s| (id, s.timeout.as_millis() as u32))
                })
                .collect();
            self.consensus.touch(touched);
        }
        self.check_cut_off(now, status.role, status.quorum_acked);
    }

    /// How long a member may be without its leader (or quorum) before it drops its clients:
    /// ZooKeeper's `syncLimit` ticks.
    fn cut_off_after(&self) -> Duration {
        self.cfg.tick_time * self.cfg.sync_limit_ticks()
    }

    fn check_cut_off(&mut self, now: Instant, role: Role, quorum_acked: Option<Instant>) {
        let contact = match role {
            Role::Standalone => {
                self.serving = true;
                return;
            }
            Role::Leader => quorum_acked,
            Role::Follower | Role::Observer => self.consensus.last_leader_contact(),
            Role::Looking | Role::Stopped => None,
        };
        let bound = self.cut_off_after();
        let fresh = contact.is_some_and(|t| now.saturating_duration_since(t) < bound);
        if fresh {
            self.cut_off_since = None;
            if !self.serving {
                tracing::info!(
                    mode = role.mode(),
                    "in touch with the ensemble again; serving clients"
                );
            }
            self.serving = true;
            return;
        }
        let since = *self.cut_off_since.get_or_insert(now);
        if self.serving && now.saturating_duration_since(since) >= bound {
            tracing::warn!(
                mode = role.mode(),
                after_ms = bound.as_millis() as u64,
                clients = self.conns.len(),
                "no leader or quorum: closing client connections so they move to a member that can serve them"
            );
            self.serving = false;
            self.close_all_connections();
        }
    }

    pub(super) fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Rejected(seqs) => self.fail_proposals(&seqs, "refused by Raft"),
            Event::Unknown(seqs) => self.fail_proposals(&seqs, "lost with the leader"),
            Event::ReadIndex { token, index } => self.sync_target(token, index),
            Event::Reconfigured { token, result } => self.reconfigured(token, result),
            Event::Touch(sessions) => {
                let now = self.now();
                for (id, _timeout) in sessions {
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.touch(now);
                    }
                }
            }
        }
    }

    /// Proposals that will not (or may not) be applied: their clients are disconnected.
    fn fail_proposals(&mut self, seqs: &[u64], why: &str) {
        for seq in seqs {
            let Some(p) = self.pending.remove(seq) else {
                continue;
            };
            let session = p.entry.session;
            tracing::info!(
                session = format_args!("{session:#x}"),
                seq,
                why,
                "a write could not be committed; closing its connection"
            );
            match p.reply {
                ReplyTo::Client { conn, .. } | ReplyTo::Handshake { conn, .. } => {
                    if let Some(c) = self.conns.get(&conn) {
                        c.outbox.close();
                    }
                    if let ReplyTo::Handshake { .. } = p.reply
                        && self.tree.session(session).is_none()
                    {
                        self.sessions.remove(&session);
                    }
                }
                ReplyTo::Attach { conn } => self.drop_attached_connection(session, conn),
                ReplyTo::Nobody => {
                    if let watchkeeper_tree::Op::ExpireSession = p.entry.op
                        && let Some(s) = self.sessions.get_mut(&session)
                    {
                        // The expiry can be proposed again.
                        s.closing = false;
                    }
                }
            }
            if let Some(s) = self.sessions.get_mut(&session) {
                // What waited behind it belonged to the closed connection.
                let closed = match p.reply {
                    ReplyTo::Client { conn, .. } => Some(conn),
                    _ => None,
                };
                s.queue.retain(|q| match q {
                    Queued::Write { seq: w } => w != seq,
                    Queued::Request { conn: c, .. }
                    | Queued::Ready { conn: c, .. }
                    | Queued::Sync { conn: c, .. }
                    | Queued::Reconfig { conn: c, .. } => Some(*c) != closed,
                });
            }
        }
    }

    /// Queues a `sync` and asks the leader for its commit point.
    pub(super) fn queue_sync(&mut self, conn: super::ConnId, session: i64, xid: i32, path: String) {
        let token = self.next_sync_token;
        self.next_sync_token += 1;
        self.syncs.insert(token, session);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.queue.push_back(Queued::Sync {
                conn,
                xid,
                path,
                token,
                target: None,
            });
        }
        self.consensus.read_index(token);
    }

    fn sync_target(&mut self, token: u64, index: Result<u64, String>) {
        let Some(&session) = self.syncs.get(&token) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&session) else {
            self.syncs.remove(&token);
            return;
        };
        let mut failed_conn = None;
        for q in s.queue.iter_mut() {
            if let Queued::Sync {
                token: t,
                target,
                conn,
                ..
            } = q
                && *t == token
            {
                match &index {
                    Ok(i) => *target = Some(*i as i64),
                    Err(_) => failed_conn = Some(*conn),
                }
            }
        }
        if let (Some(conn), Err(why)) = (failed_conn, &index) {
            // ZooKeeper's follower drops its clients when it cannot reach the leader; the
            // client retries the sync on another member.
            tracing::info!(%why, "sync cannot reach the leader; closing the connection");
            self.syncs.remove(&token);
            if let Some(c) = self.conns.get(&conn) {
                c.outbox.close();
            }
            s.queue
                .retain(|q| !matches!(q, Queued::Sync { token: t, .. } if *t == token));
        }
        self.drain_session_queue(session);
    }

    /// Completes the syncs whose target this member has now applied.
    pub(super) fn drain_syncs(&mut self) {
        if self.syncs.is_empty() {
            return;
        }
        let mut sessions: Vec<i64> = self.syncs.values().copied().collect();
        sessions.sort_unstable();
        sessions.dedup();
        for session in sessions {
            self.drain_session_queue(session);
        }
    }
}

#[cfg(test)]
#[path = "ensemble_tests.rs"]
mod tests;
