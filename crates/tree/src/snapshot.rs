//! Snapshot encoding: the whole tree at its last zxid, in one canonical byte form, so identical
//! trees give identical bytes and `encode(decode(encode(t))) == encode(t)`.
//!
//! Layout (jute primitives after a 4-byte magic and a format version byte):
//! last zxid; sessions sorted by id (id, timeout, password); a table of distinct ACL lists in
//! order of first use; nodes in preorder from "/" with siblings sorted (path, data, ACL table
//! index, then ZooKeeper's `StatPersisted` fields with the raw `ephemeralOwner`). Node data is a
//! buffer whose length -1 means null, as ZooKeeper's own snapshots write a null `byte[]`;
//! format 2 (format 1 had no null data and is not read).
//!
//! Decoding trusts nothing: every count is bounded by the input, and a structure the tree could
//! not have produced (orphan or duplicate node, ephemeral owned by an unknown session or with
//! children, bad path or owner encoding) is a typed error.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use watchkeeper_proto::jute::{JuteReader, JuteWrite};
use watchkeeper_proto::{Acl, DecodeError, decode_acls, encode_acls};

use crate::node::{Node, NodeKind, StoredStat};
use crate::path;
use crate::tree::{DataTree, SessionInfo};

const MAGIC: &[u8; 4] = b"WKTS";
const FORMAT_VERSION: u8 = 4;
/// The format before the last entry's time was kept (read as time 0).
const FORMAT_WITHOUT_TIME: u8 = 3;

/// Smallest encodings, to bound claimed counts by the input before reserving anything.
const MIN_SESSION_LEN: usize = 8 + 4 + 4 + 8;
const MIN_ACL_LIST_LEN: usize = 4;
const MIN_NODE_LEN: usize = 4 + 4 + 4 + 5 * 8 + 3 * 4 + 8;

#[cfg(test)]
mod tests;

/// Why bytes are not a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotDecodeError {
    #[error("not a Watchkeeper tree snapshot (bad magic)")]
    BadMagic,
    #[error("unsupported snapshot format version {0}")]
    UnsupportedVersion(u8),
    #[error(transparent)]
    Jute(#[from] DecodeError),
    #[error("session {0:#x} appears twice")]
    DuplicateSession(i64),
    #[error("the first node is not \"/\"")]
    MissingRoot,
    #[error("invalid node path {0:?}")]
    InvalidPath(String),
    #[error("node {0} appears twice")]
    DuplicateNode(String),
    #[error("node {0} comes before its parent")]
    OrphanNode(String),
    #[error("node {path} refers to ACL #{index}, the table has {len}")]
    AclIndex {
        path: String,
        index: i32,
        len: usize,
    },
    #[error("node {path} has an invalid ephemeralOwner {owner:#x}")]
    EphemeralOwner { path: String, owner: i64 },
    #[error("ephemeral node {path} belongs to unknown session {session:#x}")]
    UnknownOwner { path: String, session: i64 },
    #[error("node {0} is a child of an ephemeral node")]
    EphemeralParent(String),
}

impl DataTree {
    /// The canonical snapshot bytes of this tree.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.write_i64(self.last_zxid);
        out.write_i64(self.last_time);

        out.write_i32(self.sessions.len() as i32);
        for (id, s) in &self.sessions {
            out.write_i64(*id);
            out.write_i32(s.timeout_ms);
            out.write_buffer(&s.password);
            out.write_i64(s.owner as i64);
        }

        // The ACL table in order of first use along the walk, so it is canonical too.
        let mut index: HashMap<&[Acl], i32> = HashMap::new();
        let mut table: Vec<&[Acl]> = Vec::new();
        let mut order: Vec<(&str, &Node, i32)> = Vec::with_capacity(self.nodes.len());
        for p in self.paths() {
            let Some(n) = self.nodes.get(p) else { continue };
            let next = table.len() as i32;
            let i = *index.entry(&n.acl[..]).or_insert_with(|| {
                table.push(&n.acl[..]);
                next
            });
            order.push((p, n, i));
        }
        out.write_i32(table.len() as i32);
        for acl in &table {
            encode_acls(acl, out);
        }

