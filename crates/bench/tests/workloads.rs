//! Every workload in a smoke size against an in-process Watchkeeper server on 127.0.0.1:0,
//! checking that the numbers are sane: counts add up, no errors, no lost or extra events.

use std::time::Duration;

use watchkeeper_bench::workload::WorkloadResult;
use watchkeeper_bench::workload::watches::MemorySource;
use watchkeeper_bench::{
    BenchArgs, FanoutArgs, LoadArgs, ReconnectArgs, Report, WatchKind, WatchMode, WatchesArgs,
    Workload, plot, run,
};
use watchkeeper_server::{Config, FourLetterWhitelist, RunningServer};

struct Server {
    server: RunningServer,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config {
            client_addr: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().into(),
            four_letter_whitelist: FourLetterWhitelist::All,
            max_client_cnxns: 0,
            ..Config::default()
        };
        let server = RunningServer::start(cfg).await.expect("server starts");
        Server { server, _dir: dir }
    }

    fn addr(&self) -> String {
        self.server.local_addr().to_string()
    }

    async fn stop(self) {
        self.server.shutdown().await;
    }
}

fn args(server: &Server, workload: Workload) -> BenchArgs {
    BenchArgs {
        server: server.addr(),
        progress: false,
        session_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        workload,
        ..BenchArgs::default()
    }
}

fn small_load(requests: Option<u64>) -> LoadArgs {
    LoadArgs {
        sessions: 2,
        in_flight: 4,
        value_size: 32,
        keys: 20,
        duration: Duration::from_secs(20),
        requests,
        warmup: Duration::from_millis(100),
        read_ratio: 0.5,
        create_ratio: 0.5,
    }
}

