//! `watchkeeper bench`: the command line of the `watchkeeper-bench` library.
//!
//! Each flag mirrors one documented field of `watchkeeper_bench::BenchArgs` or of a workload's
//! arguments, and its default is read from that struct's `Default`, so the library stays the
//! one place defaults live. The report goes to stdout as a table, or as JSON with `--json`;
//! `--output FILE` also saves the JSON (what `bench plot` reads).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use watchkeeper_bench::{
    BenchArgs, BenchError, FailoverArgs, FanoutArgs, KillWhich, LoadArgs, ReconnectArgs, StormArgs,
    WatchKind, WatchMode, WatchesArgs, Workload, parse_duration, parse_member_pids,
    split_connect_string,
};

#[derive(Debug, Args)]
#[command(about = "Load a ZooKeeper-protocol server (or two, side by side) and report")]
pub struct BenchCommand {
    #[command(flatten)]
    common: Box<CommonFlags>,
    #[command(subcommand)]
    workload: WorkloadCommand,
}

/// Flags every workload takes.
#[derive(Debug, Args)]
struct CommonFlags {
    /// The server to load, HOST:PORT; or an ensemble, HOST:PORT,HOST:PORT,... (member N is the
    /// Nth; read/write/mixed spread their sessions over the members round robin).
    #[arg(long, global = true, default_value_t = BenchArgs::default().server)]
    server: String,
    /// A second server or ensemble to compare with; the workload alternates between the two.
    #[arg(long, global = true)]
    compare: Option<String>,
    /// Times the workload runs on each server; medians are reported.
    #[arg(long, global = true, default_value_t = BenchArgs::default().runs)]
    runs: u32,
    /// Name of the first server in reports [default: from its `srvr` answer].
    #[arg(long, global = true)]
    label: Option<String>,
    /// Name of the compared server in reports.
    #[arg(long, global = true)]
    compare_label: Option<String>,
    /// Process id of the first server, to read its memory (local servers only).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Process id of the compared server.
    #[arg(long, global = true)]
    compare_pid: Option<u32>,
    /// The --server ensemble's members' pids, in connect-string order: PID or PIDFILE entries,
    /// comma separated, or one PIDFILE with {id} (e.g. /tmp/wk/m{id}/server.pid). A pid file is
    /// read again at every use, so it follows a restarted member. Needed by failover and storm
    /// (what they SIGKILL); read/write/mixed and storm report these processes' CPU time.
    #[arg(long, global = true, value_name = "LIST")]
    member_pids: Option<String>,
    /// The --compare ensemble's members' pids, as --member-pids.
    #[arg(long, global = true, value_name = "LIST")]
    compare_member_pids: Option<String>,
    /// Command (run by sh -c) that restarts a killed member of the --server ensemble and
    /// returns once it serves; {id} is the member's number (1-based), {addr}, {host} and {port}
    /// its client address.
    #[arg(long, global = true, value_name = "CMD")]
    restart_cmd: Option<String>,
    /// The same for the --compare ensemble.
    #[arg(long, global = true, value_name = "CMD")]
    compare_restart_cmd: Option<String>,
    /// Parent znode of everything the benchmark creates.
    #[arg(long, global = true, default_value_t = BenchArgs::default().root)]
    root: String,
    /// Session timeout to ask for (500ms, 10s, 2m, ...).
    #[arg(long, global = true, default_value_t = Dur(BenchArgs::default().session_timeout))]
    session_timeout: Dur,
    /// Bound on connecting plus the handshake, per connection.
    #[arg(long, global = true, default_value_t = Dur(BenchArgs::default().connect_timeout))]
    connect_timeout: Dur,
    /// No progress bars on stderr.
    #[arg(long, global = true)]
    no_progress: bool,
    /// Seed for key choice and operation mix.
    #[arg(long, global = true, default_value_t = BenchArgs::default().seed)]
    seed: u64,
    /// Print the report as JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Also write the JSON report to this file (input for `bench plot`).
    #[arg(long, global = true, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum WorkloadCommand {
    /// getData only: closed-loop read throughput and latency.
    Read(LoadFlags),
    /// setData and create+delete only.
    Write(LoadFlags),
    /// Reads with probability --read-ratio, writes otherwise.
    Mixed(LoadFlags),
    /// One writer, many watchers: notification fan-out latency.
    Fanout(FanoutFlags),
    /// Many watches: registration rate and the server's memory per watch.
    Watches(WatchesFlags),
    /// Sessions with watches lose their connections, resume and re-register.
    Reconnect(ReconnectFlags),
    /// SIGKILL an ensemble's leader: time until a write through a survivor is acknowledged
    /// (one kill per run; --runs rounds alternate the servers).
    Failover(FailoverFlags),
    /// SIGKILL the member holding a third of many watching sessions: time until every orphan
    /// resumed on a survivor and re-armed its watches, events checked exactly.
    Storm(StormFlags),
    /// Draw SVG charts (fan-out latency, memory per watch, ensemble throughput and failover/storm
    /// times) from saved JSON reports.
    Plot(PlotFlags),
}

