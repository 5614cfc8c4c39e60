//! Leader election with fail-over: three candidates join an election; the leader "crashes"
//! (its session is closed), and another candidate takes over within moments.
//!
//! ```text
//! watchkeeper serve &
//! cargo run -p watchkeeper --example leader_election -- 127.0.0.1:2181
//! ```
//!
//! `recipes::LeaderLatch` gives each candidate an ephemeral sequential node; the oldest node
//! leads. Each follower watches only the node just ahead of it, so the leader's departure
//! wakes one candidate, not the whole group. Leadership is reported as a stream of `bool`.

use std::time::Duration;

use futures::StreamExt;
use watchkeeper_client::recipes::LeaderLatch;
use watchkeeper_client::{Client, Error};

const ELECTION: &str = "/examples/election";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2181".into());

    let mut candidates = Vec::new();
    for name in ["alpha", "bravo", "charlie"] {
        // Each candidate has its own session, as it would in its own process.
        let client = Client::connect(&server).await?;
        let latch = LeaderLatch::start(&client, ELECTION, name).await?;
        // Report every change of this candidate's leadership as it happens.
        let mut changes = latch.leadership();
        tokio::spawn(async move {
            while let Some(leading) = changes.next().await {
                if leading {
                    println!("{name}: I am the leader now");
                }
            }
        });
        candidates.push((name, client, latch));
    }

    // Find the leader and let it crash: closing the session deletes its ephemeral node.
    let leader = wait_for_leader(&candidates).await;
    let (name, client, latch) = candidates.remove(leader);
    println!("{name}: crashing");
    drop(latch);
    client.close().await?;

    // One of the others takes over.
    let next = wait_for_leader(&candidates).await;
    println!("fail-over done: {} leads", candidates[next].0);
    for p in candidates[next].2.participants().await? {
        println!(
            "  participant {} (node {}, leader: {})",
            p.id, p.node, p.is_leader
        );
    }

    // Followers leave first, so that leadership does not pass on once more on the way out.
    for (_, client, latch) in candidates.into_iter().rev() {
        latch.close().await?;
        client.close().await?;
    }
    Ok(())
}

/// The index of the candidate that currently leads (polling the latches' local state).
async fn wait_for_leader(candidates: &[(&str, Client, LeaderLatch)]) -> usize {
    loop {
        if let Some(i) = candidates.iter().position(|(_, _, l)| l.is_leader()) {
            return i;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
