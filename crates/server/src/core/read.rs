//! Requests answered from the tree as it is now: reads, sync, whoAmI, and the watch requests
//! that need no log entry (addWatch, checkWatches, removeWatches).
//!
//! Checks follow ZooKeeper 3.9's FinalRequestProcessor: NoNode before NoAuth, a watch is left
//! only when the read succeeded (except exists, which leaves one on a missing node), reads do
//! no path validation.

use bytes::Bytes;
use watchkeeper_proto::responses::{
    ErrorResponse, ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse,
    SyncResponse, WhoAmIResponse,
};
use watchkeeper_proto::{
    Acl, AddWatchMode, ClientInfo, ErrorCode, Id, MultiOp, MultiResponse, MultiResult, Request,
    WatcherType, perms,
};
use watchkeeper_tree::acl;
use watchkeeper_watch::WatchKind;

use super::reply::{empty_frame, error_frame, reply_frame};
use super::{ConnId, Core};

impl Core {
    /// Answers a read-like request; returns the reply frame.
    pub(super) fn read(&mut self, conn: ConnId, xid: i32, req: Request) -> Bytes {
        let zxid = self.tree.last_zxid();
        match self.read_inner(conn, xid, zxid, req) {
            Ok(frame) => frame,
            Err(code) => error_frame(xid, zxid, code),
        }
    }

    fn auth_of(&self, conn: ConnId) -> &[Id] {
        self.conns
            .get(&conn)
            .map(|c| c.auth.as_slice())
            .unwrap_or(&[])
    }

    fn session_of(&self, conn: ConnId) -> i64 {
        self.conns.get(&conn).map(|c| c.session).unwrap_or(0)
    }

    pub(super) fn allowed(&self, conn: ConnId, node_acl: &[Acl], perm: i32) -> bool {
        acl::check(node_acl, perm, self.auth_of(conn))
    }

    /// Registers a watch for the connection's session. Fails with QuotaExceeded when the
    /// session already holds `max_watches_per_session` watches (or the index is full); the
    /// request then fails as a whole, so the client knows the watch is not set.
    pub(super) fn watch(
        &mut self,
        conn: ConnId,
        path: &str,
        kind: WatchKind,
    ) -> Result<(), ErrorCode> {
        let session = self.session_of(conn);
        if let Some(limit) = self.cfg.max_watches_per_session
            && self.watches.session_watch_count(session) >= limit
            && !self.watches.kinds(path, session).contains(kind)
        {
            tracing::debug!(conn, session, limit, "per-session watch limit reached");
            return Err(ErrorCode::QuotaExceeded);
        }
        self.watches
            .try_add(path, session, kind)
            .map(|_| ())
            .map_err(|e| {
                tracing::warn!(conn, error = %e, "watch index is full");
                ErrorCode::QuotaExceeded
            })
    }

