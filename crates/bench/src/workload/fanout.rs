//! `fanout`: N watcher sessions watch one node; one writer changes it once per round. Against
//! an ensemble the watchers are spread over its members round robin, the writer is on the first.
//!
//! A round starts when every watcher's watch is armed (one-shot watches are re-armed by each
//! watcher as soon as it hears the previous event). The clock starts just before the writer's
//! setData is encoded; each watcher stamps the moment its read returned the notification.
//! The round's fan-out time is the last watcher's stamp minus the start; per-session delivery
//! latencies give the round's p50/p99. Watchers run on their own tasks, so a stamp is not
//! delayed by the coordinator.
//!
//! The first `--warmup-rounds` rounds run the same way but are not measured, so a server that
//! compiles its hot paths while running (ZooKeeper's JIT) is measured warm.
//!
//! Every event is accounted for: the expected NodeDataChanged once per watcher per round, and
//! anything else (duplicates, other types or paths, events of an earlier round when the server
//! fills in zxids) counted as unexpected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use watchkeeper_proto::{AddWatchRequest, EventType, GetDataRequest, OpCode, Request};

use super::Ctx;
use crate::BenchError;
use crate::args::{FanoutArgs, WatchMode};
use crate::conn::{Connection, Incoming};
use crate::hist::{LatencyHistogram, LatencySummary, median, quantile_sorted};
use crate::pipeline::{ensure_nodes, set_data_req, with_ancestors};
use crate::progress::Progress;

/// One round's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutRound {
    pub round: u32,
    /// Watchers that heard this round's change.
    pub heard: usize,
    /// From the write's send until the last watcher heard; `None` if some never did.
    pub last_ms: Option<f64>,
    /// Per-watcher delivery latency percentiles over the watchers that heard.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// From the first watcher hearing to the last: the fan-out alone, without the write's
    /// commit latency that every delivery includes.
    #[serde(default)]
    pub spread_ms: Option<f64>,
    /// The writer's setData latency.
    pub write_ms: f64,
}

/// The outcome of one `fanout` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutResult {
    pub watchers: usize,
    pub mode: WatchMode,
    pub rounds: Vec<FanoutRound>,
    /// Medians over rounds (rounds where everyone heard, for `median_last_ms`).
    pub median_last_ms: Option<f64>,
    pub median_p50_ms: Option<f64>,
    pub median_p99_ms: Option<f64>,
    #[serde(default)]
    pub median_spread_ms: Option<f64>,
    /// Every delivery of every round.
    pub delivery: LatencySummary,
    /// The writer's setData latency over rounds.
    pub write: LatencySummary,
    pub expected_events: u64,
    pub delivered: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub unexpected: u64,
    /// The server's own CPU time over the measured rounds divided by the events delivered, in
    /// microseconds: what one notification costs the server, whatever the load generator
    /// costs. Only for a local server whose pid was given.
    #[serde(default)]
    pub server_cpu_us_per_event: Option<f64>,
    /// The same for this load generator's own process (every watcher, the writer and the
    /// coordinator): on a machine it shares with the server, the two compete for the cores.
    #[serde(default)]
    pub client_cpu_us_per_event: Option<f64>,
}

enum Msg {
    Armed,
    Heard {
        idx: usize,
        at: Instant,
        event_type: i32,
        path: String,
        zxid: i64,
    },
    Failed(BenchError),
}

