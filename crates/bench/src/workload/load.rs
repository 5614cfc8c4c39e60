//! `read`, `write` and `mixed`: C sessions, each a closed loop keeping exactly P requests in
//! flight over K keys.
//!
//! Timeline: every session starts together; requests sent before the warm-up ends are not
//! measured; no request is sent after `warmup + duration` (or once the shared request budget
//! is spent), except the delete that completes a create already sent, so no node is left
//! behind. In-flight requests then drain, bounded by the session timeout.
//!
//! Against an ensemble the sessions are spread over its members round robin (session i on
//! member i mod n), so reads are served and writes forwarded by followers too; the setup's
//! nodes are created through the first member and every member is `sync`ed before loading.
//! Where the members' pids are known, their CPU time over the measured window is reported
//! per operation, beside the load generator's own (they share the machine's cores).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use watchkeeper_proto::{GetDataRequest, Request};

use super::Ctx;
use crate::BenchError;
use crate::args::LoadArgs;
use crate::conn::{Connection, Incoming};
use crate::hist::{LatencyHistogram, LatencySummary};
use crate::pipeline::{
    close_all, create_req, delete_req, ensure_nodes, set_data_req, with_ancestors,
};
use crate::progress::Progress;
use watchkeeper_proto::CreateMode;

/// Operations of this workload, as indexes into per-op tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    GetData = 0,
    SetData = 1,
    Create = 2,
    Delete = 3,
}

const OPS: [OpKind; 4] = [
    OpKind::GetData,
    OpKind::SetData,
    OpKind::Create,
    OpKind::Delete,
];

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::GetData => "getData",
            OpKind::SetData => "setData",
            OpKind::Create => "create",
            OpKind::Delete => "delete",
        }
    }
}

/// Statistics of one operation (or all of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    pub op: String,
    /// Measured replies, errors included.
    pub count: u64,
    /// Replies with a non-zero error code.
    pub errors: u64,
    /// Error code -> replies.
    pub error_codes: BTreeMap<i32, u64>,
    pub latency: LatencySummary,
    /// Measured replies per second of the measured window.
    pub throughput: f64,
}

/// The outcome of one `read`/`write`/`mixed` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    /// The read ratio actually used (1 for read, 0 for write).
    pub read_ratio: f64,
    /// From the end of the warm-up to the last measured reply, in seconds.
    pub elapsed_s: f64,
    /// Measured replies per second.
    pub throughput: f64,
    /// Every measured operation together.
    pub total: OpStats,
    /// One entry per operation that ran.
    pub ops: Vec<OpStats>,
    /// Replies to requests sent during the warm-up (not measured).
    pub warmup_requests: u64,
    /// Notifications received (none are expected: no watches are set).
    pub events: u64,
    /// Members the sessions were spread over (1 for a single server).
    #[serde(default = "one")]
    pub members: usize,
    /// CPU time of the server processes (every member) per measured reply, in microseconds,
    /// over the measured window and the drain; `None` without their pids.
    #[serde(default)]
    pub server_cpu_us_per_op: Option<f64>,
    /// The load generator's own CPU time per measured reply, in microseconds.
    #[serde(default)]
    pub client_cpu_us_per_op: Option<f64>,
}

fn one() -> usize {
    1
}

/// Chooses each session's next request.
pub struct OpGen {
    rng: SmallRng,
    read_ratio: f64,
    create_ratio: f64,
    keys: Arc<Vec<String>>,
    value: Vec<u8>,
    prefix: String,
    counter: u64,
    pending_delete: Option<String>,
}

impl OpGen {
    pub fn new(
        seed: u64,
        read_ratio: f64,
        create_ratio: f64,
        keys: Arc<Vec<String>>,
        value: Vec<u8>,
        prefix: String,
    ) -> Self {
        OpGen {
            rng: SmallRng::seed_from_u64(seed),
            read_ratio,
            create_ratio,
            keys,
            value,
            prefix,
            counter: 0,
            pending_delete: None,
        }
    }

    /// The delete owed for a create already sent, if any.
    pub fn owes_delete(&self) -> bool {
        self.pending_delete.is_some()
    }

    /// Picks the kind of the next new operation (not the owed delete).
    pub fn choose(&mut self) -> OpKind {
        if self.rng.random::<f64>() < self.read_ratio {
            OpKind::GetData
        } else if self.rng.random::<f64>() < self.create_ratio {
            OpKind::Create
        } else {
            OpKind::SetData
        }
    }

    /// The owed delete, if any.
    pub fn take_delete(&mut self) -> Option<(Request, OpKind)> {
        self.pending_delete
            .take()
            .map(|p| (delete_req(&p), OpKind::Delete))
    }