#[derive(Debug, Args)]
struct LoadFlags {
    /// Concurrent sessions.
    #[arg(long, default_value_t = LoadArgs::default().sessions)]
    sessions: usize,
    /// Requests each session keeps in flight.
    #[arg(long, default_value_t = LoadArgs::default().in_flight)]
    in_flight: usize,
    /// Bytes per value written.
    #[arg(long, default_value_t = LoadArgs::default().value_size)]
    value_size: usize,
    /// Distinct nodes read and written.
    #[arg(long, default_value_t = LoadArgs::default().keys)]
    keys: usize,
    /// How long to measure after the warm-up (with --requests: the cap).
    #[arg(long, default_value_t = Dur(LoadArgs::default().duration))]
    duration: Dur,
    /// Stop after this many measured requests (or at --duration, first wins).
    #[arg(long)]
    requests: Option<u64>,
    /// Load applied before measuring starts.
    #[arg(long, default_value_t = Dur(LoadArgs::default().warmup))]
    warmup: Dur,
    /// `mixed`: the fraction of operations that are reads (0..=1).
    #[arg(long, default_value_t = LoadArgs::default().read_ratio)]
    read_ratio: f64,
    /// `write`/`mixed`: the fraction of writes that are a create then a delete (0..=1).
    #[arg(long, default_value_t = LoadArgs::default().create_ratio)]
    create_ratio: f64,
}

#[derive(Debug, Args)]
struct FanoutFlags {
    /// Watcher sessions.
    #[arg(long, default_value_t = FanoutArgs::default().watchers)]
    watchers: usize,
    /// How each watcher watches: one-shot, persistent or recursive.
    #[arg(long, default_value_t = FanoutArgs::default().mode)]
    mode: WatchMode,
    /// Writes (rounds) measured.
    #[arg(long, default_value_t = FanoutArgs::default().rounds)]
    rounds: u32,
    /// Bytes written by each setData.
    #[arg(long, default_value_t = FanoutArgs::default().value_size)]
    value_size: usize,
    /// Longest a round may wait for every watcher to hear.
    #[arg(long, default_value_t = Dur(FanoutArgs::default().round_timeout))]
    round_timeout: Dur,
    /// Pause between rounds.
    #[arg(long, default_value_t = Dur(FanoutArgs::default().pause))]
    pause: Dur,
    /// Rounds run first and not measured (a JIT-compiled server is then measured warm).
    #[arg(long, default_value_t = FanoutArgs::default().warmup_rounds)]
    warmup_rounds: u32,
}

#[derive(Debug, Args)]
struct WatchesFlags {
    /// Sessions.
    #[arg(long, default_value_t = WatchesArgs::default().sessions)]
    sessions: usize,
    /// Watches per session.
    #[arg(long, default_value_t = WatchesArgs::default().watches_per_session)]
    watches: usize,
    /// Every session watches the same paths (else all paths are distinct).
    #[arg(long)]
    shared: bool,
    /// What kind of watch: exists, data, child, persistent or recursive.
    #[arg(long, default_value_t = WatchesArgs::default().kind)]
    kind: WatchKind,
    /// Registration requests in flight per session.
    #[arg(long, default_value_t = WatchesArgs::default().in_flight)]
    in_flight: usize,
    /// Wait after registering before reading memory.
    #[arg(long, default_value_t = Dur(WatchesArgs::default().settle))]
    settle: Dur,
    /// Longest the registration may take.
    #[arg(long, default_value_t = Dur(WatchesArgs::default().timeout))]
    timeout: Dur,
}

