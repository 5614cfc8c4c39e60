//! One znode as the tree stores it, and the read-only view of it handed to the server.
//!
//! The stored stat is ZooKeeper's `StatPersisted`: `cversion` there counts child *creations*
//! (it is what sequential names are taken from), and the client-visible `Stat` is derived from
//! it the way ZooKeeper's `DataNode.copyStat` does: `cversion * 2 - numChildren` (so a child
//! deletion shows as a cversion change too), `ephemeralOwner` 0 for containers and TTL nodes,
//! `dataLength` and `numChildren` from the data and children themselves.
//!
//! Data is `None` when a client created or set it with a null buffer: ZooKeeper keeps a null
//! `byte[]` then, answers getData with a null buffer, and counts it as length 0 (`dataLength`,
//! the approximate data size). An empty buffer is `Some` of nothing and stays empty.

use std::collections::BTreeSet;
use std::sync::Arc;

use watchkeeper_proto::{Acl, Stat};

/// ZooKeeper's `EphemeralType.CONTAINER_EPHEMERAL_OWNER`.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// The largest TTL ZooKeeper accepts (`EphemeralType.TTL.maxValue()`), in milliseconds.
pub const MAX_TTL_MS: i64 = 0x0000_00ff_ffff_ffff;

const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
const RESERVED_MASK: u64 = 0x00ff_ff00_0000_0000;

/// What kind of node this is; stored as ZooKeeper encodes it in `ephemeralOwner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

impl NodeKind {
    /// The raw `ephemeralOwner` of ZooKeeper's persisted stat.
    pub(crate) fn stored_owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral(s) => s,
            NodeKind::Container => CONTAINER_EPHEMERAL_OWNER,
            NodeKind::Ttl(ttl) => (EXTENDED_MASK as i64) | ttl,
        }
    }

    /// Reads a raw owner back; `None` for encodings ZooKeeper would reject (reserved extended
    /// bits set, or a TTL of zero, which no create can produce).
    pub(crate) fn from_stored_owner(owner: i64) -> Option<NodeKind> {
        let raw = owner as u64;
        if owner == 0 {
            Some(NodeKind::Persistent)
        } else if owner == CONTAINER_EPHEMERAL_OWNER {
            Some(NodeKind::Container)
        } else if raw & EXTENDED_MASK == EXTENDED_MASK {
            let ttl = (raw & !(EXTENDED_MASK | RESERVED_MASK)) as i64;
            (raw & RESERVED_MASK == 0 && ttl > 0).then_some(NodeKind::Ttl(ttl))
        } else {
            Some(NodeKind::Ephemeral(owner))
        }
    }

    /// What clients see as `ephemeralOwner`: only real ephemerals show their session.
    pub(crate) fn client_owner(self) -> i64 {
        match self {
            NodeKind::Ephemeral(s) => s,
            _ => 0,
        }
    }
}

/// Whether a session id cannot own ephemerals without being mistaken for another kind of node
/// (0, the container marker, or an extended-type encoding with the top byte 0xff).
pub fn is_reserved_session_id(id: i64) -> bool {
    id == 0 || NodeKind::from_stored_owner(id) != Some(NodeKind::Ephemeral(id))
}

/// ZooKeeper's `StatPersisted` minus `ephemeralOwner` (kept as [`NodeKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StoredStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Number of children ever created (ZooKeeper's persisted cversion).
    pub cversion: i32,
    pub aversion: i32,
}

impl StoredStat {
    /// ZooKeeper's `DataTree.createStat`.
    pub(crate) fn created(zxid: i64, time: i64) -> Self {
        StoredStat {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            ..StoredStat::default()
        }
    }
}

/// A znode's data: `None` is ZooKeeper's null, distinct from empty.
pub(crate) type Data = Option<Box<[u8]>>;

/// The length ZooKeeper counts for `data`: 0 for null.
pub(crate) fn data_len(data: &Data) -> usize {
    data.as_deref().map_or(0, <[u8]>::len)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub data: Data,
    pub acl: Arc<[Acl]>,
    pub stat: StoredStat,
    pub kind: NodeKind,
    pub children: BTreeSet<String>,
}

impl Node {
    pub(crate) fn client_stat(&self) -> Stat {
        let num_children = i32::try_from(self.children.len()).unwrap_or(i32::MAX);
        Stat {
            czxid: self.stat.czxid,
            mzxid: self.stat.mzxid,
            ctime: self.stat.ctime,
            mtime: self.stat.mtime,
            version: self.stat.version,
            cversion: self
                .stat
                .cversion
                .wrapping_mul(2)
                .wrapping_sub(num_children),
            aversion: self.stat.aversion,
            ephemeral_owner: self.kind.client_owner(),
            data_length: i32::try_from(data_len(&self.data)).unwrap_or(i32::MAX),
            num_children,
            pzxid: self.stat.pzxid,
        }
    }
}

