//! The recipes under contention from several clients (each its own session).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use watchkeeper_client::recipes::{
    AtomicCounter, Barrier, ChildrenCache, ConfigWatcher, DoubleBarrier, LeaderElection,
    LeaderLatch, Mutex, NodeCache, Queue, RwLock, Semaphore, ServiceDiscovery, ServiceInstance,
    ServiceRegistry, TreeCache, TreeCacheOptions,
};
use watchkeeper_client::{Client, CreateOptions, Error, ErrorCode};

use crate::common::{Env, eventually, within};

async fn clients(env: &Env, n: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(env.client().await);
    }
    out
}

async fn close_all(clients: Vec<Client>) {
    for c in clients {
        c.close().await.unwrap();
    }
}

/// Counts holders of a resource: fails if more than `limit` hold it at once.
#[derive(Default)]
struct Occupancy {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Occupancy {
    fn enter(&self, limit: usize) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        assert!(n <= limit, "{n} holders at once, limit {limit}");
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutex_admits_one_holder_at_a_time() {
    let env = Env::start().await;
    let cs = clients(&env, 4).await;
    within(40, async {
        let occupancy = Arc::new(Occupancy::default());
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for c in &cs {
            let (c, occupancy, done) = (c.clone(), occupancy.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let lock = Mutex::new(&c, "/lock");
                for _ in 0..5 {
                    let guard = lock.lock().await.unwrap();
                    occupancy.enter(1);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    occupancy.leave();
                    guard.release().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 20);
        assert_eq!(occupancy.peak(), 1);

        let a = Mutex::new(&cs[0], "/lock");
        let b = Mutex::new(&cs[1], "/lock");
        let held = a.lock().await.unwrap();
        assert!(b.try_lock().await.unwrap().is_none());
        assert!(
            b.try_lock_for(Duration::from_millis(100))
                .await
                .unwrap()
                .is_none()
        );
        // A holder's session ending releases the lock.
        let waiter = tokio::spawn(async move { b.lock().await.map(|g| g.path().to_owned()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
        // Nothing is left behind but the lock's own directory.
        eventually(Duration::from_secs(5), "lock nodes cleaned up", || async {
            cs[2].get_children("/lock").await.unwrap().0.len() <= 1
        })
        .await;
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rwlock_shares_reads_and_excludes_writes() {
    let env = Env::start().await;
    let cs = clients(&env, 4).await;
    within(40, async {
        let readers = Arc::new(Occupancy::default());
        let writers = Arc::new(Occupancy::default());
        let mut tasks = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            let (c, readers, writers) = (c.clone(), readers.clone(), writers.clone());
            tasks.push(tokio::spawn(async move {
                let lock = RwLock::new(&c, "/rw");
                for round in 0..4 {
                    if (i + round) % 3 == 0 {
                        let g = lock.write().await.unwrap();
                        writers.enter(1);
                        assert_eq!(
                            readers.now.load(Ordering::SeqCst),
                            0,
                            "reader during a write"
                        );
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        writers.leave();
                        g.release().await.unwrap();
                    } else {
                        let g = lock.read().await.unwrap();
                        readers.enter(usize::MAX);
                        assert_eq!(writers.now.load(Ordering::SeqCst), 0, "write during a read");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        readers.leave();
                        g.release().await.unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(writers.peak(), 1);
        // Two readers can hold it together.
        let a = RwLock::new(&cs[0], "/rw").read().await.unwrap();
        let b = RwLock::new(&cs[1], "/rw")
            .try_read_for(Duration::from_secs(2))
            .await
            .unwrap();
        assert!(b.is_some());
        assert!(
            RwLock::new(&cs[2], "/rw")
                .try_write_for(Duration::from_millis(100))
                .await
                .unwrap()
                .is_none()
        );
        a.release().await.unwrap();
        b.unwrap().release().await.unwrap();
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_limits_holders_to_its_permits() {
    let env = Env::start().await;
    let cs = clients(&env, 4).await;
    within(40, async {
        let occupancy = Arc::new(Occupancy::default());
        let mut tasks = Vec::new();
        for c in &cs {
            let (c, occupancy) = (c.clone(), occupancy.clone());
            tasks.push(tokio::spawn(async move {
                let sem = Semaphore::new(&c, "/sem", 2);
                for _ in 0..3 {
                    let permit = sem.acquire().await.unwrap();
                    occupancy.enter(2);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    occupancy.leave();
                    permit.release().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(occupancy.peak(), 2, "both permits were used, never more");
        let sem = Semaphore::new(&cs[0], "/sem", 2);
        let p1 = sem.acquire().await.unwrap();
        let p2 = sem.acquire().await.unwrap();
        assert_eq!(sem.held().await.unwrap(), 2);
        assert!(
            Semaphore::new(&cs[1], "/sem", 2)
                .try_acquire_for(Duration::from_millis(100))
                .await
                .unwrap()
                .is_none()
        );
        p1.release().await.unwrap();
        let p3 = Semaphore::new(&cs[1], "/sem", 2)
            .try_acquire_for(Duration::from_secs(2))
            .await
            .unwrap();
        assert!(p3.is_some());
        drop((p2, p3));
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_latch_fails_over_when_the_leader_goes() {
    let env = Env::start().await;
    let mut cs = clients(&env, 3).await;
    within(30, async {
        let mut latches = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            latches.push(
                LeaderLatch::start(c, "/election", &format!("p{i}"))
                    .await
                    .unwrap(),
            );
        }
        latches[0].wait_leader().await.unwrap();
        eventually(Duration::from_secs(5), "exactly one leader", || {
            let n = latches.iter().filter(|l| l.is_leader()).count();
            async move { n == 1 }
        })
        .await;
        let parts = latches[1].participants().await.unwrap();
        assert_eq!(
            parts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["p0", "p1", "p2"]
        );
        assert!(parts[0].is_leader && !parts[1].is_leader);

        let mut changes = latches[1].leadership();
        assert_eq!(changes.next().await, Some(false));
        // The leader's client goes away: the next in line takes over.
        let leader_client = cs.remove(0);
        let first = latches.remove(0);
        leader_client.close().await.unwrap();
        assert_eq!(within(10, changes.next()).await, Some(true));
        assert!(!latches[1].is_leader());
        drop(first);
        // Leaving on purpose hands leadership on too.
        let second = latches.remove(0);
        second.close().await.unwrap();
        latches[0].wait_leader().await.unwrap();
        assert_eq!(latches[0].participants().await.unwrap().len(), 1);
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_runs_one_leader_at_a_time() {
    let env = Env::start().await;
    let cs = clients(&env, 3).await;
    within(30, async {
        let occupancy = Arc::new(Occupancy::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            let (c, occupancy, order) = (c.clone(), occupancy.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let election = LeaderElection::new(&c, "/le", &format!("p{i}"));
                election
                    .lead(|leadership| async move {
                        occupancy.enter(1);
                        assert!(!leadership.node().is_empty());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        order.lock().unwrap().push(i);
                        occupancy.leave();
                    })
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(order.lock().unwrap().len(), 3);
        assert_eq!(occupancy.peak(), 1);

        // Leadership::lost fires when the leader's session goes.
        let doomed = env.client().await;
        let election = LeaderElection::new(&doomed, "/le", "doomed");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lead = tokio::spawn(async move {
            election
                .lead(|leadership| async move {
                    let _ = tx.send(());
                    leadership.lost().await;
                    "lost"
                })
                .await
        });
        rx.await.unwrap();
        let observer = LeaderElection::new(&cs[0], "/le", "observer");
        assert_eq!(observer.leader().await.unwrap().as_deref(), Some("doomed"));
        doomed.close().await.unwrap();
        let result = within(10, lead).await.unwrap();
        assert!(
            matches!(result, Ok("lost") | Err(Error::Closed)),
            "{result:?}"
        );
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

/// The subtree under `root` as the server has it now.
async fn server_tree(c: &Client, root: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(p) = stack.pop() {
        let Ok((data, _)) = c.get_data(&p).await else {
            continue;
        };
        out.insert(p.clone(), data);
        if let Ok((children, _)) = c.get_children(&p).await {
            stack.extend(children.iter().map(|k| {
                if p == "/" {
                    format!("/{k}")
                } else {
                    format!("{p}/{k}")
                }
            }));
        }
    }
    out
}

/// Random creates, updates and deletes under `/t` from several clients for a while.
async fn churn(cs: &[Client], rounds: usize) {
    let mut tasks = Vec::new();
    for (w, c) in cs.iter().enumerate() {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..rounds {
                let r = rand::random::<u32>();
                let a = format!("/t/n{}", r % 5);
                let b = format!("{a}/m{}", (r / 5) % 3);
                let data = format!("{w}-{i}");
                let target = if r.is_multiple_of(2) { &a } else { &b };
                match (r / 16) % 4 {
                    0 | 1 => {
                        let created = c
                            .create(target, data.as_bytes(), &CreateOptions::persistent())
                            .await;
                        if created == Err(Error::Server(ErrorCode::NodeExists)) {
                            let _ = c.set_data(target, data.as_bytes(), None).await;
                        }
                    }
                    2 => {
                        let _ = c.set_data(target, data.as_bytes(), None).await;
                    }
                    _ => {
                        let _ = c.delete(target, None).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn as_data(
    tree: &BTreeMap<String, watchkeeper_client::recipes::NodeData>,
) -> BTreeMap<String, Vec<u8>> {
    tree.iter()
        .map(|(k, v)| (k.clone(), v.data.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_converge_to_the_servers_state_under_churn() {
    let env = Env::start().await;
    let cs = clients(&env, 3).await;
    let watcher = env.client().await;
    // The recursive cache gets a session of its own: ZooKeeper before 3.9 drops recursive
    // events for a session that also has one-shot watches on the same path (ZOOKEEPER-4466).
    let recursive_watcher = env.client().await;
    within(45, async {
        watcher
            .create("/t", b"root", &CreateOptions::persistent())
            .await
            .unwrap();
        let node = NodeCache::start(&watcher, "/t/n0").await.unwrap();
        let children = ChildrenCache::start(&watcher, "/t").await.unwrap();
        let tree = TreeCache::start(&recursive_watcher, "/t").await.unwrap();
        let per_node = TreeCache::start_with(
            &watcher,
            "/t",
            TreeCacheOptions {
                use_persistent_watch: false,
            },
        )
        .await
        .unwrap();
        assert!(tree.uses_persistent_watch());
        assert!(!per_node.uses_persistent_watch());

        churn(&cs, 120).await;

        let expected = server_tree(&cs[0], "/t").await;
        let expected_children: BTreeMap<String, Vec<u8>> = expected
            .iter()
            .filter_map(|(p, d)| {
                let rest = p.strip_prefix("/t/")?;
                (!rest.contains('/')).then(|| (rest.to_owned(), d.clone()))
            })
            .collect();
        let expected_node = expected.get("/t/n0").cloned();
        let check = |what: &'static str| move |ok: bool| assert!(ok, "{what} did not converge");
        let t = within(10, tree.wait_for(|t| as_data(t) == expected)).await;
        check("tree cache")(t.is_ok());
        let t = within(10, per_node.wait_for(|t| as_data(t) == expected)).await;
        check("per-node tree cache")(t.is_ok());
        let c = within(10, children.wait_for(|c| as_data(c) == expected_children)).await;
        check("children cache")(c.is_ok());
        let n = within(
            10,
            node.wait_for(|n| n.map(|n| n.data.clone()) == expected_node),
        )
        .await;
        check("node cache")(n.is_ok());
        assert_eq!(tree.children("/t").len(), expected_children.len());

        // Deleting the whole subtree empties them, re-creating fills them again.
        cs[0].delete_recursive("/t").await.unwrap();
        within(10, tree.wait_for(|t| t.is_empty())).await.unwrap();
        within(10, per_node.wait_for(|t| t.is_empty()))
            .await
            .unwrap();
        within(10, children.wait_for(|c| c.is_empty()))
            .await
            .unwrap();
        within(10, node.wait_for(|n| n.is_none())).await.unwrap();
        cs[0]
            .create("/t", b"again", &CreateOptions::persistent())
            .await
            .unwrap();
        cs[0]
            .create("/t/n0", b"x", &CreateOptions::persistent())
            .await
            .unwrap();
        within(10, per_node.wait_for(|t| t.len() == 2))
            .await
            .unwrap();
        within(10, tree.wait_for(|t| t.len() == 2)).await.unwrap();
        within(10, children.wait_for(|c| c.len() == 1))
            .await
            .unwrap();
        let n = within(10, node.wait_for(|n| n.is_some())).await.unwrap();
        assert_eq!(n.unwrap().data, b"x");
    })
    .await;
    watcher.close().await.unwrap();
    recursive_watcher.close().await.unwrap();
    close_all(cs).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barriers_hold_until_released_and_double_barriers_until_all_arrive() {
    let env = Env::start().await;
    let cs = clients(&env, 3).await;
    within(30, async {
        let barrier = Barrier::new(&cs[0], "/b/gate");
        barrier.set().await.unwrap();
        let passed = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for c in &cs[1..] {
            let (c, passed) = (c.clone(), passed.clone());
            tasks.push(tokio::spawn(async move {
                Barrier::new(&c, "/b/gate").wait().await.unwrap();
                passed.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert!(
            !Barrier::new(&cs[1], "/b/gate")
                .wait_for(Duration::from_millis(200))
                .await
                .unwrap()
        );
        assert_eq!(passed.load(Ordering::SeqCst), 0);
        barrier.remove().await.unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(passed.load(Ordering::SeqCst), 2);

        // Double barrier: nobody gets past enter before all three are in, nor past leave
        // before all three are out.
        let entered = Arc::new(AtomicUsize::new(0));
        let left = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (i, c) in cs.iter().enumerate() {
            let (c, entered, left) = (c.clone(), entered.clone(), left.clone());
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100 * i as u64)).await;
                let db = DoubleBarrier::new(&c, "/b/double", &format!("m{i}"), 3);
                entered.fetch_add(1, Ordering::SeqCst);
                db.enter().await.unwrap();
                assert_eq!(
                    entered.load(Ordering::SeqCst),
                    3,
                    "entered before everyone arrived"
                );
                tokio::time::sleep(Duration::from_millis(100 * (2 - i) as u64)).await;
                left.fetch_add(1, Ordering::SeqCst);
                db.leave().await.unwrap();
                assert_eq!(
                    left.load(Ordering::SeqCst),
                    3,
                    "left before everyone was leaving"
                );
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(cs[0].get_children("/b/double").await.unwrap().0.is_empty());
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_is_fifo_and_each_item_is_taken_once() {
    let env = Env::start().await;
    let cs = clients(&env, 4).await;
    within(30, async {
        let q = Queue::new(&cs[0], "/q");
        assert_eq!(q.try_take().await.unwrap(), None);
        assert_eq!(q.take_for(Duration::from_millis(100)).await.unwrap(), None);
        for i in 0..10 {
            q.put(format!("item {i}").as_bytes()).await.unwrap();
        }
        assert_eq!(q.len().await.unwrap(), 10);
        assert_eq!(q.peek().await.unwrap(), Some(b"item 0".to_vec()));
        for i in 0..10 {
            assert_eq!(q.take().await.unwrap(), format!("item {i}").into_bytes());
        }
        assert!(q.is_empty().await.unwrap());

        // Three blocked consumers, one producer: every item exactly once.
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut consumers = Vec::new();
        for c in &cs[1..] {
            let (c, taken) = (c.clone(), taken.clone());
            consumers.push(tokio::spawn(async move {
                let q = Queue::new(&c, "/q");
                for _ in 0..10 {
                    let item = q.take().await.unwrap();
                    taken.lock().unwrap().push(String::from_utf8(item).unwrap());
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for i in 0..30 {
            q.put(format!("{i:02}").as_bytes()).await.unwrap();
        }
        for t in consumers {
            t.await.unwrap();
        }
        let mut all = taken.lock().unwrap().clone();
        all.sort();
        assert_eq!(all, (0..30).map(|i| format!("{i:02}")).collect::<Vec<_>>());
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_increments_from_several_clients_add_up() {
    let env = Env::start().await;
    let cs = clients(&env, 4).await;
    within(30, async {
        let mut tasks = Vec::new();
        for c in &cs {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let counter = AtomicCounter::new(&c, "/counters/hits");
                for _ in 0..25 {
                    counter.increment().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let counter = AtomicCounter::new(&cs[0], "/counters/hits");
        assert_eq!(counter.get().await.unwrap(), 100);
        assert_eq!(counter.add(-40).await.unwrap(), 60);
        assert!(!counter.compare_and_set(7, 8).await.unwrap());
        assert!(counter.compare_and_set(60, 8).await.unwrap());
        assert_eq!(counter.decrement().await.unwrap(), 7);
        assert_eq!(
            AtomicCounter::new(&cs[1], "/counters/none")
                .get()
                .await
                .unwrap(),
            0
        );
        cs[0]
            .create("/counters/bad", b"xyz", &CreateOptions::persistent())
            .await
            .unwrap();
        assert!(matches!(
            AtomicCounter::new(&cs[0], "/counters/bad")
                .increment()
                .await,
            Err(Error::BadArguments(_))
        ));
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Meta {
    zone: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_discovery_follows_membership() {
    let env = Env::start().await;
    let mut cs = clients(&env, 3).await;
    within(30, async {
        for (i, c) in cs.iter().enumerate() {
            let meta = Meta {
                zone: format!("z{i}"),
            };
            let inst = ServiceInstance::new(
                "api",
                &format!("i{i}"),
                "127.0.0.1",
                Some(8000 + i as u16),
                meta,
            );
            ServiceRegistry::new(c, "/services")
                .register(&inst)
                .await
                .unwrap();
        }
        let observer = env.client().await;
        let discovery = ServiceDiscovery::<Meta>::new(&observer, "/services");
        assert_eq!(discovery.names().await.unwrap(), ["api"]);
        let now = discovery.instances("api").await.unwrap();
        assert_eq!(
            now.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["i0", "i1", "i2"]
        );
        assert_eq!(now[1].payload, Meta { zone: "z1".into() });
        assert_eq!(now[2].port, Some(8002));

        let watch = discovery.watch("api").await.unwrap();
        let mut changes = watch.changes();
        assert_eq!(changes.next().await.unwrap().len(), 3);
        // An instance's process dies: its record goes with its session.
        cs.remove(1).close().await.unwrap();
        let ids =
            |v: &[ServiceInstance<Meta>]| v.iter().map(|i| i.id.clone()).collect::<BTreeSet<_>>();
        let after = within(10, watch.wait_for(|v| v.len() == 2)).await.unwrap();
        assert_eq!(ids(&after), ["i0".to_owned(), "i2".to_owned()].into());
        ServiceRegistry::new(&cs[0], "/services")
            .unregister("api", "i0")
            .await
            .unwrap();
        let after = within(10, watch.wait_for(|v| v.len() == 1)).await.unwrap();
        assert_eq!(ids(&after), ["i2".to_owned()].into());
        let mut updated = after[0].clone();
        updated.payload.zone = "moved".into();
        ServiceRegistry::new(&cs[1], "/services")
            .update(&updated)
            .await
            .unwrap();
        within(
            10,
            watch.wait_for(|v| v.first().is_some_and(|i| i.payload.zone == "moved")),
        )
        .await
        .unwrap();
        assert!(matches!(
            ServiceRegistry::new(&cs[0], "/services")
                .unregister("a/b", "x")
                .await,
            Err(Error::BadArguments(_))
        ));
        observer.close().await.unwrap();
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Settings {
    max_connections: u32,
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_watcher_reloads_typed_json() {
    let env = Env::start().await;
    let cs = clients(&env, 2).await;
    within(30, async {
        let (admin, app) = (&cs[0], &cs[1]);
        let config = ConfigWatcher::<Settings>::start(app, "/config/app")
            .await
            .unwrap();
        assert!(config.current().is_none());
        let mut reloads = config.changes();
        assert_eq!(reloads.next().await, Some(None));

        admin.ensure_path("/config").await.unwrap();
        admin
            .create(
                "/config/app",
                br#"{"max_connections": 10, "name": "a"}"#,
                &CreateOptions::persistent(),
            )
            .await
            .unwrap();
        let first = within(10, reloads.next()).await.unwrap().unwrap();
        assert_eq!(
            *first,
            Settings {
                max_connections: 10,
                name: "a".into()
            }
        );

        // A broken edit keeps the last good configuration.
        admin
            .set_data("/config/app", b"{ not json", None)
            .await
            .unwrap();
        eventually(Duration::from_secs(5), "parse error reported", || {
            let e = config.last_error();
            async move { e.is_some() }
        })
        .await;
        assert_eq!(config.current().unwrap().max_connections, 10);

        admin
            .set_data(
                "/config/app",
                br#"{"max_connections": 20, "name": "b"}"#,
                None,
            )
            .await
            .unwrap();
        let second = within(10, config.wait_for(|s| s.max_connections == 20))
            .await
            .unwrap();
        assert_eq!(second.name, "b");
        assert!(config.last_error().is_none());
        assert_eq!(
            within(10, reloads.next())
                .await
                .unwrap()
                .unwrap()
                .max_connections,
            20
        );

        admin.delete("/config/app", None).await.unwrap();
        assert_eq!(within(10, reloads.next()).await, Some(None));
    })
    .await;
    close_all(cs).await;
    env.finish().await;
}
