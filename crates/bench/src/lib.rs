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
//! watches with setWatches and getting exactly the catch-up events they should), and against
//! an ensemble `failover` (the leader SIGKILLed: time until a write through a survivor is
//! acknowledged) and `storm` (a member holding a third of many sessions dies: time until
//! every orphaned session resumed elsewhere and re-armed its watches).
//!
//! A server is a connect string: one `HOST:PORT`, or an ensemble's members. Load workloads
//! spread their sessions over the members; `failover` and `storm` kill and restart members
//! through a [`control::MemberControl`] (pids and a restart command from the command line).
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
pub mod control;
pub mod ensemble;
mod error;
pub mod hist;
pub mod pipeline;
pub mod plot;
pub mod probe;
mod progress;
pub mod report;
pub mod workload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use args::{
    BenchArgs, FailoverArgs, FanoutArgs, KillWhich, LoadArgs, PidSource, ReconnectArgs, StormArgs,
    WatchKind, WatchMode, WatchesArgs, Workload, parse_duration, parse_member_pids,
    split_connect_string,
};
pub use error::BenchError;
pub use plot::{Plots, plot, plot_files};
pub use report::{Report, ServerInfo};
pub use workload::WorkloadResult;

use conn::ConnectOptions;
use control::{MemberControl, ProcessControl};
use workload::{Ctx, Target};

/// How long the `srvr` and `mntr` probes may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs the benchmark `args` describes and returns its report. Members are killed and
/// restarted (`failover`, `storm`) through [`ProcessControl`]s built from the pid lists and
/// restart commands in `args`.
pub async fn run(args: BenchArgs) -> Result<Report, BenchError> {
    args.validate()?;
    let control = |connect: &str, pids: &[PidSource], cmd: &Option<String>| {
        if pids.is_empty() && cmd.is_none() {
            return Ok(None);
        }
        let c = ProcessControl::new(split_connect_string(connect)?, pids.to_vec(), cmd.clone())?;
        Ok::<_, BenchError>(Some(Arc::new(c) as Arc<dyn MemberControl>))
    };
    let a = control(&args.server, &args.member_pids, &args.restart_cmd)?;
    let b = match &args.compare {
        Some(c) => control(c, &args.compare_member_pids, &args.compare_restart_cmd)?,
        None => None,
    };
    if args.workload.kills_members() {
        let sides = [
            ("", &args.member_pids, &args.restart_cmd, true),
            (
                "compare-",
                &args.compare_member_pids,
                &args.compare_restart_cmd,
                args.compare.is_some(),
            ),
        ];
        for (prefix, pids, cmd, present) in sides {
            if present && (pids.is_empty() || cmd.is_none()) {
                return Err(BenchError::Args(format!(
                    "{} kills and restarts ensemble members: give --{prefix}member-pids and --{prefix}restart-cmd",
                    args.workload.name()
                )));
            }
        }
    }
    run_with_controls(args, [a, b]).await
}

/// As [`run`], with the members' control given (`[--server's, --compare's]`) instead of built
/// from the pid lists: for ensembles whose members are not plain processes (tests run them
/// in-process).
pub async fn run_with_controls(
    args: BenchArgs,
    controls: [Option<Arc<dyn MemberControl>>; 2],
) -> Result<Report, BenchError> {
    args.validate()?;
    let [ca, cb] = controls;
    if args.workload.kills_members() && (ca.is_none() || (args.compare.is_some() && cb.is_none())) {
        return Err(BenchError::Args(format!(
            "{} needs a way to kill and restart members of every ensemble",
            args.workload.name()
        )));
    }
    let mut targets = vec![target(&args.server, args.label.clone(), args.server_pid, ca).await?];
    if let Some(b) = &args.compare {
        targets.push(target(b, args.compare_label.clone(), args.compare_pid, cb).await?);
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

/// Resolves a connect string's members and names the server (from the first that answers
/// `srvr`).
async fn target(
    connect: &str,
    label: Option<String>,
    pid: Option<u32>,
    control: Option<Arc<dyn MemberControl>>,
) -> Result<(Target, ServerInfo), BenchError> {
    let mut members = Vec::new();
    for m in split_connect_string(connect)? {
        members.push(resolve(&m).await?);
    }
    let mut srvr = None;
    for &m in &members {
        srvr = probe::four_letter(m, "srvr", PROBE_TIMEOUT).await;
        if srvr.is_some() {
            break;
        }
    }
    let version = srvr
        .as_deref()
        .and_then(|s| s.lines().next())
        .map(str::to_string);
    let label = label
        .or_else(|| srvr.as_deref().and_then(probe::label_from_srvr))
        .unwrap_or_else(|| connect.to_string());
    Ok((
        Target {
            addr: members[0],
            members,
            label: label.clone(),
            pid,
            control,
        },
        ServerInfo {
            addr: connect.to_string(),
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
