//! A local copy of a whole subtree.
//!
//! With a server that supports `addWatch` (ZooKeeper 3.6+, Watchkeeper) one persistent-recursive
//! watch covers the subtree: the tree is loaded after the watch is registered, each event
//! re-reads (or removes) the node it names, and after every reconnect the whole subtree is
//! read again, because ZooKeeper does not replay what a persistent watch missed while
//! disconnected. With older servers every node gets a data and a child watch instead (one-shot
//! watches are replayed after a reconnect), each carrying a generation so stale events are
//! ignored; a deletion is confirmed by reading the node again, since events of different
//! watches may be handled in any order. Any read that fails for a transient reason leads to a
//! full reload.
//!
//! ZooKeeper before 3.9 drops recursive-watch events for a session that also holds one-shot
//! watches on the same paths (ZOOKEEPER-4466); there, give a tree cache a client of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::{Stream, future::BoxFuture};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use super::cache_task::CacheTask;
use super::children_cache::next_event;
use super::node_cache::NodeData;
use super::sequence::{RETRY_PAUSE, is_terminal, session_ended};
use crate::error::{Error, Result};
use crate::{
    AddWatchMode, Client, ErrorCode, EventType, KeeperState, OneshotWatch, PersistentWatch,
    WatchedEvent, path,
};

/// Every node of the subtree by path (relative to the client's chroot), root included.
pub type Tree = BTreeMap<String, NodeData>;

/// How a [`TreeCache`] watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeCacheOptions {
    /// Use one persistent-recursive watch when the server supports it (the default); false
    /// forces a data and a child watch per node, as for servers before ZooKeeper 3.6.
    pub use_persistent_watch: bool,
}

impl Default for TreeCacheOptions {
    fn default() -> Self {
        TreeCacheOptions {
            use_persistent_watch: true,
        }
    }
}

/// A cached subtree.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::TreeCache;
///
/// let config = TreeCache::start(&client, "/config").await?;
/// for (path, node) in config.current().iter() {
///     println!("{path}: {} bytes", node.data.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TreeCache {
    state: watch::Receiver<Arc<Tree>>,
    persistent: bool,
    _task: CacheTask,
}

impl TreeCache {
    /// Loads the subtree under `root` and starts following it.
    pub async fn start(client: &Client, root: &str) -> Result<TreeCache> {
        TreeCache::start_with(client, root, TreeCacheOptions::default()).await
    }

    pub async fn start_with(
        client: &Client,
        root: &str,
        opts: TreeCacheOptions,
    ) -> Result<TreeCache> {
        crate::path::validate(root, false)?;
        let recursive = if opts.use_persistent_watch {
            match client
                .add_watch(root, AddWatchMode::PersistentRecursive)
                .await
            {
                Ok(w) => Some(w),
                Err(Error::Server(ErrorCode::Unimplemented)) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let persistent = recursive.is_some();
        match recursive {
            Some(watch) => {
                let tree = load_all(client, root).await?;
                let (tx, state) = watch::channel(Arc::new(tree.clone()));
                let follower = Recursive {
                    client: client.clone(),
                    root: root.to_owned(),
                    watch,
                    tree,
                };
                let task = CacheTask::spawn(follower.run(tx));
                Ok(TreeCache {
                    state,
                    persistent,
                    _task: task,
                })
            }
            None => {
                let mut follower = PerNode {
                    client: client.clone(),
                    root: root.to_owned(),
                    nodes: BTreeMap::new(),
                    watches: FuturesUnordered::new(),
                    root_watch: None,
                    next_generation: 0,
                };
                follower.load_subtree(root).await?;
                let (tx, state) = watch::channel(Arc::new(follower.snapshot()));
                let task = CacheTask::spawn(follower.run(tx));
                Ok(TreeCache {
                    state,
                    persistent,
                    _task: task,
                })
            }
        }
    }

    /// True when one persistent-recursive watch is used.
    pub fn uses_persistent_watch(&self) -> bool {
        self.persistent
    }

    pub fn current(&self) -> Arc<Tree> {
        self.state.borrow().clone()
    }

    /// One node, if cached.
    pub fn get(&self, path: &str) -> Option<NodeData> {
        self.state.borrow().get(path).cloned()
    }

    /// The names of a cached node's children.
    pub fn children(&self, parent: &str) -> Vec<String> {
        let tree = self.state.borrow();
        let prefix = if parent == "/" {
            "/".to_owned()
        } else {
            format!("{parent}/")
        };
        tree.range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| {
                let rest = &p[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_owned())
            })
            .collect()
    }

    /// The current tree, then every change (coalesced for a slow consumer).
    pub fn changes(&self) -> impl Stream<Item = Arc<Tree>> + Send + Unpin + 'static {
        WatchStream::new(self.state.clone())
    }