    /// A request of the chosen kind. A create makes a delete owed.
    pub fn request(&mut self, kind: OpKind) -> Request {
        match kind {
            OpKind::GetData => Request::GetData(GetDataRequest {
                path: self.key(),
                watch: false,
            }),
            OpKind::SetData => {
                let key = self.key();
                set_data_req(&key, &self.value)
            }
            OpKind::Create | OpKind::Delete => {
                self.counter += 1;
                let path = format!("{}{}", self.prefix, self.counter);
                let req = create_req(&path, &self.value, CreateMode::Persistent);
                self.pending_delete = Some(path);
                req
            }
        }
    }

    fn key(&mut self) -> String {
        let i = self.rng.random_range(0..self.keys.len().max(1));
        self.keys.get(i).cloned().unwrap_or_else(|| "/".into())
    }
}

/// What sessions share while running.
struct Shared {
    /// Measured requests sent (against `limit`).
    issued: AtomicU64,
    /// Replies of any phase, for the progress bar.
    completed: AtomicU64,
}

#[derive(Clone, Copy)]
struct Plan {
    warm_end: Instant,
    end: Instant,
    hard: Instant,
    limit: Option<u64>,
    in_flight: usize,
}

struct Outcome {
    hists: [LatencyHistogram; 4],
    errors: [BTreeMap<i32, u64>; 4],
    last_completion: Option<Instant>,
    warmup: u64,
    events: u64,
}

const MEASURED: u64 = 1 << 8;

