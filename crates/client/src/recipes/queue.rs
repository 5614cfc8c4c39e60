//! A distributed FIFO queue: items are persistent sequential nodes, taken oldest first.
//!
//! Blocking consumers take turns through an internal [`Mutex`], so only the consumer at the
//! front watches the queue for new items (no herd when one arrives). Taking an item is reading
//! it and deleting it; if another consumer deleted it first, the next one is tried, so every
//! item is taken by exactly one consumer. As with any write, a take that fails with
//! ConnectionLoss may or may not have removed its item.

use std::time::{Duration, Instant};

use super::mutex::Mutex;
use super::sequence::{session_ended, sorted};
use crate::error::{Error, Result};
use crate::types::CreateOptions;
use crate::{Client, ErrorCode, path};

const KIND: &str = "item-";

/// A distributed queue under a znode path (items below `<path>/items`).
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::Queue;
///
/// let jobs = Queue::new(&client, "/queues/jobs");
/// jobs.put(b"resize image 42").await?;
/// let job = jobs.take().await?; // waits for an item
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    items: String,
    consumers: Mutex,
}

impl Queue {
    pub fn new(client: &Client, path: &str) -> Queue {
        Queue {
            client: client.clone(),
            items: path::join(path, "items"),
            consumers: Mutex::new(client, &path::join(path, "consumers")),
        }
    }

    /// Appends an item; returns its node path.
    pub async fn put(&self, data: &[u8]) -> Result<String> {
        let item = path::join(&self.items, KIND);
        let opts = CreateOptions::persistent_sequential();
        match self.client.create(&item, data, &opts).await {
            Ok((p, _)) => Ok(p),
            Err(Error::Server(ErrorCode::NoNode)) => {
                self.client.ensure_path(&self.items).await?;
                Ok(self.client.create(&item, data, &opts).await?.0)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the oldest item if there is one.
    pub async fn try_take(&self) -> Result<Option<Vec<u8>>> {
        let children = match self.client.get_children(&self.items).await {
            Ok((c, _)) => c,
            Err(Error::Server(ErrorCode::NoNode)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.take_first(&children).await
    }

    /// Takes the oldest item, waiting for one.
    pub async fn take(&self) -> Result<Vec<u8>> {
        self.take_by(None).await?.ok_or(Error::Timeout)
    }

    /// Takes the oldest item, waiting at most `timeout`.
    pub async fn take_for(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.take_by(Some(Instant::now() + timeout)).await
    }

    /// The oldest item without taking it.
    pub async fn peek(&self) -> Result<Option<Vec<u8>>> {
        let children = match self.client.get_children(&self.items).await {
            Ok((c, _)) => c,
            Err(Error::Server(ErrorCode::NoNode)) => return Ok(None),
            Err(e) => return Err(e),
        };
        for item in sorted(&children, &[KIND]) {
            match self
                .client
                .get_data(&path::join(&self.items, &item.name))
                .await
            {
                Ok((data, _)) => return Ok(Some(data)),
                Err(Error::Server(ErrorCode::NoNode)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// How many items are queued.
    pub async fn len(&self) -> Result<usize> {
        match self.client.get_children(&self.items).await {
            Ok((c, _)) => Ok(sorted(&c, &[KIND]).len()),
            Err(Error::Server(ErrorCode::NoNode)) => Ok(0),
            Err(e) => Err(e),
        }
    }

    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    async fn take_by(&self, deadline: Option<Instant>) -> Result<Option<Vec<u8>>> {
        // Fast path: no need to queue behind other consumers if an item is there.
        if let Some(item) = self.try_take().await? {
            return Ok(Some(item));
        }
        let turn = match deadline {
            None => Some(self.consumers.lock().await?),
            Some(d) => {
                self.consumers
                    .try_lock_for(d.saturating_duration_since(Instant::now()))
                    .await?
            }
        };
        let Some(turn) = turn else {
            return Ok(None);
        };
        let taken = self.wait_and_take(deadline).await;
        turn.release().await?;
        taken
    }

    async fn wait_and_take(&self, deadline: Option<Instant>) -> Result<Option<Vec<u8>>> {
        loop {
            let (children, _, watch) = match self.client.get_children_watch(&self.items).await {
                Ok(c) => c,
                Err(Error::Server(ErrorCode::NoNode)) => {
                    self.client.ensure_path(&self.items).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(item) = self.take_first(&children).await? {
                return Ok(Some(item));
            }
            let event = match deadline {
                None => watch.await,
                Some(d) => match tokio::time::timeout_at(d.into(), watch).await {
                    Ok(e) => e,
                    Err(_) => return Ok(None),
                },
            };
            session_ended(&event)?;
        }
    }

    /// Reads and deletes the oldest of `children` that nobody else took first.
    async fn take_first(&self, children: &[String]) -> Result<Option<Vec<u8>>> {
        for item in sorted(children, &[KIND]) {
            let p = path::join(&self.items, &item.name);
            let data = match self.client.get_data(&p).await {
                Ok((data, _)) => data,
                Err(Error::Server(ErrorCode::NoNode)) => continue,
                Err(e) => return Err(e),
            };
            match self.client.delete(&p, None).await {
                Ok(()) => return Ok(Some(data)),
                Err(Error::Server(ErrorCode::NoNode)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}