    fn read_inner(
        &mut self,
        conn: ConnId,
        xid: i32,
        zxid: i64,
        req: Request,
    ) -> Result<Bytes, ErrorCode> {
        Ok(match req {
            Request::Exists(r) => {
                if r.path.contains('\0') {
                    return Err(ErrorCode::BadArguments);
                }
                let stat = match self.tree.node(&r.path) {
                    Some(n) => {
                        if !self.allowed(conn, n.acl(), perms::READ) {
                            return Err(ErrorCode::NoAuth);
                        }
                        Some(n.stat())
                    }
                    None => None,
                };
                // exists leaves a watch even on a missing node: it fires on creation.
                if r.watch {
                    self.watch(conn, &r.path, WatchKind::Data)?;
                }
                let stat = stat.ok_or(ErrorCode::NoNode)?;
                reply_frame(xid, zxid, &ExistsResponse { stat })
            }
            Request::GetData(r) => {
                let (data, stat) = self.get_data(conn, &r.path)?;
                if r.watch {
                    self.watch(conn, &r.path, WatchKind::Data)?;
                }
                reply_frame(xid, zxid, &GetDataResponse { data, stat })
            }
            Request::GetChildren(r) => {
                let (children, _) = self.get_children(conn, &r.path)?;
                if r.watch {
                    self.watch(conn, &r.path, WatchKind::Child)?;
                }
                reply_frame(xid, zxid, &GetChildrenResponse { children })
            }
            Request::GetChildren2(r) => {
                let (children, stat) = self.get_children(conn, &r.path)?;
                if r.watch {
                    self.watch(conn, &r.path, WatchKind::Child)?;
                }
                reply_frame(xid, zxid, &GetChildren2Response { children, stat })
            }
            Request::GetAcl(r) => {
                let n = self.tree.node(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(conn, n.acl(), perms::READ | perms::ADMIN) {
                    return Err(ErrorCode::NoAuth);
                }
                let stat = n.stat();
                let mut acl = n.acl().to_vec();
                // Without ADMIN the digest hashes stay hidden, as ZooKeeper does.
                if !self.allowed(conn, n.acl(), perms::ADMIN) {
                    for a in &mut acl {
                        if a.id.scheme == "digest"
                            && let Some((user, _)) = a.id.id.split_once(':')
                        {
                            a.id.id = format!("{user}:x");
                        }
                    }
                }
                reply_frame(xid, zxid, &GetAclResponse { acl, stat })
            }
            Request::GetAllChildrenNumber(r) => {
                let n = self.tree.node(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(conn, n.acl(), perms::READ) {
                    return Err(ErrorCode::NoAuth);
                }
                let total_number = self.tree.all_children_number(&r.path).unwrap_or(0);
                reply_frame(xid, zxid, &GetAllChildrenNumberResponse { total_number })
            }
            Request::GetEphemerals(r) => {
                let session = self.session_of(conn);
                let prefix = r.prefix_path.trim();
                let all = prefix.is_empty() || prefix == "/";
                let mut ephemerals: Vec<String> = self
                    .tree
                    .ephemerals(session)
                    .filter(|p| all || p.starts_with(r.prefix_path.as_str()))
                    .map(str::to_owned)
                    .collect();
                ephemerals.sort();
                reply_frame(xid, zxid, &GetEphemeralsResponse { ephemerals })
            }
            Request::Sync(r) => reply_frame(xid, zxid, &SyncResponse { path: r.path }),
            Request::MultiRead(m) => {
                let results = m
                    .ops
                    .iter()
                    .map(|op| self.multi_read_op(conn, op))
                    .collect();
                reply_frame(xid, zxid, &MultiResponse { results })
            }
            Request::WhoAmI => {
                let client_info = self
                    .auth_of(conn)
                    .iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: match id.scheme.as_str() {
                            "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
                            _ => id.id.clone(),
                        },
                    })
                    .collect();
                reply_frame(xid, zxid, &WhoAmIResponse { client_info })
            }
            Request::AddWatch(r) => {
                let kind = match r.watch_mode() {
                    Some(AddWatchMode::Persistent) => WatchKind::Persistent,
                    Some(AddWatchMode::PersistentRecursive) => WatchKind::PersistentRecursive,
                    None => return Err(ErrorCode::MarshallingError),
                };
                self.watch(conn, &r.path, kind)?;
                reply_frame(xid, zxid, &ErrorResponse { err: 0 })
            }
            Request::CheckWatches(r) => {
                let which = r.watcher_type().ok_or(ErrorCode::MarshallingError)?;
                let session = self.session_of(conn);
                if !self.watches.contains(&r.path, session, which) {
                    return Err(ErrorCode::NoWatcher);
                }
                empty_frame(xid, zxid)
            }
            Request::RemoveWatches(r) => {
                let which: WatcherType = r.watcher_type().ok_or(ErrorCode::MarshallingError)?;
                let session = self.session_of(conn);
                if self.watches.remove(&r.path, session, which).is_empty() {
                    return Err(ErrorCode::NoWatcher);
                }
                empty_frame(xid, zxid)
            }
            Request::Sasl(_) => return Err(ErrorCode::Unimplemented),
            _ => return Err(ErrorCode::Unimplemented),
        })
    }

