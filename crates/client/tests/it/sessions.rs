//! Sessions across broken connections and server restarts: resume, watch re-registration with
//! catch-up events, read retries, expiry, close.

use std::time::Duration;

use futures::StreamExt;
use watchkeeper_client::{
    AddWatchMode, Client, CreateOptions, Error, EventType, KeeperState, SessionState,
};

use crate::common::{Env, SESSION_TIMEOUT, eventually, fired, next_node_event, within};
use crate::proxy::{Mode, Proxy};

/// A client of `env` that reaches the server through `proxy`.
async fn via(env: &Env, proxy: &Proxy, timeout: Duration) -> Client {
    Client::builder(&format!("{}{}", proxy.addr(), env.root()))
        .session_timeout(timeout)
        .connect()
        .await
        .expect("client connects through the proxy")
}

async fn wait_state(c: &Client, want: SessionState) {
    let mut states = c.state_changes();
    within(15, async {
        while let Some(s) = states.next().await {
            if s == want {
                return;
            }
        }
        panic!("state stream ended before {want:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_resumes_the_session_and_catches_watches_up() {
    let env = Env::start().await;
    let proxy = Proxy::start(env.upstream()).await;
    within(30, async {
        let a = via(&env, &proxy, SESSION_TIMEOUT).await;
        let b = env.client().await;
        for p in ["/d", "/p", "/gone", "/r", "/stay"] {
            b.create(p, b"", &CreateOptions::persistent())
                .await
                .unwrap();
        }
        a.create("/mine", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        let session = a.session_id();
        let (_, _, data) = a.get_data_watch("/d").await.unwrap();
        let (_, created) = a.exists_watch("/new").await.unwrap();
        let (_, _, children) = a.get_children_watch("/p").await.unwrap();
        let (_, deleted) = a.exists_watch("/gone").await.unwrap();
        let (_, _, untouched) = a.get_data_watch("/stay").await.unwrap();
        let mut rec = a
            .add_watch("/r", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        let mut states = a.state_changes();
        assert_eq!(states.next().await, Some(SessionState::Connected));
        proxy.set(Mode::Refuse);
        wait_state(&a, SessionState::Disconnected).await;
        let e = rec.next_event().await.unwrap();
        assert_eq!(
            (e.event_type, e.state),
            (EventType::None, KeeperState::Disconnected)
        );

        b.set_data("/d", b"changed", None).await.unwrap();
        b.create("/new", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        b.create("/p/c", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        b.delete("/gone", None).await.unwrap();
        b.create("/r/x", b"", &CreateOptions::persistent())
            .await
            .unwrap();

        proxy.set(Mode::Forward);
        wait_state(&a, SessionState::Connected).await;
        assert_eq!(a.session_id(), session, "the same session was resumed");

        // Catch-up events for everything that changed while away (zxid unknown: -1).
        let e = fired(data).await;
        assert_eq!(
            (e.event_type, e.path.as_str()),
            (EventType::NodeDataChanged, "/d")
        );
        assert_eq!(fired(created).await.event_type, EventType::NodeCreated);
        assert_eq!(
            fired(children).await.event_type,
            EventType::NodeChildrenChanged
        );
        assert_eq!(fired(deleted).await.event_type, EventType::NodeDeleted);
        // The persistent watch hears that the connection is back, and is armed again.
        let e = rec.next_event().await.unwrap();
        assert_eq!(
            (e.event_type, e.state),
            (EventType::None, KeeperState::SyncConnected)
        );
        b.create("/r/y", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        loop {
            // Watchkeeper replays /r/x from its event journal; ZooKeeper drops it.
            let e = next_node_event(&mut rec).await;
            if e.path == "/r/y" {
                assert_eq!(e.event_type, EventType::NodeCreated);
                break;
            }
            assert_eq!(e.path, "/r/x");
        }
        // The untouched node's watch was re-armed, not fired.
        b.set_data("/stay", b"now", None).await.unwrap();
        let e = fired(untouched).await;
        assert_eq!(e.event_type, EventType::NodeDataChanged);
        if env.is_local() {
            // ZooKeeper before 3.9 sends -1 for live events too.
            assert_ne!(e.zxid, -1, "a live event, not a catch-up");
        }
        assert!(
            b.exists("/mine").await.unwrap().is_some(),
            "ephemerals survive"
        );
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_retried_and_writes_are_not() {
    let env = Env::start().await;
    let proxy = Proxy::start(env.upstream()).await;
    within(30, async {
        let a = via(&env, &proxy, SESSION_TIMEOUT).await;
        let b = env.client().await;
        b.create("/d", b"v0", &CreateOptions::persistent())
            .await
            .unwrap();

        // Requests that reach the proxy but never the server, then the connection breaks.
        proxy.set(Mode::Blackhole);
        let read = tokio::spawn({
            let a = a.clone();
            async move { a.get_data("/d").await }
        });
        let write = tokio::spawn({
            let a = a.clone();
            async move { a.set_data("/d", b"lost", None).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.set(Mode::Refuse);
        assert_eq!(write.await.unwrap(), Err(Error::ConnectionLoss));
        wait_state(&a, SessionState::Disconnected).await;

        // A write made while disconnected waits for the connection (it was never sent).
        let queued = tokio::spawn({
            let a = a.clone();
            async move { a.set_data("/d", b"queued", None).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            b.get_data("/d").await.unwrap().0,
            b"v0",
            "the lost write never arrived"
        );
        proxy.set(Mode::Forward);
        let (data, _) = read.await.unwrap().expect("the read was retried");
        assert!(data == b"v0" || data == b"queued");
        assert_eq!(queued.await.unwrap().unwrap().version, 1);
        assert_eq!(b.get_data("/d").await.unwrap().0, b"queued");
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_watches_are_re_registered_in_batches() {
    let env = Env::start().await;
    let proxy = Proxy::start(env.upstream()).await;
    within(45, async {
        let a = via(&env, &proxy, SESSION_TIMEOUT).await;
        let b = env.client().await;
        // 1,500 paths of ~110 bytes: more than one 128 KiB setWatches batch.
        let long = "n".repeat(100);
        b.create("/many", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let paths: Vec<String> = (0..1500).map(|i| format!("/many/{long}{i:05}")).collect();
        for chunk in paths.chunks(250) {
            let mut m = b.multi();
            for p in chunk {
                m = m.create(p, b"", &CreateOptions::persistent());
            }
            m.commit().await.unwrap();
        }
        let mut watches = Vec::new();
        for p in &paths {
            watches.push(a.get_data_watch(p).await.unwrap().2);
        }
        proxy.set(Mode::Refuse);
        wait_state(&a, SessionState::Disconnected).await;
        for chunk in paths.chunks(250) {
            let mut m = b.multi();
            for p in chunk {
                m = m.set_data(p, b"x", None);
            }
            m.commit().await.unwrap();
        }
        proxy.set(Mode::Forward);
        for (w, p) in watches.into_iter().zip(&paths) {
            let e = fired(w).await;
            assert_eq!((e.event_type, &e.path), (EventType::NodeDataChanged, p));
        }
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_on_the_same_port_resumes_the_session() {
    let mut env = Env::start().await;
    if !env.is_local() {
        eprintln!("skipped: needs the in-process server");
        env.finish().await;
        return;
    }
    within(40, async {
        let a = env.client().await;
        let b = env.client().await;
        b.create("/d", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        b.create("/r", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        a.create("/mine", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        b.close().await.unwrap();
        let session = a.session_id();
        let (_, _, data) = a.get_data_watch("/d").await.unwrap();
        let (_, created) = a.exists_watch("/new").await.unwrap();
        let mut rec = a
            .add_watch("/r", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();

        env.stop_server().await;
        wait_state(&a, SessionState::Disconnected).await;
        // Changes a's old server never saw: made on the same data, on a port a does not know.
        let (tmp, tmp_addr) = env.start_server(false).await;
        let c = Client::builder(&format!("{tmp_addr}{}", env.root()))
            .connect()
            .await
            .unwrap();
        c.set_data("/d", b"while away", None).await.unwrap();
        c.create("/new", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        c.create("/r/x", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        c.close().await.unwrap();
        tmp.shutdown().await;

        // A read issued while there is no server waits for one (reads are retried for up to a
        // session timeout) and then succeeds.
        let read = tokio::spawn({
            let a = a.clone();
            async move { a.get_data("/d").await }
        });
        let (server, _) = env.start_server(true).await;
        env.adopt(server);
        wait_state(&a, SessionState::Connected).await;
        assert_eq!(a.session_id(), session);
        assert_eq!(read.await.unwrap().unwrap().0, b"while away");
        assert_eq!(fired(data).await.event_type, EventType::NodeDataChanged);
        assert_eq!(fired(created).await.event_type, EventType::NodeCreated);
        a.create("/r/y", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("/r/y") {
            seen.push(next_node_event(&mut rec).await.path);
        }
        assert!(a.exists("/mine").await.unwrap().is_some());
        a.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_server_expired_ends_everything_with_expired() {
    let env = Env::start().await;
    let proxy = Proxy::start(env.upstream()).await;
    within(40, async {
        // The shortest timeout the server allows.
        let a = via(&env, &proxy, Duration::from_millis(1)).await;
        let b = env.client().await;
        a.create("/mine", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        let (_, watch) = a.exists_watch("/other").await.unwrap();
        let mut persistent = a.add_watch("/", AddWatchMode::Persistent).await.unwrap();
        proxy.set(Mode::Refuse);
        eventually(
            Duration::from_secs(20),
            "the server expires the session",
            || async { b.exists("/mine").await.unwrap().is_none() },
        )
        .await;
        proxy.set(Mode::Forward);
        wait_state(&a, SessionState::Expired).await;
        assert_eq!(fired(watch).await.state, KeeperState::Expired);
        let mut last = None;
        while let Some(e) = within(5, persistent.next_event()).await {
            last = Some(e);
        }
        assert_eq!(last.map(|e| e.state), Some(KeeperState::Expired));
        assert_eq!(a.get_data("/").await, Err(Error::SessionExpired));
        assert_eq!(a.close().await, Ok(()));
        b.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_closed_elsewhere_is_expired_here() {
    let env = Env::start().await;
    let proxy = Proxy::start(env.upstream()).await;
    within(30, async {
        let a = via(&env, &proxy, SESSION_TIMEOUT).await;
        let (_, _, watch) = a.get_children_watch("/").await.unwrap();
        proxy.set(Mode::Refuse);
        // Another client resumes the very same session, then closes it.
        let thief = env
            .builder()
            .session(a.session_id(), a.session_password())
            .connect()
            .await
            .unwrap();
        assert_eq!(thief.session_id(), a.session_id());
        thief.close().await.unwrap();
        proxy.set(Mode::Forward);
        wait_state(&a, SessionState::Expired).await;
        assert_eq!(fired(watch).await.state, KeeperState::Expired);
        assert_eq!(
            a.create("/x", b"", &CreateOptions::persistent()).await,
            Err(Error::SessionExpired)
        );
        // Resuming a dead session, or with a wrong password, fails at connect.
        let again = env
            .builder()
            .session(a.session_id(), a.session_password())
            .connect()
            .await;
        assert_eq!(again.err(), Some(Error::SessionExpired));
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_drop_end_the_session() {
    let env = Env::start().await;
    within(20, async {
        let observer = env.client().await;
        let a = env.client().await;
        a.create("/e", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        // Watches on nodes the close does not touch (deleting /e would fire its own watches).
        let (_, watch) = a.exists_watch("/absent").await.unwrap();
        let mut p = a
            .add_watch("/absent", AddWatchMode::Persistent)
            .await
            .unwrap();
        a.close().await.unwrap();
        assert_eq!(fired(watch).await.state, KeeperState::Closed);
        assert_eq!(
            p.next_event().await.map(|e| e.state),
            Some(KeeperState::Closed)
        );
        assert!(p.next_event().await.is_none());
        assert!(observer.exists("/e").await.unwrap().is_none());

        // Dropping the last handle closes the session too.
        let b = env.client().await;
        b.create("/f", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        drop(b);
        eventually(
            Duration::from_secs(5),
            "dropped client's ephemeral gone",
            || async { observer.exists("/f").await.unwrap().is_none() },
        )
        .await;

        // A connect that cannot succeed times out.
        let nowhere = Client::builder("127.0.0.1:1")
            .connect_timeout(Duration::from_millis(300))
            .connect()
            .await;
        assert_eq!(nowhere.err(), Some(Error::Timeout));
        observer.close().await.unwrap();
    })
    .await;
    env.finish().await;
}