        out.write_i32(order.len() as i32);
        for (p, n, acl_index) in order {
            out.write_string(p);
            out.write_opt_buffer(n.data.as_deref());
            out.write_i32(acl_index);
            let s = &n.stat;
            out.write_i64(s.czxid);
            out.write_i64(s.mzxid);
            out.write_i64(s.pzxid);
            out.write_i64(s.ctime);
            out.write_i64(s.mtime);
            out.write_i32(s.version);
            out.write_i32(s.cversion);
            out.write_i32(s.aversion);
            out.write_i64(n.kind.stored_owner());
        }
    }

    pub fn snapshot_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_snapshot(&mut v);
        v
    }

    /// Rebuilds a tree from [`DataTree::encode_snapshot`] bytes; indexes are recomputed.
    pub fn decode_snapshot(b: &[u8]) -> Result<DataTree, SnapshotDecodeError> {
        let rest = b.strip_prefix(MAGIC).ok_or(SnapshotDecodeError::BadMagic)?;
        let (&version, rest) =
            rest.split_first()
                .ok_or(SnapshotDecodeError::Jute(DecodeError::UnexpectedEof {
                    needed: 1,
                    remaining: 0,
                }))?;
        if version != FORMAT_VERSION && version != FORMAT_WITHOUT_TIME {
            return Err(SnapshotDecodeError::UnsupportedVersion(version));
        }
        let mut r = JuteReader::new(rest);
        let mut t = DataTree::empty();
        t.last_zxid = r.read_i64()?;
        if version == FORMAT_VERSION {
            t.last_time = r.read_i64()?;
        }

        for _ in 0..read_count(&mut r, MIN_SESSION_LEN)? {
            let id = r.read_i64()?;
            let info = SessionInfo {
                timeout_ms: r.read_i32()?,
                password: r.read_buffer()?,
                owner: r.read_i64()? as u64,
            };
            if t.sessions.insert(id, info).is_some() {
                return Err(SnapshotDecodeError::DuplicateSession(id));
            }
        }

        let n_acls = read_count(&mut r, MIN_ACL_LIST_LEN)?;
        let mut table: Vec<Arc<[Acl]>> = Vec::with_capacity(n_acls);
        for _ in 0..n_acls {
            let acl = decode_acls(&mut r)?;
            // Equal lists share one allocation, as the tree keeps them.
            let shared = match table.iter().find(|a| ***a == *acl) {
                Some(a) => a.clone(),
                None => acl.into(),
            };
            table.push(shared);
        }

        let n_nodes = read_count(&mut r, MIN_NODE_LEN)?;
        for i in 0..n_nodes {
            let (p, node) = read_node(&mut r, &table)?;
            t.add_decoded(i, p, node)?;
        }
        if t.nodes.is_empty() {
            return Err(SnapshotDecodeError::MissingRoot);
        }
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes(r.remaining()).into());
        }
        Ok(t)
    }

    fn add_decoded(&mut self, i: usize, p: String, node: Node) -> Result<(), SnapshotDecodeError> {
        if (i == 0) != (p == path::ROOT) {
            return Err(if i == 0 {
                SnapshotDecodeError::MissingRoot
            } else {
                SnapshotDecodeError::DuplicateNode(p)
            });
        }
        if path::validate(&p).is_err() {
            return Err(SnapshotDecodeError::InvalidPath(p));
        }
        if i == 0 {
            if node.kind != NodeKind::Persistent {
                let owner = node.kind.stored_owner();
                return Err(SnapshotDecodeError::EphemeralOwner { path: p, owner });
            }
            self.insert_root(node);
            return Ok(());
        }
        if self.nodes.contains_key(&p) {
            return Err(SnapshotDecodeError::DuplicateNode(p));
        }
        let Some((parent, _)) = path::split(&p) else {
            return Err(SnapshotDecodeError::InvalidPath(p));
        };
        match self.nodes.get(parent).map(|n| n.kind) {
            None => return Err(SnapshotDecodeError::OrphanNode(p)),
            Some(NodeKind::Ephemeral(_)) => return Err(SnapshotDecodeError::EphemeralParent(p)),
            Some(_) => {}
        }
        if let NodeKind::Ephemeral(session) = node.kind
            && !self.sessions.contains_key(&session)
        {
            return Err(SnapshotDecodeError::UnknownOwner { path: p, session });
        }
        self.insert_node(p, node);
        Ok(())
    }
}

fn read_node(
    r: &mut JuteReader<'_>,
    table: &[Arc<[Acl]>],
) -> Result<(String, Node), SnapshotDecodeError> {
    let p = r.read_string()?;
    let data = r.read_opt_buffer()?.map(Vec::into_boxed_slice);
    let index = r.read_i32()?;
    let acl = usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .cloned()
        .ok_or_else(|| SnapshotDecodeError::AclIndex {
            path: p.clone(),
            index,
            len: table.len(),
        })?;
    let stat = StoredStat {
        czxid: r.read_i64()?,
        mzxid: r.read_i64()?,
        pzxid: r.read_i64()?,
        ctime: r.read_i64()?,
        mtime: r.read_i64()?,
        version: r.read_i32()?,
        cversion: r.read_i32()?,
        aversion: r.read_i32()?,
    };
    let owner = r.read_i64()?;
    let kind =
        NodeKind::from_stored_owner(owner).ok_or_else(|| SnapshotDecodeError::EphemeralOwner {
            path: p.clone(),
            owner,
        })?;
    Ok((
        p,
        Node {
            data,
            acl,
            stat,
            kind,
            children: BTreeSet::new(),
        },
    ))
}

fn read_count(r: &mut JuteReader<'_>, min_len: usize) -> Result<usize, DecodeError> {
    let n = r.read_i32()?;
    let n = usize::try_from(n).map_err(|_| DecodeError::NegativeLength(n))?;
    if n.saturating_mul(min_len) > r.remaining() {
        return Err(DecodeError::LengthBeyondInput {
            claimed: n,
            remaining: r.remaining(),
        });
    }
    Ok(n)
}
