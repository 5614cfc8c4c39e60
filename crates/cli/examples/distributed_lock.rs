//! A distributed lock: several workers, each with its own session, take turns updating a
//! shared counter znode with a read-modify-write that would lose updates without the lock.
//!
//! ```text
//! watchkeeper serve &
//! cargo run -p watchkeeper --example distributed_lock -- 127.0.0.1:2181
//! ```
//!
//! The lock (`recipes::Mutex`) queues contenders as ephemeral sequential nodes; each waiter
//! watches only the node just ahead of it, so a release wakes exactly one waiter. If a holder
//! crashes, its session ends, its node disappears and the next waiter goes.

use std::time::Duration;

use watchkeeper_client::recipes::Mutex;
use watchkeeper_client::{Client, CreateOptions, Error};

const WORKERS: usize = 3;
const ROUNDS: usize = 5;
const ROOT: &str = "/examples/lock";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2181".into());

    // Start from a clean slate: a counter node at 0.
    let admin = Client::connect(&server).await?;
    admin.delete_recursive(ROOT).await.or_else(ignore_missing)?;
    admin.ensure_path(ROOT).await?;
    let counter = format!("{ROOT}/counter");
    admin
        .create(&counter, b"0", &CreateOptions::persistent())
        .await?;

    let mut workers = Vec::new();
    for w in 0..WORKERS {
        // One client per worker: the lock is held by a session, as separate processes would.
        let client = Client::connect(&server).await?;
        let counter = counter.clone();
        workers.push(tokio::spawn(async move {
            let lock = Mutex::new(&client, &format!("{ROOT}/mutex"));
            for _ in 0..ROUNDS {
                let guard = lock.lock().await?;
                // Read, think, write: unsafe without the lock, safe with it.
                let (data, _) = client.get_data(&counter).await?;
                let n: u64 = String::from_utf8_lossy(&data).parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(20)).await;
                client
                    .set_data(&counter, (n + 1).to_string().as_bytes(), None)
                    .await?;
                println!("worker {w} holds {} and counted to {}", guard.path(), n + 1);
                guard.release().await?;
            }
            client.close().await
        }));
    }
    for worker in workers {
        worker.await.map_err(|e| Error::Protocol(e.to_string()))??;
    }

    let (data, _) = admin.get_data(&counter).await?;
    let total = String::from_utf8_lossy(&data).into_owned();
    println!("final count {total} (expected {})", WORKERS * ROUNDS);
    admin.delete_recursive(ROOT).await?;
    admin.close().await
}

/// A node that is not there is already deleted.
fn ignore_missing(e: Error) -> Result<(), Error> {
    match e {
        Error::Server(watchkeeper_client::ErrorCode::NoNode) => Ok(()),
        e => Err(e),
    }
}