    /// Waits until the tree satisfies `pred` and returns it.
    pub async fn wait_for(&self, mut pred: impl FnMut(&Tree) -> bool) -> Result<Arc<Tree>> {
        let mut state = self.state.clone();
        let value = state
            .wait_for(|t| pred(t))
            .await
            .map_err(|_| Error::Closed)?;
        Ok(value.clone())
    }
}

fn publish(tx: &watch::Sender<Arc<Tree>>, tree: Tree) {
    tx.send_if_modified(|current| {
        let changed = **current != tree;
        if changed {
            *current = Arc::new(tree);
        }
        changed
    });
}

/// Removes `root` and everything below it.
fn remove_subtree<V>(tree: &mut BTreeMap<String, V>, root: &str) {
    tree.remove(root);
    let prefix = if root == "/" {
        "/".to_owned()
    } else {
        format!("{root}/")
    };
    let below: Vec<String> = tree
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .map(|(p, _)| p.clone())
        .collect();
    for p in below {
        tree.remove(&p);
    }
}

/// Reads the whole subtree without watches.
async fn load_all(client: &Client, root: &str) -> Result<Tree> {
    let mut tree = Tree::new();
    let mut stack = vec![root.to_owned()];
    while let Some(p) = stack.pop() {
        let (data, stat) = match client.get_data(&p).await {
            Ok(d) => d,
            Err(Error::Server(ErrorCode::NoNode)) => continue,
            Err(e) => return Err(e),
        };
        tree.insert(p.clone(), NodeData { data, stat });
        match client.get_children(&p).await {
            Ok((children, _)) => stack.extend(children.iter().map(|c| path::join(&p, c))),
            Err(Error::Server(ErrorCode::NoNode)) => remove_subtree(&mut tree, &p),
            Err(e) => return Err(e),
        }
    }
    Ok(tree)
}

struct Recursive {
    client: Client,
    root: String,
    watch: PersistentWatch,
    tree: Tree,
}

