//! Fault scenarios on a 3-member ensemble of real processes (see `cluster.rs`), with write load
//! whose acknowledged writes are checked on every member and compare-and-set load whose
//! histories are checked for linearizability.
//!
//! Each scenario prints its seed; `WK_SEED=<seed>` reruns it with the same choices.

mod cluster;
mod crashes;
mod linearizable;
mod load;
mod moves;
mod observers;
mod partitions;
mod reconfig;

use std::time::Duration;

use cluster::Cluster;
use load::{Load, Writers, connect, verify_on};

fn seed() -> u64 {
    let seed = std::env::var("WK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    eprintln!("seed {seed} (rerun with WK_SEED={seed})");
    seed
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every acknowledged write is on every running member.
async fn verify_everywhere(c: &Cluster, ledger: &load::Ledger) {
    for (i, m) in c.members.iter().enumerate() {
        if !m.is_running() {
            continue;
        }
        match verify_on(&m.addr().to_string(), ledger).await {
            Ok(n) => eprintln!("member {}: all {n} acknowledged writes present", i + 1),
            Err(e) => panic!("{e}\n{}", c.logs_tail()),
        }
    }
}

#[test]
fn writes_through_any_member_are_replicated_to_all() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_for_leader();
    runtime().block_on(async {
        let follower = (leader + 1) % 3;
        let client = connect(&c.members[follower].addr().to_string()).await;
        client
            .create("/via-follower", b"hello", &load::persistent())
            .await
            .expect("a write through a follower");
        let client = connect(&c.members[leader].addr().to_string()).await;
        client
            .create("/via-leader", b"world", &load::persistent())
            .await
            .expect("a write through the leader");
        for m in &c.members {
            let r = connect(&m.addr().to_string()).await;
            r.sync("/").await.expect("sync");
            assert_eq!(r.get_data("/via-follower").await.expect("read").0, b"hello");
            assert_eq!(r.get_data("/via-leader").await.expect("read").0, b"world");
        }
    });
}

#[test]
fn leader_kill_loses_no_acknowledged_write() {
    let seed = seed();
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_for_leader();
    let rt = runtime();
    let load = rt.block_on(async {
        let load = Load::start(&c.connect_string(), "kill", seed).await;
        tokio::time::sleep(Duration::from_millis(1000 + seed % 1000)).await;
        load
    });
    eprintln!("killing the leader, member {}", leader + 1);
    c.kill(leader);
    let new_leader = c.wait_for_leader();
    assert_ne!(new_leader, leader);
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ledger = load.finish(&c).await;
        // The killed member comes back and catches up from the log.
        c.restart(leader);
        c.wait_member_ready(leader);
        verify_everywhere(&c, &ledger).await;
    });
}

#[test]
fn leader_sigterm_hands_leadership_over() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_for_leader();
    let rt = runtime();
    let writers = rt.block_on(Writers::start(&c.connect_string(), "/term", 3));
    std::thread::sleep(Duration::from_millis(500));
    c.stop(leader);
    let new_leader = c.wait_for_leader();
    assert_ne!(new_leader, leader);
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ledger = writers.stop().await;
        verify_everywhere(&c, &ledger).await;
    });
    let log = std::fs::read_to_string(c.data_dir(leader).join("server.log")).unwrap_or_default();
    assert!(
        log.contains("leadership handed over"),
        "the stopping leader did not hand over:\n{}",
        c.logs_tail()
    );
}

#[test]
fn a_follower_far_behind_catches_up_by_snapshot() {
    let mut c = Cluster::start(3, &["snapCount=200"]);
    let leader = c.wait_for_leader();
    let follower = (leader + 1) % 3;
    c.kill(follower);
    let rt = runtime();
    rt.block_on(async {
        let client = connect(&c.members[leader].addr().to_string()).await;
        let _ = client.create("/snap", b"", &load::persistent()).await;
        for i in 0..1500 {
            client
                .create(
                    &format!("/snap/n{i}"),
                    i.to_string().as_bytes(),
                    &load::persistent(),
                )
                .await
                .expect("write");
        }
    });
    c.restart(follower);
    c.wait_member_ready(follower);
    rt.block_on(async {
        let r = connect(&c.members[follower].addr().to_string()).await;
        r.sync("/snap").await.expect("sync");
        let (children, _) = r.get_children("/snap").await.expect("children");
        assert_eq!(children.len(), 1500, "{}", c.logs_tail());
        assert_eq!(r.get_data("/snap/n1499").await.expect("read").0, b"1499");
    });
}

