//! A barrier: processes wait while a node exists and go on when it is removed.

use std::time::{Duration, Instant};

use super::sequence::{delete_if_present, wait_gone};
use crate::error::{Error, Result};
use crate::types::CreateOptions;
use crate::{Client, ErrorCode};

/// A barrier held up by the existence of one node.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::Barrier;
///
/// let barrier = Barrier::new(&client, "/barriers/deploy");
/// barrier.set().await?;        // by the coordinator
/// barrier.wait().await?;       // by the workers: returns once it is removed
/// barrier.remove().await?;     // by the coordinator
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    client: Client,
    path: String,
}

impl Barrier {
    pub fn new(client: &Client, path: &str) -> Barrier {
        Barrier {
            client: client.clone(),
            path: path.to_owned(),
        }
    }

    /// Raises the barrier (creates its node, and its parents; fine if it is already up).
    pub async fn set(&self) -> Result<()> {
        match self
            .client
            .create(&self.path, b"", &CreateOptions::persistent())
            .await
        {
            Ok(_) | Err(Error::Server(ErrorCode::NodeExists)) => Ok(()),
            Err(Error::Server(ErrorCode::NoNode)) => self.client.ensure_path(&self.path).await,
            Err(e) => Err(e),
        }
    }

    /// Lowers the barrier, releasing every waiter.
    pub async fn remove(&self) -> Result<()> {
        delete_if_present(&self.client, &self.path).await
    }

    /// Waits until the barrier is down (returns at once if it is not up).
    pub async fn wait(&self) -> Result<()> {
        wait_gone(&self.client, &self.path, None).await.map(|_| ())
    }

    /// Waits at most `timeout`; true if the barrier went down.
    pub async fn wait_for(&self, timeout: Duration) -> Result<bool> {
        wait_gone(&self.client, &self.path, Some(Instant::now() + timeout)).await
    }
}
