//! Observers (`:observer`, `peerType=observer`): members that get the log, serve reads,
//! watches and sync, forward writes to the leader, and never vote.

use std::time::{Duration, Instant};

use zookeeper_client as zk;

use crate::cluster::Cluster;
use crate::load::{connect, persistent};
use crate::runtime;

/// Waits until `check` holds, failing with `what` after a generous deadline.
fn wait_until(c: &Cluster, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "{what}\n{}", c.logs_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn observers_serve_reads_watches_and_writes_and_never_vote() {
    let mut c = Cluster::start_with_observers(3, 2, &[]);
    let leader = c.wait_for_leader();
    assert!(leader < 3, "an observer leads");
    for o in [3, 4] {
        wait_until(&c, "an observer does not say so", || {
            c.mode(o).as_deref() == Some("observer")
        });
    }
    wait_until(&c, "the leader does not count two synced observers", || {
        c.mntr(leader, "synced_observers").as_deref() == Some("2")
    });
    let rt = runtime();
    rt.block_on(async {
        // A write through an observer is forwarded; another observer's watch fires.
        let on_4 = connect(&c.members[3].addr().to_string()).await;
        let on_5 = connect(&c.members[4].addr().to_string()).await;
        on_4.create("/obs", b"one", &persistent())
            .await
            .expect("a create through an observer");
        on_5.sync("/obs").await.expect("sync on an observer");
        let (data, _, watcher) = on_5.get_and_watch_data("/obs").await.expect("watch");
        assert_eq!(data, b"one");
        let on_leader = connect(&c.members[leader].addr().to_string()).await;
        on_leader
            .set_data("/obs", b"two", None)
            .await
            .expect("a write through the leader");
        let event = tokio::time::timeout(Duration::from_secs(30), watcher.changed())
            .await
            .expect("the observer's watch fires");
        assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
        assert_eq!(on_5.get_data("/obs").await.expect("read").0, b"two");
    });
    // One voter down: the other two still make a quorum, and observers follow the new leader.
    c.kill(leader);
    let next = c.wait_for_leader();
    assert!(next < 3, "an observer took the lead");
    rt.block_on(async {
        let on_4 = connect(&c.members[3].addr().to_string()).await;
        on_4.set_data("/obs", b"three", None)
            .await
            .expect("a write through an observer after the failover");
    });
    // Two voters down: the remaining voter and the observers are three of five members, but
    // observers do not vote, so nobody leads.
    let other = (0..3)
        .find(|&i| i != leader && i != next)
        .expect("a third voter");
    c.kill(next);
    std::thread::sleep(Duration::from_secs(6));
    for i in [other, 3, 4] {
        assert_ne!(
            c.mode(i).as_deref(),
            Some("leader"),
            "member {} leads without a quorum of voters",
            i + 1
        );
    }
    // The voters come back; an observer restarted meanwhile catches up.
    c.restart(leader);
    c.restart(next);
    c.wait_for_leader();
    c.kill(3);
    rt.block_on(async {
        let client = connect(&c.members[4].addr().to_string()).await;
        client
            .set_data("/obs", b"four", None)
            .await
            .expect("a write once the voters are back");
    });
    c.restart(3);
    c.wait_member_ready(3);
    rt.block_on(async {
        let client = connect(&c.members[3].addr().to_string()).await;
        client.sync("/obs").await.expect("sync");
        assert_eq!(client.get_data("/obs").await.expect("read").0, b"four");
    });
}
