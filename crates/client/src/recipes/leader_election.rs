//! Leader election around a closure: wait to be leader, run the closure, give leadership up
//! when it returns (Curator's LeaderSelector). The closure gets a [`Leadership`] whose
//! [`Leadership::lost`] resolves if leadership ends early (connection lost, session gone, node
//! deleted), so a long-running leader can stop in time.

use std::future::Future;

use super::mutex::{acquire, first_in_line};
use super::sequence::sorted;
use crate::error::{Error, Result};
use crate::{Client, ErrorCode, EventType, path};

const KIND: &str = "leader-";

/// A participant of an election, as listed by `participants()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The id the participant joined with.
    pub id: String,
    /// Its node under the election path.
    pub node: String,
    /// True for the first (oldest) participant.
    pub is_leader: bool,
}

/// An election whose leader runs a closure.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::LeaderElection;
///
/// let election = LeaderElection::new(&client, "/election/compactor", "host-b");
/// loop {
///     election
///         .lead(|leadership| async move {
///             tokio::select! {
///                 _ = leadership.lost() => println!("lost leadership early"),
///                 _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => println!("did a minute of work"),
///             }
///         })
///         .await?;
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LeaderElection {
    client: Client,
    path: String,
    id: String,
}

impl LeaderElection {
    pub fn new(client: &Client, path: &str, participant_id: &str) -> LeaderElection {
        LeaderElection {
            client: client.clone(),
            path: path.to_owned(),
            id: participant_id.to_owned(),
        }
    }

    /// Waits until this participant leads, runs `f` and gives leadership up when its future
    /// completes (even if leadership was lost meanwhile). Call again to stand again.
    pub async fn lead<F, Fut, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Leadership) -> Fut,
        Fut: Future<Output = T>,
    {
        let guard = acquire(
            &self.client,
            &self.path,
            KIND,
            self.id.as_bytes(),
            &[KIND],
            first_in_line,
            None,
        )
        .await?
        .ok_or(Error::Timeout)?;
        let leadership = Leadership {
            client: self.client.clone(),
            node: guard.path().to_owned(),
        };
        let out = f(leadership).await;
        guard.release().await?;
        Ok(out)
    }

    /// Every participant, the leader first.
    pub async fn participants(&self) -> Result<Vec<Participant>> {
        participants(&self.client, &self.path, KIND).await
    }

    /// The leader's id, if anyone leads.
    pub async fn leader(&self) -> Result<Option<String>> {
        Ok(self.participants().await?.into_iter().next().map(|p| p.id))
    }
}

/// Held by the closure of [`LeaderElection::lead`] while it leads.
#[derive(Debug, Clone)]
pub struct Leadership {
    client: Client,
    node: String,
}

impl Leadership {
    /// The leader's node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Resolves when leadership can no longer be trusted: the connection is lost, the session
    /// ends, or the leader's node is deleted.
    pub async fn lost(&self) {
        let mut states = self.client.state_watch();
        loop {
            let Ok((Some(_), watch)) = self.client.exists_watch(&self.node).await else {
                return;
            };
            tokio::select! {
                event = watch => {
                    if event.event_type == EventType::NodeDeleted || event.is_session_event() {
                        return;
                    }
                }
                _ = states.wait_for(|s| !s.is_connected()) => return,
            }
        }
    }
}

/// The participants of an election whose nodes are of `kind`, oldest first, with the ids
/// stored in their data. Nodes that vanish while being read are skipped.
pub(crate) async fn participants(
    client: &Client,
    dir: &str,
    kind: &str,
) -> Result<Vec<Participant>> {
    let children = match client.get_children(dir).await {
        Ok((c, _)) => c,
        Err(Error::Server(ErrorCode::NoNode)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for node in sorted(&children, &[kind]) {
        match client.get_data(&path::join(dir, &node.name)).await {
            Ok((data, _)) => out.push(Participant {
                id: String::from_utf8_lossy(&data).into_owned(),
                is_leader: out.is_empty(),
                node: node.name,
            }),
            Err(Error::Server(ErrorCode::NoNode)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
