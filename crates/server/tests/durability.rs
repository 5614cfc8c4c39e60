//! Snapshots and recovery through the running server: with a small snapCount the server
//! writes snapshots while it takes writes, purges what they cover, and a restart recovers
//! every acknowledged write from snapshot plus log.

mod common;

use std::time::Duration;

use common::{TestServer, persistent, within};

fn snapshot_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snapshot-") && !n.ends_with(".tmp"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_taken_purged_and_recovered() {
    let mut s = TestServer::start_with(|cfg| {
        cfg.snap_count = 20;
        cfg.snap_retain_count = 2;
    })
    .await;
    within(60, async {
        let c = s.client().await;
        for i in 0..200 {
            c.create(
                &format!("/n{i:03}"),
                format!("v{i}").as_bytes(),
                &persistent(),
            )
            .await
            .unwrap();
        }
        c.set_data("/n007", b"changed", None).await.unwrap();
        c.delete("/n008", None).await.unwrap();
        // Snapshots are written, and old ones purged, in the background: wait for both to
        // settle (a snapshot just written may briefly be the third, before the purge).
        let dir = s.cfg.data_dir.clone();
        let mut waited = Duration::ZERO;
        let settled = |snaps: &[_]| !snaps.is_empty() && snaps.len() <= 2;
        while !settled(&snapshot_files(&dir)) && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        let snaps = snapshot_files(&dir);
        assert!(
            !snaps.is_empty(),
            "no snapshot written after 200 writes with snapCount 20"
        );
        assert!(
            snaps.len() <= 2,
            "snapRetainCount 2 keeps at most two: {snaps:?}"
        );
        drop(c);

        s.restart().await;
        let c = s.client().await;
        let (children, _) = c.get_children("/").await.unwrap();
        assert_eq!(children.len(), 199 + 1, "199 nodes and /zookeeper");
        assert_eq!(c.get_data("/n007").await.unwrap().0, b"changed");
        assert_eq!(c.get_data("/n199").await.unwrap().0, b"v199");
        assert!(c.check_stat("/n008").await.unwrap().is_none());
    })
    .await;
}
