//! The tree's state and its read side: nodes by full path, the sessions table, and the indexes
//! kept beside them.
//!
//! Invariants (checked by `check_invariants` in tests after every random operation):
//! - every node but "/" has its parent in `nodes`, and the parent's `children` holds its name;
//!   `children` holds nothing else;
//! - `ephemerals[s]` is exactly the set of ephemeral nodes owned by `s`, and every such `s` is
//!   in `sessions`; ephemeral nodes have no children;
//! - `containers` / `ttls` are exactly the container / TTL nodes;
//! - `acl_refs[a]` is the number of nodes whose ACL is `a` (all such nodes share one `Arc`);
//! - `data_size` is ZooKeeper's cached approximate data size (see [`DataTree::approximate_data_size`]).
//!
//! Nothing observable depends on `HashMap` iteration order: ordered output walks the sorted
//! child sets.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use watchkeeper_proto::Acl;

use crate::node::{Node, NodeKind, NodeRef, StoredStat, data_len};
use crate::path;

/// A session as the log knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub timeout_ms: i32,
    pub password: Vec<u8>,
    /// The server process that holds the session's connection (its incarnation number): only
    /// writes it proposes are applied for the session, so a write still arriving through a
    /// server the client has left fails with SessionMoved. 0: any.
    pub owner: u64,
}