pub async fn run(ctx: &Ctx<'_>, a: &FanoutArgs) -> Result<FanoutResult, BenchError> {
    let addr = ctx.target.addr;
    let parent = format!("{}/fanout", ctx.root);
    let node = format!("{parent}/node");
    let value = vec![b'f'; a.value_size];
    let mut writer = Connection::connect(addr, &ctx.opts).await?;
    ensure_nodes(
        &mut writer,
        &with_ancestors(&node),
        &value,
        true,
        16,
        super::setup_deadline(4),
    )
    .await?;
    // Against an ensemble the watchers are spread over its members (watcher i on member
    // i mod n); every member must have the node before they watch it.
    crate::ensemble::sync_members(&ctx.target.members, &node, &ctx.opts).await?;

    let conns = super::load::connect_spread(ctx, a.watchers).await?;
    // Two messages per watcher per round at most (heard, re-armed), so sends never wait.
    let (tx, mut rx) = mpsc::channel(2 * a.watchers + 64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let hard =
        Instant::now() + (a.round_timeout + a.pause) * (a.rounds + 2) + ctx.opts.connect_timeout;
    let node_arc: Arc<str> = node.clone().into();
    let parent_arc: Arc<str> = parent.clone().into();
    let mut handles = Vec::with_capacity(a.watchers);
    for (idx, conn) in conns.into_iter().enumerate() {
        handles.push(tokio::spawn(watcher(
            idx,
            conn,
            a.mode,
            node_arc.clone(),
            parent_arc.clone(),
            tx.clone(),
            stop_rx.clone(),
            hard,
        )));
    }
    drop(tx);

    let result = coordinate(ctx, a, &mut writer, &node, &value, &mut rx).await;
    let _ = stop_tx.send(true);
    // A watcher blocked on a full channel must see it closed, or joining it would hang.
    drop(rx);
    for h in handles {
        // Watchers close their own sessions; a failure there does not spoil the measurement.
        let _ = h.await;
    }
    let _ = writer
        .close(Instant::now() + ctx.opts.connect_timeout)
        .await;
    result
}

async fn coordinate(
    ctx: &Ctx<'_>,
    a: &FanoutArgs,
    writer: &mut Connection,
    node: &str,
    value: &[u8],
    rx: &mut mpsc::Receiver<Msg>,
) -> Result<FanoutResult, BenchError> {
    let n = a.watchers;
    let arm_deadline = Instant::now() + ctx.opts.connect_timeout + a.round_timeout;
    let mut armed = 0;
    let mut unexpected = 0u64;
    while armed < n {
        match recv_msg(rx, arm_deadline).await? {
            Some(Msg::Armed) => armed += 1,
            Some(Msg::Heard { .. }) => unexpected += 1,
            Some(Msg::Failed(e)) => return Err(e),
            None => {
                return Err(BenchError::Workload(format!(
                    "only {armed} of {n} watchers armed their watch in time"
                )));
            }
        }
    }

    let (mut cpu_before, mut own_cpu_before) = (None, None);
    let total_rounds = a.warmup_rounds + a.rounds;
    let bar = Progress::new(ctx.progress, u64::from(total_rounds), "fanout");
    let mut rounds = Vec::with_capacity(a.rounds as usize);
    let mut delivery = LatencyHistogram::new();
    let mut write_hist = LatencyHistogram::new();
    let (mut delivered, mut duplicates) = (0u64, 0u64);
    for i in 0..total_rounds {
        // Warm-up rounds run exactly like measured ones (their events are checked too); only
        // their timings are not kept.
        let measured = i >= a.warmup_rounds;
        if i == a.warmup_rounds {
            cpu_before = ctx.target.pid.and_then(crate::probe::process_cpu_ns);
            own_cpu_before = crate::probe::process_cpu_ns(std::process::id());
        }
        let deadline = Instant::now() + a.round_timeout;
        let mut heard: Vec<Option<Instant>> = vec![None; n];
        let mut heard_count = 0;
        let mut rearmed = 0;
        let start = Instant::now();
        writer.send(&set_data_req(node, value), 0)?;
        writer.flush().await?;
        let reply = loop {
            match writer.recv_until(deadline).await? {
                Some(Incoming::Reply(r)) => break r,
                Some(Incoming::Event(_)) => {}
                None => {
                    return Err(BenchError::Timeout {
                        addr: writer.addr(),
                        during: format!("waiting for the setData of round {i}"),
                    });
                }
            }
        };
        if !reply.is_ok() {
            return Err(crate::pipeline::request_error(
                writer.addr(),
                "setData",
                node,
                reply.err,
            ));
        }
        let needs_rearm = a.mode == WatchMode::OneShot && i + 1 < total_rounds;
        while heard_count < n || (needs_rearm && rearmed < n) {
            match recv_msg(rx, deadline).await? {
                None => break,
                Some(Msg::Failed(e)) => return Err(e),
                Some(Msg::Armed) => rearmed += 1,
                Some(Msg::Heard {
                    idx,
                    at,
                    event_type,
                    path,
                    zxid,
                }) => {
                    let expected = event_type == EventType::NodeDataChanged.as_i32()
                        && path == node
                        && (zxid <= 0 || zxid == reply.zxid);
                    match heard.get_mut(idx) {
                        Some(slot) if expected && slot.is_none() => {
                            *slot = Some(at);
                            heard_count += 1;
                        }
                        Some(_) if expected => duplicates += 1,
                        _ => unexpected += 1,
                    }
                }
            }
        }
        if measured {
            write_hist.record(reply.latency());
            let (summary, latencies) =
                round_summary(i - a.warmup_rounds, start, &heard, reply.latency());
            for d in &latencies {
                delivery.record(*d);
            }
            delivered += latencies.len() as u64;
            rounds.push(summary);
        }
        bar.inc(1);
        if needs_rearm && rearmed < n {
            // The next round would find some watchers unarmed and count them as missing.
            bar.finish();
            return Err(BenchError::Workload(format!(
                "round {i}: only {rearmed} of {n} watchers re-armed within {:?}",
                a.round_timeout
            )));
        }
        if !a.pause.is_zero() {
            tokio::time::sleep(a.pause).await;
        }
    }
    bar.finish();
    let per_event = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if delivered > 0 => {
            Some(a.saturating_sub(b) as f64 / 1e3 / delivered as f64)
        }
        _ => None,
    };
    let server_cpu_us_per_event = per_event(
        cpu_before,
        ctx.target.pid.and_then(crate::probe::process_cpu_ns),
    );
    let client_cpu_us_per_event = per_event(
        own_cpu_before,
        crate::probe::process_cpu_ns(std::process::id()),
    );
    // Anything still queued arrived after its round: count it.
    while let Ok(m) = rx.try_recv() {
        if let Msg::Heard { .. } = m {
            unexpected += 1;
        }
    }
    let col =
        |f: fn(&FanoutRound) -> Option<f64>| -> Vec<f64> { rounds.iter().filter_map(f).collect() };
    let expected_events = n as u64 * u64::from(a.rounds);
    Ok(FanoutResult {
        watchers: n,
        mode: a.mode,
        median_last_ms: median(&col(|r| r.last_ms)),
        median_p50_ms: median(&col(|r| r.p50_ms)),
        median_p99_ms: median(&col(|r| r.p99_ms)),
        median_spread_ms: median(&col(|r| r.spread_ms)),
        rounds,
        delivery: delivery.summary(),
        write: write_hist.summary(),
        expected_events,
        delivered,
        missing: expected_events.saturating_sub(delivered),
        duplicates,
        unexpected,
        server_cpu_us_per_event,
        client_cpu_us_per_event,
    })
}

