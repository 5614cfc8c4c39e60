//! Leader election as a latch: every participant holds an ephemeral sequential node; the
//! oldest is the leader. A background task keeps the participant's state and publishes every
//! change, so callers read [`LeaderLatch::is_leader`] or follow [`LeaderLatch::leadership`].
//!
//! Leadership is given up as soon as the connection is lost (the session, and so the
//! leadership, may be gone before the client can know) and taken back after a reconnect if the
//! participant is still first. A non-leader watches only the participant just ahead.

use std::sync::Arc;

use futures::Stream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::WatchStream;

use super::leader_election::{Participant, participants};
use super::sequence::{RETRY_PAUSE, create_protected, delete_if_present, is_terminal, sorted};
use crate::Client;
use crate::error::{Error, Result};
use crate::path;
use crate::types::{CreateOptions, SessionState};

const KIND: &str = "latch-";

/// One participant in a leader election.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use futures::StreamExt;
/// use watchkeeper_client::recipes::LeaderLatch;
///
/// let latch = LeaderLatch::start(&client, "/election/scheduler", "host-a").await?;
/// let mut changes = latch.leadership();
/// while let Some(leader) = changes.next().await {
///     println!("leader now: {leader}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LeaderLatch {
    client: Client,
    path: String,
    state: watch::Receiver<bool>,
    node: Arc<std::sync::Mutex<Option<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LeaderLatch {
    /// Joins the election under `path` as `id` (stored in the node, see
    /// [`LeaderLatch::participants`]). Returns once the participant's node exists.
    pub async fn start(client: &Client, path: &str, id: &str) -> Result<LeaderLatch> {
        let name = create_protected(
            client,
            path,
            KIND,
            id.as_bytes(),
            &CreateOptions::ephemeral_sequential(),
        )
        .await?;
        let node = Arc::new(std::sync::Mutex::new(Some(name)));
        let (tx, state) = watch::channel(false);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(
            client.clone(),
            path.to_owned(),
            id.to_owned(),
            node.clone(),
            tx,
            stop_rx,
        ));
        Ok(LeaderLatch {
            client: client.clone(),
            path: path.to_owned(),
            state,
            node,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    /// The current leadership, then every change. Ends when the latch stops (closed, or the
    /// session ended).
    pub fn leadership(&self) -> impl Stream<Item = bool> + Send + Unpin + 'static {
        WatchStream::new(self.state.clone())
    }

    /// Waits until this participant is the leader. Fails if the latch stops first.
    pub async fn wait_leader(&self) -> Result<()> {
        let mut state = self.state.clone();
        state
            .wait_for(|leader| *leader)
            .await
            .map(|_| ())
            .map_err(|_| self.client_error())
    }

    /// Every participant, oldest (the leader) first.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        participants(&self.client, &self.path, KIND).await
    }

    /// This participant's node name, while it has one.
    pub fn node(&self) -> Option<String> {
        self.node.lock().map(|n| n.clone()).unwrap_or(None)
    }

    /// Leaves the election: the node is deleted and leadership (if held) passes on.
    pub async fn close(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        match self.node() {
            Some(name) => delete_if_present(&self.client, &path::join(&self.path, &name)).await,
            None => Ok(()),
        }
    }

    fn client_error(&self) -> Error {
        match self.client.state() {
            SessionState::Expired => Error::SessionExpired,
            SessionState::AuthFailed => Error::AuthFailed,
            _ => Error::Closed,
        }
    }
}

impl Drop for LeaderLatch {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The task deletes the node itself when told to stop.
            let _ = stop.send(());
        }
    }
}

/// What the participant is waiting for.
enum Wait {
    /// Leader: until our own node goes.
    Own(String),
    /// Not leader: until the participant ahead goes.
    Ahead(String),
}

async fn run(
    client: Client,
    dir: String,
    id: String,
    node: Arc<std::sync::Mutex<Option<String>>>,
    leader: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut states = client.state_watch();
    let set_node = |n: Option<String>| {
        if let Ok(mut slot) = node.lock() {
            *slot = n;
        }
    };
    let get_node = || node.lock().map(|n| n.clone()).unwrap_or(None);
    loop {
        if !states.borrow().is_connected() {
            leader.send_replace(false);
            tokio::select! {
                r = states.wait_for(|s| s.is_connected() || s.is_terminal()) => {
                    if r.map(|s| s.is_terminal()).unwrap_or(true) {
                        break;
                    }
                }
                _ = &mut stop => break,
            }
        }
        let name = match get_node() {
            Some(name) => name,
            None => {
                let created = create_protected(
                    &client,
                    &dir,
                    KIND,
                    id.as_bytes(),
                    &CreateOptions::ephemeral_sequential(),
                )
                .await;
                match created {
                    Ok(name) => {
                        set_node(Some(name.clone()));
                        name
                    }
                    Err(e) if is_terminal(&e) => break,
                    Err(_) => {
                        tokio::time::sleep(RETRY_PAUSE).await;
                        continue;
                    }
                }
            }
        };
        let wait = match client.get_children(&dir).await {
            Ok((children, _)) => {
                let nodes = sorted(&children, &[KIND]);
                match nodes.iter().position(|n| n.name == name) {
                    // Someone deleted our node: join again.
                    None => {
                        set_node(None);
                        continue;
                    }
                    Some(0) => Wait::Own(path::join(&dir, &name)),
                    Some(i) => Wait::Ahead(path::join(&dir, &nodes[i - 1].name)),
                }
            }
            Err(e) if is_terminal(&e) => break,
            Err(_) => {
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        let watched = match &wait {
            Wait::Own(p) | Wait::Ahead(p) => p.clone(),
        };
        let (stat, watch) = match client.exists_watch(&watched).await {
            Ok(w) => w,
            Err(e) if is_terminal(&e) => break,
            Err(_) => continue,
        };
        if stat.is_none() {
            continue;
        }
        leader.send_replace(matches!(wait, Wait::Own(_)));
        tokio::select! {
            _ = watch => {
                if client.state().is_terminal() {
                    break;
                }
            }
            _ = states.wait_for(|s| !s.is_connected()) => {}
            _ = &mut stop => break,
        }
    }
    leader.send_replace(false);
    if let Some(name) = get_node()
        && !client.state().is_terminal()
    {
        let _ = delete_if_present(&client, &path::join(&dir, &name)).await;
        set_node(None);
    }
}
