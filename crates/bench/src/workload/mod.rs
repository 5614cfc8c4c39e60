//! The workloads, one module each, and what they have in common: the server they run against
//! ([`Target`]), the run's settings ([`Ctx`]), their results ([`WorkloadResult`]) and the
//! headline metrics a comparison lines up ([`Metric`]).
//!
//! Every workload creates what it needs under `<root>/<workload>`, tolerates what an earlier
//! run left there, and removes what would pollute a later run (sessions, bulk nodes).

pub mod batch;
pub mod failover;
pub mod fanout;
pub mod load;
pub mod reconnect;
pub mod storm;
pub mod watches;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::args::Workload;
use crate::conn::ConnectOptions;
use crate::control::MemberControl;
use crate::hist::ms;

/// One server (or ensemble) under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// The first member: setup, and the workloads that use one server.
    pub addr: SocketAddr,
    /// Every member, in connect-string order (just `addr` for a single server).
    pub members: Vec<SocketAddr>,
    pub label: String,
    pub pid: Option<u32>,
    /// How to kill and restart members (`failover`, `storm`); also their pids.
    pub control: Option<Arc<dyn MemberControl>>,
}

impl Target {
    /// The server processes whose CPU time to count: every member's where known, else the
    /// one `--server-pid`.
    pub fn server_pids(&self) -> Vec<u32> {
        let from_control: Vec<u32> = self
            .control
            .as_ref()
            .map(|c| c.pids().into_iter().flatten().collect())
            .unwrap_or_default();
        if from_control.is_empty() {
            self.pid.into_iter().collect()
        } else {
            from_control
        }
    }

    /// The member session `i` of a spread workload connects to (round robin).
    pub fn member_for(&self, i: usize) -> SocketAddr {
        self.members[i % self.members.len()]
    }
}

/// Total CPU time of some processes, in nanoseconds; `None` if any cannot be read.
pub fn cpu_ns(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|&p| crate::probe::process_cpu_ns(p))
        .sum::<Option<u64>>()
}

/// What a workload run needs besides its own arguments.
pub struct Ctx<'a> {
    pub target: &'a Target,
    pub opts: ConnectOptions,
    pub root: &'a str,
    pub progress: bool,
    pub seed: u64,
}

/// The deadline for creating or deleting `n` nodes in setup: a minute plus 2 ms a node.
pub fn setup_deadline(n: usize) -> Instant {
    Instant::now() + Duration::from_secs(60) + Duration::from_millis(2 * n as u64)
}

/// The result of one run of one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "workload", rename_all = "kebab-case")]
pub enum WorkloadResult {
    Load(load::LoadResult),
    Fanout(fanout::FanoutResult),
    Watches(watches::WatchesResult),
    Reconnect(reconnect::ReconnectResult),
    Failover(failover::FailoverResult),
    Storm(storm::StormResult),
}

/// Which direction of a metric is the good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Better {
    Higher,
    Lower,
}

/// One headline number of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub unit: String,
    /// `None` when the run could not produce it (e.g. a round where someone never heard).
    pub value: Option<f64>,
    pub better: Better,
    /// In a summary over several runs: the smallest and largest value (`value` is the median).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

fn metric(name: &str, unit: &str, value: Option<f64>, better: Better) -> Metric {
    Metric {
        name: name.to_string(),
        unit: unit.to_string(),
        value,
        better,
        min: None,
        max: None,
    }
}

