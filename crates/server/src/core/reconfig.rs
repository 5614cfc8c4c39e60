//! `reconfig` (ZooKeeper 3.5+): a client's membership change, parsed here and carried out by
//! the leader (see `watchkeeper_consensus::reconfig`), and `/zookeeper/config`, which every
//! member rewrites when it applies a membership entry.
//!
//! The reply is `/zookeeper/config`'s data and stat once this member has applied the change,
//! so a client that reads the node after its reconfig sees the new membership. Errors come in
//! ZooKeeper's order: ReconfigDisabled (not enabled), ReconfigInProgress and BadVersion (the
//! leader's, or for a malformed request this member's view of the version), BadArguments (a
//! malformed request, found here; a new configuration of fewer than two voters, found by the
//! leader), NewConfigNoQuorum, and NoAuth (WRITE on `/zookeeper/config`, checked here and
//! carried to the leader as a flag so that it comes last).

use watchkeeper_consensus::state_machine::Members;
use watchkeeper_consensus::{PeerNode, ReconfigError, ReconfigRequest};
use watchkeeper_proto::{ErrorCode, perms, requests::ReconfigRequest as WireReconfig};
use watchkeeper_tree::path;

use super::session::Queued;
use super::{ConnId, Core};
use crate::config::server_line::ServerLine;

/// ZooKeeper's text of a membership: `server.N=...` lines by id, then `version=<hex>`.
pub(crate) fn config_text(members: &Members) -> String {
    let mut all: Vec<&(u64, PeerNode)> = members.voters.iter().chain(&members.observers).collect();
    all.sort_by_key(|(id, _)| *id);
    let mut text = String::new();
    for (id, node) in all {
        text.push_str(&format!("server.{id}={node}\n"));
    }
    text.push_str(&format!("version={:x}", members.version));
    text
}

/// One `server.N=spec` item of a joining list or a new membership.
fn server(item: &str) -> Result<(u64, PeerNode), String> {
    let (key, value) = item
        .split_once('=')
        .ok_or_else(|| format!("`{item}` is not server.N=host:port:port[:role][;client]"))?;
    let line = ServerLine::parse(key.trim(), value.trim())?;
    if line.client_port == 0 {
        return Err(format!(
            "`{item}` has no client port: each server needs its quorum, election and client ports"
        ));
    }
    Ok((line.id, crate::member::peer_node(&line)))
}

fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The change a request asks for, or why it is malformed (BadArguments). `authorized` is set
/// by the caller.
pub(crate) fn parse(req: &WireReconfig) -> Result<ReconfigRequest, String> {
    let from_version = (req.cur_config_id != -1).then_some(req.cur_config_id as u64);
    if !req.new_members.trim().is_empty() {
        let mut all = Vec::new();
        for item in items(&req.new_members) {
            // A configuration's own version line may come along; it says nothing new.
            if item.starts_with("version=") {
                continue;
            }
            all.push(server(item)?);
        }
        return Ok(ReconfigRequest {
            new_members: Some(all),
            from_version,
            ..ReconfigRequest::default()
        });
    }
    let joining = items(&req.joining_servers)
        .map(server)
        .collect::<Result<Vec<_>, _>>()?;
    let leaving = items(&req.leaving_servers)
        .map(|id| {
            id.parse::<u64>()
                .map_err(|_| format!("`{id}` in the leaving list is not a server id"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReconfigRequest {
        joining,
        leaving,
        from_version,
        ..ReconfigRequest::default()
    })
}

/// ZooKeeper's code for why a change was not made.
fn code_of(e: &ReconfigError) -> ErrorCode {
    match e {
        ReconfigError::InProgress => ErrorCode::ReconfigInProgress,
        ReconfigError::BadVersion { .. } => ErrorCode::BadVersion,
        ReconfigError::BadArguments(_) => ErrorCode::BadArguments,
        ReconfigError::NewConfigNoQuorum => ErrorCode::NewConfigNoQuorum,
        ReconfigError::NoAuth => ErrorCode::NoAuth,
        ReconfigError::NotLeader | ReconfigError::Failed(_) => ErrorCode::ConnectionLoss,
    }
}

impl Core {
    /// A client's reconfig: checked, sent to the leader, answered in the session's order.
    pub(super) fn reconfig(&mut self, conn: ConnId, session: i64, xid: i32, req: &WireReconfig) {
        let enabled = self
            .cfg
            .ensemble
            .as_ref()
            .is_some_and(|e| e.reconfig_enabled);
        if !enabled {
            self.answer_in_order(conn, session, xid, ErrorCode::ReconfigDisabled);
            return;
        }
        let mut change = match parse(req) {
            Ok(c) => c,
            Err(why) => {
                // ZooKeeper checks the version before the request's shape.
                let version = self.consensus.status().members.version as i64;
                let code = if req.cur_config_id != -1 && req.cur_config_id != version {
                    ErrorCode::BadVersion
                } else {
                    ErrorCode::BadArguments
                };
                tracing::info!(%why, "a malformed reconfig");
                self.answer_in_order(conn, session, xid, code);
                return;
            }
        };
        change.authorized = self
            .tree
            .node(path::CONFIG)
            .is_some_and(|n| self.allowed(conn, n.acl(), perms::WRITE));
        let token = self.next_sync_token;
        self.next_sync_token += 1;
        self.syncs.insert(token, session);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.queue.push_back(Queued::Reconfig {
                conn,
                xid,
                token,
                target: None,
            });
        }
        self.consensus.reconfig(token, change);
    }

    /// The leader's answer to a reconfig: the version to wait for, or the error to give.
    pub(super) fn reconfigured(&mut self, token: u64, result: Result<u64, ReconfigError>) {
        let Some(&session) = self.syncs.get(&token) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&session) else {
            self.syncs.remove(&token);
            return;
        };
        let mut failed = None;
        for q in s.queue.iter_mut() {
            if let Queued::Reconfig {
                token: t,
                target,
                conn,
                xid,
            } = q
                && *t == token
            {
                match &result {
                    Ok(version) => *target = Some(*version as i64),
                    Err(e) => failed = Some((*conn, *xid, code_of(e))),
                }
            }
        }
        if let (Some((conn, xid, code)), Err(e)) = (failed, &result) {
            tracing::info!(error = %e, "reconfig not made");
            self.syncs.remove(&token);
            let frame = super::reply::error_frame(xid, self.tree.last_zxid(), code);
            // Answered in place: its turn in the queue is now.
            for q in s.queue.iter_mut() {
                if matches!(q, Queued::Reconfig { token: t, .. } if *t == token) {
                    *q = Queued::Ready {
                        conn,
                        frame: frame.clone(),
                        close_after: false,
                    };
                }
            }
        }
        self.drain_session_queue(session);
    }

    /// The reply to a reconfig whose configuration this member has applied.
    pub(super) fn reconfig_reply(&self, xid: i32) -> bytes::Bytes {
        let zxid = self.tree.last_zxid();
        match self.tree.node(path::CONFIG) {
            Some(n) => super::reply::reply_frame(
                xid,
                zxid,
                &watchkeeper_proto::responses::GetDataResponse {
                    data: n.data().map(<[u8]>::to_vec),
                    stat: n.stat(),
                },
            ),
            None => super::reply::error_frame(xid, zxid, ErrorCode::NoNode),
        }
    }

    /// Rewrites `/zookeeper/config` for a membership entry applied at `zxid` (in an ensemble;
    /// a standalone server's stays empty, as ZooKeeper's does).
    pub(super) fn apply_membership(&mut self, zxid: i64, members: &Members) {
        if self.cfg.ensemble.is_none() {
            self.tree.note_applied(zxid);
            return;
        }
        let applied = self.tree.set_config(zxid, config_text(members).as_bytes());
        self.notify(zxid, &applied.changes, &applied.acls);
    }

    fn answer_in_order(&mut self, conn: ConnId, session: i64, xid: i32, code: ErrorCode) {
        let frame = super::reply::error_frame(xid, self.tree.last_zxid(), code);
        match self.sessions.get_mut(&session) {
            Some(s) if !s.queue.is_empty() => s.queue.push_back(Queued::Ready {
                conn,
                frame,
                close_after: false,
            }),
            _ => self.send_frame(conn, frame),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(joining: &str, leaving: &str, new_members: &str, from: i64) -> WireReconfig {
        WireReconfig {
            joining_servers: joining.into(),
            leaving_servers: leaving.into(),
            new_members: new_members.into(),
            cur_config_id: from,
        }
    }

    #[test]
    fn a_joining_observer_keeps_its_text() {
        let text = "server.100=0.0.0.0:40001:40002:observer;0.0.0.0:40003";
        let r = parse(&wire(text, "", "", -1)).unwrap();
        assert_eq!(r.joining.len(), 1);
        assert_eq!(r.from_version, None);
        let (id, node) = &r.joining[0];
        assert_eq!(format!("server.{id}={node}"), text);
    }

    #[test]
    fn leaving_ids_and_new_members_parse() {
        let r = parse(&wire("", "2, 3", "", 0x1f)).unwrap();
        assert_eq!((r.leaving, r.from_version), (vec![2, 3], Some(0x1f)));
        let r = parse(&wire(
            "",
            "",
            "server.1=h:1:2;3,server.2=h:4:5:participant;6\nversion=9",
            -1,
        ))
        .unwrap();
        assert_eq!(r.new_members.map(|m| m.len()), Some(2));
    }

    #[test]
    fn malformed_requests_are_bad_arguments() {
        assert!(parse(&wire("some thing", "", "", -1)).is_err());
        assert!(
            parse(&wire("server.4=h:1:2", "", "", -1)).is_err(),
            "no client port"
        );
        assert!(parse(&wire("", "x", "", -1)).is_err());
    }

    #[test]
    fn the_config_text_is_zookeepers() {
        let node = |q: u16, observer| PeerNode {
            host: "h".into(),
            quorum_port: q,
            election_port: q + 1,
            client_host: String::new(),
            client_port: 2181,
            observer,
        };
        let m = Members {
            voters: vec![(2, node(20, false)), (1, node(10, false))],
            observers: vec![(5, node(50, true))],
            version: 0x1a,
        };
        assert_eq!(
            config_text(&m),
            "server.1=h:10:11:participant;0.0.0.0:2181\nserver.2=h:20:21:participant;0.0.0.0:2181\n\
             server.5=h:50:51:observer;0.0.0.0:2181\nversion=1a"
        );
    }
}
