//! Applying log entries: ZooKeeper's `PrepRequestProcessor` checks (in its exact order, so the
//! same error wins when several apply) fused with `DataTree`'s mutations.
//!
//! Each write op either fails having changed nothing, or succeeds and hands back an [`Undo`]
//! record; a multi keeps those and, when a later sub-op fails, undoes the earlier ones in
//! reverse, so a multi is all-or-nothing. Sessions: an op from a session the table does not
//! know fails with `SessionExpired` (in ZooKeeper such a session is "closing" once its close is
//! ordered); session 0 is server-internal and passes, but cannot own ephemerals.

use std::sync::Arc;

use watchkeeper_proto::{Acl, CreateMode, ErrorCode, perms};

use crate::acl;
use crate::entry::{Entry, Op};
use crate::node::{Data, MAX_TTL_MS, Node, NodeKind, StoredStat, data_len, is_reserved_session_id};
use crate::outcome::{Applied, Change, OpResult};
use crate::path;
use crate::tree::{DataTree, SessionInfo, is_reapable};

/// The context every op of one entry shares.
struct Cx<'e> {
    zxid: i64,
    time: i64,
    session: i64,
    auth: &'e [watchkeeper_proto::Id],
    changes: Vec<Change>,
    acls: Vec<Arc<[Acl]>>,
}

impl Cx<'_> {
    fn emit(&mut self, change: Change, acl: &Arc<[Acl]>) {
        self.changes.push(change);
        self.acls.push(acl.clone());
    }
}

/// How to take back one successful sub-op of a multi.
enum Undo {
    Nothing,
    Create {
        path: String,
        parent: String,
        parent_stat: StoredStat,
    },
    Delete {
        path: String,
        node: Node,
        parent: String,
        parent_stat: StoredStat,
    },
    SetData {
        path: String,
        data: Data,
        stat: StoredStat,
    },
}

type OpOutcome = Result<(OpResult, Undo), ErrorCode>;

#[cfg(test)]
mod tests;

impl DataTree {
    /// Applies one entry at `zxid` (strictly increasing from call to call). A failed op changes
    /// nothing but the tree's last zxid, which always becomes `zxid`.
    pub fn apply(&mut self, zxid: i64, entry: &Entry) -> Applied {
        let mut cx = Cx {
            zxid,
            time: entry.time,
            session: entry.session,
            auth: &entry.auth,
            changes: Vec::new(),
            acls: Vec::new(),
        };
        let result = match &entry.op {
            Op::CreateSession {
                timeout_ms,
                password,
                owner,
            } => self.create_session(cx.session, *timeout_ms, password, *owner),
            Op::AttachSession { owner } => self.attach_session(cx.session, *owner),
            Op::CloseSession | Op::ExpireSession => Ok(self.close_session(&mut cx)),
            Op::SetAcl { path, acl, version } => self.set_acl(&cx, path, acl, *version),
            Op::Multi(ops) => self.multi(&mut cx, ops),
            Op::ReapNode { path } => self.reap(&mut cx, path),
            op => self.sub_op(&mut cx, op).map(|(r, _)| r),
        };
        self.last_zxid = zxid;
        self.last_time = self.last_time.max(entry.time);
        match result {
            Ok(r @ OpResult::MultiFailed(_)) => Applied {
                result: Ok(r),
                changes: Vec::new(),
                acls: Vec::new(),
            },
            Ok(r) => Applied {
                result: Ok(r),
                changes: cx.changes,
                acls: cx.acls,
            },
            Err(code) => Applied::failed(code),
        }
    }

