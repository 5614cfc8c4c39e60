//! Typed configuration in a znode: JSON, parsed into `T` and reloaded whenever the node
//! changes. A change that does not parse keeps the last good value (and is reported by
//! [`ConfigWatcher::last_error`]), so a bad edit cannot take a running service down.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use super::cache_task::CacheTask;
use super::node_cache::{NodeCache, NodeData};
use crate::Client;
use crate::error::{Error, Result};

/// The latest good configuration and the latest problem.
#[derive(Debug)]
struct Loaded<T> {
    value: Option<Arc<T>>,
    error: Option<String>,
    /// Counts changes of `value`.
    generation: u64,
}

impl<T> Clone for Loaded<T> {
    fn clone(&self) -> Self {
        Loaded {
            value: self.value.clone(),
            error: self.error.clone(),
            generation: self.generation,
        }
    }
}

/// A hot-reloaded typed configuration.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use futures::StreamExt;
/// use watchkeeper_client::recipes::ConfigWatcher;
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Limits { max_connections: u32 }
///
/// let limits = ConfigWatcher::<Limits>::start(&client, "/config/limits").await?;
/// println!("{:?}", limits.current());
/// let mut reloads = limits.changes();
/// while let Some(new) = reloads.next().await {
///     println!("reloaded: {new:?}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ConfigWatcher<T> {
    state: watch::Receiver<Loaded<T>>,
    _task: CacheTask,
    _type: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + Sync + 'static> ConfigWatcher<T> {
    /// Reads the configuration at `path` and follows it. A missing node is no configuration
    /// (`current()` is `None`) until it is created.
    pub async fn start(client: &Client, path: &str) -> Result<ConfigWatcher<T>> {
        let cache = NodeCache::start(client, path).await?;
        let mut loaded = Loaded {
            value: None,
            error: None,
            generation: 0,
        };
        apply(&mut loaded, cache.current().as_ref());
        let (tx, state) = watch::channel(loaded);
        let task = CacheTask::spawn(async move {
            let mut changes = cache.changes();
            while let Some(node) = changes.next().await {
                tx.send_if_modified(|l| {
                    let before = (l.generation, l.error.clone());
                    apply(l, node.as_ref());
                    before != (l.generation, l.error.clone())
                });
            }
        });
        Ok(ConfigWatcher {
            state,
            _task: task,
            _type: PhantomData,
        })
    }

    /// The latest configuration that parsed (`None` if there is none).
    pub fn current(&self) -> Option<Arc<T>> {
        self.state.borrow().value.clone()
    }

    /// Why the latest version of the node was not used, if it was not.
    pub fn last_error(&self) -> Option<String> {
        self.state.borrow().error.clone()
    }

    /// The current configuration, then each one loaded after it.
    pub fn changes(&self) -> impl Stream<Item = Option<Arc<T>>> + Send + Unpin + 'static {
        let mut last = None;
        WatchStream::new(self.state.clone()).filter_map(move |l| {
            let new = last != Some(l.generation);
            last = Some(l.generation);
            std::future::ready(new.then_some(l.value))
        })
    }

    /// Waits until a loaded configuration satisfies `pred` and returns it.
    pub async fn wait_for(&self, mut pred: impl FnMut(&T) -> bool) -> Result<Arc<T>> {
        let mut state = self.state.clone();
        let loaded = state
            .wait_for(|l| l.value.as_deref().is_some_and(&mut pred))
            .await
            .map_err(|_| Error::Closed)?;
        loaded.value.clone().ok_or(Error::Closed)
    }
}

/// Takes in a new version of the node.
fn apply<T: DeserializeOwned>(loaded: &mut Loaded<T>, node: Option<&NodeData>) {
    match node {
        None => {
            if loaded.value.take().is_some() {
                loaded.generation += 1;
            }
            loaded.error = None;
        }
        Some(node) => match serde_json::from_slice::<T>(&node.data) {
            Ok(v) => {
                loaded.value = Some(Arc::new(v));
                loaded.generation += 1;
                loaded.error = None;
            }
            Err(e) => {
                loaded.error = Some(format!("version {} does not parse: {e}", node.stat.version));
            }
        },
    }
}