#[derive(Debug, Args)]
struct ReconnectFlags {
    /// Sessions.
    #[arg(long, default_value_t = ReconnectArgs::default().sessions)]
    sessions: usize,
    /// Data watches per session, all on the same nodes.
    #[arg(long, default_value_t = ReconnectArgs::default().watches_per_session)]
    watches: usize,
    /// Nodes changed during the outage.
    #[arg(long, default_value_t = ReconnectArgs::default().changed)]
    changed: usize,
    /// Pad node names to at least this many characters.
    #[arg(long, default_value_t = ReconnectArgs::default().name_len)]
    name_len: usize,
    /// Bytes of paths per setWatches packet.
    #[arg(long, default_value_t = ReconnectArgs::default().batch_bytes)]
    batch_bytes: usize,
    /// Registration requests in flight per session before the outage.
    #[arg(long, default_value_t = ReconnectArgs::default().in_flight)]
    in_flight: usize,
    /// How long the connections stay down after the writer finished.
    #[arg(long, default_value_t = Dur(ReconnectArgs::default().outage))]
    outage: Dur,
    /// Wait this long after the last expected event for stray ones.
    #[arg(long, default_value_t = Dur(ReconnectArgs::default().quiet))]
    quiet: Dur,
    /// Longest each phase may take.
    #[arg(long, default_value_t = Dur(ReconnectArgs::default().timeout))]
    timeout: Dur,
}

#[derive(Debug, Args)]
struct FailoverFlags {
    /// How long the write loop runs before the kill.
    #[arg(long, default_value_t = Dur(FailoverArgs::default().warmup))]
    warmup: Dur,
    /// Deadline of each write attempt; a write that misses it is followed by another.
    #[arg(long, default_value_t = Dur(FailoverArgs::default().write_timeout))]
    write_timeout: Dur,
    /// Pause after a refused connection attempt before trying the next survivor.
    #[arg(long, default_value_t = Dur(FailoverArgs::default().retry_pause))]
    retry_pause: Dur,
    /// Longest the ensemble may take to be whole, to accept a write after the kill, to be
    /// whole again after the restart (each).
    #[arg(long, default_value_t = Dur(FailoverArgs::default().timeout))]
    timeout: Dur,
    /// Wait after the ensemble is whole again before the next round.
    #[arg(long, default_value_t = Dur(FailoverArgs::default().settle))]
    settle: Dur,
}

#[derive(Debug, Args)]
struct StormFlags {
    /// Sessions, spread over the members (session i on member i mod n).
    #[arg(long, default_value_t = StormArgs::default().sessions)]
    sessions: usize,
    /// Data watches per session.
    #[arg(long, default_value_t = StormArgs::default().watches_per_session)]
    watches: usize,
    /// Nodes the watches are spread over (at least --watches).
    #[arg(long, default_value_t = StormArgs::default().nodes)]
    nodes: usize,
    /// Nodes changed right after the kill, while the orphans are away.
    #[arg(long, default_value_t = StormArgs::default().changed)]
    changed: usize,
    /// Which member dies: follower or leader.
    #[arg(long, default_value_t = StormArgs::default().kill)]
    kill: KillWhich,
    /// Registration requests in flight per session before the kill.
    #[arg(long, default_value_t = StormArgs::default().in_flight)]
    in_flight: usize,
    /// Handshakes (connections and resumptions) in progress at once.
    #[arg(long, default_value_t = StormArgs::default().concurrency)]
    concurrency: usize,
    /// Bytes of paths per setWatches packet.
    #[arg(long, default_value_t = StormArgs::default().batch_bytes)]
    batch_bytes: usize,
    /// Wait this long after the last expected event for stray ones.
    #[arg(long, default_value_t = Dur(StormArgs::default().quiet))]
    quiet: Dur,
    /// Pause after a refused connection attempt before the next.
    #[arg(long, default_value_t = Dur(StormArgs::default().retry_pause))]
    retry_pause: Dur,
    /// Longest each phase may take.
    #[arg(long, default_value_t = Dur(StormArgs::default().timeout))]
    timeout: Dur,
    /// Wait after the ensemble is whole again before the run ends.
    #[arg(long, default_value_t = Dur(StormArgs::default().settle))]
    settle: Dur,
}