/// A read-only view of one znode.
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a> {
    pub(crate) path: &'a str,
    pub(crate) node: &'a Node,
}

impl<'a> NodeRef<'a> {
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The data; `None` when it was created or set as a null buffer.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.node.data.as_deref()
    }

    /// The stat exactly as ZooKeeper would send it.
    pub fn stat(&self) -> Stat {
        self.node.client_stat()
    }

    pub fn acl(&self) -> &'a [Acl] {
        &self.node.acl
    }

    /// The ACL as a shared handle, cheap to keep (e.g. with a queued notification).
    pub fn acl_shared(&self) -> Arc<[Acl]> {
        self.node.acl.clone()
    }

    /// Child names, in sorted order.
    pub fn children(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.node.children.iter().map(String::as_str)
    }

    pub fn num_children(&self) -> usize {
        self.node.children.len()
    }

    /// The owning session when this is an ephemeral node.
    pub fn ephemeral_session(&self) -> Option<i64> {
        match self.node.kind {
            NodeKind::Ephemeral(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_container(&self) -> bool {
        self.node.kind == NodeKind::Container
    }

    /// The TTL in milliseconds when this is a TTL node.
    pub fn ttl_ms(&self) -> Option<i64> {
        match self.node.kind {
            NodeKind::Ttl(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_encodings_match_zookeeper() {
        assert_eq!(NodeKind::Container.stored_owner(), i64::MIN);
        assert_eq!(
            NodeKind::Ttl(1000).stored_owner() as u64,
            0xff00_0000_0000_03e8
        );
        assert_eq!(
            NodeKind::Ttl(MAX_TTL_MS).stored_owner() as u64,
            0xff00_00ff_ffff_ffff
        );
        for k in [
            NodeKind::Persistent,
            NodeKind::Ephemeral(0x0100_0000_0000_0001),
            NodeKind::Ephemeral(0x8000_0000_0000_0001u64 as i64),
            NodeKind::Container,
            NodeKind::Ttl(1),
            NodeKind::Ttl(MAX_TTL_MS),
        ] {
            assert_eq!(NodeKind::from_stored_owner(k.stored_owner()), Some(k));
        }
        // Reserved bits set, or a zero TTL: not something ZooKeeper can have written.
        assert_eq!(
            NodeKind::from_stored_owner(0xff00_0100_0000_0001u64 as i64),
            None
        );
        assert_eq!(
            NodeKind::from_stored_owner(0xff00_0000_0000_0000u64 as i64),
            None
        );
    }

    #[test]
    fn clients_see_no_owner_for_containers_and_ttl() {
        assert_eq!(NodeKind::Container.client_owner(), 0);
        assert_eq!(NodeKind::Ttl(5).client_owner(), 0);
        assert_eq!(NodeKind::Ephemeral(42).client_owner(), 42);
    }

    #[test]
    fn reserved_session_ids() {
        assert!(is_reserved_session_id(0));
        assert!(is_reserved_session_id(i64::MIN));
        assert!(is_reserved_session_id(0xff00_0000_0000_0001u64 as i64));
        assert!(!is_reserved_session_id(1));
        assert!(!is_reserved_session_id(0xfe00_0000_0000_0001u64 as i64));
        assert!(!is_reserved_session_id(i64::MAX));
    }

    #[test]
    fn client_cversion_counts_creates_and_deletes() {
        let mut n = Node {
            data: Some(b"abc"[..].into()),
            acl: Acl::open_unsafe().into(),
            stat: StoredStat::created(1, 2),
            kind: NodeKind::Persistent,
            children: BTreeSet::new(),
        };
        // 3 children created, 1 of them deleted since: 4 changes.
        n.stat.cversion = 3;
        n.children.insert("a".into());
        n.children.insert("b".into());
        let s = n.client_stat();
        assert_eq!((s.cversion, s.num_children, s.data_length), (4, 2, 3));
        // ZooKeeper's fresh root: no creates recorded, one child (/zookeeper).
        n.stat.cversion = 0;
        n.children.remove("b");
        assert_eq!(n.client_stat().cversion, -1);
    }

    #[test]
    fn null_and_empty_data_both_have_length_zero() {
        let mut n = Node {
            data: None,
            acl: Acl::open_unsafe().into(),
            stat: StoredStat::default(),
            kind: NodeKind::Persistent,
            children: BTreeSet::new(),
        };
        assert_eq!(n.client_stat().data_length, 0);
        assert_eq!(
            NodeRef {
                path: "/n",
                node: &n
            }
            .data(),
            None
        );
        n.data = Some(Box::default());
        assert_eq!(n.client_stat().data_length, 0);
        assert_eq!(
            NodeRef {
                path: "/n",
                node: &n
            }
            .data(),
            Some(&[][..])
        );
    }
}
