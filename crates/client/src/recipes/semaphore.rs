//! A distributed counting semaphore: at most `permits` holders at once.
//!
//! Holders are ephemeral sequential nodes under `<path>/leases`. Acquirers take turns through an
//! internal [`Mutex`] (`<path>/locks`), so only the one at the front watches the leases: a
//! release wakes one waiter, not all. Every participant must use the same number of permits.

use std::time::{Duration, Instant};

use super::mutex::Mutex;
use super::sequence::{create_protected, delete_if_present, session_ended, sorted, spawn_delete};
use crate::Client;
use crate::error::{Error, Result};
use crate::path;
use crate::types::CreateOptions;

const KIND: &str = "lease-";

/// A distributed semaphore.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::Semaphore;
///
/// let downloads = Semaphore::new(&client, "/semaphores/downloads", 3);
/// let permit = downloads.acquire().await?; // at most 3 holders at once
/// permit.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    client: Client,
    leases: String,
    turn: Mutex,
    permits: usize,
}

impl Semaphore {
    /// `permits` must be at least 1 and the same for every participant.
    pub fn new(client: &Client, path: &str, permits: usize) -> Semaphore {
        Semaphore {
            client: client.clone(),
            leases: path::join(path, "leases"),
            turn: Mutex::new(client, &path::join(path, "locks")),
            permits: permits.max(1),
        }
    }

    /// Waits for a permit.
    pub async fn acquire(&self) -> Result<Permit> {
        self.acquire_by(None).await?.ok_or(Error::Timeout)
    }

    /// A permit within `timeout`, or `None`.
    pub async fn try_acquire_for(&self, timeout: Duration) -> Result<Option<Permit>> {
        self.acquire_by(Some(Instant::now() + timeout)).await
    }

    /// How many permits are held now.
    pub async fn held(&self) -> Result<usize> {
        match self.client.get_children(&self.leases).await {
            Ok((children, _)) => Ok(sorted(&children, &[KIND]).len()),
            Err(Error::Server(crate::ErrorCode::NoNode)) => Ok(0),
            Err(e) => Err(e),
        }
    }

    async fn acquire_by(&self, deadline: Option<Instant>) -> Result<Option<Permit>> {
        let turn = match deadline {
            None => Some(self.turn.lock().await?),
            Some(d) => {
                self.turn
                    .try_lock_for(d.saturating_duration_since(Instant::now()))
                    .await?
            }
        };
        let Some(turn) = turn else {
            return Ok(None);
        };
        let name = create_protected(
            &self.client,
            &self.leases,
            KIND,
            b"",
            &CreateOptions::ephemeral_sequential(),
        )
        .await?;
        let permit = Permit {
            client: self.client.clone(),
            path: path::join(&self.leases, &name),
            released: false,
        };
        let outcome = self.wait_for_room(&name, deadline).await;
        // The turn goes to the next acquirer whatever happened here.
        turn.release().await?;
        match outcome? {
            true => Ok(Some(permit)),
            false => {
                permit.release().await?;
                Ok(None)
            }
        }
    }

    /// With the turn held, waits until our lease is among the first `permits`.
    async fn wait_for_room(&self, name: &str, deadline: Option<Instant>) -> Result<bool> {
        loop {
            let (children, _, watch) = self.client.get_children_watch(&self.leases).await?;
            let leases = sorted(&children, &[KIND]);
            match leases.iter().position(|l| l.name == name) {
                None => return Err(Error::Server(crate::ErrorCode::NoNode)),
                Some(i) if i < self.permits => return Ok(true),
                Some(_) => {}
            }
            let event = match deadline {
                None => watch.await,
                Some(d) => match tokio::time::timeout_at(d.into(), watch).await {
                    Ok(e) => e,
                    Err(_) => return Ok(false),
                },
            };
            session_ended(&event)?;
        }
    }
}

/// A held permit. Release it with [`Permit::release`]; dropping it releases it in the
/// background.
#[derive(Debug)]
#[must_use = "the permit is released when dropped"]
pub struct Permit {
    client: Client,
    path: String,
    released: bool,
}

impl Permit {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        delete_if_present(&self.client, &self.path).await
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.released {
            spawn_delete(&self.client, &self.path);
        }
    }
}