    /// The ops allowed both alone and inside a multi.
    fn sub_op(&mut self, cx: &mut Cx<'_>, op: &Op) -> OpOutcome {
        match op {
            Op::Create {
                path,
                data,
                acl,
                mode,
                ttl_ms,
            } => self.create(cx, path, data.as_deref(), acl, *mode, *ttl_ms),
            Op::Delete { path, version } => self.delete(cx, path, *version),
            Op::SetData {
                path,
                data,
                version,
            } => self.set_data(cx, path, data.as_deref(), *version),
            Op::Check { path, version } => self.check(cx, path, *version),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    fn multi(&mut self, cx: &mut Cx<'_>, ops: &[Op]) -> Result<OpResult, ErrorCode> {
        let allowed = |op: &Op| {
            matches!(
                op,
                Op::Create { .. } | Op::Delete { .. } | Op::SetData { .. } | Op::Check { .. }
            )
        };
        if !ops.iter().all(allowed) {
            return Err(ErrorCode::MarshallingError);
        }
        let mut results = Vec::with_capacity(ops.len());
        let mut undos = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match self.sub_op(cx, op) {
                Ok((r, u)) => {
                    results.push(r);
                    undos.push(u);
                }
                Err(code) => {
                    for u in undos.into_iter().rev() {
                        self.undo(u);
                    }
                    cx.changes.clear();
                    cx.acls.clear();
                    let mut codes = vec![ErrorCode::Ok; i];
                    codes.push(code);
                    codes.resize(ops.len(), ErrorCode::RuntimeInconsistency);
                    return Ok(OpResult::MultiFailed(codes));
                }
            }
        }
        Ok(OpResult::Multi(results))
    }

    fn undo(&mut self, u: Undo) {
        match u {
            Undo::Nothing => {}
            Undo::Create {
                path,
                parent,
                parent_stat,
            } => {
                self.remove_node(&path);
                if let Some(p) = self.nodes.get_mut(&parent) {
                    p.stat = parent_stat;
                }
            }
            Undo::Delete {
                path,
                node,
                parent,
                parent_stat,
            } => {
                self.insert_node(path, node);
                if let Some(p) = self.nodes.get_mut(&parent) {
                    p.stat = parent_stat;
                }
            }
            Undo::SetData { path, data, stat } => {
                if let Some(n) = self.nodes.get_mut(&path) {
                    let new_len = data_len(&n.data) as u64;
                    self.data_size = self.data_size - new_len + data_len(&data) as u64;
                    n.data = data;
                    n.stat = stat;
                }
            }
        }
    }

    fn check_session(&self, cx: &Cx<'_>, ephemeral: bool) -> Result<(), ErrorCode> {
        let known = if cx.session == 0 {
            !ephemeral
        } else {
            self.sessions.contains_key(&cx.session)
        };
        if known {
            Ok(())
        } else {
            Err(ErrorCode::SessionExpired)
        }
    }

    fn create_session(
        &mut self,
        id: i64,
        timeout_ms: i32,
        password: &[u8],
        owner: u64,
    ) -> Result<OpResult, ErrorCode> {
        if is_reserved_session_id(id) {
            return Err(ErrorCode::BadArguments);
        }
        // Like ZooKeeper's tracker (putIfAbsent), an id already known keeps its session.
        self.sessions.entry(id).or_insert_with(|| SessionInfo {
            timeout_ms,
            password: password.to_vec(),
            owner,
        });
        Ok(OpResult::SessionCreated)
    }

    /// Moves a session to another server process: from here on only its writes are applied.
    fn attach_session(&mut self, id: i64, owner: u64) -> Result<OpResult, ErrorCode> {
        match self.sessions.get_mut(&id) {
            Some(s) => {
                s.owner = owner;
                Ok(OpResult::SessionCreated)
            }
            None => Err(ErrorCode::SessionExpired),
        }
    }

    /// [`DataTree::apply`] for an entry proposed by the server process `proposer`: a client
    /// operation of a session owned by another process fails with SessionMoved and changes
    /// nothing (ZooKeeper's session-move rule, decided from the log alone, so every server
    /// decides alike). Session creation and attachment, expiry, and server-internal entries
    /// are exempt.
    pub fn apply_proposed(&mut self, zxid: i64, entry: &Entry, proposer: u64) -> Applied {
        let exempt = matches!(
            entry.op,
            Op::CreateSession { .. }
                | Op::AttachSession { .. }
                | Op::ExpireSession
                | Op::ReapNode { .. }
        );
        let moved = !exempt
            && self
                .sessions
                .get(&entry.session)
                .is_some_and(|s| s.owner != 0 && s.owner != proposer);
        if moved {
            self.last_zxid = zxid;
            self.last_time = self.last_time.max(entry.time);
            return Applied::failed(ErrorCode::SessionMoved);
        }
        self.apply(zxid, entry)
    }

    /// Deletes the session's ephemerals in path order, then forgets the session. Closing an
    /// unknown session is a no-op success, as in ZooKeeper.
    fn close_session(&mut self, cx: &mut Cx<'_>) -> OpResult {
        let paths = self
            .ephemerals
            .get(&cx.session)
            .cloned()
            .unwrap_or_default();
        for p in &paths {
            // remove_node drops each path from the session's set, and the set once empty.
            self.delete_unchecked(cx, p);
        }
        self.sessions.remove(&cx.session);
        OpResult::SessionClosed
    }

    fn create(
        &mut self,
        cx: &mut Cx<'_>,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
        ttl: i64,
    ) -> OpOutcome {
        // EphemeralType.validateTTL: a TTL mode needs 0 < ttl <= max, other modes none.
        let ttl_ok = if mode.is_ttl() {
            ttl > 0 && ttl <= MAX_TTL_MS
        } else {
            ttl < 0
        };
        if !ttl_ok {
            return Err(ErrorCode::BadArguments);
        }
        self.check_session(cx, mode.is_ephemeral())?;
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let (parent_path, _) = path::split(path).ok_or(ErrorCode::BadArguments)?;
        let acl = acl::validate_and_fixup(acl, cx.auth)?;
        let parent = self.nodes.get(parent_path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&parent.acl, perms::CREATE, cx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let final_path = if mode.is_sequential() {
            format!("{path}{:010}", parent.stat.cversion)
        } else {
            path.to_owned()
        };
        path::validate(&final_path)?;
        if self.nodes.contains_key(&final_path) {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(parent.kind, NodeKind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }

        let kind = if mode.is_container() {
            NodeKind::Container
        } else if mode.is_ttl() {
            NodeKind::Ttl(ttl)
        } else if mode.is_ephemeral() {
            NodeKind::Ephemeral(cx.session)
        } else {
            NodeKind::Persistent
        };
        let parent_path = parent_path.to_owned();
        let parent_stat = parent.stat;
        let parent_acl = parent.acl.clone();
        if let Some(p) = self.nodes.get_mut(&parent_path) {
            p.stat.cversion = p.stat.cversion.wrapping_add(1);
            p.stat.pzxid = cx.zxid;
        }
        let node = Node {
            data: data.map(Box::from),
            acl: self.intern_acl(&acl),
            stat: StoredStat::created(cx.zxid, cx.time),
            kind,
            children: Default::default(),
        };
        let stat = node.client_stat();
        let node_acl = node.acl.clone();
        self.insert_node(final_path.clone(), node);
        cx.emit(Change::Created(final_path.clone()), &node_acl);
        cx.emit(Change::ChildrenChanged(parent_path.clone()), &parent_acl);
        Ok((
            OpResult::Created {
                path: final_path.clone(),
                stat,
            },
            Undo::Create {
                path: final_path,
                parent: parent_path,
                parent_stat,
            },
        ))
    }

    /// `getParentPathAndValidate` of delete and deleteContainer.
    fn delete_target(path: &str) -> Result<&str, ErrorCode> {
        if path.contains('\0') || path::is_special(path) {
            return Err(ErrorCode::BadArguments);
        }
        path::split(path)
            .map(|(parent, _)| parent)
            .ok_or(ErrorCode::BadArguments)
    }

    fn delete(&mut self, cx: &mut Cx<'_>, path: &str, version: i32) -> OpOutcome {
        self.check_session(cx, false)?;
        let parent_path = Self::delete_target(path)?;
        let parent = self.nodes.get(parent_path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&parent.acl, perms::DELETE, cx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        check_version(node.stat.version, version)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        Ok((OpResult::Deleted, self.delete_unchecked(cx, path)))
    }

    /// Deletes an existing childless node, updating the parent's pzxid (a deletion does not
    /// touch the stored cversion: clients see it through `cversion * 2 - numChildren`).
    fn delete_unchecked(&mut self, cx: &mut Cx<'_>, path: &str) -> Undo {
        let Some((parent_path, _)) = path::split(path) else {
            return Undo::Nothing;
        };
        let parent_path = parent_path.to_owned();
        let Some(node) = self.remove_node(path) else {
            return Undo::Nothing;
        };
        let Some(parent) = self.nodes.get_mut(&parent_path) else {
            return Undo::Nothing;
        };
        let parent_stat = parent.stat;
        if cx.zxid > parent.stat.pzxid {
            parent.stat.pzxid = cx.zxid;
        }
        let parent_acl = parent.acl.clone();
        cx.emit(Change::Deleted(path.to_owned()), &node.acl);
        cx.emit(Change::ChildrenChanged(parent_path.clone()), &parent_acl);
        Undo::Delete {
            path: path.to_owned(),
            node,
            parent: parent_path,
            parent_stat,
        }
    }

    fn set_data(
        &mut self,
        cx: &mut Cx<'_>,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
    ) -> OpOutcome {
        self.check_session(cx, false)?;
        path::validate(path)?;
        let node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, perms::WRITE, cx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.stat.version, version)?;
        let old_stat = node.stat;
        let old_data = std::mem::replace(&mut node.data, data.map(Box::from));
        node.stat.version = node.stat.version.wrapping_add(1);
        node.stat.mtime = cx.time;
        node.stat.mzxid = cx.zxid;
        let stat = node.client_stat();
        let acl = node.acl.clone();
        self.data_size =
            self.data_size - data_len(&old_data) as u64 + data.map_or(0, <[u8]>::len) as u64;
        cx.emit(Change::DataChanged(path.to_owned()), &acl);
        Ok((
            OpResult::DataSet { stat },
            Undo::SetData {
                path: path.to_owned(),
                data: old_data,
                stat: old_stat,
            },
        ))
    }

    fn check(&mut self, cx: &mut Cx<'_>, path: &str, version: i32) -> OpOutcome {
        self.check_session(cx, false)?;
        path::validate(path)?;
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, perms::READ, cx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.stat.version, version)?;
        Ok((OpResult::Checked, Undo::Nothing))
    }

    /// setACL fires no watch, so it produces no change.
    fn set_acl(
        &mut self,
        cx: &Cx<'_>,
        path: &str,
        acl: &[Acl],
        version: i32,
    ) -> Result<OpResult, ErrorCode> {
        self.check_session(cx, false)?;
        path::validate(path)?;
        let acl = acl::validate_and_fixup(acl, cx.auth)?;
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, perms::ADMIN, cx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.stat.aversion, version)?;
        let new_acl = self.intern_acl(&acl);
        self.add_acl_ref(&new_acl);
        let Some(node) = self.nodes.get_mut(path) else {
            return Err(ErrorCode::NoNode);
        };
        let old_acl = std::mem::replace(&mut node.acl, new_acl);
        node.stat.aversion = node.stat.aversion.wrapping_add(1);
        let stat = node.client_stat();
        self.drop_acl_ref(&old_acl);
        Ok(OpResult::AclSet { stat })
    }

    /// Deletes a container or TTL node if it still qualifies at the entry's time. Otherwise
    /// nothing changes and the result says why, with deleteContainer's codes: `BadArguments`
    /// for a system path, `NoNode`, `NotEmpty`, and `BadVersion` when the node is not (or no
    /// longer) reapable. No session or ACL check: this is the server's own housekeeping.
    fn reap(&mut self, cx: &mut Cx<'_>, path: &str) -> Result<OpResult, ErrorCode> {
        Self::delete_target(path)?;
        let node = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        if !node.children.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        if !is_reapable(node, cx.time) {
            return Err(ErrorCode::BadVersion);
        }
        self.delete_unchecked(cx, path);
        Ok(OpResult::Reaped)
    }
}

/// ZooKeeper's `checkAndIncVersion` check: -1 matches any version.
fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}