/// The znode tree and sessions table: a deterministic state machine driven by
/// [`DataTree::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTree {
    pub(crate) nodes: HashMap<String, Node>,
    pub(crate) sessions: BTreeMap<i64, SessionInfo>,
    pub(crate) ephemerals: BTreeMap<i64, BTreeSet<String>>,
    pub(crate) containers: BTreeSet<String>,
    pub(crate) ttls: BTreeSet<String>,
    pub(crate) acl_refs: HashMap<Arc<[Acl]>, u64>,
    pub(crate) data_size: u64,
    pub(crate) last_zxid: i64,
    /// The time of the last applied entry (see `config_node.rs`).
    pub(crate) last_time: i64,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A fresh tree as ZooKeeper 3.9 starts: "/", "/zookeeper", "/zookeeper/quota" and
    /// "/zookeeper/config", all with zeroed stats and empty (not null) data, as ZooKeeper's
    /// `DataTree` builds them, so getData on them answers an empty buffer; the first three are
    /// `world:anyone` ALL, "/zookeeper/config" is `world:anyone` READ with aversion -1 (ZooKeeper
    /// sets its ACL with version -1 at start-up). Stored cversions are 0, so clients see
    /// cversion -1 on "/" and -2 on "/zookeeper".
    pub fn new() -> Self {
        let mut t = DataTree::empty();
        let open: Arc<[Acl]> = Acl::open_unsafe().into();
        let read: Arc<[Acl]> = Acl::read_unsafe().into();
        let zeroed = StoredStat::default();
        t.insert_root(bare_node(open.clone(), zeroed));
        t.insert_node(path::ZOOKEEPER.into(), bare_node(open.clone(), zeroed));
        t.insert_node(path::QUOTA.into(), bare_node(open, zeroed));
        let config_stat = StoredStat {
            aversion: -1,
            ..zeroed
        };
        t.insert_node(path::CONFIG.into(), bare_node(read, config_stat));
        t
    }

    /// No nodes at all; the snapshot decoder fills it.
    pub(crate) fn empty() -> Self {
        DataTree {
            nodes: HashMap::new(),
            sessions: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acl_refs: HashMap::new(),
            data_size: 0,
            last_zxid: 0,
            last_time: 0,
        }
    }

    /// The zxid of the last applied entry (0 for a fresh tree).
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Records that the log entry at `zxid` was applied without changing the tree (a new Raft
    /// leader's blank entry, a membership change), so `last_zxid` stays the last applied index.
    pub fn note_applied(&mut self, zxid: i64) {
        if zxid > self.last_zxid {
            self.last_zxid = zxid;
        }
    }

    pub fn node(&self, path: &str) -> Option<NodeRef<'_>> {
        self.nodes
            .get_key_value(path)
            .map(|(path, node)| NodeRef { path, node })
    }

    /// Child names in sorted order.
    pub fn children_sorted(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// ZooKeeper's `getAllChildrenNumber`: the number of descendants (not counting the node).
    pub fn all_children_number(&self, path: &str) -> Option<i32> {
        self.nodes.get(path)?;
        let count = if path == path::ROOT {
            self.nodes.len() - 1
        } else {
            self.descendants(path).count()
        };
        Some(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// Paths strictly below `path`, parents before children, siblings in sorted order.
    fn descendants<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a str> + 'a {
        let mut walk = self.walk_from(path);
        walk.next(); // the node itself
        walk
    }

    /// Every path, "/" first, parents before children, siblings in sorted order.
    pub fn paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.walk_from(path::ROOT)
    }

    /// Preorder walk with an explicit stack: paths may be deep enough to overflow a recursion.
    fn walk_from<'a>(&'a self, start: &str) -> impl Iterator<Item = &'a str> + 'a {
        let mut stack: Vec<&'a str> = self
            .nodes
            .get_key_value(start)
            .map(|(k, _)| k.as_str())
            .into_iter()
            .collect();
        std::iter::from_fn(move || {
            let path = stack.pop()?;
            if let Some(node) = self.nodes.get(path) {
                for name in node.children.iter().rev() {
                    if let Some((child, _)) = self.nodes.get_key_value(&path::join(path, name)) {
                        stack.push(child);
                    }
                }
            }
            Some(path)
        })
    }

    /// Paths of the ephemerals `session` owns, sorted.
    pub fn ephemerals(&self, session: i64) -> impl Iterator<Item = &str> + '_ {
        self.ephemerals
            .get(&session)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    /// Number of znodes, "/" included. (ZooKeeper's `zk_znode_count` is one more: its node map
    /// holds the root under both "" and "/".)
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// ZooKeeper's `cachedApproximateDataSize`: UTF-16 length of every path plus data length
    /// (0 for null data), starting from 44 (its node map also holds "" and the initial system
    /// nodes), updated on every create, delete and setData.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    pub fn session(&self, id: i64) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    /// Every session, by id.
    pub fn sessions(&self) -> impl Iterator<Item = (i64, &SessionInfo)> {
        self.sessions.iter().map(|(id, s)| (*id, s))
    }

    /// Nodes the container/TTL checker should propose to reap at `now_ms`, sorted, at most
    /// `limit`: containers that have had a child (stored cversion > 0) and have none now, and
    /// childless TTL nodes unmodified for longer than their TTL (`now - mtime > ttl`), as
    /// ZooKeeper's `ContainerManager.getCandidates`. Looks only at container and TTL nodes.
    pub fn reap_candidates(&self, now_ms: i64, limit: usize) -> Vec<String> {
        let mut out: Vec<String> = self
            .containers
            .iter()
            .chain(self.ttls.iter())
            .filter(|p| {
                self.nodes
                    .get(p.as_str())
                    .is_some_and(|n| is_reapable(n, now_ms))
            })
            .cloned()
            .collect();
        out.sort();
        out.truncate(limit);
        out
    }

    // ---- index maintenance: every structural change goes through these two ----

    pub(crate) fn insert_root(&mut self, root: Node) {
        self.data_size += path::java_len(path::ROOT) + data_len(&root.data) as u64;
        self.add_acl_ref(&root.acl);
        self.nodes.insert(path::ROOT.to_owned(), root);
    }

    /// Adds `node` at `path`. The parent must exist and not have the child yet (callers have
    /// checked); parent stats are the caller's business.
    pub(crate) fn insert_node(&mut self, path: String, node: Node) {
        let Some((parent, name)) = path::split(&path) else {
            return;
        };
        let Some(p) = self.nodes.get_mut(parent) else {
            return;
        };
        p.children.insert(name.to_owned());
        self.data_size += path::java_len(&path) + data_len(&node.data) as u64;
        self.add_acl_ref(&node.acl);
        match node.kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(path.clone());
            }
            NodeKind::Container => {
                self.containers.insert(path.clone());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.clone());
            }
        }
        self.nodes.insert(path, node);
    }

    /// Removes the node at `path` (never "/") from the map, its parent's children and every
    /// index. Parent stats are the caller's business.
    pub(crate) fn remove_node(&mut self, path: &str) -> Option<Node> {
        let (parent, name) = path::split(path)?;
        if path == path::ROOT {
            return None;
        }
        let node = self.nodes.remove(path)?;
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.remove(name);
        }
        self.data_size = self
            .data_size
            .saturating_sub(path::java_len(path) + data_len(&node.data) as u64);
        self.drop_acl_ref(&node.acl);
        match node.kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
        }
        Some(node)
    }

    /// The shared copy of `acl` when a node already uses it, else a new one.
    pub(crate) fn intern_acl(&self, acl: &[Acl]) -> Arc<[Acl]> {
        match self.acl_refs.get_key_value(acl) {
            Some((a, _)) => a.clone(),
            None => acl.into(),
        }
    }

    pub(crate) fn add_acl_ref(&mut self, acl: &Arc<[Acl]>) {
        *self.acl_refs.entry(acl.clone()).or_insert(0) += 1;
    }

    pub(crate) fn drop_acl_ref(&mut self, acl: &Arc<[Acl]>) {
        if let Some(n) = self.acl_refs.get_mut(acl) {
            *n -= 1;
            if *n == 0 {
                self.acl_refs.remove(acl);
            }
        }
    }
}