pub async fn run(ctx: &Ctx<'_>, a: &LoadArgs, read_ratio: f64) -> Result<LoadResult, BenchError> {
    let addr = ctx.target.addr;
    let setup_deadline = super::setup_deadline(a.keys);
    let base = format!("{}/load", ctx.root);
    let keys: Arc<Vec<String>> = Arc::new((0..a.keys).map(|i| format!("{base}/k{i:06}")).collect());
    let value = vec![b'v'; a.value_size];

    let mut setup = Connection::connect(addr, &ctx.opts).await?;
    let mut paths = with_ancestors(&base);
    paths.extend(keys.iter().cloned());
    ensure_nodes(&mut setup, &paths, &value, true, 256, setup_deadline).await?;
    crate::ensemble::sync_members(&ctx.target.members, &base, &ctx.opts).await?;

    let conns = connect_spread(ctx, a.sessions).await?;
    let start = Instant::now();
    let warm_end = start + a.warmup;
    let end = warm_end + a.duration;
    let plan = Plan {
        warm_end,
        end,
        // In-flight requests must drain within a session timeout of the end.
        hard: end + ctx.opts.session_timeout,
        limit: a.requests,
        in_flight: a.in_flight,
    };
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        completed: AtomicU64::new(0),
    });
    let run_tag = ctx.seed ^ start.elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
    let mut handles = Vec::with_capacity(conns.len());
    for (i, conn) in conns.into_iter().enumerate() {
        let ops = OpGen::new(
            ctx.seed
                .wrapping_add(i as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
            read_ratio,
            a.create_ratio,
            keys.clone(),
            value.clone(),
            format!("{base}/c{:x}-{i}-", run_tag & 0xffff_ffff),
        );
        handles.push(tokio::spawn(session(conn, ops, plan, shared.clone())));
    }

    let ticker = spawn_ticker(ctx, a, plan, start, shared.clone());
    // CPU times at the end of the warm-up, read by a task that waits for it.
    let server_pids = ctx.target.server_pids();
    let cpu_at_warm_end = {
        let pids = server_pids.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(warm_end.into()).await;
            (
                super::cpu_ns(&pids),
                crate::probe::process_cpu_ns(std::process::id()),
            )
        })
    };
    let mut outcomes = Vec::with_capacity(handles.len());
    let mut conns = Vec::with_capacity(handles.len());
    let mut first_err = None;
    for h in handles {
        match h.await? {
            Ok((o, c)) => {
                outcomes.push(o);
                conns.push(c);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    ticker.abort();
    let (server_after, own_after) = (
        super::cpu_ns(&server_pids),
        crate::probe::process_cpu_ns(std::process::id()),
    );
    let (server_before, own_before) = cpu_at_warm_end.await.unwrap_or((None, None));
    let close_deadline = Instant::now() + ctx.opts.connect_timeout;
    let closed = close_all(conns, close_deadline).await;
    let _ = setup.close(close_deadline).await;
    if let Some(e) = first_err {
        return Err(e);
    }
    closed?;
    let mut r = summarise(outcomes, warm_end, read_ratio);
    r.members = ctx.target.members.len();
    let per_op = |before: Option<u64>, after: Option<u64>| {
        let (b, a) = (before?, after?);
        (r.total.count > 0 && a >= b).then(|| (a - b) as f64 / 1e3 / r.total.count as f64)
    };
    r.server_cpu_us_per_op = per_op(server_before, server_after);
    r.client_cpu_us_per_op = per_op(own_before, own_after);
    Ok(r)
}

/// Opens `n` sessions spread over the target's members (session i on member i mod n), at
/// most [`crate::pipeline::CONNECT_CONCURRENCY`] handshakes at a time; in index order.
pub async fn connect_spread(ctx: &Ctx<'_>, n: usize) -> Result<Vec<Connection>, BenchError> {
    use futures::StreamExt;
    futures::stream::iter(0..n)
        .map(|i| Connection::connect(ctx.target.member_for(i), &ctx.opts))
        .buffered(crate::pipeline::CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn spawn_ticker(
    ctx: &Ctx<'_>,
    a: &LoadArgs,
    plan: Plan,
    start: Instant,
    shared: Arc<Shared>,
) -> tokio::task::JoinHandle<()> {
    let len = match a.requests {
        Some(n) => n,
        None => (plan.end - start).as_secs().max(1),
    };
    let bar = Progress::new(ctx.progress, len, "load");
    let by_count = a.requests.is_some();
    tokio::spawn(async move {
        while Instant::now() < plan.hard {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let done = shared.completed.load(Ordering::Relaxed);
            if by_count {
                bar.set_position(shared.issued.load(Ordering::Relaxed));
            } else {
                bar.set_position(start.elapsed().as_secs());
            }
            bar.set_message(format!("{done} replies"));
            if Instant::now() >= plan.end {
                break;
            }
        }
        bar.finish();
    })
}

/// Claims `cost` measured requests from the budget; false when they do not fit.
fn claim(shared: &Shared, limit: Option<u64>, cost: u64) -> bool {
    let Some(limit) = limit else {
        shared.issued.fetch_add(cost, Ordering::Relaxed);
        return true;
    };
    shared
        .issued
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            (v + cost <= limit).then_some(v + cost)
        })
        .is_ok()
}

async fn session(
    mut conn: Connection,
    mut ops: OpGen,
    plan: Plan,
    shared: Arc<Shared>,
) -> Result<(Outcome, Connection), BenchError> {
    let mut out = Outcome {
        hists: Default::default(),
        errors: Default::default(),
        last_completion: None,
        warmup: 0,
        events: 0,
    };
    let mut budget_spent = false;
    let mut create_flag = 0;
    loop {
        while conn.in_flight() < plan.in_flight {
            let now = Instant::now();
            let measured = now >= plan.warm_end;
            let tag_flag = if measured { MEASURED } else { 0 };
            // A create already sent is always followed by its delete, paid for and measured
            // (or not) with the create.
            if let Some((req, kind)) = ops.take_delete() {
                conn.send(&req, kind as u64 | create_flag)?;
                continue;
            }
            if now >= plan.end || budget_spent {
                break;
            }
            let mut kind = ops.choose();
            if measured {
                let cost = if kind == OpKind::Create { 2 } else { 1 };
                if !claim(&shared, plan.limit, cost) {
                    if kind == OpKind::Create && claim(&shared, plan.limit, 1) {
                        kind = OpKind::SetData;
                    } else {
                        budget_spent = true;
                        break;
                    }
                }
            }
            let req = ops.request(kind);
            conn.send(&req, kind as u64 | tag_flag)?;
            create_flag = tag_flag;
        }
        conn.flush().await?;
        if conn.in_flight() == 0 && !ops.owes_delete() {
            let now = Instant::now();
            if now >= plan.end || budget_spent {
                return Ok((out, conn));
            }
            continue;
        }
        match conn.recv_until(plan.hard).await? {
            None => {
                return Err(BenchError::Timeout {
                    addr: conn.addr(),
                    during: "draining in-flight requests".into(),
                });
            }
            Some(Incoming::Event(_)) => out.events += 1,
            Some(Incoming::Reply(r)) => {
                shared.completed.fetch_add(1, Ordering::Relaxed);
                let op = (r.tag & 0xff) as usize;
                if r.tag & MEASURED == 0 || op >= OPS.len() {
                    out.warmup += 1;
                    continue;
                }
                out.hists[op].record(r.latency());
                if !r.is_ok() {
                    *out.errors[op].entry(r.err).or_default() += 1;
                }
                out.last_completion = Some(
                    out.last_completion
                        .map_or(r.received, |t| t.max(r.received)),
                );
            }
        }
    }
}

fn summarise(outcomes: Vec<Outcome>, warm_end: Instant, read_ratio: f64) -> LoadResult {
    let mut hists: [LatencyHistogram; 4] = Default::default();
    let mut errors: [BTreeMap<i32, u64>; 4] = Default::default();
    let mut last = None::<Instant>;
    let (mut warmup, mut events) = (0, 0);
    for o in &outcomes {
        for op in 0..OPS.len() {
            hists[op].merge(&o.hists[op]);
            for (code, n) in &o.errors[op] {
                *errors[op].entry(*code).or_default() += n;
            }
        }
        if let Some(t) = o.last_completion {
            last = Some(last.map_or(t, |l| l.max(t)));
        }
        warmup += o.warmup;
        events += o.events;
    }
    let elapsed = last.map_or(0.0, |l| l.saturating_duration_since(warm_end).as_secs_f64());
    let rate = |n: u64| {
        if elapsed > 0.0 {
            n as f64 / elapsed
        } else {
            0.0
        }
    };
    let stats = |name: &str, h: &LatencyHistogram, e: &BTreeMap<i32, u64>| OpStats {
        op: name.to_string(),
        count: h.len(),
        errors: e.values().sum(),
        error_codes: e.clone(),
        latency: h.summary(),
        throughput: rate(h.len()),
    };
    let mut all = LatencyHistogram::new();
    let mut all_errors = BTreeMap::new();
    let mut ops = Vec::new();
    for op in OPS {
        let i = op as usize;
        all.merge(&hists[i]);
        for (code, n) in &errors[i] {
            *all_errors.entry(*code).or_default() += n;
        }
        if !hists[i].is_empty() {
            ops.push(stats(op.name(), &hists[i], &errors[i]));
        }
    }
    let total = stats("all", &all, &all_errors);
    LoadResult {
        read_ratio,
        elapsed_s: elapsed,
        throughput: total.throughput,
        total,
        ops,
        warmup_requests: warmup,
        events,
        members: 1,
        server_cpu_us_per_op: None,
        client_cpu_us_per_op: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_gen(read: f64, create: f64) -> OpGen {
        let keys = Arc::new((0..10).map(|i| format!("/k{i}")).collect());
        OpGen::new(7, read, create, keys, vec![1, 2], "/c-".into())
    }

    #[test]
    fn mix_follows_the_ratios() {
        let mut g = op_gen(0.7, 0.5);
        let mut n = [0u32; 4];
        for _ in 0..20_000 {
            let k = g.choose();
            n[k as usize] += 1;
        }
        let reads = n[0] as f64 / 20_000.0;
        assert!((reads - 0.7).abs() < 0.02, "{reads}");
        let creates = n[2] as f64 / (n[1] + n[2]) as f64;
        assert!((creates - 0.5).abs() < 0.03, "{creates}");
        assert_eq!(n[3], 0, "deletes are never chosen, only owed");
        let mut g = op_gen(1.0, 1.0);
        assert!((0..1000).all(|_| g.choose() == OpKind::GetData));
        let mut g = op_gen(0.0, 0.0);
        assert!((0..1000).all(|_| g.choose() == OpKind::SetData));
    }

    #[test]
    fn every_create_is_followed_by_its_delete() {
        let mut g = op_gen(0.0, 1.0);
        for i in 1..=3 {
            assert!(!g.owes_delete());
            let Request::Create(c) = g.request(OpKind::Create) else {
                panic!("not a create")
            };
            assert_eq!(c.path, format!("/c-{i}"));
            assert_eq!(c.data.as_deref(), Some(&[1u8, 2][..]));
            assert!(g.owes_delete());
            let Some((Request::Delete(d), OpKind::Delete)) = g.take_delete() else {
                panic!("no delete owed")
            };
            assert_eq!(d.path, c.path);
        }
        assert!(g.take_delete().is_none());
    }

    #[test]
    fn budget_claims_are_exact() {
        let s = Shared {
            issued: AtomicU64::new(0),
            completed: AtomicU64::new(0),
        };
        assert!(claim(&s, Some(3), 2));
        assert!(!claim(&s, Some(3), 2));
        assert!(claim(&s, Some(3), 1));
        assert!(!claim(&s, Some(3), 1));
        assert_eq!(s.issued.load(Ordering::Relaxed), 3);
        assert!(claim(&s, None, 5));
    }

    #[test]
    fn summary_adds_up() {
        let start = Instant::now();
        let mut o = Outcome {
            hists: Default::default(),
            errors: Default::default(),
            last_completion: Some(start + Duration::from_secs(2)),
            warmup: 5,
            events: 0,
        };
        for _ in 0..10 {
            o.hists[0].record(Duration::from_micros(100));
        }
        for _ in 0..4 {
            o.hists[1].record(Duration::from_micros(300));
        }
        o.errors[1].insert(-101, 1);
        let r = summarise(vec![o], start, 0.5);
        assert_eq!(r.total.count, 14);
        assert_eq!(r.ops.len(), 2);
        assert_eq!(r.ops.iter().map(|s| s.count).sum::<u64>(), 14);
        assert_eq!(r.total.errors, 1);
        assert!((r.throughput - 7.0).abs() < 1e-9);
        assert_eq!(r.warmup_requests, 5);
    }
}