#[derive(Debug, Args)]
struct PlotFlags {
    /// Directory the SVG files go to.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// JSON reports written with --output.
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
}

/// A duration flag: parsed by the bench library's `parse_duration`, shown as it would be typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dur(Duration);

impl FromStr for Dur {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self, BenchError> {
        parse_duration(s).map(Dur)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl LoadFlags {
    fn args(&self) -> LoadArgs {
        LoadArgs {
            sessions: self.sessions,
            in_flight: self.in_flight,
            value_size: self.value_size,
            keys: self.keys,
            duration: self.duration.0,
            requests: self.requests,
            warmup: self.warmup.0,
            read_ratio: self.read_ratio,
            create_ratio: self.create_ratio,
        }
    }
}

impl BenchCommand {
    /// The library's arguments, or `None` for `plot`, which runs no workload.
    fn bench_args(&self) -> Result<Option<BenchArgs>, BenchError> {
        let workload = match &self.workload {
            WorkloadCommand::Read(f) => Workload::Read(f.args()),
            WorkloadCommand::Write(f) => Workload::Write(f.args()),
            WorkloadCommand::Mixed(f) => Workload::Mixed(f.args()),
            WorkloadCommand::Fanout(f) => Workload::Fanout(FanoutArgs {
                watchers: f.watchers,
                mode: f.mode,
                rounds: f.rounds,
                value_size: f.value_size,
                round_timeout: f.round_timeout.0,
                pause: f.pause.0,
                warmup_rounds: f.warmup_rounds,
            }),
            WorkloadCommand::Watches(f) => Workload::Watches(WatchesArgs {
                sessions: f.sessions,
                watches_per_session: f.watches,
                shared: f.shared,
                kind: f.kind,
                in_flight: f.in_flight,
                settle: f.settle.0,
                timeout: f.timeout.0,
            }),
            WorkloadCommand::Reconnect(f) => Workload::Reconnect(ReconnectArgs {
                sessions: f.sessions,
                watches_per_session: f.watches,
                changed: f.changed,
                name_len: f.name_len,
                batch_bytes: f.batch_bytes,
                in_flight: f.in_flight,
                outage: f.outage.0,
                quiet: f.quiet.0,
                timeout: f.timeout.0,
            }),
            WorkloadCommand::Failover(f) => Workload::Failover(FailoverArgs {
                warmup: f.warmup.0,
                write_timeout: f.write_timeout.0,
                retry_pause: f.retry_pause.0,
                timeout: f.timeout.0,
                settle: f.settle.0,
            }),
            WorkloadCommand::Storm(f) => Workload::Storm(StormArgs {
                sessions: f.sessions,
                watches_per_session: f.watches,
                nodes: f.nodes,
                changed: f.changed,
                kill: f.kill,
                in_flight: f.in_flight,
                concurrency: f.concurrency,
                batch_bytes: f.batch_bytes,
                quiet: f.quiet.0,
                retry_pause: f.retry_pause.0,
                timeout: f.timeout.0,
                settle: f.settle.0,
            }),
            WorkloadCommand::Plot(_) => return Ok(None),
        };
        let c = &self.common;
        // Pid lists are read against their connect string (a {id} template expands to one
        // entry per member).
        let pids = |list: &Option<String>, connect: Option<&String>, flag: &str| {
            let Some(list) = list else {
                return Ok(Vec::new());
            };
            let connect = connect.ok_or_else(|| {
                BenchError::Args(format!("--{flag} without the ensemble it belongs to"))
            })?;
            parse_member_pids(list, split_connect_string(connect)?.len())
        };
        Ok(Some(BenchArgs {
            server: c.server.clone(),
            compare: c.compare.clone(),
            runs: c.runs,
            label: c.label.clone(),
            compare_label: c.compare_label.clone(),
            server_pid: c.server_pid,
            compare_pid: c.compare_pid,
            member_pids: pids(&c.member_pids, Some(&c.server), "member-pids")?,
            compare_member_pids: pids(
                &c.compare_member_pids,
                c.compare.as_ref(),
                "compare-member-pids",
            )?,
            restart_cmd: c.restart_cmd.clone(),
            compare_restart_cmd: c.compare_restart_cmd.clone(),
            root: c.root.clone(),
            session_timeout: c.session_timeout.0,
            connect_timeout: c.connect_timeout.0,
            progress: !c.no_progress,
            seed: c.seed,
            workload,
        }))
    }
}

/// Runs `watchkeeper bench`.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    if let WorkloadCommand::Plot(p) = &cmd.workload {
        for file in watchkeeper_bench::plot_files(&p.reports, &p.out)? {
            print_out(&format!("wrote {}\n", file.display()))?;
        }
        return Ok(());
    }
    let args = cmd.bench_args()?.context("no workload given")?;
    // Fail on bad arguments before starting anything.
    args.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("watchkeeper-bench")
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(watchkeeper_bench::run(args))?;
    if let Some(file) = &cmd.common.output {
        std::fs::write(file, report.to_json())
            .with_context(|| format!("cannot write the report to {}", file.display()))?;
    }
    let text = if cmd.common.json {
        format!("{}\n", report.to_json())
    } else {
        report.render_table()
    };
    print_out(&text)
}

