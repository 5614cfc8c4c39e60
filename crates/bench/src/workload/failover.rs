//! `failover`: the leader of an ensemble is SIGKILLed; how long until a write through a
//! survivor is acknowledged. One kill per run, so `--runs` rounds alternate the servers.
//!
//! A run:
//! 1. Waits until the ensemble is whole (every member leader or follower, one leader, by
//!    `srvr`), and makes the node written (`<root>/failover/w`).
//! 2. A writer connected to a follower sets data on the node one write at a time, each with a
//!    deadline (`write_timeout`), for `warmup`.
//! 3. The leader's process is SIGKILLed. The kill time is taken when the kill returns.
//! 4. The writer carries on: a write that fails or misses its deadline is followed by another
//!    at once; when the connection breaks (or three writes in a row miss their deadline) it
//!    resumes its session on the next survivor, pausing `retry_pause` after a refused attempt.
//!    The failover time runs from the kill until the reply to the first write *sent after the
//!    kill* that succeeded.
//! 5. The killed member is restarted and the run waits until the ensemble is whole again (and
//!    `settle`), so the next round meets a full ensemble.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use super::Ctx;
use crate::BenchError;
use crate::args::FailoverArgs;
use crate::conn::{ConnectOptions, Connection, Detached, Incoming};
use crate::ensemble;
use crate::hist::{LatencyHistogram, LatencySummary};
use crate::pipeline::{ensure_nodes, set_data_req, with_ancestors};

/// The outcome of one `failover` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailoverResult {
    pub members: usize,
    /// The member killed (1-based: its place in the connect string), the leader before.
    pub killed: usize,
    /// The member that led afterwards, by `srvr` (1-based); `None` if none was seen.
    pub new_leader: Option<usize>,
    /// From the kill until the first write sent after it was acknowledged through a survivor.
    pub failover_ms: f64,
    /// How long the kill command took; the process died within it and the failover time is
    /// counted from its end, so it may be short by up to this much.
    pub kill_ms: f64,
    /// From the kill until the writer's connection broke; `None` if it never did.
    pub disconnected_ms: Option<f64>,
    /// The survivor that acknowledged that write (1-based).
    pub acked_by: usize,
    /// Writes sent after the kill, the acknowledged one included.
    pub attempts: u64,
    /// Of those, how many missed their deadline and how many failed with an error code.
    pub timeouts: u64,
    pub error_replies: u64,
    /// Sessions resumed on a survivor after the kill, and connection attempts that failed.
    pub reconnects: u64,
    pub connect_failures: u64,
    /// Latency of the writes acknowledged before the kill.
    pub before: LatencySummary,
    /// From the restart until the ensemble was whole again.
    pub recovery_ms: f64,
}

/// What the writer saw.
#[derive(Debug, Default)]
struct WriterOutcome {
    first_ack: Option<Instant>,
    acked_by: usize,
    disconnected_at: Option<Instant>,
    attempts: u64,
    timeouts: u64,
    error_replies: u64,
    reconnects: u64,
    connect_failures: u64,
    before: LatencyHistogram,
}

struct WriterPlan {
    /// (member index, address), the first to try first.
    survivors: Vec<(usize, SocketAddr)>,
    path: String,
    opts: ConnectOptions,
    write_timeout: Duration,
    retry_pause: Duration,
    warmup: Duration,
    hard: Instant,
}

/// Writes in a row that may miss their deadline on one connection before the writer moves.
const STUCK_AFTER: u32 = 3;

