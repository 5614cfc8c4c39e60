//! One-shot and persistent watches: what fires, once or always, with which path and zxid.

use std::time::Duration;

use watchkeeper_client::{AddWatchMode, CreateOptions, EventType, KeeperState};

use crate::common::{Env, eventually, fired, next_node_event, within};
use crate::fourlw;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneshot_watches_fire_once_with_the_changes_zxid() {
    let env = Env::start().await;
    within(20, async {
        let c = env.client().await;
        let writer = env.client().await;

        let (none, created) = c.exists_watch("/w").await.unwrap();
        assert_eq!(none, None);
        let (_, stat) = writer
            .create("/w", b"0", &CreateOptions::persistent())
            .await
            .unwrap();
        let e = fired(created).await;
        assert_eq!(
            (e.event_type, e.state, e.path.as_str()),
            (EventType::NodeCreated, KeeperState::SyncConnected, "/w")
        );
        // ZooKeeper before 3.9 does not put the zxid in the notification header.
        if env.is_local() {
            assert_eq!(e.zxid, stat.czxid);
        }

        let (_, _, changed) = c.get_data_watch("/w").await.unwrap();
        let (_, _, changed_too) = c.get_data_watch("/w").await.unwrap();
        let (_, _, children) = c.get_children_watch("/w").await.unwrap();
        let s1 = writer.set_data("/w", b"1", None).await.unwrap();
        let e = fired(changed).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/w")
        );
        if env.is_local() {
            assert_eq!(e.zxid, s1.mzxid);
        }
        assert_eq!(
            fired(changed_too).await,
            e,
            "every watch of the path hears the one event"
        );

        writer
            .create("/w/kid", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let e = fired(children).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeChildrenChanged, "/w")
        );

        let (_, exists_now) = c.exists_watch("/w/kid").await.unwrap();
        let (_, _, kid_children) = c.get_children_watch("/w/kid").await.unwrap();
        writer.delete("/w/kid", None).await.unwrap();
        assert_eq!(fired(exists_now).await.event_type, EventType::NodeDeleted);
        assert_eq!(fired(kid_children).await.event_type, EventType::NodeDeleted);

        // A read that fails leaves no watch; exists on a missing node does.
        assert!(c.get_data_watch("/nope").await.is_err());
        let (_, _later) = c.exists_watch("/maybe").await.unwrap();
        // The server's view (wchc, which needs the four-letter word allowed).
        let paths = fourlw::watched_paths(env.upstream(), c.session_id()).await;
        assert!(
            paths.contains(&format!("{}/maybe", env.root())),
            "{paths:?}"
        );
        assert!(
            !paths.contains(&format!("{}/nope", env.root())),
            "{paths:?}"
        );
        c.close().await.unwrap();
        writer.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_and_recursive_watches() {
    let env = Env::start().await;
    within(20, async {
        let c = env.client().await;
        let w = env.client().await;
        w.create("/p", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let mut p = c.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
        let mut r = c
            .add_watch("/", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        assert_eq!((p.path(), p.mode()), ("/p", AddWatchMode::Persistent));

        w.set_data("/p", b"1", None).await.unwrap();
        w.create("/p/a", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        w.create("/p/a/b", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        w.set_data("/p/a/b", b"x", None).await.unwrap();
        w.delete("/p/a/b", None).await.unwrap();
        w.set_data("/p", b"2", None).await.unwrap();

        let mut seen = Vec::new();
        for _ in 0..3 {
            let e = next_node_event(&mut p).await;
            seen.push((e.event_type, e.path));
        }
        assert_eq!(
            seen,
            [
                (EventType::NodeDataChanged, "/p".to_owned()),
                (EventType::NodeChildrenChanged, "/p".to_owned()),
                (EventType::NodeDataChanged, "/p".to_owned()),
            ]
        );
        let mut seen = Vec::new();
        for _ in 0..6 {
            let e = next_node_event(&mut r).await;
            seen.push((e.event_type, e.path));
        }
        assert_eq!(
            seen,
            [
                (EventType::NodeDataChanged, "/p".to_owned()),
                (EventType::NodeCreated, "/p/a".to_owned()),
                (EventType::NodeCreated, "/p/a/b".to_owned()),
                (EventType::NodeDataChanged, "/p/a/b".to_owned()),
                (EventType::NodeDeleted, "/p/a/b".to_owned()),
                (EventType::NodeDataChanged, "/p".to_owned()),
            ],
            "recursive watches see descendants and never NodeChildrenChanged"
        );

        // Dropping the stream removes the watch on the server too.
        let server_path = format!("{}/p", env.root());
        {
            let id = c.session_id();
            assert!(
                fourlw::watched_paths(env.upstream(), id)
                    .await
                    .contains(&server_path)
            );
            drop(p);
            eventually(
                Duration::from_secs(5),
                "persistent watch removed on the server",
                || async {
                    !fourlw::watched_paths(env.upstream(), id)
                        .await
                        .contains(&server_path)
                },
            )
            .await;
        }
        drop(r);
        c.close().await.unwrap();
        w.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_does_not_read_blocks_nobody() {
    let env = Env::start().await;
    within(30, async {
        let c = env.client().await;
        let w = env.client().await;
        w.create("/busy", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        w.create("/quiet", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let _ignored = c
            .add_watch("/busy", AddWatchMode::Persistent)
            .await
            .unwrap();
        let mut read = c
            .add_watch("/busy", AddWatchMode::Persistent)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for t in 0..4 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..250 {
                    w.set_data("/busy", format!("{t}-{i}").as_bytes(), None)
                        .await
                        .unwrap();
                }
            }));
        }
        for _ in 0..1000 {
            assert_eq!(
                next_node_event(&mut read).await.event_type,
                EventType::NodeDataChanged
            );
        }
        for t in tasks {
            t.await.unwrap();
        }
        // The connection still answers promptly and other watches still fire.
        let (_, _, quiet) = c.get_data_watch("/quiet").await.unwrap();
        w.set_data("/quiet", b"!", None).await.unwrap();
        assert_eq!(fired(quiet).await.event_type, EventType::NodeDataChanged);
        c.close().await.unwrap();
        w.close().await.unwrap();
    })
    .await;
    env.finish().await;
}