impl Recursive {
    async fn run(mut self, tx: watch::Sender<Arc<Tree>>) {
        loop {
            let Some(event) = self.watch.next_event().await else {
                return;
            };
            let result = match event.event_type {
                EventType::None => match event.state {
                    KeeperState::SyncConnected | KeeperState::ConnectedReadOnly => {
                        self.reload().await
                    }
                    KeeperState::Disconnected => Ok(()),
                    _ => return,
                },
                EventType::PersistentWatchRemoved => self.rewatch().await,
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    self.reread(&event.path).await
                }
                EventType::NodeDeleted => {
                    remove_subtree(&mut self.tree, &event.path);
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = result
                && (is_terminal(&e) || !self.recover().await)
            {
                return;
            }
            publish(&tx, self.tree.clone());
        }
    }

    async fn reread(&mut self, p: &str) -> Result<()> {
        match self.client.get_data(p).await {
            Ok((data, stat)) => {
                self.tree.insert(p.to_owned(), NodeData { data, stat });
                Ok(())
            }
            Err(Error::Server(ErrorCode::NoNode)) => {
                remove_subtree(&mut self.tree, p);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn reload(&mut self) -> Result<()> {
        self.tree = load_all(&self.client, &self.root).await?;
        Ok(())
    }

    /// The watch was ended because this cache fell behind: register it again and reload.
    async fn rewatch(&mut self) -> Result<()> {
        self.watch = self
            .client
            .add_watch(&self.root, AddWatchMode::PersistentRecursive)
            .await?;
        self.reload().await
    }

    /// After a transient failure: pause and reload until it works; false if the session ended.
    async fn recover(&mut self) -> bool {
        loop {
            tokio::time::sleep(RETRY_PAUSE).await;
            match self.reload().await {
                Ok(()) => return true,
                Err(e) if is_terminal(&e) => return false,
                Err(e) => {
                    tracing::debug!(root = self.root, error = %e, "tree cache reload failed; retrying")
                }
            }
        }
    }
}

/// Which one-shot watch fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Children,
}

type Fired = (String, Kind, u64, WatchedEvent);

/// A node of the per-node mode: its data and the generations of its two watches.
struct Entry {
    node: NodeData,
    data_generation: u64,
    child_generation: u64,
}

struct PerNode {
    client: Client,
    root: String,
    nodes: BTreeMap<String, Entry>,
    watches: FuturesUnordered<BoxFuture<'static, Fired>>,
    /// Set while the root does not exist.
    root_watch: Option<OneshotWatch>,
    next_generation: u64,
}

impl PerNode {
    fn snapshot(&self) -> Tree {
        self.nodes
            .iter()
            .map(|(p, e)| (p.clone(), e.node.clone()))
            .collect()
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn arm(&mut self, p: &str, kind: Kind, generation: u64, watch: OneshotWatch) {
        let p = p.to_owned();
        self.watches
            .push(Box::pin(async move { (p, kind, generation, watch.await) }));
    }

    /// Loads `top` and everything below it, each node with a data and a child watch.
    async fn load_subtree(&mut self, top: &str) -> Result<()> {
        let mut stack = vec![top.to_owned()];
        while let Some(p) = stack.pop() {
            let (data, stat, watch) = match self.client.get_data_watch(&p).await {
                Ok(d) => d,
                Err(Error::Server(ErrorCode::NoNode)) => {
                    if p == self.root {
                        self.watch_root().await?;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let g = self.generation();
            self.arm(&p, Kind::Data, g, watch);
            let entry = Entry {
                node: NodeData { data, stat },
                data_generation: g,
                child_generation: 0,
            };
            self.nodes.insert(p.clone(), entry);
            match self.client.get_children_watch(&p).await {
                Ok((children, _, watch)) => {
                    let g = self.generation();
                    self.arm(&p, Kind::Children, g, watch);
                    if let Some(e) = self.nodes.get_mut(&p) {
                        e.child_generation = g;
                    }
                    for c in children {
                        let child = path::join(&p, &c);
                        if !self.nodes.contains_key(&child) {
                            stack.push(child);
                        }
                    }
                }
                Err(Error::Server(ErrorCode::NoNode)) => self.remove(&p).await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Removes a subtree; if it was the root, waits for the root to come back.
    async fn remove(&mut self, p: &str) -> Result<()> {
        remove_subtree(&mut self.nodes, p);
        if p == self.root {
            self.watch_root().await?;
        }
        Ok(())
    }

    async fn watch_root(&mut self) -> Result<()> {
        match self.client.exists_watch(&self.root).await? {
            (None, watch) => {
                self.root_watch = Some(watch);
                Ok(())
            }
            // Back already: load it (unless it is loaded).
            (Some(_), _) if !self.nodes.contains_key(&self.root) => {
                self.root_watch = None;
                let root = self.root.clone();
                Box::pin(self.load_subtree(&root)).await
            }
            (Some(_), _) => Ok(()),
        }
    }

    async fn on_fired(&mut self, (p, kind, generation, event): Fired) -> Result<()> {
        session_ended(&event)?;
        let current = self.nodes.get(&p).map(|e| match kind {
            Kind::Data => e.data_generation,
            Kind::Children => e.child_generation,
        });
        if current != Some(generation) {
            return Ok(());
        }
        if event.event_type == EventType::NodeDeleted {
            // The node may be back already (and its parent's refresh may have seen it while
            // our entry was stale): check, and load it afresh if so.
            remove_subtree(&mut self.nodes, &p);
            return self.load_subtree(&p).await;
        }
        match kind {
            Kind::Data => match self.client.get_data_watch(&p).await {
                Ok((data, stat, watch)) => {
                    let g = self.generation();
                    self.arm(&p, Kind::Data, g, watch);
                    if let Some(e) = self.nodes.get_mut(&p) {
                        e.node = NodeData { data, stat };
                        e.data_generation = g;
                    }
                    Ok(())
                }
                Err(Error::Server(ErrorCode::NoNode)) => self.remove(&p).await,
                Err(e) => Err(e),
            },
            Kind::Children => match self.client.get_children_watch(&p).await {
                Ok((children, _, watch)) => {
                    let g = self.generation();
                    self.arm(&p, Kind::Children, g, watch);
                    if let Some(e) = self.nodes.get_mut(&p) {
                        e.child_generation = g;
                    }
                    let known: Vec<String> = {
                        let prefix = if p == "/" {
                            "/".to_owned()
                        } else {
                            format!("{p}/")
                        };
                        self.nodes
                            .range(prefix.clone()..)
                            .take_while(|(k, _)| k.starts_with(&prefix))
                            .filter(|(k, _)| !k[prefix.len()..].contains('/'))
                            .map(|(k, _)| k.clone())
                            .collect()
                    };
                    let now: Vec<String> = children.iter().map(|c| path::join(&p, c)).collect();
                    for gone in known.iter().filter(|k| !now.contains(k)) {
                        remove_subtree(&mut self.nodes, gone);
                    }
                    for new in now {
                        if !self.nodes.contains_key(&new) {
                            self.load_subtree(&new).await?;
                        }
                    }
                    Ok(())
                }
                Err(Error::Server(ErrorCode::NoNode)) => self.remove(&p).await,
                Err(e) => Err(e),
            },
        }
    }

    async fn run(mut self, tx: watch::Sender<Arc<Tree>>) {
        loop {
            let result = tokio::select! {
                event = next_event(&mut self.root_watch) => {
                    self.root_watch = None;
                    match session_ended(&event) {
                        Ok(()) => {
                            let root = self.root.clone();
                            self.load_subtree(&root).await
                        }
                        Err(e) => Err(e),
                    }
                }
                Some(fired) = self.watches.next(), if !self.watches.is_empty() => self.on_fired(fired).await,
            };
            if let Err(e) = result
                && (is_terminal(&e) || !self.recover().await)
            {
                return;
            }
            publish(&tx, self.snapshot());
        }
    }

    /// After a transient failure: forget everything and load again; false if the session ended.
    async fn recover(&mut self) -> bool {
        loop {
            tokio::time::sleep(RETRY_PAUSE).await;
            self.nodes.clear();
            self.watches = FuturesUnordered::new();
            self.root_watch = None;
            let root = self.root.clone();
            match self.load_subtree(&root).await {
                Ok(()) => return true,
                Err(e) if is_terminal(&e) => return false,
                Err(e) => {
                    tracing::debug!(root = self.root, error = %e, "tree cache reload failed; retrying")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_subtree_takes_descendants_only() {
        let mut t: BTreeMap<String, ()> = ["/a", "/a/b", "/a/b/c", "/ab", "/b"]
            .iter()
            .map(|p| (p.to_string(), ()))
            .collect();
        remove_subtree(&mut t, "/a");
        assert_eq!(t.keys().cloned().collect::<Vec<_>>(), ["/ab", "/b"]);
        remove_subtree(&mut t, "/");
        assert!(t.is_empty());
    }
}