pub async fn run(ctx: &Ctx<'_>, a: &FailoverArgs) -> Result<FailoverResult, BenchError> {
    let members = ctx.target.members.clone();
    let control = ctx.target.control.clone().ok_or_else(|| {
        BenchError::Args("failover needs member pids and a restart command".into())
    })?;
    let (modes, leader) = ensemble::wait_whole(&members, a.timeout, "before the kill").await?;
    let survivors: Vec<(usize, SocketAddr)> = (0..members.len())
        .filter(|&i| i != leader && modes[i] == Some(ensemble::Mode::Follower))
        .map(|i| (i, members[i]))
        .collect();
    let base = format!("{}/failover", ctx.root);
    let path = format!("{base}/w");
    {
        let mut setup = Connection::connect(survivors[0].1, &ctx.opts).await?;
        let mut nodes = with_ancestors(&base);
        nodes.push(path.clone());
        ensure_nodes(
            &mut setup,
            &nodes,
            b"w",
            false,
            16,
            super::setup_deadline(nodes.len()),
        )
        .await?;
        let _ = setup.close(Instant::now() + ctx.opts.connect_timeout).await;
    }
    ensemble::sync_members(&members, &base, &ctx.opts).await?;

    let plan = WriterPlan {
        survivors: survivors.clone(),
        path,
        opts: ctx.opts.clone(),
        write_timeout: a.write_timeout,
        retry_pause: a.retry_pause,
        warmup: a.warmup,
        hard: Instant::now() + a.warmup + a.timeout * 2,
    };
    let (killed_tx, killed_rx) = watch::channel(None);
    let (warm_tx, warm_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(plan, killed_rx, warm_tx));

    let warm = tokio::time::timeout(a.warmup + a.timeout, warm_rx).await;
    if !matches!(warm, Ok(Ok(()))) {
        writer.abort();
        return Err(match writer.await {
            Ok(Err(e)) => e,
            _ => BenchError::Workload(format!(
                "no write was acknowledged through member {} before the kill",
                survivors[0].0 + 1
            )),
        });
    }
    tracing::info!(member = leader + 1, "killing the leader");
    let before_kill = Instant::now();
    let killed = control.kill(leader).await;
    let killed_at = Instant::now();
    let _ = killed_tx.send(Some(killed_at));
    if let Err(e) = killed {
        writer.abort();
        return Err(e);
    }
    let outcome = match writer.await {
        Ok(r) => r,
        Err(e) => Err(e.into()),
    };
    let candidates: Vec<usize> = survivors.iter().map(|s| s.0).collect();
    let new_leader = ensemble::wait_leader_among(&members, &candidates, a.timeout).await;

    // Bring the member back whatever happened, so the next round (or workload) has it.
    let restart_at = Instant::now();
    control.restart(leader).await?;
    ensemble::wait_whole(&members, a.timeout, "after the restart").await?;
    let recovery_ms = ms(restart_at.elapsed());
    let (out, conn) = outcome?;
    if let Some(c) = conn {
        let _ = c.close(Instant::now() + ctx.opts.connect_timeout).await;
    }
    if !a.settle.is_zero() {
        tokio::time::sleep(a.settle).await;
    }
    let first_ack = out.first_ack.ok_or_else(|| {
        BenchError::Workload("the writer stopped without an acknowledged write".into())
    })?;
    Ok(FailoverResult {
        members: members.len(),
        killed: leader + 1,
        new_leader: new_leader.map(|l| l + 1),
        failover_ms: ms(first_ack.saturating_duration_since(killed_at)),
        kill_ms: ms(killed_at.saturating_duration_since(before_kill)),
        disconnected_ms: out
            .disconnected_at
            .map(|t| ms(t.saturating_duration_since(killed_at))),
        acked_by: out.acked_by + 1,
        attempts: out.attempts,
        timeouts: out.timeouts,
        error_replies: out.error_replies,
        reconnects: out.reconnects,
        connect_failures: out.connect_failures,
        before: out.before.summary(),
        recovery_ms,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// How one write ended.
enum Step {
    /// Its reply came (success or error): send the next.
    Answered,
    TimedOut,
    Broken,
}

/// The writer: one setData at a time until a write sent after the kill is acknowledged.
async fn write_loop(
    plan: WriterPlan,
    killed: watch::Receiver<Option<Instant>>,
    warm: oneshot::Sender<()>,
) -> Result<(WriterOutcome, Option<Connection>), BenchError> {
    let mut out = WriterOutcome::default();
    let started = Instant::now();
    let mut warm = Some(warm);
    let mut next = 0usize;
    let mut conn: Option<Connection> = None;
    let mut resume: Option<Detached> = None;
    let mut in_a_row = 0u32;
    let mut tag = 0u64;
    let mut acked_before = 0u64;
    loop {
        if Instant::now() >= plan.hard {
            return Err(BenchError::Workload(format!(
                "no write through a survivor was acknowledged within {:?} of the start",
                plan.hard.saturating_duration_since(started)
            )));
        }
        let after_kill = killed.borrow().is_some();
        let (member, addr) = plan.survivors[next % plan.survivors.len()];
        let mut c = match conn.take() {
            Some(c) => c,
            None => {
                let mut opts = plan.opts.clone();
                if let Some(d) = &resume {
                    opts.resume = Some(d.credentials.clone());
                    opts.last_zxid_seen = d.last_zxid;
                }
                opts.connect_timeout = opts
                    .connect_timeout
                    .min(plan.hard.saturating_duration_since(Instant::now()));
                match Connection::connect(addr, &opts).await {
                    Ok(c) => {
                        if after_kill {
                            out.reconnects += 1;
                        }
                        c
                    }
                    Err(e) => {
                        if matches!(e, BenchError::SessionExpired { .. }) {
                            resume = None;
                        }
                        if after_kill {
                            out.connect_failures += 1;
                        }
                        next += 1;
                        tokio::time::sleep(plan.retry_pause).await;
                        continue;
                    }
                }
            }
        };
        tag += 1;
        c.send(&set_data_req(&plan.path, b"failover"), tag)?;
        let sent = Instant::now();
        let step = if c.flush().await.is_err() {
            Step::Broken
        } else {
            if killed.borrow().is_some_and(|k| sent >= k) {
                out.attempts += 1;
            }
            let deadline = sent + plan.write_timeout;
            loop {
                match c.recv_until(deadline).await {
                    Ok(Some(Incoming::Reply(r))) => {
                        let kill = *killed.borrow();
                        let sent_after_kill = kill.is_some_and(|k| r.sent >= k);
                        if r.is_ok() {
                            if sent_after_kill {
                                out.first_ack = Some(r.received);
                                out.acked_by = member;
                                return Ok((out, Some(c)));
                            }
                            if kill.is_none_or(|k| r.received < k) {
                                out.before.record(r.latency());
                                acked_before += 1;
                            }
                        } else if sent_after_kill {
                            out.error_replies += 1;
                        }
                        if r.tag == tag {
                            break Step::Answered;
                        }
                    }
                    Ok(Some(Incoming::Event(_))) => {}
                    Ok(None) => break Step::TimedOut,
                    Err(_) => break Step::Broken,
                }
            }
        };
        match step {
            Step::Answered => {
                in_a_row = 0;
                conn = Some(c);
            }
            Step::TimedOut => {
                if killed.borrow().is_some() {
                    out.timeouts += 1;
                }
                in_a_row += 1;
                if in_a_row >= STUCK_AFTER {
                    in_a_row = 0;
                    resume = Some(c.detach());
                    next += 1;
                } else {
                    conn = Some(c);
                }
            }
            Step::Broken => {
                if killed.borrow().is_some() && out.disconnected_at.is_none() {
                    out.disconnected_at = Some(Instant::now());
                }
                in_a_row = 0;
                resume = Some(c.detach());
                next += 1;
            }
        }
        if acked_before > 0
            && started.elapsed() >= plan.warmup
            && let Some(w) = warm.take()
        {
            let _ = w.send(());
        }
    }
}
