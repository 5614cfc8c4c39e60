//! Network partitions (nftables rules inside a private network namespace): a leader cut off in
//! the minority, and a follower cut off alone.

use std::time::Duration;

use crate::cluster::{Cluster, partitions_allowed};
use crate::load::{Load, Writers};
use crate::{runtime, seed, verify_everywhere};

#[test]
fn a_leader_in_the_minority_steps_aside_and_no_acknowledged_write_is_lost() {
    if !partitions_allowed() {
        return;
    }
    let seed = seed();
    let c = Cluster::start_partitionable(3, &[]);
    let leader = c.wait_for_leader();
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let rt = runtime();
    let load = rt.block_on(Load::start(&c.connect_string(), "minority", seed));
    std::thread::sleep(Duration::from_millis(800));
    c.partition(&[&[leader], &others]);
    // The majority elects a leader of its own; the old one stops serving its clients.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let modes: Vec<_> = others.iter().map(|&i| c.mode(i)).collect();
        if modes.iter().any(|m| m.as_deref() == Some("leader")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the majority elected nobody: {modes:?}\n{}",
            c.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Cut off for syncLimit ticks, the old leader drops its clients so they move to the majority.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let said = |needle: &str| {
        std::fs::read_to_string(c.data_dir(leader).join("server.log"))
            .unwrap_or_default()
            .contains(needle)
    };
    while !said("no leader or quorum: closing client connections") {
        assert!(
            std::time::Instant::now() < deadline,
            "the minority leader kept serving\n{}",
            c.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    c.heal();
    c.wait_for_leader();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        load.finish(&c).await;
    });
}

#[test]
fn an_isolated_follower_rejoins_without_disturbing_the_leader() {
    if !partitions_allowed() {
        return;
    }
    let c = Cluster::start_partitionable(3, &[]);
    let leader = c.wait_for_leader();
    let follower = (leader + 1) % 3;
    let rest: Vec<usize> = (0..3).filter(|&i| i != follower).collect();
    let term_before = c.mntr(leader, "raft_term").expect("the leader's term");
    let rt = runtime();
    let writers = rt.block_on(Writers::start(
        &c.members[leader].addr().to_string(),
        "/isolated",
        2,
    ));
    c.partition(&[&[follower], &rest]);
    // Long enough for the follower's election timer to fire several times.
    std::thread::sleep(Duration::from_secs(6));
    c.heal();
    c.wait_member_ready(follower);
    assert_eq!(c.wait_for_leader(), leader, "the leader kept its place");
    let term_after = c.mntr(leader, "raft_term").expect("the leader's term");
    assert_eq!(
        term_before, term_after,
        "pre-vote kept the term: the isolated follower's elections never counted"
    );
    rt.block_on(async {
        let ledger = writers.stop().await;
        verify_everywhere(&c, &ledger).await;
    });
}