#[test]
fn a_paused_leader_is_replaced_and_rejoins() {
    let seed = seed();
    let c = Cluster::start(3, &[]);
    let leader = c.wait_for_leader();
    let rt = runtime();
    let load = rt.block_on(Load::start(&c.connect_string(), "pause", seed));
    std::thread::sleep(Duration::from_millis(500));
    c.pause(leader);
    // Three times the longest election timeout, so the others elect and the paused one's
    // lease has long run out.
    std::thread::sleep(Duration::from_secs(6));
    c.resume(leader);
    c.wait_for_leader();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        load.finish(&c).await;
    });
}

#[test]
fn all_members_killed_and_restarted_keep_every_acknowledged_write() {
    let mut c = Cluster::start(3, &[]);
    c.wait_for_leader();
    let rt = runtime();
    let writers = rt.block_on(Writers::start(&c.connect_string(), "/all", 4));
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..3 {
        c.kill(i);
    }
    let ledger = rt.block_on(writers.stop());
    for i in 0..3 {
        c.restart(i);
    }
    c.wait_for_leader();
    rt.block_on(verify_everywhere(&c, &ledger));
}

#[test]
fn sessions_do_not_expire_while_there_is_no_leader() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_for_leader();
    let survivor = (leader + 1) % 3;
    let paused = (leader + 2) % 3;
    let rt = runtime();
    // A session with a short timeout, on the member that stays up, from a client that keeps
    // trying to reconnect however long it takes (this project's client).
    let client = rt.block_on(async {
        let client = watchkeeper_client::Client::builder(&c.members[survivor].addr().to_string())
            .session_timeout(Duration::from_secs(4))
            .connect()
            .await
            .expect("connect");
        client
            .create(
                "/alive",
                b"",
                &watchkeeper_client::CreateOptions::ephemeral(),
            )
            .await
            .expect("an ephemeral");
        client
    });
    // No quorum for twice the session timeout: nobody may expire anything meanwhile.
    c.kill(leader);
    c.pause(paused);
    std::thread::sleep(Duration::from_secs(8));
    c.resume(paused);
    c.wait_for_leader();
    rt.block_on(async {
        // The new leader restarted every deadline: the client, reconnecting now, keeps its
        // session and its ephemeral.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match client.exists("/alive").await {
                Ok(Some(_)) => break,
                Ok(None) => panic!("the session expired during the election\n{}", c.logs_tail()),
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no answer: {e}\n{}",
                        c.logs_tail()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        assert_eq!(client.state(), watchkeeper_client::SessionState::Connected);
    });
    c.restart(leader);
}

#[test]
fn a_data_directory_of_another_ensemble_is_refused_with_a_clear_error() {
    let mut c = Cluster::start(3, &[]);
    c.wait_for_leader();
    c.stop(2);
    // Member 3's directory, offered to a server that calls itself 4 of another ensemble.
    let data = c.data_dir(2).join("data");
    std::fs::write(data.join("myid"), "4\n").expect("myid");
    let cfg = data.parent().expect("member dir").join("other.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=200\ndataDir={}\nclientPort=0\nserver.4=127.0.0.1:1:2\nserver.5=127.0.0.1:3:4\nserver.6=127.0.0.1:5:6\n",
            data.display()
        ),
    )
    .expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_watchkeeper"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run serve");
    // It must stop at once; one that starts serving is killed so the test ends either way.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read as _;
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    assert!(
        status.is_some_and(|s| !s.success()),
        "it must not start: {stderr}"
    );
    assert!(
        stderr.contains("belongs to an ensemble of members [1, 2, 3]"),
        "the error names the ensemble: {stderr}"
    );
}
