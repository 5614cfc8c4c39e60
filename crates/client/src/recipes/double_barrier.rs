//! A double barrier: `members` processes enter together and leave together (Curator's
//! DistributedDoubleBarrier).
//!
//! Entering creates an ephemeral node for the member; the member that sees the count reach
//! `members` creates a `ready` node, which every waiting member watches. Leaving deletes the
//! member's node; members wait herd-free for the others: the lowest-named member waits for the
//! highest, every other member deletes its own node and waits for the lowest. A member's
//! `leave` returns only once every member node is gone; each then removes `ready`, so the path
//! can be used for another round once every member has left.

use super::sequence::{delete_if_present, session_ended, wait_gone};
use crate::error::{Error, Result};
use crate::types::CreateOptions;
use crate::{Client, ErrorCode, path};

const READY: &str = "ready";

/// One member of a double barrier.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::DoubleBarrier;
///
/// let barrier = DoubleBarrier::new(&client, "/barriers/batch-7", "worker-3", 5);
/// barrier.enter().await?; // returns when all 5 have entered
/// // ... compute ...
/// barrier.leave().await?; // returns when all 5 have left
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DoubleBarrier {
    client: Client,
    path: String,
    member: String,
    members: usize,
}

impl DoubleBarrier {
    /// `member` must be unique among the `members` participants (it names the member's node).
    pub fn new(client: &Client, path: &str, member: &str, members: usize) -> DoubleBarrier {
        DoubleBarrier {
            client: client.clone(),
            path: path.to_owned(),
            member: member.to_owned(),
            members: members.max(1),
        }
    }

    fn ready(&self) -> String {
        path::join(&self.path, READY)
    }

    fn own(&self) -> String {
        path::join(&self.path, &self.member)
    }

    /// Members present now (without the `ready` marker), sorted by name.
    async fn present(&self) -> Result<Vec<String>> {
        let (mut children, _) = match self.client.get_children(&self.path).await {
            Ok(c) => c,
            Err(Error::Server(ErrorCode::NoNode)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        children.retain(|c| c != READY);
        children.sort();
        Ok(children)
    }

    /// Enters and waits until all members have.
    pub async fn enter(&self) -> Result<()> {
        if crate::path::validate(&self.own(), false).is_err() || self.member == READY {
            return Err(Error::BadArguments(format!(
                "bad member name {:?}",
                self.member
            )));
        }
        self.client.ensure_path(&self.path).await?;
        match self
            .client
            .create(&self.own(), b"", &CreateOptions::ephemeral())
            .await
        {
            Ok(_) | Err(Error::Server(ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e),
        }
        loop {
            let (ready, watch) = self.client.exists_watch(&self.ready()).await?;
            if ready.is_some() {
                return Ok(());
            }
            if self.present().await?.len() >= self.members {
                match self
                    .client
                    .create(&self.ready(), b"", &CreateOptions::persistent())
                    .await
                {
                    Ok(_) | Err(Error::Server(ErrorCode::NodeExists)) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            session_ended(&watch.await)?;
        }
    }

    /// Leaves and waits until all members have.
    pub async fn leave(&self) -> Result<()> {
        loop {
            let present = self.present().await?;
            let mine = present.iter().position(|m| *m == self.member);
            let (Some(first), Some(last)) = (present.first(), present.last()) else {
                break;
            };
            if present.len() == 1 && mine.is_some() {
                delete_if_present(&self.client, &self.own()).await?;
                break;
            }
            if mine == Some(0) {
                wait_gone(&self.client, &path::join(&self.path, last), None).await?;
            } else {
                delete_if_present(&self.client, &self.own()).await?;
                wait_gone(&self.client, &path::join(&self.path, first), None).await?;
            }
        }
        // The last one out lowers `ready` for the next round; others find it gone.
        delete_if_present(&self.client, &self.ready()).await
    }
}
