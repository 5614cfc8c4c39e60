//! A distributed read-write lock: any number of readers, or one writer.
//!
//! Readers and writers queue under one path. A reader proceeds when no writer is ahead of it
//! and watches only the nearest writer ahead; a writer proceeds when it is first and watches
//! only the node just ahead. Writers are not starved: a reader that arrives after a waiting
//! writer queues behind it.

use std::time::{Duration, Instant};

use super::mutex::{LockGuard, acquire, first_in_line};
use super::sequence::SeqNode;
use crate::Client;
use crate::error::{Error, Result};

const READ: &str = "read-";
const WRITE: &str = "write-";

/// A distributed read-write lock on a znode path.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::RwLock;
///
/// let lock = RwLock::new(&client, "/locks/catalog");
/// let read = lock.read().await?;   // shared with other readers
/// read.release().await?;
/// let write = lock.write().await?; // exclusive
/// write.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RwLock {
    client: Client,
    path: String,
}

impl RwLock {
    pub fn new(client: &Client, path: &str) -> RwLock {
        RwLock {
            client: client.clone(),
            path: path.to_owned(),
        }
    }

    /// Waits for a shared (read) lock.
    pub async fn read(&self) -> Result<LockGuard> {
        self.read_for(None).await?.ok_or(Error::Timeout)
    }

    /// Waits for an exclusive (write) lock.
    pub async fn write(&self) -> Result<LockGuard> {
        self.write_for(None).await?.ok_or(Error::Timeout)
    }

    /// A read lock within `timeout`, or `None`.
    pub async fn try_read_for(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.read_for(Some(Instant::now() + timeout)).await
    }

    /// A write lock within `timeout`, or `None`.
    pub async fn try_write_for(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.write_for(Some(Instant::now() + timeout)).await
    }

    async fn read_for(&self, deadline: Option<Instant>) -> Result<Option<LockGuard>> {
        acquire(
            &self.client,
            &self.path,
            READ,
            b"",
            &[READ, WRITE],
            nearest_writer_ahead,
            deadline,
        )
        .await
    }

    async fn write_for(&self, deadline: Option<Instant>) -> Result<Option<LockGuard>> {
        acquire(
            &self.client,
            &self.path,
            WRITE,
            b"",
            &[READ, WRITE],
            first_in_line,
            deadline,
        )
        .await
    }
}

/// A reader waits for the last writer queued before it.
fn nearest_writer_ahead(nodes: &[SeqNode], me: usize) -> Option<usize> {
    nodes[..me].iter().rposition(|n| n.kind == WRITE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: &str, seq: i64) -> SeqNode {
        SeqNode {
            name: format!("{kind}{seq:010}"),
            kind: kind.to_owned(),
            seq,
        }
    }

    #[test]
    fn readers_wait_only_for_writers_ahead() {
        let q = [
            node(READ, 1),
            node(WRITE, 2),
            node(READ, 3),
            node(READ, 4),
            node(WRITE, 5),
        ];
        assert_eq!(nearest_writer_ahead(&q, 0), None);
        assert_eq!(nearest_writer_ahead(&q, 2), Some(1));
        assert_eq!(nearest_writer_ahead(&q, 3), Some(1));
        assert_eq!(
            first_in_line(&q, 4),
            Some(3),
            "a writer waits for whoever is just ahead"
        );
        assert_eq!(first_in_line(&q, 0), None);
    }
}