/// One measured round's numbers from when each watcher heard (`None`: never), and every
/// delivery latency, sorted.
fn round_summary(
    round: u32,
    start: Instant,
    heard: &[Option<Instant>],
    write_latency: Duration,
) -> (FanoutRound, Vec<Duration>) {
    let n = heard.len();
    let mut lat: Vec<Duration> = heard
        .iter()
        .flatten()
        .map(|t| t.saturating_duration_since(start))
        .collect();
    lat.sort();
    let to_ms = |d: Duration| d.as_secs_f64() * 1e3;
    let summary = FanoutRound {
        round,
        heard: lat.len(),
        last_ms: (lat.len() == n).then(|| lat.last().map_or(0.0, |d| to_ms(*d))),
        p50_ms: quantile_sorted(&lat, 0.5).map(to_ms),
        p99_ms: quantile_sorted(&lat, 0.99).map(to_ms),
        spread_ms: match (lat.first(), lat.last()) {
            (Some(a), Some(b)) if lat.len() == n => Some(to_ms(b.saturating_sub(*a))),
            _ => None,
        },
        write_ms: to_ms(write_latency),
    };
    (summary, lat)
}

async fn recv_msg(
    rx: &mut mpsc::Receiver<Msg>,
    deadline: Instant,
) -> Result<Option<Msg>, BenchError> {
    match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
        Ok(Some(m)) => Ok(Some(m)),
        Err(_) => Ok(None),
        Ok(None) => Err(BenchError::Workload("every watcher stopped early".into())),
    }
}

