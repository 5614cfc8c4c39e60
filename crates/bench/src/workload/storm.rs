//! `storm`: S sessions holding W data watches each are spread over an ensemble's members; the
//! member holding a third of them is SIGKILLed, and every orphaned session resumes on a
//! survivor and re-registers its watches, as `reconnect` does on one server.
//!
//! A run, each phase bounded by `timeout`:
//! 1. Waits until the ensemble is whole; picks the victim (the first follower, or the leader
//!    with `--kill leader`). Makes N nodes through the first member and `sync`s every member.
//! 2. Session i connects to member i mod n and sets getData watches on nodes (i*W + j) mod N,
//!    j < W (pipelined, `in_flight` at a time).
//! 3. The victim is SIGKILLed. A writer on a survivor then changes `changed` nodes (spread
//!    evenly) and waits for their acknowledgements; the orphaned sessions, which see their
//!    connections drop, wait for those writes (so they happen while the sessions are away),
//!    then resume (session id, password, lastZxidSeen) on another member, trying the
//!    survivors in turn and pausing `retry_pause` after a refused attempt, and re-send their
//!    still-armed watches with setWatches (relativeZxid = the last zxid each saw). Any other
//!    session that loses its connection (ZooKeeper's followers drop theirs when the leader
//!    dies) does the same. Handshakes in progress at once are bounded by `concurrency`.
//! 4. The storm time runs from the kill until every session that lost its connection has
//!    resumed and had every setWatches answered. Events are checked exactly: each changed
//!    node's NodeDataChanged once per session watching it (a catch-up event for the orphans,
//!    a live one for the others), nothing else; after the last one the run waits `quiet`.
//! 5. Probe: the writer changes every other node; every session must hear each of its
//!    remaining watches fire exactly once, which shows they are armed, not merely answered.
//! 6. The sessions close, the victim is restarted, and the run waits until the ensemble is
//!    whole again (and `settle`).
//!
//! Where the members' pids are known, the survivors' CPU time from the kill until the storm
//! was over is reported beside the load generator's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use watchkeeper_proto::{
    EventType, GetDataRequest, GetDataResponse, Record, Request, SetWatches, xid,
};

use super::Ctx;
use super::batch::batch_paths;
use crate::BenchError;
use crate::args::{KillWhich, StormArgs};
use crate::conn::{ConnectOptions, Connection, Detached, Event, Incoming};
use crate::ensemble::{self, Mode};
use crate::hist::{LatencyHistogram, LatencySummary};
use crate::pipeline::{ensure_nodes, pipeline, request_error, set_data_req, with_ancestors};
use crate::progress::Progress;

/// Exactly-once accounting of one kind of expected event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCounts {
    /// (session, node) pairs that should hear exactly one NodeDataChanged.
    pub expected: u64,
    pub once: u64,
    pub missing: u64,
    pub duplicated: u64,
}

/// The probe after the storm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormProbe {
    /// Nodes changed by the probe.
    pub nodes: usize,
    pub events: PairCounts,
    /// From the probe's first write until the last expected event; `None` if one is missing.
    pub last_ms: Option<f64>,
}

/// The outcome of one `storm` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormResult {
    pub sessions: usize,
    pub watches_per_session: usize,
    pub nodes: usize,
    pub changed: usize,
    pub members: usize,
    /// The member killed (1-based) and its mode before.
    pub killed: usize,
    pub killed_mode: Mode,
    /// Sessions connected to the killed member.
    pub orphaned: usize,
    /// Sessions that lost their connection (the orphans, and any others).
    pub disconnected: usize,
    /// Times a session lost its connection (more than `disconnected` if some lost it twice).
    pub losses: u64,
    /// Registering every watch before the kill, in seconds.
    pub initial_registration_s: f64,
    /// From the kill until the writer's changes were all acknowledged.
    pub writes_ms: Option<f64>,
    /// From the kill until the last session noticed its loss.
    pub detected_ms: f64,
    /// From the kill until the last handshake of a resumed session.
    pub resumed_ms: f64,
    /// From the kill until every setWatches of every resumed session was answered: the storm.
    pub rearmed_ms: f64,
    /// From the kill until every expected change event arrived; `None` if one never did.
    pub catchup_ms: Option<f64>,
    /// Per resumption: from the kill until its last setWatches reply.
    pub rearmed: LatencySummary,
    /// Connection attempts that failed while resuming.
    pub failed_attempts: u64,
    /// setWatches packets sent in all.
    pub set_watches_packets: u64,
    /// The changed nodes' events.
    pub events: PairCounts,
    /// Events on unwatched or unchanged nodes, of another type, or on unknown paths.
    pub unexpected: u64,
    pub probe: Option<StormProbe>,
    /// CPU time of the surviving members from the kill until the storm was over, in ms.
    pub server_cpu_ms: Option<f64>,
    /// The load generator's CPU time over the same span, in ms.
    pub client_cpu_ms: Option<f64>,
    /// From the restart until the ensemble was whole again.
    pub recovery_ms: f64,
    /// Connections the kernel dropped because a listen queue was full, machine-wide, from the
    /// kill until the storm was over (`ListenDrops` of /proc/net/netstat): a dropped SYN is
    /// sent again after a second, which shows as a straggler.
    #[serde(default)]
    pub listen_drops: Option<u64>,
}

