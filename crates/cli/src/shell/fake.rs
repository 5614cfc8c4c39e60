//! An in-memory [`Store`] with ZooKeeper's rules for the operations the shell uses, so command
//! dispatch is tested without a server. Watches do not fire from changes: tests script the
//! events a watch delivers.

use std::collections::BTreeMap;
use std::sync::Mutex;

use watchkeeper_proto::{Acl, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, Stat};

use super::store::{Event, Store, StoreError, StoreResult};

const SESSION: i64 = 0x5eed;

#[derive(Debug, Clone)]
struct Node {
    data: Vec<u8>,
    acl: Vec<Acl>,
    stat: Stat,
}

#[derive(Debug, Default)]
struct Inner {
    nodes: BTreeMap<String, Node>,
    zxid: i64,
    auths: Vec<(String, Vec<u8>)>,
    /// Events every persistent watch delivers, in order.
    scripted: Vec<StoreResult<Event>>,
    /// (path, code): every operation on that path fails with the code.
    fail: Option<(String, ErrorCode)>,
    /// (path, code): deleting that path fails with the code.
    fail_delete: Option<(String, ErrorCode)>,
    /// Watches set, as (kind, path).
    watches: Vec<(&'static str, String)>,
}

pub struct FakeStore {
    inner: Mutex<Inner>,
}

impl FakeStore {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`.
    pub fn new() -> Self {
        let store = FakeStore {
            inner: Mutex::new(Inner::default()),
        };
        {
            let mut i = store.lock();
            i.nodes
                .insert("/".into(), new_node(Vec::new(), Acl::open_unsafe(), 0, 0));
        }
        for p in ["/zookeeper", "/zookeeper/quota"] {
            store
                .create_now(p, b"", CreateMode::Persistent, None)
                .unwrap();
        }
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn script(&self, events: Vec<StoreResult<Event>>) {
        self.lock().scripted = events;
    }

    pub fn fail_on(&self, path: &str, code: ErrorCode) {
        self.lock().fail = Some((path.to_string(), code));
    }

    pub fn fail_delete_of(&self, path: &str, code: ErrorCode) {
        self.lock().fail_delete = Some((path.to_string(), code));
    }

    pub fn auths(&self) -> Vec<(String, Vec<u8>)> {
        self.lock().auths.clone()
    }

    pub fn watches(&self) -> Vec<(&'static str, String)> {
        self.lock().watches.clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.lock().nodes.keys().cloned().collect()
    }

    pub fn data(&self, path: &str) -> Option<Vec<u8>> {
        self.lock().nodes.get(path).map(|n| n.data.clone())
    }

    pub fn acl(&self, path: &str) -> Option<Vec<Acl>> {
        self.lock().nodes.get(path).map(|n| n.acl.clone())
    }

    fn check_fail(&self, path: &str) -> StoreResult<()> {
        match &self.lock().fail {
            Some((p, code)) if p == path => Err(StoreError::Server(*code)),
            _ => Ok(()),
        }
    }

    /// `create` without the async wrapper, for setting up trees.
    pub fn create_now(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: Option<&[Acl]>,
    ) -> StoreResult<String> {
        self.check_fail(path)?;
        let mut i = self.lock();
        let cut = path
            .rfind('/')
            .ok_or(StoreError::Server(ErrorCode::BadArguments))?;
        let parent = if cut == 0 { "/" } else { &path[..cut] }.to_string();
        let parent_node = i
            .nodes
            .get(&parent)
            .ok_or(StoreError::Server(ErrorCode::NoNode))?;
        if parent_node.stat.ephemeral_owner != 0 {
            return Err(StoreError::Server(ErrorCode::NoChildrenForEphemerals));
        }
        let actual = if mode.is_sequential() {
            format!("{path}{:010}", parent_node.stat.cversion)
        } else {
            path.to_string()
        };
        if i.nodes.contains_key(&actual) {
            return Err(StoreError::Server(ErrorCode::NodeExists));
        }
        i.zxid += 1;
        let zxid = i.zxid;
        let owner = if mode.is_ephemeral() { SESSION } else { 0 };
        let acl = acl.map(<[Acl]>::to_vec).unwrap_or_else(Acl::open_unsafe);
        i.nodes
            .insert(actual.clone(), new_node(data.to_vec(), acl, zxid, owner));
        if let Some(p) = i.nodes.get_mut(&parent) {
            p.stat.cversion += 1;
            p.stat.num_children += 1;
            p.stat.pzxid = zxid;
        }
        Ok(actual)
    }

    fn node(&self, path: &str) -> StoreResult<Node> {
        self.check_fail(path)?;
        self.lock()
            .nodes
            .get(path)
            .cloned()
            .ok_or(StoreError::Server(ErrorCode::NoNode))
    }

    fn children_now(&self, path: &str) -> StoreResult<(Vec<String>, Stat)> {
        let node = self.node(path)?;
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        let names = self
            .lock()
            .nodes
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            // Reverse order, so that callers that need sorted output must sort.
            .rev()
            .map(str::to_string)
            .collect();
        Ok((names, node.stat))
    }

    fn event(path: &str) -> std::future::Ready<Event> {
        std::future::ready(Event {
            kind: EventType::NodeDataChanged,
            state: KeeperState::SyncConnected,
            path: path.to_string(),
            zxid: 0,
        })
    }
}

fn new_node(data: Vec<u8>, acl: Vec<Acl>, zxid: i64, owner: i64) -> Node {
    Node {
        stat: Stat {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ephemeral_owner: owner,
            data_length: data.len() as i32,
            ..Stat::default()
        },
        data,
        acl,
    }
}

impl Store for FakeStore {
    type Oneshot = std::future::Ready<Event>;
    type Watch = futures::stream::Iter<std::vec::IntoIter<StoreResult<Event>>>;

    async fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: Option<&[Acl]>,
        ttl: Option<i64>,
    ) -> StoreResult<String> {
        if mode.is_ttl() != ttl.is_some() {
            return Err(StoreError::Server(ErrorCode::BadArguments));
        }
        self.create_now(path, data, mode, acl)
    }

    async fn delete(&self, path: &str, version: Option<i32>) -> StoreResult<()> {
        let node = self.node(path)?;
        if let Some((p, code)) = &self.lock().fail_delete
            && p == path
        {
            return Err(StoreError::Server(*code));
        }
        if version.is_some_and(|v| v != node.stat.version) {
            return Err(StoreError::Server(ErrorCode::BadVersion));
        }
        if node.stat.num_children > 0 {
            return Err(StoreError::Server(ErrorCode::NotEmpty));
        }
        let mut i = self.lock();
        i.nodes.remove(path);
        let cut = path.rfind('/').unwrap_or(0);
        let parent = if cut == 0 { "/" } else { &path[..cut] };
        if let Some(p) = i.nodes.get_mut(parent) {
            p.stat.num_children -= 1;
            p.stat.cversion += 1;
        }
        Ok(())
    }

    async fn exists(&self, path: &str) -> StoreResult<Option<Stat>> {
        match self.node(path) {
            Ok(n) => Ok(Some(n.stat)),
            Err(StoreError::Server(ErrorCode::NoNode)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn exists_watch(&self, path: &str) -> StoreResult<(Option<Stat>, Self::Oneshot)> {
        let stat = self.exists(path).await?;
        self.lock().watches.push(("exists", path.to_string()));
        Ok((stat, Self::event(path)))
    }

    async fn get_data(&self, path: &str) -> StoreResult<(Vec<u8>, Stat)> {
        self.node(path).map(|n| (n.data, n.stat))
    }

    async fn get_data_watch(&self, path: &str) -> StoreResult<(Vec<u8>, Stat, Self::Oneshot)> {
        let (data, stat) = self.get_data(path).await?;
        self.lock().watches.push(("data", path.to_string()));
        Ok((data, stat, Self::event(path)))
    }

    async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> StoreResult<Stat> {
        let node = self.node(path)?;
        if version.is_some_and(|v| v != node.stat.version) {
            return Err(StoreError::Server(ErrorCode::BadVersion));
        }
        let mut i = self.lock();
        i.zxid += 1;
        let zxid = i.zxid;
        let n = i
            .nodes
            .get_mut(path)
            .ok_or(StoreError::Server(ErrorCode::NoNode))?;
        n.data = data.to_vec();
        n.stat.version += 1;
        n.stat.mzxid = zxid;
        n.stat.data_length = data.len() as i32;
        Ok(n.stat)
    }

    async fn get_children(&self, path: &str) -> StoreResult<(Vec<String>, Stat)> {
        self.children_now(path)
    }

    async fn get_children_watch(
        &self,
        path: &str,
    ) -> StoreResult<(Vec<String>, Stat, Self::Oneshot)> {
        let (c, s) = self.children_now(path)?;
        self.lock().watches.push(("children", path.to_string()));
        Ok((c, s, Self::event(path)))
    }

    async fn get_acl(&self, path: &str) -> StoreResult<(Vec<Acl>, Stat)> {
        self.node(path).map(|n| (n.acl, n.stat))
    }

    async fn set_acl(&self, path: &str, acl: &[Acl], version: Option<i32>) -> StoreResult<Stat> {
        let node = self.node(path)?;
        if version.is_some_and(|v| v != node.stat.aversion) {
            return Err(StoreError::Server(ErrorCode::BadVersion));
        }
        let mut i = self.lock();
        let n = i
            .nodes
            .get_mut(path)
            .ok_or(StoreError::Server(ErrorCode::NoNode))?;
        n.acl = acl.to_vec();
        n.stat.aversion += 1;
        Ok(n.stat)
    }

    async fn sync(&self, path: &str) -> StoreResult<()> {
        self.node(path).map(|_| ())
    }

    async fn add_auth(&self, scheme: &str, auth: &[u8]) -> StoreResult<()> {
        if scheme == "digest" && !auth.contains(&b':') {
            return Err(StoreError::Server(ErrorCode::AuthFailed));
        }
        self.lock().auths.push((scheme.to_string(), auth.to_vec()));
        Ok(())
    }

    async fn add_watch(&self, path: &str, mode: AddWatchMode) -> StoreResult<Self::Watch> {
        self.check_fail(path)?;
        let mut i = self.lock();
        let kind = match mode {
            AddWatchMode::Persistent => "persistent",
            AddWatchMode::PersistentRecursive => "recursive",
        };
        i.watches.push((kind, path.to_string()));
        Ok(futures::stream::iter(std::mem::take(&mut i.scripted)))
    }
}

/// Builds a tree from `(path, data)` pairs, parents first.
pub fn tree(nodes: &[(&str, &str)]) -> FakeStore {
    let store = FakeStore::new();
    for (p, d) in nodes {
        store
            .create_now(p, d.as_bytes(), CreateMode::Persistent, None)
            .unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    store
}
