//! A local copy of one node, kept current by a watch.
//!
//! The node is read together with a watch (`getData` when it exists, `exists` when it does
//! not), and read again whenever the watch fires, so no change can slip between a read and its
//! watch. One-shot watches survive reconnects (with catch-up events), so the copy stays right
//! across them.

use futures::Stream;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use super::cache_task::CacheTask;
use super::sequence::{RETRY_PAUSE, is_terminal, session_ended};
use crate::error::{Error, Result};
use crate::{Client, ErrorCode, OneshotWatch, Stat};

/// A node's data and stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    pub data: Vec<u8>,
    pub stat: Stat,
}

/// A cached node: `None` while it does not exist.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use futures::StreamExt;
/// use watchkeeper_client::recipes::NodeCache;
///
/// let cache = NodeCache::start(&client, "/feature-flags").await?;
/// println!("now: {:?}", cache.current().map(|n| n.data));
/// let mut changes = cache.changes();
/// while let Some(node) = changes.next().await {
///     println!("changed: {:?}", node.map(|n| n.data));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NodeCache {
    state: watch::Receiver<Option<NodeData>>,
    _task: CacheTask,
}

impl NodeCache {
    /// Reads the node and starts following it. Errors from the first read are returned.
    pub async fn start(client: &Client, path: &str) -> Result<NodeCache> {
        let (first, watch) = read(client, path).await?;
        let (tx, state) = watch::channel(first);
        let task = CacheTask::spawn(follow(client.clone(), path.to_owned(), tx, watch));
        Ok(NodeCache { state, _task: task })
    }

    pub fn current(&self) -> Option<NodeData> {
        self.state.borrow().clone()
    }

    /// The current value, then every change (a slow consumer sees the latest, not each step).
    /// Ends when the session does.
    pub fn changes(&self) -> impl Stream<Item = Option<NodeData>> + Send + Unpin + 'static {
        WatchStream::new(self.state.clone())
    }

    /// Waits until the cached value satisfies `pred` and returns it.
    pub async fn wait_for(
        &self,
        mut pred: impl FnMut(Option<&NodeData>) -> bool,
    ) -> Result<Option<NodeData>> {
        let mut state = self.state.clone();
        let value = state
            .wait_for(|v| pred(v.as_ref()))
            .await
            .map_err(|_| Error::Closed)?;
        Ok(value.clone())
    }
}

/// Reads the node and leaves a watch on it.
async fn read(client: &Client, path: &str) -> Result<(Option<NodeData>, OneshotWatch)> {
    loop {
        match client.get_data_watch(path).await {
            Ok((data, stat, watch)) => return Ok((Some(NodeData { data, stat }), watch)),
            Err(Error::Server(ErrorCode::NoNode)) => match client.exists_watch(path).await? {
                (None, watch) => return Ok((None, watch)),
                // Created in between: read it (the exists watch fires later, harmlessly).
                (Some(_), _) => continue,
            },
            Err(e) => return Err(e),
        }
    }
}

async fn follow(
    client: Client,
    path: String,
    tx: watch::Sender<Option<NodeData>>,
    mut watch: OneshotWatch,
) {
    loop {
        let event = watch.await;
        if session_ended(&event).is_err() {
            return;
        }
        loop {
            match read(&client, &path).await {
                Ok((value, next)) => {
                    tx.send_if_modified(|current| {
                        let changed = *current != value;
                        *current = value;
                        changed
                    });
                    watch = next;
                    break;
                }
                Err(e) if is_terminal(&e) => return,
                Err(e) => {
                    tracing::debug!(path, error = %e, "node cache read failed; retrying");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}