/// Prints to stdout; a reader that went away (`| head`) is not an error.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(flatten)]
        bench: BenchCommand,
    }

    fn args(line: &[&str]) -> BenchArgs {
        let top = Top::try_parse_from(std::iter::once("bench").chain(line.iter().copied()))
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        top.bench
            .bench_args()
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
            .expect("a workload")
    }

    #[test]
    fn defaults_are_the_librarys() {
        assert_eq!(args(&["read"]), BenchArgs::default());
        let cases: [(&str, Workload); 7] = [
            ("write", Workload::Write(LoadArgs::default())),
            ("mixed", Workload::Mixed(LoadArgs::default())),
            ("fanout", Workload::Fanout(FanoutArgs::default())),
            ("watches", Workload::Watches(WatchesArgs::default())),
            ("reconnect", Workload::Reconnect(ReconnectArgs::default())),
            ("failover", Workload::Failover(FailoverArgs::default())),
            ("storm", Workload::Storm(StormArgs::default())),
        ];
        for (name, workload) in cases {
            assert_eq!(args(&[name]).workload, workload, "{name}");
        }
    }

    #[test]
    fn flags_reach_their_fields() {
        let a = args(&[
            "--server",
            "10.0.0.1:2181",
            "--compare",
            "10.0.0.2:2181",
            "--runs",
            "3",
            "mixed",
            "--sessions",
            "4",
            "--duration",
            "1.5s",
            "--read-ratio",
            "0.5",
            "--requests",
            "100",
            "--no-progress",
            "--seed",
            "9",
        ]);
        assert_eq!(a.server, "10.0.0.1:2181");
        assert_eq!(a.compare.as_deref(), Some("10.0.0.2:2181"));
        assert_eq!((a.runs, a.seed, a.progress), (3, 9, false));
        let Workload::Mixed(l) = a.workload else {
            panic!("{:?}", a.workload)
        };
        assert_eq!(l.sessions, 4);
        assert_eq!(l.duration, Duration::from_millis(1500));
        assert_eq!(l.read_ratio, 0.5);
        assert_eq!(l.requests, Some(100));

        let a = args(&[
            "fanout",
            "--mode",
            "recursive",
            "--watchers",
            "7",
            "--pause",
            "0s",
        ]);
        let Workload::Fanout(f) = a.workload else {
            panic!()
        };
        assert_eq!(
            (f.mode, f.watchers, f.pause),
            (WatchMode::Recursive, 7, Duration::ZERO)
        );

        let a = args(&["watches", "--kind", "data", "--shared", "--watches", "5"]);
        let Workload::Watches(w) = a.workload else {
            panic!()
        };
        assert_eq!(
            (w.kind, w.shared, w.watches_per_session),
            (WatchKind::Data, true, 5)
        );

        let a = args(&["reconnect", "--outage", "250ms", "--batch-bytes", "1024"]);
        let Workload::Reconnect(r) = a.workload else {
            panic!()
        };
        assert_eq!(
            (r.outage, r.batch_bytes),
            (Duration::from_millis(250), 1024)
        );
    }

    #[test]
    fn ensemble_flags_reach_their_fields() {
        use watchkeeper_bench::PidSource;
        let a = args(&[
            "--server",
            "127.0.0.1:21810,127.0.0.1:21811,127.0.0.1:21812",
            "--member-pids",
            "/tmp/wk/m{id}/server.pid",
            "--restart-cmd",
            "scripts/ensemble.sh member start {id} /tmp/wk",
            "--compare",
            "127.0.0.1:21910,127.0.0.1:21911,127.0.0.1:21912",
            "--compare-member-pids",
            "101,102,/tmp/zk/m3/server.pid",
            "--compare-restart-cmd",
            "scripts/ensemble.sh member start {id} /tmp/zk",
            "--runs",
            "5",
            "failover",
            "--write-timeout",
            "250ms",
            "--retry-pause",
            "5ms",
        ]);
        a.validate().unwrap();
        assert_eq!(
            a.member_pids,
            (1..=3)
                .map(|i| PidSource::File(format!("/tmp/wk/m{i}/server.pid").into()))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            a.compare_member_pids,
            [
                PidSource::Pid(101),
                PidSource::Pid(102),
                PidSource::File("/tmp/zk/m3/server.pid".into())
            ]
        );
        assert_eq!(
            a.restart_cmd.as_deref(),
            Some("scripts/ensemble.sh member start {id} /tmp/wk")
        );
        assert!(a.compare_restart_cmd.is_some());
        let Workload::Failover(f) = a.workload else {
            panic!("{:?}", a.workload)
        };
        assert_eq!(f.write_timeout, Duration::from_millis(250));
        assert_eq!(f.retry_pause, Duration::from_millis(5));

        let a = args(&[
            "--server",
            "h:1,h:2,h:3",
            "storm",
            "--sessions",
            "300",
            "--watches",
            "5",
            "--nodes",
            "50",
            "--kill",
            "leader",
        ]);
        let Workload::Storm(s) = a.workload else {
            panic!()
        };
        assert_eq!(
            (s.sessions, s.watches_per_session, s.nodes, s.kill),
            (300, 5, 50, KillWhich::Leader)
        );

        // A pid list that does not match its ensemble is refused before anything runs.
        for bad in [
            &["--server", "h:1,h:2,h:3", "--member-pids", "1,2", "read"][..],
            &["--compare-member-pids", "5", "read"],
            &["--server", "h:1,h:2,h:3", "--member-pids", "2,3,x,", "read"],
        ] {
            let top =
                Top::try_parse_from(std::iter::once("bench").chain(bad.iter().copied())).unwrap();
            assert!(top.bench.bench_args().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_values_are_refused_by_the_parser() {
        for bad in [
            &["read", "--duration", "soon"][..],
            &["fanout", "--mode", "sometimes"],
            &["storm", "--kill", "everyone"],
            &["read", "--sessions", "-1"],
        ] {
            assert!(
                Top::try_parse_from(std::iter::once("bench").chain(bad.iter().copied())).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn durations_display_as_typed() {
        assert_eq!(Dur(Duration::from_secs(10)).to_string(), "10s");
        assert_eq!(Dur(Duration::from_millis(500)).to_string(), "500ms");
        assert_eq!(Dur(Duration::ZERO).to_string(), "0s");
        for d in [
            Duration::from_secs(10),
            Duration::from_millis(1500),
            Duration::ZERO,
        ] {
            assert_eq!(Dur::from_str(&Dur(d).to_string()).unwrap().0, d);
        }
    }
}
