//! `watchkeeper-bench`: a load generator for any server that speaks ZooKeeper's client
//! protocol (Watchkeeper, Apache ZooKeeper), in the spirit of etcd's benchmark and ClickHouse's
//! keeper-bench.
//!
//! It talks to servers through its own lean pipelined session driver ([`conn::Connection`])
//! built on `watchkeeper-proto`'s records and frames, so it controls exactly how many requests
//! are in flight and timestamps every reply and notification where it is read.
//!
//! Workloads ([`Workload`]): `read`, `write`, `mixed` (closed-loop request load), `fanout`
//! (notification fan-out latency), `watches` (watch registration rate and server memory per
//! watch), `reconnect` (sessions losing their connections, resuming, re-registering their
//! watches with setWatches and getting exactly the catch-up events they should).
//!
//! Entry points: [`run`] takes [`BenchArgs`] and returns a [`Report`], which renders as tables
//! ([`Report::render_table`]) or JSON ([`Report::to_json`]); [`plot`] / [`plot_files`] draw
//! SVG charts from several JSON reports. With `compare` set, the workload alternates between
//! the two servers (A, B, A, B, ...) and the report lines up their medians.
//!
//! Every loop is bounded in count and in time: requests by their budget or deadline, waits by
//! deadlines derived from the arguments, sessions and in-flight windows by [`args::limits`].

pub mod args;
pub mod conn;
mod error;
pub mod hist;
pub mod pipeline;
pub mod plot;
pub mod probe;
mod progress;
pub mod report;
pub mod workload;

use std::net::SocketAddr;
use std::time::Duration;

pub use args::{
    BenchArgs, FanoutArgs, LoadArgs, ReconnectArgs, WatchKind, WatchMode, WatchesArgs, Workload,
    parse_duration,
};
pub use error::BenchError;
pub use plot::{Plots, plot, plot_files};
pub use report::{Report, ServerInfo};
pub use workload::WorkloadResult;

use conn::ConnectOptions;
use workload::{Ctx, Target};

/// How long the `srvr` and `mntr` probes may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs the benchmark `args` describes and returns its report.
pub async fn run(args: BenchArgs) -> Result<Report, BenchError> {
    args.validate()?;
    let mut targets = vec![target(&args.server, args.label.clone(), args.server_pid).await?];
    if let Some(b) = &args.compare {
        targets.push(target(b, args.compare_label.clone(), args.compare_pid).await?);
    }
    let opts = ConnectOptions {
        session_timeout: args.session_timeout,
        connect_timeout: args.connect_timeout,
        ..ConnectOptions::default()
    };
    let mut runs = Vec::new();
    for round in 0..args.runs {
        for (server, (t, _)) in targets.iter().enumerate() {
            let ctx = Ctx {
                target: t,
                opts: opts.clone(),
                root: &args.root,
                progress: args.progress,
                seed: args
                    .seed
                    .wrapping_add(u64::from(round).wrapping_mul(1_000_003)),
            };
            tracing::info!(
                workload = args.workload.name(),
                server = %t.label,
                round,
                "benchmark run starting"
            );
            let result = workload::run_once(&args.workload, &ctx).await?;
            runs.push(report::Run {
                server,
                round,
                result,
            });
        }
    }
    let servers = targets.into_iter().map(|(_, info)| info).collect();
    Ok(Report::new(args.workload.clone(), servers, runs))
}

/// Resolves an address and names the server.
async fn target(
    addr: &str,
    label: Option<String>,
    pid: Option<u32>,
) -> Result<(Target, ServerInfo), BenchError> {
    let resolved = resolve(addr).await?;
    let srvr = probe::four_letter(resolved, "srvr", PROBE_TIMEOUT).await;
    let version = srvr
        .as_deref()
        .and_then(|s| s.lines().next())
        .map(str::to_string);
    let label = label
        .or_else(|| srvr.as_deref().and_then(probe::label_from_srvr))
        .unwrap_or_else(|| addr.to_string());
    Ok((
        Target {
            addr: resolved,
            label: label.clone(),
            pid,
        },
        ServerInfo {
            addr: addr.to_string(),
            label,
            version,
        },
    ))
}

async fn resolve(addr: &str) -> Result<SocketAddr, BenchError> {
    let err = |why: String| BenchError::Resolve {
        addr: addr.to_string(),
        why,
    };
    let found = tokio::time::timeout(PROBE_TIMEOUT, tokio::net::lookup_host(addr))
        .await
        .map_err(|_| err("lookup timed out".into()))?
        .map_err(|e| err(e.to_string()))?
        .next();
    found.ok_or_else(|| err("no address found".into()))
}