/// `TcpExt: ListenDrops` from /proc/net/netstat's text.
pub fn parse_listen_drops(netstat: &str) -> Option<u64> {
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names.split_whitespace().position(|n| n == "ListenDrops")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

fn listen_drops() -> Option<u64> {
    parse_listen_drops(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// Session i's watched nodes: (i*W + j) mod N for j < W (distinct since W <= N).
pub fn watched_nodes(session: usize, w: usize, n: usize) -> impl Iterator<Item = usize> {
    let start = (session % n) * (w % n) % n;
    (0..w).map(move |j| (start + j) % n)
}

/// Which `k` of `n` nodes change: evenly spread.
fn changed_nodes(n: usize, k: usize) -> Vec<usize> {
    (0..k).map(|j| j * n / k.max(1)).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Plain,
    Changed,
    Probe,
}

/// Every event, attributed to a (session, watched node) pair.
pub struct Tally {
    w: usize,
    n: usize,
    index: HashMap<String, usize>,
    kind: Vec<NodeKind>,
    /// sessions x W, row-major by session; slot i*W + j is session i's j-th watched node.
    counts: Vec<u32>,
    changed_expected: u64,
    changed_seen: u64,
    probe_expected: u64,
    probe_seen: u64,
    probe_sent: Option<Instant>,
    probe_last: Option<Instant>,
    unexpected: u64,
}

impl Tally {
    pub fn new(sessions: usize, w: usize, paths: &[String], changed: &[usize]) -> Tally {
        let n = paths.len();
        let mut kind = vec![NodeKind::Plain; n];
        for &c in changed {
            kind[c] = NodeKind::Changed;
        }
        let mut t = Tally {
            w,
            n,
            index: paths.iter().cloned().zip(0..).collect(),
            kind,
            counts: vec![0; sessions * w],
            changed_expected: 0,
            changed_seen: 0,
            probe_expected: 0,
            probe_seen: 0,
            probe_sent: None,
            probe_last: None,
            unexpected: 0,
        };
        t.changed_expected = t.pairs_of(NodeKind::Changed);
        t
    }

    fn sessions(&self) -> usize {
        self.counts.len() / self.w.max(1)
    }

    fn pairs_of(&self, k: NodeKind) -> u64 {
        (0..self.sessions())
            .flat_map(|s| watched_nodes(s, self.w, self.n))
            .filter(|&node| self.kind[node] == k)
            .count() as u64
    }

    /// The slot of (session, node), if the session watches it.
    fn slot(&self, session: usize, node: usize) -> Option<usize> {
        if session >= self.sessions() || self.n == 0 {
            return None;
        }
        let start = (session % self.n) * (self.w % self.n) % self.n;
        let j = (node + self.n - start) % self.n;
        (j < self.w).then_some(session * self.w + j)
    }

    /// Marks every node that did not change as probed from `sent` on; returns them.
    pub fn start_probe(&mut self, sent: Instant) -> Vec<usize> {
        let probed: Vec<usize> = (0..self.n)
            .filter(|&i| self.kind[i] == NodeKind::Plain)
            .collect();
        for &i in &probed {
            self.kind[i] = NodeKind::Probe;
        }
        self.probe_sent = Some(sent);
        self.probe_expected = self.pairs_of(NodeKind::Probe);
        probed
    }

    /// Records one event of `session`.
    pub fn event(&mut self, session: usize, e: &Event) {
        let node = self.index.get(&e.path).copied();
        let data_changed = e.event_type == EventType::NodeDataChanged.as_i32();
        let slot = node.and_then(|i| self.slot(session, i));
        let (Some(node), Some(slot), true) = (node, slot, data_changed) else {
            self.unexpected += 1;
            return;
        };
        let first = match self.kind[node] {
            NodeKind::Changed => {
                self.counts[slot] += 1;
                if self.counts[slot] == 1 {
                    self.changed_seen += 1;
                }
                false
            }
            NodeKind::Probe if self.probe_sent.is_some_and(|p| e.received >= p) => {
                self.counts[slot] += 1;
                if self.counts[slot] == 1 {
                    self.probe_seen += 1;
                }
                true
            }
            _ => {
                self.unexpected += 1;
                false
            }
        };
        if first {
            self.probe_last = Some(self.probe_last.map_or(e.received, |t| t.max(e.received)));
        }
    }

    pub fn changed_complete(&self) -> bool {
        self.changed_seen == self.changed_expected
    }

    pub fn probe_complete(&self) -> bool {
        self.probe_seen == self.probe_expected
    }

    fn counts_of(&self, k: NodeKind) -> PairCounts {
        let mut c = PairCounts::default();
        for s in 0..self.sessions() {
            for (j, node) in watched_nodes(s, self.w, self.n).enumerate() {
                if self.kind[node] != k {
                    continue;
                }
                c.expected += 1;
                match self.counts[s * self.w + j] {
                    0 => c.missing += 1,
                    1 => c.once += 1,
                    _ => c.duplicated += 1,
                }
            }
        }
        c
    }

    pub fn changed_counts(&self) -> PairCounts {
        self.counts_of(NodeKind::Changed)
    }

    pub fn probe_counts(&self) -> PairCounts {
        self.counts_of(NodeKind::Probe)
    }

    pub fn unexpected(&self) -> u64 {
        self.unexpected
    }
}

enum Msg {
    Ready,
    Lost(usize, Instant),
    Resumed(Instant, u32),
    Rearmed(usize, Instant, usize),
    Event(usize, Event),
    WritesDone(Instant),
    Failed(BenchError),
}

/// Everything a session task needs besides its index.
struct Plan {
    members: Vec<SocketAddr>,
    paths: Arc<Vec<String>>,
    w: usize,
    opts: ConnectOptions,
    in_flight: usize,
    batch_bytes: usize,
    retry_pause: Duration,
    /// Handshakes in progress at once.
    gate: Semaphore,
    /// Opens when the writer's changes are acknowledged.
    writes_done: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    hard: Instant,
}

pub async fn run(ctx: &Ctx<'_>, a: &StormArgs) -> Result<StormResult, BenchError> {
    let members = ctx.target.members.clone();
    let n_members = members.len();
    let control =
        ctx.target.control.clone().ok_or_else(|| {
            BenchError::Args("storm needs member pids and a restart command".into())
        })?;
    let (modes, leader) = ensemble::wait_whole(&members, a.timeout, "before the storm").await?;
    let victim = match a.kill {
        KillWhich::Leader => leader,
        KillWhich::Follower => ensemble::first_follower(&modes).unwrap_or(leader),
    };
    let killed_mode = modes[victim].unwrap_or(Mode::Other);
    let base = format!("{}/storm", ctx.root);
    let paths: Arc<Vec<String>> =
        Arc::new((0..a.nodes).map(|i| format!("{base}/n{i:06}")).collect());
    let bar = Progress::new(ctx.progress, 6, "storm");
    bar.set_message("creating nodes");
    {
        let mut setup = Connection::connect(members[0], &ctx.opts).await?;
        let mut nodes = with_ancestors(&base);
        nodes.extend(paths.iter().cloned());
        ensure_nodes(
            &mut setup,
            &nodes,
            b"s",
            false,
            256,
            super::setup_deadline(nodes.len()),
        )
        .await?;
        let _ = setup.close(Instant::now() + ctx.opts.connect_timeout).await;
    }
    ensemble::sync_members(&members, &base, &ctx.opts).await?;

    // Phase 2.
    bar.set_message("registering watches");
    let (writes_tx, writes_rx) = watch::channel(a.changed == 0);
    let (stop_tx, stop_rx) = watch::channel(false);
    let plan = Arc::new(Plan {
        members: members.clone(),
        paths: paths.clone(),
        w: a.watches_per_session,
        opts: ctx.opts.clone(),
        in_flight: a.in_flight,
        batch_bytes: a.batch_bytes,
        retry_pause: a.retry_pause,
        gate: Semaphore::new(a.concurrency),
        writes_done: writes_rx,
        stop: stop_rx,
        hard: Instant::now() + a.timeout * 4 + a.quiet * 3,
    });
    let (tx, mut rx) = mpsc::channel(4096);
    let reg_start = Instant::now();
    let mut handles = Vec::with_capacity(a.sessions);
    for i in 0..a.sessions {
        handles.push(tokio::spawn(session(i, plan.clone(), tx.clone())));
    }
    let mut killed = false;
    let result = storm(
        ctx,
        a,
        &plan,
        &paths,
        (victim, control.as_ref(), &mut killed),
        (&tx, &mut rx, writes_tx),
        reg_start,
        &bar,
    )
    .await;
    drop(tx);
    // Phase 6.
    bar.set_message("closing sessions");
    let _ = stop_tx.send(true);
    // Sessions still sending must not block on a full channel while they are stopped.
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    for h in handles {
        let _ = h.await;
    }
    drain.abort();
    bar.set_message("restarting the killed member");
    let restarted = if killed {
        let at = Instant::now();
        let r = control.restart(victim).await;
        match r {
            Ok(()) => ensemble::wait_whole(&members, a.timeout, "after the restart")
                .await
                .map(|_| ms(at.elapsed())),
            Err(e) => Err(e),
        }
    } else {
        Ok(0.0)
    };
    bar.finish();
    let mut r = result?;
    r.recovery_ms = restarted?;
    r.members = n_members;
    r.killed = victim + 1;
    r.killed_mode = killed_mode;
    if !a.settle.is_zero() {
        tokio::time::sleep(a.settle).await;
    }
    Ok(r)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Per-session bookkeeping of the coordinator.
#[derive(Default, Clone, Copy)]
struct SessionState {
    lost: u32,
    rearmed: u32,
}

/// Phases 2 to 5; `killed` says whether the victim was killed (and needs a restart).
#[allow(clippy::too_many_arguments)]
async fn storm(
    ctx: &Ctx<'_>,
    a: &StormArgs,
    plan: &Plan,
    paths: &Arc<Vec<String>>,
    (victim, control, killed): (usize, &dyn crate::control::MemberControl, &mut bool),
    (tx, rx, writes_tx): (
        &mpsc::Sender<Msg>,
        &mut mpsc::Receiver<Msg>,
        watch::Sender<bool>,
    ),
    reg_start: Instant,
    bar: &Progress,
) -> Result<StormResult, BenchError> {
    let k = a.sessions;
    let deadline = Instant::now() + a.timeout;
    let mut ready = 0;
    while ready < k {
        match recv(rx, deadline).await? {
            Some(Msg::Ready) => ready += 1,
            Some(Msg::Failed(e)) => return Err(e),
            Some(_) => {}
            None => {
                return Err(BenchError::Workload(format!(
                    "within {:?} only {ready} of {k} sessions registered their watches",
                    a.timeout
                )));
            }
        }
    }
    let initial_registration_s = reg_start.elapsed().as_secs_f64();
    bar.inc(1);

    // A writer on a survivor, connected before the kill.
    let survivors: Vec<SocketAddr> = (0..plan.members.len())
        .filter(|&i| i != victim)
        .map(|i| plan.members[i])
        .collect();
    let mut writer = Writer::new(survivors.clone(), ctx.opts.clone(), a.retry_pause);
    writer.connect(deadline).await?;
    let changed = changed_nodes(a.nodes, a.changed);
    let mut tally = Tally::new(k, a.watches_per_session, paths, &changed);
    let orphaned: Vec<usize> = (0..k)
        .filter(|i| i % plan.members.len() == victim)
        .collect();
    let tag = format!(
        "storm-{:x}-{:x}",
        ctx.seed,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );

    // Phase 3.
    bar.set_message("storm");
    let survivor_pids: Vec<u32> = control
        .pids()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .filter_map(|(_, p)| p)
        .collect();
    let all_known = survivor_pids.len() == plan.members.len() - 1;
    let cpu_before = (
        all_known.then(|| super::cpu_ns(&survivor_pids)).flatten(),
        crate::probe::process_cpu_ns(std::process::id()),
    );
    let drops_before = listen_drops();
    tracing::info!(member = victim + 1, "killing a member");
    // A kill that fails may still have killed: restart either way.
    *killed = true;
    control.kill(victim).await?;
    let killed_at = Instant::now();
    let deadline = killed_at + a.timeout;
    let writer_task = {
        let tx = tx.clone();
        let targets: Vec<String> = changed.iter().map(|&i| paths[i].clone()).collect();
        let value = format!("{tag}-changed").into_bytes();
        tokio::spawn(async move {
            let r = writer.set_all(&targets, &value, deadline).await;
            match r {
                Ok(at) => {
                    let _ = tx.send(Msg::WritesDone(at)).await;
                }
                Err(e) => {
                    let _ = tx.send(Msg::Failed(e)).await;
                }
            }
            writer
        })
    };
    let mut state = vec![SessionState::default(); k];
    let mut writes_at: Option<Instant> = if changed.is_empty() {
        Some(killed_at)
    } else {
        None
    };
    let mut last_lost = killed_at;
    let mut last_resumed = killed_at;
    let mut last_rearmed = killed_at;
    let mut last_catchup = tally.changed_complete().then_some(killed_at);
    let mut per_rearm = LatencyHistogram::new();
    let mut failed_attempts = 0u64;
    let mut packets = 0u64;
    let mut cpu_after = None;
    let mut drops_after = None;
    let outstanding = |state: &[SessionState]| state.iter().any(|s| s.lost != s.rearmed);
    let orphans_lost = |state: &[SessionState]| orphaned.iter().all(|&i| state[i].lost > 0);
    let mut handle = |msg: Msg,
                      state: &mut [SessionState],
                      tally: &mut Tally,
                      writes_at: &mut Option<Instant>|
     -> Result<(), BenchError> {
        match msg {
            Msg::Failed(e) => return Err(e),
            Msg::Ready => {}
            Msg::Lost(i, at) => {
                state[i].lost += 1;
                last_lost = last_lost.max(at);
            }
            Msg::Resumed(at, failed) => {
                last_resumed = last_resumed.max(at);
                failed_attempts += u64::from(failed);
            }
            Msg::Rearmed(i, at, sent) => {
                state[i].rearmed += 1;
                packets += sent as u64;
                last_rearmed = last_rearmed.max(at);
                per_rearm.record(at.saturating_duration_since(killed_at));
            }
            Msg::Event(i, e) => {
                let before = tally.changed_complete();
                tally.event(i, &e);
                if !before && tally.changed_complete() {
                    last_catchup = Some(e.received);
                }
            }
            Msg::WritesDone(at) => {
                *writes_at = Some(at);
                let _ = writes_tx.send(true);
            }
        }
        Ok(())
    };
    let mut writer_back = None;
    let outcome: Result<(), BenchError> = async {
        // Until every loss is made good and every change heard (or the deadline).
        loop {
            let done_resuming = writes_at.is_some() && orphans_lost(&state) && !outstanding(&state);
            if done_resuming && cpu_after.is_none() {
                cpu_after = Some((
                    all_known.then(|| super::cpu_ns(&survivor_pids)).flatten(),
                    crate::probe::process_cpu_ns(std::process::id()),
                ));
                drops_after = listen_drops();
            }
            if done_resuming && tally.changed_complete() {
                break;
            }
            let Some(msg) = recv(rx, deadline).await? else {
                break;
            };
            handle(msg, &mut state, &mut tally, &mut writes_at)?;
        }
        let lost = state.iter().filter(|s| s.lost > 0).count();
        if writes_at.is_none() || !orphans_lost(&state) || outstanding(&state) {
            return Err(BenchError::Workload(format!(
                "within {:?} of the kill: writes {}, {lost} sessions lost their connection ({} orphaned), {} resumed and re-armed",
                a.timeout,
                if writes_at.is_some() { "done" } else { "not done" },
                orphaned.len(),
                state.iter().filter(|s| s.lost > 0 && s.lost == s.rearmed).count()
            )));
        }
        bar.inc(1);
        bar.set_message("quiet period");
        // Quiet: strays, and sessions that lose their connection late.
        loop {
            drain_for(rx, a.quiet, |m| handle(m, &mut state, &mut tally, &mut writes_at)).await?;
            if !outstanding(&state) {
                break;
            }
            let until = Instant::now() + a.timeout;
            while outstanding(&state) {
                let Some(msg) = recv(rx, until).await? else {
                    return Err(BenchError::Workload(
                        "a session that lost its connection late did not resume".into(),
                    ));
                };
                handle(msg, &mut state, &mut tally, &mut writes_at)?;
            }
        }
        bar.inc(1);
        let mut w = writer_task.await?;
        // Phase 5.
        bar.set_message("probe");
        let probe_start = Instant::now();
        let probed = tally.start_probe(probe_start);
        if !probed.is_empty() {
            let targets: Vec<String> = probed.iter().map(|&i| paths[i].clone()).collect();
            let value = format!("{tag}-probe").into_bytes();
            let probe_deadline = Instant::now() + a.timeout;
            // The sessions' events must keep flowing while the probe writes.
            let probe_writer = tokio::spawn(async move {
                let r = w.set_all(&targets, &value, probe_deadline).await;
                (w, r)
            });
            while !tally.probe_complete() {
                let Some(msg) = recv(rx, probe_deadline).await? else {
                    break;
                };
                handle(msg, &mut state, &mut tally, &mut writes_at)?;
            }
            let (w, r) = probe_writer.await?;
            r?;
            writer_back = Some(w);
            drain_for(rx, a.quiet, |m| handle(m, &mut state, &mut tally, &mut writes_at)).await?;
        } else {
            writer_back = Some(w);
        }
        bar.inc(1);
        Ok(())
    }
    .await;
    if let Some(w) = writer_back {
        w.close().await;
    }
    outcome?;
    let disconnected = state.iter().filter(|s| s.lost > 0).count();
    let losses = state.iter().map(|s| u64::from(s.lost)).sum();
    let cpu_ms = |before: Option<u64>, after: Option<u64>| {
        let (b, a) = (before?, after?);
        (a >= b).then(|| (a - b) as f64 / 1e6)
    };
    let (server_after, own_after) = cpu_after.unwrap_or((None, None));
    let probe = (tally.probe_expected > 0).then(|| {
        let events = tally.probe_counts();
        StormProbe {
            nodes: a.nodes - changed.len(),
            last_ms: (events.missing == 0)
                .then(|| {
                    tally
                        .probe_last
                        .map(|t| ms(t.saturating_duration_since(tally.probe_sent.unwrap_or(t))))
                })
                .flatten(),
            events,
        }
    });
    Ok(StormResult {
        sessions: k,
        watches_per_session: a.watches_per_session,
        nodes: a.nodes,
        changed: changed.len(),
        members: plan.members.len(),
        killed: victim + 1,
        killed_mode: Mode::Other,
        orphaned: orphaned.len(),
        disconnected,
        losses,
        initial_registration_s,
        writes_ms: writes_at.map(|t| ms(t.saturating_duration_since(killed_at))),
        detected_ms: ms(last_lost.saturating_duration_since(killed_at)),
        resumed_ms: ms(last_resumed.saturating_duration_since(killed_at)),
        rearmed_ms: ms(last_rearmed.saturating_duration_since(killed_at)),
        catchup_ms: last_catchup.map(|t| ms(t.saturating_duration_since(killed_at))),
        rearmed: per_rearm.summary(),
        failed_attempts,
        set_watches_packets: packets,
        events: tally.changed_counts(),
        unexpected: tally.unexpected(),
        probe,
        server_cpu_ms: cpu_ms(cpu_before.0, server_after),
        client_cpu_ms: cpu_ms(cpu_before.1, own_after),
        recovery_ms: 0.0,
        listen_drops: drops_before
            .zip(drops_after)
            .map(|(b, a)| a.saturating_sub(b)),
    })
}

async fn recv(rx: &mut mpsc::Receiver<Msg>, deadline: Instant) -> Result<Option<Msg>, BenchError> {
    match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
        Ok(Some(m)) => Ok(Some(m)),
        Err(_) => Ok(None),
        Ok(None) => Err(BenchError::Workload("every session stopped early".into())),
    }
}

/// Handles messages for `quiet`, so late or duplicate events are seen.
async fn drain_for(
    rx: &mut mpsc::Receiver<Msg>,
    quiet: Duration,
    mut on: impl FnMut(Msg) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let until = Instant::now() + quiet;
    while let Some(msg) = recv(rx, until).await? {
        on(msg)?;
    }
    Ok(())
}

/// One session: connect to its member, register, then hear events; when the connection
/// breaks, resume elsewhere and re-send the watches that have not fired.
async fn session(idx: usize, plan: Arc<Plan>, tx: mpsc::Sender<Msg>) {
    let result = session_inner(idx, &plan, &tx).await;
    match result {
        Ok(Some(conn)) => {
            let _ = conn.close(Instant::now() + Duration::from_secs(10)).await;
        }
        Ok(None) => {}
        Err(e) => {
            let _ = tx.send(Msg::Failed(e)).await;
        }
    }
}

async fn session_inner(
    idx: usize,
    plan: &Plan,
    tx: &mpsc::Sender<Msg>,
) -> Result<Option<Connection>, BenchError> {
    let n = plan.paths.len();
    let watched: Vec<usize> = watched_nodes(idx, plan.w, n).collect();
    let position: HashMap<&str, usize> = watched
        .iter()
        .enumerate()
        .map(|(j, &node)| (plan.paths[node].as_str(), j))
        .collect();
    let mut at = idx % plan.members.len();
    let mut conn = {
        let _permit = plan.gate.acquire().await.ok();
        Connection::connect(plan.members[at], &plan.opts).await?
    };
    let reqs: Vec<Request> = watched
        .iter()
        .map(|&node| {
            Request::GetData(GetDataRequest {
                path: plan.paths[node].clone(),
                watch: true,
            })
        })
        .collect();
    let addr = conn.addr();
    pipeline(
        &mut conn,
        reqs,
        plan.in_flight,
        plan.hard,
        |inc| match inc {
            Incoming::Reply(r) if !r.is_ok() => Err(request_error(
                addr,
                "getData",
                &plan.paths[watched[r.tag as usize]],
                r.err,
            )),
            _ => Ok(()),
        },
    )
    .await?;
    if tx.send(Msg::Ready).await.is_err() {
        return Ok(Some(conn));
    }
    let mut armed = vec![true; watched.len()];
    let on_event = |e: &Event, armed: &mut [bool]| {
        if e.event_type == EventType::NodeDataChanged.as_i32()
            && let Some(&j) = position.get(e.path.as_str())
        {
            armed[j] = false;
        }
    };
    // Every wait is registered once and raced against the cancellation-safe receive, so an
    // idle session costs nothing until an event, its ping, a loss or the end: thousands of
    // sessions polling a stop flag would take the CPU the servers need.
    let mut stop = plan.stop.clone();
    let stopped = async move {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::pin!(stopped);
    let give_up = tokio::time::sleep_until(plan.hard.into());
    tokio::pin!(give_up);
    loop {
        // Hear events until the connection breaks.
        let ping = tokio::time::sleep_until(conn.ping_due().into());
        tokio::pin!(ping);
        let broke = loop {
            let incoming = tokio::select! {
                biased;
                () = &mut stopped => None,
                () = &mut give_up => None,
                () = &mut ping => {
                    if conn.ping().await.is_err() {
                        break Instant::now();
                    }
                    ping.as_mut().reset(conn.ping_due().into());
                    continue;
                }
                incoming = conn.recv() => Some(incoming),
            };
            match incoming {
                None => return Ok(Some(conn)),
                Some(Ok(Incoming::Reply(_))) => {}
                Some(Ok(Incoming::Event(e))) => {
                    on_event(&e, &mut armed);
                    if tx.send(Msg::Event(idx, e)).await.is_err() {
                        return Ok(Some(conn));
                    }
                }
                Some(Err(_)) => break Instant::now(),
            }
        };
        if tx.send(Msg::Lost(idx, broke)).await.is_err() {
            return Ok(None);
        }
        let detached = conn.detach();
        // Resume, and re-arm; a connection that breaks again meanwhile starts over.
        let mut failed = 0u32;
        conn = loop {
            let (c, next_at, f) = resume(plan, idx, at, &detached).await?;
            failed += f;
            at = next_at;
            let mut c = c;
            let resumed_at = Instant::now();
            let armed_paths: Vec<String> = watched
                .iter()
                .zip(&armed)
                .filter(|(_, a)| **a)
                .map(|(&node, _)| plan.paths[node].clone())
                .collect();
            let batches = batch_paths(&armed_paths, plan.batch_bytes);
            if tx.send(Msg::Resumed(resumed_at, failed)).await.is_err() {
                return Ok(Some(c));
            }
            failed = 0;
            let mut read = Vec::new();
            let r = rearm(&mut c, &batches, detached.last_zxid, plan.hard, &mut read).await;
            for e in read {
                on_event(&e, &mut armed);
                if tx.send(Msg::Event(idx, e)).await.is_err() {
                    return Ok(None);
                }
            }
            match r {
                Ok(at) => {
                    if tx.send(Msg::Rearmed(idx, at, batches.len())).await.is_err() {
                        return Ok(Some(c));
                    }
                    break c;
                }
                // Broke again before every reply came: resume again; the re-arm that finally
                // succeeds answers the one loss.
                Err(RearmError::Broken) => {}
                Err(RearmError::Fatal(e)) => return Err(e),
            }
        };
    }
}

/// Why a re-arm did not finish.
enum RearmError {
    /// The connection broke: resume again.
    Broken,
    Fatal(BenchError),
}

/// Sends the setWatches batches and waits for every reply; events read meanwhile are pushed
/// onto `events` (also when the connection breaks).
async fn rearm(
    c: &mut Connection,
    batches: &[Vec<String>],
    relative_zxid: i64,
    hard: Instant,
    events: &mut Vec<Event>,
) -> Result<Instant, RearmError> {
    if batches.is_empty() {
        return Ok(Instant::now());
    }
    for b in batches {
        let sw = Request::SetWatches(SetWatches {
            relative_zxid,
            data_watches: b.clone(),
            exist_watches: Vec::new(),
            child_watches: Vec::new(),
        });
        c.send_with_xid(xid::SET_WATCHES, &sw, 0)
            .map_err(RearmError::Fatal)?;
    }
    c.flush().await.map_err(|_| RearmError::Broken)?;
    let mut acked = 0;
    loop {
        match c.recv_until(hard).await {
            Ok(Some(Incoming::Reply(r))) => {
                if !r.is_ok() {
                    return Err(RearmError::Fatal(request_error(
                        c.addr(),
                        "setWatches",
                        "",
                        r.err,
                    )));
                }
                acked += 1;
                if acked == batches.len() {
                    return Ok(r.received);
                }
            }
            Ok(Some(Incoming::Event(e))) => events.push(e),
            Ok(None) => {
                return Err(RearmError::Fatal(BenchError::Timeout {
                    addr: c.addr(),
                    during: "waiting for setWatches replies".into(),
                }));
            }
            Err(_) => return Err(RearmError::Broken),
        }
    }
}

/// Resumes the session on another member: tries the members other than the one it was on,
/// starting at one chosen by the session's index (so the orphans spread over the survivors),
/// waiting for the writer's changes first. Returns the connection, its member and the number
/// of failed attempts.
async fn resume(
    plan: &Plan,
    idx: usize,
    was_on: usize,
    d: &Detached,
) -> Result<(Connection, usize, u32), RearmError> {
    let mut writes = plan.writes_done.clone();
    let opened = tokio::time::timeout_at(plan.hard.into(), writes.wait_for(|done| *done))
        .await
        .is_ok_and(|r| r.is_ok());
    if !opened {
        return Err(RearmError::Fatal(BenchError::Workload(
            "the writer's changes were never acknowledged".into(),
        )));
    }
    let n = plan.members.len();
    let others: Vec<usize> = (1..n).map(|k| (was_on + k) % n).collect();
    let opts = ConnectOptions {
        resume: Some(d.credentials.clone()),
        last_zxid_seen: d.last_zxid,
        ..plan.opts.clone()
    };
    let mut failed = 0u32;
    let mut turn = idx / n;
    loop {
        if Instant::now() >= plan.hard {
            return Err(RearmError::Fatal(BenchError::Workload(format!(
                "session {idx} could not resume on any survivor"
            ))));
        }
        let member = others[turn % others.len()];
        turn += 1;
        let r = {
            let _permit = plan.gate.acquire().await.ok();
            Connection::connect(plan.members[member], &opts).await
        };
        match r {
            Ok(c) => return Ok((c, member, failed)),
            Err(e @ BenchError::SessionExpired { .. }) => return Err(RearmError::Fatal(e)),
            Err(_) => {
                failed += 1;
                tokio::time::sleep(plan.retry_pause).await;
            }
        }
    }
}

impl From<RearmError> for BenchError {
    fn from(e: RearmError) -> Self {
        match e {
            RearmError::Broken => BenchError::Workload("a connection broke".into()),
            RearmError::Fatal(e) => e,
        }
    }
}

/// Writes through a survivor, resuming its session on another one when the connection
/// breaks, and never applying a change twice (a write whose reply was lost is checked by
/// reading the node before it is sent again).
struct Writer {
    survivors: Vec<SocketAddr>,
    next: usize,
    conn: Option<Connection>,
    resume: Option<Detached>,
    opts: ConnectOptions,
    retry_pause: Duration,
}

impl Writer {
    fn new(survivors: Vec<SocketAddr>, opts: ConnectOptions, retry_pause: Duration) -> Writer {
        Writer {
            survivors,
            next: 0,
            conn: None,
            resume: None,
            opts,
            retry_pause,
        }
    }

    async fn connect(&mut self, deadline: Instant) -> Result<&mut Connection, BenchError> {
        while self.conn.is_none() {
            if Instant::now() >= deadline {
                return Err(BenchError::Workload(
                    "the writer could not connect to any survivor".into(),
                ));
            }
            let addr = self.survivors[self.next % self.survivors.len()];
            let mut opts = self.opts.clone();
            if let Some(d) = &self.resume {
                opts.resume = Some(d.credentials.clone());
                opts.last_zxid_seen = d.last_zxid;
            }
            match Connection::connect(addr, &opts).await {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    if matches!(e, BenchError::SessionExpired { .. }) {
                        self.resume = None;
                    }
                    self.next += 1;
                    tokio::time::sleep(self.retry_pause).await;
                }
            }
        }
        self.conn
            .as_mut()
            .ok_or_else(|| BenchError::Workload("no writer connection".into()))
    }

    fn broke(&mut self) {
        if let Some(c) = self.conn.take() {
            self.resume = Some(c.detach());
        }
        self.next += 1;
    }

    /// Sets `value` on every path; returns when the last acknowledgement arrived.
    async fn set_all(
        &mut self,
        paths: &[String],
        value: &[u8],
        deadline: Instant,
    ) -> Result<Instant, BenchError> {
        let mut acked = vec![false; paths.len()];
        let mut last = Instant::now();
        let mut verify = false;
        loop {
            let todo: Vec<usize> = (0..paths.len()).filter(|&i| !acked[i]).collect();
            if todo.is_empty() {
                return Ok(last);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Workload(format!(
                    "the writer could not change {} nodes in time",
                    todo.len()
                )));
            }
            let pause = self.retry_pause;
            let c = self.connect(deadline).await?;
            let res = if verify {
                let reqs: Vec<Request> = todo
                    .iter()
                    .map(|&i| {
                        Request::GetData(GetDataRequest {
                            path: paths[i].clone(),
                            watch: false,
                        })
                    })
                    .collect();
                pipeline(c, reqs, 256, deadline, |inc| {
                    if let Incoming::Reply(r) = inc
                        && r.is_ok()
                        && let Ok(d) = GetDataResponse::decode_exact(&r.body)
                        && d.data.as_deref() == Some(value)
                    {
                        acked[todo[r.tag as usize]] = true;
                    }
                    Ok(())
                })
                .await
            } else {
                let reqs: Vec<Request> = todo
                    .iter()
                    .map(|&i| set_data_req(&paths[i], value))
                    .collect();
                pipeline(c, reqs, 256, deadline, |inc| {
                    if let Incoming::Reply(r) = inc
                        && r.is_ok()
                    {
                        acked[todo[r.tag as usize]] = true;
                        last = last.max(r.received);
                    }
                    Ok(())
                })
                .await
            };
            match res {
                Ok(()) => {
                    // A round of reads is followed by writes of what is still missing; writes
                    // that failed are checked (they may have been applied) before a retry.
                    if verify {
                        verify = false;
                    } else if acked.iter().any(|a| !a) {
                        verify = true;
                        tokio::time::sleep(pause).await;
                    }
                }
                Err(_) => {
                    self.broke();
                    verify = true;
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    async fn close(mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.close(Instant::now() + Duration::from_secs(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(path: &str, t: EventType, at: Instant) -> Event {
        Event {
            zxid: -1,
            event_type: t.as_i32(),
            path: path.into(),
            received: at,
        }
    }

    #[test]
    fn watches_spread_evenly_and_distinctly() {
        let (s, w, n) = (30, 10, 100);
        let mut per_node = vec![0; n];
        for i in 0..s {
            let nodes: Vec<usize> = watched_nodes(i, w, n).collect();
            let mut sorted = nodes.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), w, "session {i}: {nodes:?}");
            for x in nodes {
                per_node[x] += 1;
            }
        }
        assert!(per_node.iter().all(|&c| c == s * w / n), "{per_node:?}");
        // W = N: everyone watches everything.
        assert_eq!(watched_nodes(7, 4, 4).count(), 4);
        assert_eq!(changed_nodes(10, 3), [0, 3, 6]);
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 12 15\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(parse_listen_drops(netstat), Some(15));
        assert_eq!(parse_listen_drops("TcpExt: A\nTcpExt: 1\n"), None);
        assert!(changed_nodes(10, 0).is_empty());
    }

    #[test]
    fn tally_counts_each_pair_exactly() {
        // 3 sessions x 2 watches over 3 nodes: s0 {0,1}, s1 {2,0}, s2 {1,2}.
        let paths: Vec<String> = (0..3).map(|i| format!("/n{i}")).collect();
        let mut t = Tally::new(3, 2, &paths, &[0]);
        assert_eq!(t.changed_expected, 2, "s0 and s1 watch node 0");
        let now = Instant::now();
        t.event(0, &ev("/n0", EventType::NodeDataChanged, now));
        assert!(!t.changed_complete());
        t.event(1, &ev("/n0", EventType::NodeDataChanged, now));
        assert!(t.changed_complete());
        t.event(1, &ev("/n0", EventType::NodeDataChanged, now));
        // s2 does not watch node 0; node 1 did not change; a deletion is not a change.
        t.event(2, &ev("/n0", EventType::NodeDataChanged, now));
        t.event(0, &ev("/n1", EventType::NodeDataChanged, now));
        t.event(0, &ev("/n0", EventType::NodeDeleted, now));
        t.event(0, &ev("/elsewhere", EventType::NodeDataChanged, now));
        assert_eq!(t.unexpected(), 4);
        assert_eq!(
            t.changed_counts(),
            PairCounts {
                expected: 2,
                once: 1,
                missing: 0,
                duplicated: 1
            }
        );

        // The probe: nodes 1 and 2, watched by s0 (1), s1 (2), s2 (1, 2).
        let sent = now + Duration::from_millis(5);
        let probed = t.start_probe(sent);
        assert_eq!(probed, [1, 2]);
        assert_eq!(t.probe_expected, 4);
        t.event(2, &ev("/n1", EventType::NodeDataChanged, now)); // before the probe: a stray
        assert_eq!(t.unexpected(), 5);
        let later = sent + Duration::from_millis(1);
        for (s, p) in [(0, "/n1"), (1, "/n2"), (2, "/n1")] {
            t.event(s, &ev(p, EventType::NodeDataChanged, later));
        }
        assert!(!t.probe_complete());
        assert_eq!(
            t.probe_counts(),
            PairCounts {
                expected: 4,
                once: 3,
                missing: 1,
                duplicated: 0
            }
        );
        t.event(2, &ev("/n2", EventType::NodeDataChanged, later));
        assert!(t.probe_complete());
        assert_eq!(t.probe_last, Some(later));
    }
}
