//! A distributed mutual-exclusion lock.
//!
//! Each contender creates an ephemeral sequential node under the lock's path; the oldest holds
//! the lock and every other watches only the node just before its own, so a release wakes
//! exactly one waiter. The lock is not re-entrant.

use std::time::{Duration, Instant};

use super::sequence::{
    SeqNode, Turn, create_protected, delete_if_present, spawn_delete, wait_turn,
};
use crate::Client;
use crate::error::Result;
use crate::path;
use crate::types::CreateOptions;

const KIND: &str = "lock-";

/// A distributed lock on a znode path.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::Mutex;
///
/// let lock = Mutex::new(&client, "/locks/invoices");
/// let guard = lock.lock().await?;
/// // ... only one process at a time gets here ...
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Mutex {
    client: Client,
    path: String,
}

impl Mutex {
    /// A lock whose contenders queue under `path` (created when first needed).
    pub fn new(client: &Client, path: &str) -> Mutex {
        Mutex {
            client: client.clone(),
            path: path.to_owned(),
        }
    }

    /// Waits for the lock.
    pub async fn lock(&self) -> Result<LockGuard> {
        let guard = self.acquire_until(None).await?;
        guard.ok_or(crate::Error::Timeout)
    }

    /// Waits for the lock at most `timeout`; `None` if it was not acquired in time.
    pub async fn try_lock_for(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.acquire_until(Some(Instant::now() + timeout)).await
    }

    async fn acquire_until(&self, deadline: Option<Instant>) -> Result<Option<LockGuard>> {
        acquire(
            &self.client,
            &self.path,
            KIND,
            b"",
            &[KIND],
            first_in_line,
            deadline,
        )
        .await
    }

    /// Takes the lock only if nobody holds or waits for it.
    pub async fn try_lock(&self) -> Result<Option<LockGuard>> {
        self.try_lock_for(Duration::ZERO).await
    }
}

/// Blocked by the node just before ours, if any.
pub(crate) fn first_in_line(_: &[SeqNode], me: usize) -> Option<usize> {
    me.checked_sub(1)
}

/// Queues a node of `kind` under `dir` and waits until `blocker` lets it through. `Ok(None)`
/// when the deadline passed (the node is then removed again).
pub(crate) async fn acquire(
    client: &Client,
    dir: &str,
    kind: &str,
    data: &[u8],
    kinds: &[&str],
    blocker: impl Fn(&[SeqNode], usize) -> Option<usize>,
    deadline: Option<Instant>,
) -> Result<Option<LockGuard>> {
    let name = create_protected(
        client,
        dir,
        kind,
        data,
        &CreateOptions::ephemeral_sequential(),
    )
    .await?;
    let node = path::join(dir, &name);
    // From here on the node must not outlive a failure or a give-up.
    let guard = LockGuard {
        client: client.clone(),
        path: node,
        released: false,
    };
    match wait_turn(client, dir, &name, kinds, blocker, deadline).await? {
        Turn::Go => Ok(Some(guard)),
        Turn::TimedOut => {
            guard.release().await?;
            Ok(None)
        }
    }
}

/// Proof of holding a lock (or read/write lock). Release it with [`LockGuard::release`];
/// dropping it releases it in the background.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct LockGuard {
    client: Client,
    path: String,
    released: bool,
}

impl LockGuard {
    /// The node that holds the lock.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Releases the lock and waits until the server has it.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        delete_if_present(&self.client, &self.path).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            spawn_delete(&self.client, &self.path);
        }
    }
}
