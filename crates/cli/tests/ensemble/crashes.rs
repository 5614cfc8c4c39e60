//! Truncate-then-crash (scenario 12): a member whose log holds an uncommitted tail rejoins a
//! leader of a later term, must drop that tail, and is killed again and again around that
//! moment. However the kills fall, it ends with the ensemble's log, the tail never comes back,
//! and its term does not go backwards.

use std::time::{Duration, Instant};

use watchkeeper_bench::conn::{ConnectOptions, Connection};
use watchkeeper_bench::pipeline::create_req;
use watchkeeper_proto::CreateMode;

use crate::cluster::Cluster;
use crate::load::{SESSION_TIMEOUT, connect, persistent};
use crate::runtime;

/// The sorted children of `/trunc` as member `i` sees them after a sync.
async fn children_on(c: &Cluster, i: usize) -> Vec<String> {
    let client = connect(&c.members[i].addr().to_string()).await;
    client.sync("/trunc").await.expect("sync");
    let mut names = client.list_children("/trunc").await.expect("children");
    names.sort();
    names
}

/// How many times member `i` has logged dropping an uncommitted tail.
fn truncations(c: &Cluster, i: usize) -> usize {
    std::fs::read_to_string(c.data_dir(i).join("server.log"))
        .unwrap_or_default()
        .matches("truncating this member's uncommitted log tail")
        .count()
}

#[test]
fn a_member_killed_while_dropping_its_uncommitted_tail_recovers_the_ensembles_log() {
    let seed = crate::seed();
    let mut c = Cluster::start(3, &[]);
    let old = c.wait_for_leader();
    let followers = [(old + 1) % 3, (old + 2) % 3];
    const COMMITTED: usize = 50;
    const UNCOMMITTED: usize = 300;
    let rt = runtime();
    rt.block_on(async {
        let client = connect(&c.members[old].addr().to_string()).await;
        client
            .create("/trunc", b"", &persistent())
            .await
            .expect("parent");
        for i in 0..COMMITTED {
            client
                .create(&format!("/trunc/a{i:03}"), b"", &persistent())
                .await
                .expect("a committed create");
        }
    });
    let term_before = c.mntr(old, "raft_term");
    // The session first: creating one is a write, too.
    let mut conn = rt.block_on(async {
        let opts = ConnectOptions {
            session_timeout: SESSION_TIMEOUT,
            ..ConnectOptions::default()
        };
        Connection::connect(c.members[old].addr(), &opts)
            .await
            .expect("a session on the leader")
    });
    // With both followers gone, the leader appends what it is sent but cannot commit it.
    for f in followers {
        c.kill(f);
    }
    rt.block_on(async {
        for i in 0..UNCOMMITTED {
            let req = create_req(&format!("/trunc/u{i:03}"), b"", CreateMode::Persistent);
            conn.send(&req, i as u64).expect("queue");
        }
        conn.flush().await.expect("send the uncommitted creates");
        // Long enough for them to reach its log (nothing can answer them).
        tokio::time::sleep(Duration::from_millis(500)).await;
        conn.detach();
    });
    c.kill(old);
    for f in followers {
        c.restart(f);
    }
    let new = c.wait_for_leader();
    assert!(followers.contains(&new));
    rt.block_on(async {
        let client = connect(&c.members[new].addr().to_string()).await;
        // More than the old leader's tail, so every index of it now holds another entry.
        for i in 0..UNCOMMITTED + 50 {
            client
                .create(&format!("/trunc/c{i:03}"), b"", &persistent())
                .await
                .expect("a create under the new leader");
        }
    });
    // The old leader rejoins and is killed at seed-chosen moments around its truncation.
    let mut rng = seed;
    for round in 0..3 {
        c.restart(old);
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis(100 + (rng >> 33) % 900);
        eprintln!(
            "round {round}: killing member {} {after:?} after its start",
            old + 1
        );
        std::thread::sleep(after);
        c.kill(old);
        eprintln!("  truncations logged so far: {}", truncations(&c, old));
    }
    c.restart(old);
    c.wait_member_ready(old);
    let expected: Vec<String> = (0..COMMITTED)
        .map(|i| format!("a{i:03}"))
        .chain((0..UNCOMMITTED + 50).map(|i| format!("c{i:03}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    rt.block_on(async {
        for i in 0..3 {
            loop {
                let seen = children_on(&c, i).await;
                if seen == expected {
                    break;
                }
                assert!(
                    seen.iter().all(|n| !n.starts_with('u')),
                    "member {} revived an uncommitted create: {:?}",
                    i + 1,
                    seen.iter()
                        .filter(|n| n.starts_with('u'))
                        .take(5)
                        .collect::<Vec<_>>()
                );
                assert!(
                    Instant::now() < deadline,
                    "member {} has {} children, expected {}\n{}",
                    i + 1,
                    seen.len(),
                    expected.len(),
                    c.logs_tail()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    assert!(
        truncations(&c, old) > 0,
        "the old leader never truncated its tail\n{}",
        c.logs_tail()
    );
    let term_after = c.mntr(old, "raft_term");
    let (before, after) = (
        term_before.and_then(|t| t.parse::<u64>().ok()),
        term_after.and_then(|t| t.parse::<u64>().ok()),
    );
    assert!(
        before.is_some() && after.is_some() && after > before,
        "the old leader's term went from {before:?} to {after:?}"
    );
}