fn arm_request(mode: WatchMode, node: &str, parent: &str) -> Request {
    match mode {
        WatchMode::OneShot => Request::GetData(GetDataRequest {
            path: node.to_string(),
            watch: true,
        }),
        WatchMode::Persistent => Request::AddWatch(AddWatchRequest {
            path: node.to_string(),
            mode: 0,
        }),
        WatchMode::Recursive => Request::AddWatch(AddWatchRequest {
            path: parent.to_string(),
            mode: 1,
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn watcher(
    idx: usize,
    mut conn: Connection,
    mode: WatchMode,
    node: Arc<str>,
    parent: Arc<str>,
    tx: mpsc::Sender<Msg>,
    stop: watch::Receiver<bool>,
    hard: Instant,
) {
    let result = watch_loop(idx, &mut conn, mode, &node, &parent, &tx, &stop, hard).await;
    if let Err(e) = result {
        let _ = tx.send(Msg::Failed(e)).await;
        return;
    }
    let _ = conn.close(Instant::now() + Duration::from_secs(5)).await;
}

#[allow(clippy::too_many_arguments)]
async fn watch_loop(
    idx: usize,
    conn: &mut Connection,
    mode: WatchMode,
    node: &str,
    parent: &str,
    tx: &mpsc::Sender<Msg>,
    stop: &watch::Receiver<bool>,
    hard: Instant,
) -> Result<(), BenchError> {
    let arm = arm_request(mode, node, parent);
    conn.send(&arm, 0)?;
    conn.flush().await?;
    // Every wait is registered once and raced against the cancellation-safe receive, so an
    // idle watcher costs nothing until its event, its ping or the end arrives: ten thousand
    // watchers polling a stop flag would cost the load generator more than the events do.
    let mut stop = stop.clone();
    let stopped = async move {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::pin!(stopped);
    let give_up = tokio::time::sleep_until(hard.into());
    tokio::pin!(give_up);
    let ping = tokio::time::sleep_until(conn.ping_due().into());
    tokio::pin!(ping);
    loop {
        let incoming = tokio::select! {
            biased;
            () = &mut stopped => break,
            () = &mut give_up => break,
            () = &mut ping => {
                conn.ping().await?;
                ping.as_mut().reset(conn.ping_due().into());
                continue;
            }
            incoming = conn.recv() => incoming?,
        };
        let msg = match incoming {
            Incoming::Reply(r) => {
                let ok = r.is_ok()
                    && matches!(r.op, OpCode::GetData | OpCode::AddWatch | OpCode::Exists);
                if !ok {
                    return Err(crate::pipeline::request_error(
                        conn.addr(),
                        "arming a watch on",
                        node,
                        r.err,
                    ));
                }
                Msg::Armed
            }
            Incoming::Event(e) => {
                if mode == WatchMode::OneShot {
                    conn.send(&arm, 0)?;
                    conn.flush().await?;
                    ping.as_mut().reset(conn.ping_due().into());
                }
                Msg::Heard {
                    idx,
                    at: e.received,
                    event_type: e.event_type,
                    path: e.path,
                    zxid: e.zxid,
                }
            }
        };
        if tx.send(msg).await.is_err() {
            break;
        }
    }
    Ok(())
}