fn bare_node(acl: Arc<[Acl]>, stat: StoredStat) -> Node {
    Node {
        data: Some(Box::default()),
        acl,
        stat,
        kind: NodeKind::Persistent,
        children: BTreeSet::new(),
    }
}

/// The reaping condition, shared by the candidate scan and `ReapNode`'s re-check.
pub(crate) fn is_reapable(node: &Node, now_ms: i64) -> bool {
    if !node.children.is_empty() {
        return false;
    }
    match node.kind {
        NodeKind::Container => node.stat.cversion > 0,
        NodeKind::Ttl(ttl) => i128::from(now_ms) - i128::from(node.stat.mtime) > i128::from(ttl),
        _ => false,
    }
}

#[cfg(test)]
impl DataTree {
    /// Recomputes every index from the nodes and compares; panics with the first difference.
    pub(crate) fn check_invariants(&self) {
        let mut ephemerals: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        let mut containers = BTreeSet::new();
        let mut ttls = BTreeSet::new();
        let mut acl_refs: HashMap<Arc<[Acl]>, u64> = HashMap::new();
        let mut size = 0u64;
        for (p, n) in &self.nodes {
            size += path::java_len(p) + data_len(&n.data) as u64;
            *acl_refs.entry(n.acl.clone()).or_insert(0) += 1;
            for c in &n.children {
                assert!(self.nodes.contains_key(&path::join(p, c)), "{p} lists {c}");
            }
            if p != path::ROOT {
                let (parent, name) = path::split(p).unwrap();
                assert!(self.nodes[parent].children.contains(name), "{p} not listed");
            }
            match n.kind {
                NodeKind::Persistent => {}
                NodeKind::Ephemeral(s) => {
                    assert!(n.children.is_empty(), "ephemeral {p} has children");
                    assert!(self.sessions.contains_key(&s), "{p} owned by unknown {s}");
                    ephemerals.entry(s).or_default().insert(p.clone());
                }
                NodeKind::Container => {
                    containers.insert(p.clone());
                }
                NodeKind::Ttl(_) => {
                    ttls.insert(p.clone());
                }
            }
        }
        assert_eq!(ephemerals, self.ephemerals);
        assert_eq!(containers, self.containers);
        assert_eq!(ttls, self.ttls);
        assert_eq!(acl_refs, self.acl_refs);
        for (a, _) in self.acl_refs.iter() {
            let shared = self
                .nodes
                .values()
                .filter(|n| Arc::ptr_eq(&n.acl, a))
                .count();
            assert_eq!(shared as u64, self.acl_refs[a], "ACL {a:?} not shared");
        }
        // ZooKeeper's map also holds "" (length 0) for the root, so the sums agree.
        assert_eq!(size, self.data_size);
    }
}

#[cfg(test)]
mod tests {
    use watchkeeper_proto::{Acl, perms};

    use super::*;

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = DataTree::new();
        t.check_invariants();
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.approximate_data_size(), 44);
        assert_eq!(t.last_zxid(), 0);
        assert_eq!(t.children_sorted("/").unwrap(), vec!["zookeeper"]);
        assert_eq!(
            t.children_sorted("/zookeeper").unwrap(),
            vec!["config", "quota"]
        );
        let root = t.node("/").unwrap().stat();
        assert_eq!((root.cversion, root.num_children, root.czxid), (-1, 1, 0));
        let zk = t.node("/zookeeper").unwrap().stat();
        assert_eq!((zk.cversion, zk.num_children), (-2, 2));
        let cfg = t.node("/zookeeper/config").unwrap();
        assert_eq!(cfg.acl(), Acl::read_unsafe().as_slice());
        assert_eq!(cfg.stat().aversion, -1);
        assert_eq!(cfg.acl()[0].perms, perms::READ);
        assert_eq!(
            t.node("/zookeeper/quota").unwrap().acl(),
            Acl::open_unsafe()
        );
        assert_eq!(t.all_children_number("/"), Some(3));
        assert_eq!(t.all_children_number("/zookeeper"), Some(2));
        assert_eq!(t.all_children_number("/zookeeper/quota"), Some(0));
        assert_eq!(t.all_children_number("/nope"), None);
        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert_eq!(t.node(p).unwrap().data(), Some(&[][..]), "{p}");
        }
        assert_eq!(
            t.paths().collect::<Vec<_>>(),
            vec!["/", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]
        );
    }
}