fn only_run(report: &Report) -> &WorkloadResult {
    assert_eq!(report.runs.len(), 1);
    &report.runs[0].result
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("benchmark finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_workloads_count_exactly() {
    let server = Server::start().await;
    for (workload, expect_ops) in [
        (Workload::Read(small_load(Some(300))), vec!["getData"]),
        (
            Workload::Write(small_load(Some(300))),
            vec!["setData", "create", "delete"],
        ),
        (
            Workload::Mixed(small_load(Some(300))),
            vec!["getData", "setData", "create", "delete"],
        ),
    ] {
        let name = workload.name();
        let report = within(run(args(&server, workload))).await.expect(name);
        let WorkloadResult::Load(r) = only_run(&report) else {
            panic!("{name}: not a load result")
        };
        assert_eq!(r.total.count, 300, "{name}: the request budget is exact");
        assert_eq!(r.total.errors, 0, "{name}: {:?}", r.total.error_codes);
        assert_eq!(r.ops.iter().map(|o| o.count).sum::<u64>(), 300, "{name}");
        let names: Vec<&str> = r.ops.iter().map(|o| o.op.as_str()).collect();
        assert_eq!(names, expect_ops, "{name}");
        let count = |op: &str| r.ops.iter().find(|o| o.op == op).map_or(0, |o| o.count);
        assert_eq!(
            count("create"),
            count("delete"),
            "{name}: every create deleted"
        );
        assert!(r.throughput > 0.0 && r.elapsed_s > 0.0, "{name}");
        assert!(r.total.latency.p50_us <= r.total.latency.p99_us);
        assert!(r.total.latency.p99_us <= r.total.latency.max_us);
        assert_eq!(r.events, 0, "{name}: no watches, no events");
        let table = report.render_table();
        assert!(table.contains("p99.9 ms"), "{table}");
    }

    // By duration: measured requests stop at the deadline.
    let mut load = small_load(None);
    load.duration = Duration::from_millis(300);
    let report = within(run(args(&server, Workload::Read(load))))
        .await
        .expect("read");
    let WorkloadResult::Load(r) = only_run(&report) else {
        panic!("not a load result")
    };
    assert!(r.total.count > 0);
    assert!(r.warmup_requests > 0, "the warm-up ran");
    assert!(
        (0.2..5.0).contains(&r.elapsed_s),
        "measured window {}",
        r.elapsed_s
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_every_mode_delivers_each_event_once() {
    let server = Server::start().await;
    for mode in [
        WatchMode::OneShot,
        WatchMode::Persistent,
        WatchMode::Recursive,
    ] {
        let w = Workload::Fanout(FanoutArgs {
            watchers: 5,
            mode,
            rounds: 4,
            value_size: 8,
            round_timeout: Duration::from_secs(10),
            pause: Duration::from_millis(5),
            // Warm-up rounds are run and checked but not counted below.
            warmup_rounds: 2,
        });
        let mut a = args(&server, w);
        // The server runs in this process, so its CPU time is ours.
        a.server_pid = Some(std::process::id());
        let report = within(run(a)).await.expect("fanout");
        let WorkloadResult::Fanout(r) = only_run(&report) else {
            panic!("not a fanout result")
        };
        let server_cpu = r.server_cpu_us_per_event.expect("server CPU measured");
        let own_cpu = r.client_cpu_us_per_event.expect("own CPU measured");
        assert!(server_cpu > 0.0 && own_cpu > 0.0, "{mode}: {r:?}");
        assert_eq!(r.expected_events, 20, "{mode}");
        assert_eq!(r.delivered, 20, "{mode}: {r:?}");
        assert_eq!((r.missing, r.duplicates, r.unexpected), (0, 0, 0), "{mode}");
        assert_eq!(r.rounds.len(), 4);
        assert!(r.rounds.iter().all(|x| x.heard == 5 && x.last_ms.is_some()));
        let last = r.median_last_ms.expect("every round complete");
        let p50 = r.median_p50_ms.expect("p50");
        assert!(p50 <= last + 1e-9, "{mode}: p50 {p50} > last {last}");
        let spread = r.median_spread_ms.expect("spread");
        assert!(
            spread <= last + 1e-9,
            "{mode}: spread {spread} > last {last}"
        );
        assert_eq!(r.delivery.count, 20);
        assert_eq!(r.write.count, 4);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_register_and_measure_memory_from_mntr() {
    let server = Server::start().await;
    for (kind, shared) in [
        (WatchKind::Exists, false),
        (WatchKind::Data, true),
        (WatchKind::Child, false),
        (WatchKind::Persistent, false),
        (WatchKind::Recursive, true),
    ] {
        let w = Workload::Watches(WatchesArgs {
            sessions: 3,
            watches_per_session: 50,
            shared,
            kind,
            in_flight: 8,
            settle: Duration::from_millis(50),
            timeout: Duration::from_secs(30),
        });
        let report = within(run(args(&server, w))).await.expect("watches");
        let WorkloadResult::Watches(r) = only_run(&report) else {
            panic!("not a watches result")
        };
        assert_eq!(r.total_watches, 150);
        assert_eq!(r.latency.count, 150, "{kind}: every registration answered");
        assert_eq!(r.errors, 0, "{kind}: {:?}", r.error_codes);
        assert_eq!(r.events, 0);
        assert!(r.rate_per_s > 0.0);
        let m = r
            .memory
            .as_ref()
            .expect("watchkeeper's mntr has a memory figure");
        assert_eq!(m.source, MemorySource::MntrWatchIndexBytes, "{kind}");
        assert!(m.delta_bytes > 0, "{kind}: the watch index grew: {m:?}");
        assert!(r.memory_note.contains("zk_watch_index_bytes"));
        if kind == WatchKind::Exists {
            assert_eq!(r.server_watch_count_delta, Some(150), "{kind}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_memory_from_vm_rss_when_a_pid_is_given() {
    let server = Server::start().await;
    let mut a = args(
        &server,
        Workload::Watches(WatchesArgs {
            sessions: 2,
            watches_per_session: 20,
            settle: Duration::from_millis(10),
            ..WatchesArgs::default()
        }),
    );
    // The in-process server is this process.
    a.server_pid = Some(std::process::id());
    let report = within(run(a)).await.expect("watches");
    let WorkloadResult::Watches(r) = only_run(&report) else {
        panic!("not a watches result")
    };
    let m = r.memory.as_ref().expect("VmRSS is readable");
    assert_eq!(m.source, MemorySource::VmRss);
    assert_eq!(m.pid, Some(std::process::id()));
    assert!(m.before_bytes > 0 && m.after_bytes > 0);
    // Its value is noise here (the load generator shares the process), but it is measured.
    assert!(r.bytes_per_session.is_some());
    // The watch index figure is reported alongside, since RSS on a warm server may not move.
    let per_watch = r.index_bytes_per_watch.expect("mntr answered");
    assert!(per_watch > 0.0, "{per_watch}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_catches_up_exactly_once() {
    let server = Server::start().await;
    let w = Workload::Reconnect(ReconnectArgs {
        sessions: 3,
        watches_per_session: 40,
        changed: 5,
        name_len: 0,
        // Small packets: 40 paths of ~28 bytes need several.
        batch_bytes: 300,
        in_flight: 8,
        outage: Duration::from_millis(20),
        quiet: Duration::from_millis(100),
        timeout: Duration::from_secs(20),
    });
    let report = within(run(args(&server, w))).await.expect("reconnect");
    let WorkloadResult::Reconnect(r) = only_run(&report) else {
        panic!("not a reconnect result")
    };
    assert!(r.batches_per_session >= 3, "{}", r.batches_per_session);
    assert_eq!(r.expected_events, 15);
    assert_eq!(r.delivered_once, 15, "{r:?}");
    assert_eq!((r.missing, r.duplicated, r.unexpected), (0, 0, 0), "{r:?}");
    let p = r.probe.as_ref().expect("a node stayed unchanged");
    assert_eq!((p.heard_once, p.missing, p.duplicated), (3, 0, 0), "{p:?}");
    assert!(r.catchup_ms.is_some());
    assert!(r.reconnect_ms <= r.reregister_ms);
    assert_eq!(r.reregister.count, 3);
    let table = report.render_table();
    assert!(table.contains("exactly once 15"), "{table}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_alternates_servers_and_plots_both() {
    let a = Server::start().await;
    let b = Server::start().await;
    let mut load = small_load(Some(100));
    load.warmup = Duration::ZERO;
    let mut bench = args(&a, Workload::Read(load));
    bench.compare = Some(b.addr());
    bench.compare_label = Some("other".into());
    bench.runs = 2;
    let report = within(run(bench)).await.expect("compare");
    let order: Vec<(usize, u32)> = report.runs.iter().map(|r| (r.server, r.round)).collect();
    assert_eq!(order, [(0, 0), (1, 0), (0, 1), (1, 1)]);
    assert!(
        report.servers[0].label.starts_with("watchkeeper"),
        "{:?}",
        report.servers
    );
    assert_eq!(report.servers[1].label, "other");
    let rows = report.comparison.as_ref().expect("two servers compared");
    assert_eq!(rows[0].metric, "throughput");
    assert!(rows[0].ratio_b_over_a.is_some());
    let text = report.render_table();
    assert!(text.contains("ratio is B/A"), "{text}");

    // Fan-out on both, at two sizes, gives a chart with a line per server.
    let mut reports = Vec::new();
    for watchers in [2, 4] {
        let mut f = args(
            &a,
            Workload::Fanout(FanoutArgs {
                watchers,
                rounds: 2,
                ..FanoutArgs::default()
            }),
        );
        f.compare = Some(b.addr());
        f.compare_label = Some("other".into());
        let r = within(run(f)).await.expect("fanout compare");
        reports.push(Report::from_json(&r.to_json()).expect("json round trip"));
    }
    let svg = plot(&reports).fanout.expect("fanout chart");
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains("other, one-shot"));
    a.stop().await;
    b.stop().await;
}
