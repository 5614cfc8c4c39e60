//! The ensemble workloads against a 3-member Watchkeeper ensemble running in this process: each
//! member on its own thread and runtime, "killed" by dropping that runtime without a shutdown
//! (its sockets close at once, as a SIGKILLed process's do, and no leadership is handed over)
//! and restarted on the same data directory. Raft's timing is shortened so an election takes
//! well under a second. Nothing here asserts a time bound beyond generous timeouts.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use watchkeeper_bench::control::MemberControl;
use watchkeeper_bench::workload::WorkloadResult;
use watchkeeper_bench::{
    BenchArgs, BenchError, FailoverArgs, KillWhich, LoadArgs, Report, StormArgs, Workload,
    ensemble, run_with_controls,
};
use watchkeeper_server::{Config, RunningServer};

/// A member running on its own thread until told to die.
struct Running {
    die: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

struct Member {
    cfg: PathBuf,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

fn spawn(cfg: PathBuf) -> Running {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (die, die_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // A predecessor's runtime may still be letting go of the data directory's lock
            // and the ports.
            let mut tries = 0;
            let server = loop {
                let config = Config::from_zoo_cfg(&cfg).expect("zoo.cfg");
                match RunningServer::start(config).await {
                    Ok(s) => break s,
                    Err(e) if tries < 200 => {
                        tries += 1;
                        if tries % 50 == 0 {
                            eprintln!("member start retrying: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                    Err(e) => panic!("member does not start: {e}"),
                }
            };
            let _ = ready_tx.send(());
            let _ = die_rx.await;
            // No shutdown: a crash.
            drop(server);
        });
        rt.shutdown_background();
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("member started");
    Running { die, thread }
}

struct InProcess {
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess")
            .field(
                "members",
                &self.members.iter().map(|m| m.addr).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

impl InProcess {
    fn start() -> Arc<InProcess> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = free_ports(9);
        let lines: String = (0..3)
            .map(|i| {
                format!(
                    "server.{}=127.0.0.1:{}:{}:participant;127.0.0.1:{}\n",
                    i + 1,
                    ports[3 * i + 1],
                    ports[3 * i + 2],
                    ports[3 * i]
                )
            })
            .collect();
        let mut members = Vec::new();
        for i in 0..3 {
            let m = dir.path().join(format!("m{}", i + 1));
            std::fs::create_dir_all(m.join("data")).expect("dir");
            std::fs::write(m.join("data/myid"), format!("{}\n", i + 1)).expect("myid");
            let cfg = m.join("zoo.cfg");
            std::fs::write(
                &cfg,
                format!(
                    "tickTime=200\ninitLimit=10\nsyncLimit=10\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
                     4lw.commands.whitelist=*\nmaxClientCnxns=0\n\
                     watchkeeper.raft.heartbeatMs=50\nwatchkeeper.raft.electionTimeoutMinMs=300\n\
                     watchkeeper.raft.electionTimeoutMaxMs=500\n{lines}",
                    m.join("data").display(),
                    ports[3 * i]
                ),
            )
            .expect("zoo.cfg");
            members.push(Member {
                cfg,
                addr: SocketAddr::from(([127, 0, 0, 1], ports[3 * i])),
                running: Mutex::new(None),
            });
        }
        // Every member at once: one alone has no quorum (start returns before an election).
        let handles: Vec<_> = members
            .iter()
            .map(|m| {
                let cfg = m.cfg.clone();
                std::thread::spawn(move || spawn(cfg))
            })
            .collect();
        for (m, h) in members.iter().zip(handles) {
            *m.running.lock().unwrap() = Some(h.join().expect("spawned"));
        }
        Arc::new(InProcess { members, _dir: dir })
    }

    fn connect_string(&self) -> String {
        let addrs: Vec<String> = self.members.iter().map(|m| m.addr.to_string()).collect();
        addrs.join(",")
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.members.iter().map(|m| m.addr).collect()
    }

    fn stop_all(&self) {
        for m in &self.members {
            if let Some(r) = m.running.lock().unwrap().take() {
                let _ = r.die.send(());
                let _ = r.thread.join();
            }
        }
    }
}

impl MemberControl for InProcess {
    fn kill(&self, index: usize) -> BoxFuture<'_, Result<(), BenchError>> {
        async move {
            let r = self.members[index].running.lock().unwrap().take();
            let r = r.ok_or_else(|| BenchError::Workload(format!("member {index} is down")))?;
            let _ = r.die.send(());
            // Reaped on restart; the runtime goes down on its own thread meanwhile.
            self.members[index]
                .running
                .lock()
                .unwrap()
                .replace(Running {
                    die: tokio::sync::oneshot::channel().0,
                    thread: r.thread,
                });
            Ok(())
        }
        .boxed()
    }

    fn restart(&self, index: usize) -> BoxFuture<'_, Result<(), BenchError>> {
        async move {
            let old = self.members[index].running.lock().unwrap().take();
            let cfg = self.members[index].cfg.clone();
            let r = tokio::task::spawn_blocking(move || {
                if let Some(old) = old {
                    let _ = old.thread.join();
                }
                spawn(cfg)
            })
            .await?;
            *self.members[index].running.lock().unwrap() = Some(r);
            Ok(())
        }
        .boxed()
    }

    fn pids(&self) -> Vec<Option<u32>> {
        vec![None; self.members.len()]
    }
}

fn bench(cluster: &InProcess, workload: Workload) -> BenchArgs {
    BenchArgs {
        server: cluster.connect_string(),
        progress: false,
        session_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        workload,
        ..BenchArgs::default()
    }
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("benchmark finished in time")
}

fn results(report: &Report) -> impl Iterator<Item = &WorkloadResult> {
    report.runs.iter().map(|r| &r.result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensemble_workloads_kill_restart_and_count_exactly() {
    let cluster = InProcess::start();
    let control: Arc<dyn MemberControl> = cluster.clone();
    let controls = || [Some(control.clone()), None];
    let (_, first_leader) =
        ensemble::wait_whole(&cluster.addrs(), Duration::from_secs(30), "start")
            .await
            .expect("the ensemble elects a leader");

    // Reads and writes spread over the members.
    for w in [
        Workload::Read(LoadArgs {
            sessions: 3,
            in_flight: 4,
            keys: 20,
            requests: Some(300),
            warmup: Duration::ZERO,
            ..LoadArgs::default()
        }),
        Workload::Write(LoadArgs {
            sessions: 3,
            in_flight: 4,
            keys: 20,
            requests: Some(150),
            warmup: Duration::ZERO,
            ..LoadArgs::default()
        }),
    ] {
        let report = within(run_with_controls(bench(&cluster, w), controls()))
            .await
            .expect("load");
        let Some(WorkloadResult::Load(r)) = results(&report).next() else {
            panic!("not a load result")
        };
        assert_eq!(r.members, 3);
        assert_eq!(r.total.errors, 0, "{:?}", r.total.error_codes);
        assert!(r.total.count >= 150);
        assert_eq!(r.server_cpu_us_per_op, None, "no pids known");
        assert!(r.client_cpu_us_per_op.is_some());
    }

    // Two failovers: each kills the leader of the moment and brings it back.
    let mut failover = bench(
        &cluster,
        Workload::Failover(FailoverArgs {
            warmup: Duration::from_millis(200),
            write_timeout: Duration::from_millis(500),
            settle: Duration::ZERO,
            timeout: Duration::from_secs(30),
            ..FailoverArgs::default()
        }),
    );
    failover.runs = 2;
    let report = within(run_with_controls(failover, controls()))
        .await
        .expect("failover");
    assert_eq!(report.runs.len(), 2);
    for (round, result) in results(&report).enumerate() {
        let WorkloadResult::Failover(r) = result else {
            panic!("not a failover result")
        };
        if round == 0 {
            assert_eq!(r.killed, first_leader + 1, "the leader is the one killed");
        }
        assert_ne!(Some(r.killed), r.new_leader, "{r:?}");
        assert_ne!(r.acked_by, r.killed, "acknowledged by a survivor: {r:?}");
        assert!(r.failover_ms > 0.0 && r.attempts >= 1, "{r:?}");
        assert!(r.before.count > 0, "writes before the kill: {r:?}");
    }
    let text = report.render_table();
    if std::env::var_os("SHOW").is_some() {
        eprintln!("{text}");
    }
    assert!(text.contains("failover time"), "{text}");
    assert!(text.contains("first write after the kill"), "{text}");
    let (modes, _) = ensemble::wait_whole(&cluster.addrs(), Duration::from_secs(30), "after")
        .await
        .expect("whole again");
    assert!(ensemble::is_whole(&modes));

    // A storm: a follower dies holding a third of the sessions.
    for kill in [KillWhich::Follower, KillWhich::Leader] {
        let storm = bench(
            &cluster,
            Workload::Storm(StormArgs {
                sessions: 30,
                watches_per_session: 4,
                nodes: 12,
                changed: 3,
                kill,
                quiet: Duration::from_millis(200),
                settle: Duration::ZERO,
                timeout: Duration::from_secs(30),
                batch_bytes: 40,
                ..StormArgs::default()
            }),
        );
        let report = within(run_with_controls(storm, controls()))
            .await
            .expect("storm");
        let Some(WorkloadResult::Storm(r)) = results(&report).next() else {
            panic!("not a storm result")
        };
        assert_eq!(r.orphaned, 10, "{r:?}");
        assert!(r.disconnected >= 10, "{r:?}");
        assert_eq!(r.sessions, 30);
        // 30 sessions x 4 watches over 12 nodes: 10 watchers per node, 3 nodes changed.
        assert_eq!(r.events.expected, 30, "{r:?}");
        assert_eq!(r.events.once, 30, "{r:?}");
        assert_eq!(
            (r.events.missing, r.events.duplicated, r.unexpected),
            (0, 0, 0)
        );
        let p = r.probe.as_ref().expect("a probe");
        assert_eq!(p.nodes, 9);
        assert_eq!(p.events.expected, 90);
        assert_eq!(p.events.once, 90, "{p:?}");
        assert!(r.catchup_ms.is_some() && p.last_ms.is_some());
        assert!(r.resumed_ms <= r.rearmed_ms, "{r:?}");
        // 4 paths of ~30 bytes in 40-byte packets: several per session.
        assert!(r.set_watches_packets >= 2 * r.disconnected as u64, "{r:?}");
        if kill == KillWhich::Follower {
            assert_eq!(r.killed_mode, ensemble::Mode::Follower);
            assert_eq!(r.disconnected, 10, "only the orphans move: {r:?}");
        } else {
            assert_eq!(r.killed_mode, ensemble::Mode::Leader);
        }
        let text = report.render_table();
        if std::env::var_os("SHOW").is_some() {
            eprintln!("{text}");
        }
        assert!(text.contains("exactly once 30"), "{text}");
    }
    cluster.stop_all();
}