impl WorkloadResult {
    /// The numbers that summarise a run, in display order.
    pub fn metrics(&self) -> Vec<Metric> {
        use Better::*;
        match self {
            WorkloadResult::Load(r) => vec![
                metric("throughput", "ops/s", Some(r.throughput), Higher),
                metric("latency p50", "ms", Some(ms(r.total.latency.p50_us)), Lower),
                metric("latency p99", "ms", Some(ms(r.total.latency.p99_us)), Lower),
                metric(
                    "latency p99.9",
                    "ms",
                    Some(ms(r.total.latency.p999_us)),
                    Lower,
                ),
                metric("errors", "replies", Some(r.total.errors as f64), Lower),
                metric(
                    "server CPU per op (all members)",
                    "us",
                    r.server_cpu_us_per_op,
                    Lower,
                ),
                metric(
                    "load generator CPU per op",
                    "us",
                    r.client_cpu_us_per_op,
                    Lower,
                ),
            ],
            WorkloadResult::Fanout(r) => vec![
                metric("time to last watcher", "ms", r.median_last_ms, Lower),
                metric("delivery p50", "ms", r.median_p50_ms, Lower),
                metric("delivery p99", "ms", r.median_p99_ms, Lower),
                metric("first to last watcher", "ms", r.median_spread_ms, Lower),
                metric(
                    "server CPU per event",
                    "us",
                    r.server_cpu_us_per_event,
                    Lower,
                ),
                metric(
                    "load generator CPU per event",
                    "us",
                    r.client_cpu_us_per_event,
                    Lower,
                ),
                metric(
                    "lost + extra events",
                    "events",
                    Some((r.missing + r.duplicates + r.unexpected) as f64),
                    Lower,
                ),
            ],
            WorkloadResult::Watches(r) => vec![
                metric("registration rate", "watches/s", Some(r.rate_per_s), Higher),
                metric("registration p99", "ms", Some(ms(r.latency.p99_us)), Lower),
                metric(
                    "memory per watch",
                    "bytes",
                    r.memory.as_ref().map(|m| m.bytes_per_watch),
                    Lower,
                ),
                metric("memory per session", "bytes", r.bytes_per_session, Lower),
                metric("errors", "replies", Some(r.errors as f64), Lower),
            ],
            WorkloadResult::Reconnect(r) => vec![
                metric("re-registration time", "ms", Some(r.reregister_ms), Lower),
                metric("reconnect time", "ms", Some(r.reconnect_ms), Lower),
                metric("catch-up time", "ms", r.catchup_ms, Lower),
                metric(
                    "lost + extra events",
                    "events",
                    Some((r.missing + r.duplicated + r.unexpected) as f64),
                    Lower,
                ),
            ],
            WorkloadResult::Failover(r) => vec![
                metric("failover time", "ms", Some(r.failover_ms), Lower),
                metric(
                    "write p50 before the kill",
                    "ms",
                    Some(ms(r.before.p50_us)),
                    Lower,
                ),
                metric(
                    "recovery after the restart",
                    "ms",
                    Some(r.recovery_ms),
                    Lower,
                ),
            ],
            WorkloadResult::Storm(r) => {
                let probe = r.probe.as_ref();
                vec![
                    metric(
                        "storm time (all resumed and re-armed)",
                        "ms",
                        Some(r.rearmed_ms),
                        Lower,
                    ),
                    metric("all handshakes done", "ms", Some(r.resumed_ms), Lower),
                    metric("catch-up complete", "ms", r.catchup_ms, Lower),
                    metric("writes during the outage", "ms", r.writes_ms, Lower),
                    metric(
                        "sessions that lost their connection",
                        "sessions",
                        Some(r.disconnected as f64),
                        Lower,
                    ),
                    metric(
                        "lost + extra events",
                        "events",
                        Some(
                            (r.events.missing
                                + r.events.duplicated
                                + r.unexpected
                                + probe.map_or(0, |p| p.events.missing + p.events.duplicated))
                                as f64,
                        ),
                        Lower,
                    ),
                    metric(
                        "probe: last watch fired",
                        "ms",
                        probe.and_then(|p| p.last_ms),
                        Lower,
                    ),
                    metric(
                        "survivors' CPU during the storm",
                        "ms",
                        r.server_cpu_ms,
                        Lower,
                    ),
                    metric(
                        "load generator CPU during the storm",
                        "ms",
                        r.client_cpu_ms,
                        Lower,
                    ),
                ]
            }
        }
    }
}

/// Runs one workload once against one server.
pub async fn run_once(workload: &Workload, ctx: &Ctx<'_>) -> Result<WorkloadResult, BenchError> {
    Ok(match workload {
        Workload::Read(a) => WorkloadResult::Load(load::run(ctx, a, 1.0).await?),
        Workload::Write(a) => WorkloadResult::Load(load::run(ctx, a, 0.0).await?),
        Workload::Mixed(a) => WorkloadResult::Load(load::run(ctx, a, a.read_ratio).await?),
        Workload::Fanout(a) => WorkloadResult::Fanout(fanout::run(ctx, a).await?),
        Workload::Watches(a) => WorkloadResult::Watches(watches::run(ctx, a).await?),
        Workload::Reconnect(a) => WorkloadResult::Reconnect(reconnect::run(ctx, a).await?),
        Workload::Failover(a) => WorkloadResult::Failover(failover::run(ctx, a).await?),
        Workload::Storm(a) => WorkloadResult::Storm(storm::run(ctx, a).await?),
    })
}
