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
    BenchArgs, BenchError, FanoutArgs, LoadArgs, ReconnectArgs, WatchKind, WatchMode, WatchesArgs,
    Workload, parse_duration,
};

#[derive(Debug, Args)]
#[command(about = "Load a ZooKeeper-protocol server (or two, side by side) and report")]
pub struct BenchCommand {
    #[command(flatten)]
    common: CommonFlags,
    #[command(subcommand)]
    workload: WorkloadCommand,
}

/// Flags every workload takes.
#[derive(Debug, Args)]
struct CommonFlags {
    /// The server to load, HOST:PORT.
    #[arg(long, global = true, default_value_t = BenchArgs::default().server)]
    server: String,
    /// A second server to compare with; the workload alternates between the two.
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
    /// Draw SVG charts (fan-out latency, memory per watch) from saved JSON reports.
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
    fn bench_args(&self) -> Option<BenchArgs> {
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
            WorkloadCommand::Plot(_) => return None,
        };
        let c = &self.common;
        Some(BenchArgs {
            server: c.server.clone(),
            compare: c.compare.clone(),
            runs: c.runs,
            label: c.label.clone(),
            compare_label: c.compare_label.clone(),
            server_pid: c.server_pid,
            compare_pid: c.compare_pid,
            root: c.root.clone(),
            session_timeout: c.session_timeout.0,
            connect_timeout: c.connect_timeout.0,
            progress: !c.no_progress,
            seed: c.seed,
            workload,
        })
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
    let args = cmd.bench_args().context("no workload given")?;
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
        top.bench.bench_args().expect("a workload")
    }

    #[test]
    fn defaults_are_the_librarys() {
        assert_eq!(args(&["read"]), BenchArgs::default());
        let cases: [(&str, Workload); 5] = [
            ("write", Workload::Write(LoadArgs::default())),
            ("mixed", Workload::Mixed(LoadArgs::default())),
            ("fanout", Workload::Fanout(FanoutArgs::default())),
            ("watches", Workload::Watches(WatchesArgs::default())),
            ("reconnect", Workload::Reconnect(ReconnectArgs::default())),
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
    fn bad_values_are_refused_by_the_parser() {
        for bad in [
            &["read", "--duration", "soon"][..],
            &["fanout", "--mode", "sometimes"],
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