    /// The node's data and stat; `None` data (a node created or set with a null buffer) is
    /// answered as a null buffer, as ZooKeeper does, not as an empty one.
    fn get_data(
        &self,
        conn: ConnId,
        path: &str,
    ) -> Result<(Option<Vec<u8>>, watchkeeper_proto::Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, n.acl(), perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        Ok((n.data().map(<[u8]>::to_vec), n.stat()))
    }

    fn get_children(
        &self,
        conn: ConnId,
        path: &str,
    ) -> Result<(Vec<String>, watchkeeper_proto::Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        if !self.allowed(conn, n.acl(), perms::READ) {
            return Err(ErrorCode::NoAuth);
        }
        let stat = n.stat();
        let children = self.tree.children_sorted(path).unwrap_or_default();
        Ok((children, stat))
    }

    fn multi_read_op(&self, conn: ConnId, op: &MultiOp) -> MultiResult {
        let r = match op {
            MultiOp::GetData(g) => self
                .get_data(conn, &g.path)
                .map(|(data, stat)| MultiResult::GetData(data, stat)),
            MultiOp::GetChildren(g) => self
                .get_children(conn, &g.path)
                .map(|(children, _)| MultiResult::GetChildren(children)),
            _ => Err(ErrorCode::BadArguments),
        };
        r.unwrap_or_else(|code| MultiResult::Error(code.as_i32()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use watchkeeper_proto::requests::GetDataRequest;
    use watchkeeper_proto::{Acl, CreateMode, JuteReader, MultiRequest, Record, ReplyHeader};
    use watchkeeper_tree::{DataTree, Entry, Op};

    use super::*;
    use crate::config::Config;

    /// A core whose tree holds `nodes`, created by the server's own session 0.
    fn core_with(nodes: &[(&str, Option<&[u8]>)]) -> Core {
        let mut tree = DataTree::new();
        for (i, (path, data)) in nodes.iter().enumerate() {
            let op = Op::create(
                *path,
                data.map(<[u8]>::to_vec),
                Acl::open_unsafe(),
                CreateMode::Persistent,
            );
            let entry = Entry {
                session: 0,
                time: 0,
                auth: vec![],
                op,
            };
            assert!(tree.apply(i as i64 + 1, &entry).result.is_ok());
        }
        let handle = watchkeeper_consensus::node::Handle::detached(1);
        Core::new(Arc::new(Config::default()), tree, handle, 0)
    }

    /// The body of a successful reply frame.
    fn body<R: Record>(frame: &[u8]) -> R {
        let mut r = JuteReader::new(&frame[4..]);
        assert_eq!(ReplyHeader::decode(&mut r).unwrap().err, 0);
        R::decode_exact(r.rest()).unwrap()
    }

    fn get(path: &str) -> GetDataRequest {
        GetDataRequest {
            path: path.into(),
            watch: false,
        }
    }

    #[test]
    fn get_data_answers_null_data_as_a_null_buffer() {
        let mut core = core_with(&[("/null", None), ("/empty", Some(b"")), ("/x", Some(b"x"))]);
        for (path, expect) in [
            ("/null", None),
            ("/empty", Some(vec![])),
            ("/x", Some(b"x".to_vec())),
            // ZooKeeper's DataTree builds its system nodes with empty, not null, data.
            ("/zookeeper", Some(vec![])),
            ("/zookeeper/quota", Some(vec![])),
            ("/zookeeper/config", Some(vec![])),
        ] {
            let frame = core.read(1, 7, Request::GetData(get(path)));
            let r: GetDataResponse = body(&frame);
            assert_eq!(r.data, expect, "{path}");
            assert_eq!(r.stat.data_length, expect.map_or(0, |d| d.len() as i32));
        }
    }

    #[test]
    fn multi_read_answers_null_data_as_a_null_buffer() {
        let mut core = core_with(&[("/null", None), ("/empty", Some(b""))]);
        let ops = vec![
            MultiOp::GetData(get("/null")),
            MultiOp::GetData(get("/empty")),
        ];
        let frame = core.read(1, 7, Request::MultiRead(MultiRequest { ops }));
        let r: MultiResponse = body(&frame);
        let data: Vec<_> = r
            .results
            .iter()
            .map(|res| match res {
                MultiResult::GetData(d, _) => d.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(data, vec![None, Some(vec![])]);
    }
}
