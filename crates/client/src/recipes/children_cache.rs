//! A local copy of a node's children and their data, kept current by watches: one child watch
//! on the parent and one data watch per child.
//!
//! Each child's watch carries a generation; an event from a watch older than the child's
//! current entry is ignored. Any event on a child's own watch, even NodeDeleted, leads to a
//! fresh read rather than a removal, because events of different watches may be handled in any
//! order: the parent's refresh may already have seen the child created again.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::{Stream, future::BoxFuture};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use super::cache_task::CacheTask;
use super::node_cache::NodeData;
use super::sequence::{RETRY_PAUSE, is_terminal, session_ended};
use crate::error::{Error, Result};
use crate::{Client, ErrorCode, OneshotWatch, WatchedEvent, path};

/// Children by name, with their data.
pub type Children = BTreeMap<String, NodeData>;

/// A cached set of children.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use futures::StreamExt;
/// use watchkeeper_client::recipes::ChildrenCache;
///
/// let workers = ChildrenCache::start(&client, "/workers").await?;
/// let mut changes = workers.changes();
/// while let Some(children) = changes.next().await {
///     println!("{} workers: {:?}", children.len(), children.keys().collect::<Vec<_>>());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ChildrenCache {
    state: watch::Receiver<Arc<Children>>,
    _task: CacheTask,
}

impl ChildrenCache {
    /// Loads the children of `path` (none while it does not exist) and starts following them.
    pub async fn start(client: &Client, path: &str) -> Result<ChildrenCache> {
        let mut follower = Follower {
            client: client.clone(),
            parent: path.to_owned(),
            entries: BTreeMap::new(),
            parent_watch: None,
            data_watches: FuturesUnordered::new(),
            next_generation: 0,
        };
        follower.refresh().await?;
        let (tx, state) = watch::channel(Arc::new(follower.snapshot()));
        let task = CacheTask::spawn(follower.run(tx));
        Ok(ChildrenCache { state, _task: task })
    }

    pub fn current(&self) -> Arc<Children> {
        self.state.borrow().clone()
    }

    /// The current children, then every change (coalesced for a slow consumer). Ends when the
    /// session does.
    pub fn changes(&self) -> impl Stream<Item = Arc<Children>> + Send + Unpin + 'static {
        WatchStream::new(self.state.clone())
    }

    /// Waits until the children satisfy `pred` and returns them.
    pub async fn wait_for(&self, mut pred: impl FnMut(&Children) -> bool) -> Result<Arc<Children>> {
        let mut state = self.state.clone();
        let value = state
            .wait_for(|v| pred(v))
            .await
            .map_err(|_| Error::Closed)?;
        Ok(value.clone())
    }
}

type DataEvent = (String, u64, WatchedEvent);

struct Follower {
    client: Client,
    parent: String,
    /// Child name → its data and the generation of its data watch.
    entries: BTreeMap<String, (NodeData, u64)>,
    parent_watch: Option<OneshotWatch>,
    data_watches: FuturesUnordered<BoxFuture<'static, DataEvent>>,
    next_generation: u64,
}

impl Follower {
    fn snapshot(&self) -> Children {
        self.entries
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// Re-reads the child list (with a watch) and loads children not seen before.
    async fn refresh(&mut self) -> Result<()> {
        loop {
            match self.client.get_children_watch(&self.parent).await {
                Ok((names, _, watch)) => {
                    self.parent_watch = Some(watch);
                    self.entries.retain(|name, _| names.contains(name));
                    for name in names {
                        if !self.entries.contains_key(&name) {
                            self.load(name).await?;
                        }
                    }
                    return Ok(());
                }
                Err(Error::Server(ErrorCode::NoNode)) => {
                    match self.client.exists_watch(&self.parent).await? {
                        (None, watch) => {
                            self.parent_watch = Some(watch);
                            self.entries.clear();
                            return Ok(());
                        }
                        (Some(_), _) => continue,
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads one child with a data watch; a child already gone is simply not added.
    async fn load(&mut self, name: String) -> Result<()> {
        let child = path::join(&self.parent, &name);
        match self.client.get_data_watch(&child).await {
            Ok((data, stat, watch)) => {
                let generation = self.next_generation;
                self.next_generation += 1;
                self.entries
                    .insert(name.clone(), (NodeData { data, stat }, generation));
                self.data_watches
                    .push(Box::pin(async move { (name, generation, watch.await) }));
                Ok(())
            }
            Err(Error::Server(ErrorCode::NoNode)) => {
                self.entries.remove(&name);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Does `work` until it succeeds; false when the session ended.
    async fn until_done(&mut self, work: Work) -> bool {
        loop {
            let result = match &work {
                Work::Refresh => self.refresh().await,
                Work::Load(name) => self.load(name.clone()).await,
            };
            match result {
                Ok(()) => return true,
                Err(e) if is_terminal(&e) => return false,
                Err(e) => {
                    tracing::debug!(parent = self.parent, error = %e, "children cache read failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    async fn run(mut self, tx: watch::Sender<Arc<Children>>) {
        loop {
            let work = tokio::select! {
                event = next_event(&mut self.parent_watch) => {
                    self.parent_watch = None;
                    if session_ended(&event).is_err() {
                        return;
                    }
                    Work::Refresh
                }
                Some((name, generation, event)) = self.data_watches.next(), if !self.data_watches.is_empty() => {
                    if session_ended(&event).is_err() {
                        return;
                    }
                    if self.entries.get(&name).map(|(_, g)| *g) != Some(generation) {
                        // A watch from before the child was deleted and created again.
                        continue;
                    }
                    // Whatever happened (even NodeDeleted: the child may be back already and
                    // the parent's refresh may have seen it), read it again: load() removes it
                    // if it is gone.
                    Work::Load(name)
                }
            };
            if !self.until_done(work).await {
                return;
            }
            let snapshot = self.snapshot();
            tx.send_if_modified(|current| {
                let changed = **current != snapshot;
                if changed {
                    *current = Arc::new(snapshot);
                }
                changed
            });
        }
    }
}

/// The event of an optional watch; never resolves without one.
pub(crate) async fn next_event(watch: &mut Option<OneshotWatch>) -> WatchedEvent {
    match watch.as_mut() {
        Some(w) => w.await,
        None => std::future::pending().await,
    }
}

/// What an event calls for.
enum Work {
    Refresh,
    Load(String),
}
