//! `reconnect`: K sessions holding M data watches each lose their connections at once, a
//! writer changes some watched nodes while they are away, and every session comes back.
//!
//! Phases, each bounded by `timeout`:
//! 1. K sessions each set getData watches on the same M nodes (pipelined).
//! 2. Every socket is dropped (the sessions stay alive on the server); the writer then sets
//!    data on `changed` of the nodes and waits for its replies; `outage` passes.
//! 3. All K sessions resume (session id, password, lastZxidSeen) and re-send their watches with
//!    setWatches (xid -8, relativeZxid = the last zxid each saw), batched as
//!    [`super::batch::batch_paths`] says. Re-registration time runs from here until the last
//!    setWatches reply.
//! 4. Catch-up is checked: every session must get exactly one NodeDataChanged per changed node
//!    and nothing for the others; after the last expected event the run waits `quiet` for
//!    strays.
//! 5. Probe: the writer changes one unchanged node; every session must hear it exactly once,
//!    which shows the re-registered watches are live, not merely acknowledged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use watchkeeper_proto::{EventType, GetDataRequest, OpCode, Request, SetWatches, xid};

use super::Ctx;
use super::batch::batch_paths;
use crate::BenchError;
use crate::args::ReconnectArgs;
use crate::conn::{ConnectOptions, Connection, Detached, Event, Incoming};
use crate::hist::{LatencyHistogram, LatencySummary};
use crate::pipeline::{
    CONNECT_CONCURRENCY, connect_many, ensure_nodes, pipeline, request_error, set_data_req,
    with_ancestors,
};
use crate::progress::Progress;

/// The probe after catch-up: one unchanged node changed once more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub path: String,
    /// Sessions that should hear it (all of them).
    pub expected: u64,
    pub heard_once: u64,
    pub missing: u64,
    pub duplicated: u64,
    /// From the probe write's send until the last session heard it.
    pub last_ms: Option<f64>,
}

/// The outcome of one `reconnect` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconnectResult {
    pub sessions: usize,
    pub watches_per_session: usize,
    pub changed: usize,
    /// setWatches packets each session sent.
    pub batches_per_session: usize,
    /// Phase 1: registering every watch before the outage, in seconds.
    pub initial_registration_s: f64,
    /// From the start of the reconnect until every session's handshake completed.
    pub reconnect_ms: f64,
    /// From the start of the reconnect until every setWatches was answered.
    pub reregister_ms: f64,
    /// From the start of the reconnect until every expected catch-up event arrived; `None`
    /// if some never did.
    pub catchup_ms: Option<f64>,
    /// Per session: start of the reconnect to its last setWatches reply.
    pub reregister: LatencySummary,
    /// Catch-up events expected: sessions x changed nodes.
    pub expected_events: u64,
    /// (session, changed node) pairs whose event arrived exactly once.
    pub delivered_once: u64,
    /// Pairs with no event.
    pub missing: u64,
    /// Pairs with more than one event.
    pub duplicated: u64,
    /// Events on unchanged nodes, of another type, or on unknown paths.
    pub unexpected: u64,
    pub probe: Option<ProbeResult>,
}

enum Msg {
    Connected(Instant),
    Registered(Instant),
    Event(usize, Event),
    Failed(BenchError),
}

/// How often an idle session looks at the stop signal.
const POLL: Duration = Duration::from_millis(50);

fn node_paths(root: &str, a: &ReconnectArgs) -> Vec<String> {
    (0..a.watches_per_session)
        .map(|i| {
            let name = format!("n{i:06}");
            let pad = a.name_len.saturating_sub(name.len());
            format!("{root}/reconnect/{}{name}", "_".repeat(pad))
        })
        .collect()
}

/// Which of `m` nodes change: `k` of them, evenly spread.
fn changed_indices(m: usize, k: usize) -> Vec<usize> {
    (0..k).map(|j| j * m / k.max(1)).collect()
}

pub async fn run(ctx: &Ctx<'_>, a: &ReconnectArgs) -> Result<ReconnectResult, BenchError> {
    let addr = ctx.target.addr;
    let paths = Arc::new(node_paths(ctx.root, a));
    let mut writer = Connection::connect(addr, &ctx.opts).await?;
    let mut nodes = with_ancestors(&format!("{}/reconnect", ctx.root));
    nodes.extend(paths.iter().cloned());
    ensure_nodes(
        &mut writer,
        &nodes,
        b"r",
        false,
        256,
        super::setup_deadline(nodes.len()),
    )
    .await?;
    let bar = Progress::new(ctx.progress, 5, "reconnect");

    // Phase 1.
    bar.set_message("registering watches");
    let reg_start = Instant::now();
    let conns = connect_many(addr, a.sessions, &ctx.opts).await?;
    let deadline = Instant::now() + a.timeout;
    let mut handles = Vec::with_capacity(conns.len());
    for conn in conns {
        handles.push(tokio::spawn(register(
            conn,
            paths.clone(),
            a.in_flight,
            deadline,
        )));
    }
    let mut registered = Vec::with_capacity(handles.len());
    for h in handles {
        registered.push(h.await??);
    }
    let initial_registration_s = reg_start.elapsed().as_secs_f64();
    bar.inc(1);

    // Phase 2: every connection goes at once, then the writer changes nodes.
    bar.set_message("outage");
    let detached: Vec<Detached> = registered.into_iter().map(Connection::detach).collect();
    let changed = changed_indices(paths.len(), a.changed);
    let writes = changed.iter().map(|&i| set_data_req(&paths[i], b"changed"));
    let waddr = writer.addr();
    pipeline(
        &mut writer,
        writes,
        256,
        Instant::now() + a.timeout,
        |inc| match inc {
            Incoming::Reply(r) if !r.is_ok() => {
                let path = &paths[changed[r.tag as usize]];
                Err(request_error(waddr, "setData", path, r.err))
            }
            _ => Ok(()),
        },
    )
    .await?;
    if !a.outage.is_zero() {
        tokio::time::sleep(a.outage).await;
    }
    bar.inc(1);

    // Phase 3: everyone comes back.
    bar.set_message("resuming");
    let batches = Arc::new(batch_paths(&paths, a.batch_bytes));
    let (tx, mut rx) = mpsc::channel(1024);
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let hard = Instant::now() + a.timeout * 3 + a.quiet * 2;
    let start = Instant::now();
    let mut handles = Vec::with_capacity(detached.len());
    for (idx, d) in detached.into_iter().enumerate() {
        let opts = ConnectOptions {
            resume: Some(d.credentials.clone()),
            last_zxid_seen: d.last_zxid,
            ..ctx.opts.clone()
        };
        handles.push(tokio::spawn(resumed(
            idx,
            addr,
            opts,
            d.last_zxid,
            batches.clone(),
            gate.clone(),
            tx.clone(),
            stop_rx.clone(),
            hard,
        )));
    }
    drop(tx);

    let mut acc = Accounting::new(a.sessions, &paths, &changed);
    let result = coordinate(a, &mut acc, &mut rx, &mut writer, start, &bar).await;
    let _ = stop_tx.send(true);
    drop(rx);
    for h in handles {
        let _ = h.await;
    }
    let _ = writer
        .close(Instant::now() + ctx.opts.connect_timeout)
        .await;
    bar.finish();
    let phases = result?;

    let pairs = acc.changed_counts();
    let delivered_once = pairs.iter().filter(|&&c| c == 1).count() as u64;
    let missing = pairs.iter().filter(|&&c| c == 0).count() as u64;
    let duplicated = pairs.iter().filter(|&&c| c > 1).count() as u64;
    let to_ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut rereg = LatencyHistogram::new();
    for d in &phases.per_session_registered {
        rereg.record(*d);
    }
    Ok(ReconnectResult {
        sessions: a.sessions,
        watches_per_session: a.watches_per_session,
        changed: changed.len(),
        batches_per_session: batches.len(),
        initial_registration_s,
        reconnect_ms: to_ms(phases.connected),
        reregister_ms: to_ms(phases.registered),
        catchup_ms: phases.catchup.map(to_ms),
        reregister: rereg.summary(),
        expected_events: (a.sessions * changed.len()) as u64,
        delivered_once,
        missing,
        duplicated,
        unexpected: acc.unexpected,
        probe: acc.probe.map(|p| {
            let expected = a.sessions as u64;
            let once = p.counts.iter().filter(|&&c| c == 1).count() as u64;
            let missing = p.counts.iter().filter(|&&c| c == 0).count() as u64;
            ProbeResult {
                path: paths[p.index].clone(),
                expected,
                heard_once: once,
                missing,
                duplicated: expected - once - missing,
                last_ms: (missing == 0).then(|| to_ms(p.last.saturating_duration_since(p.sent))),
            }
        }),
    })
}

/// Phase 1 for one session: a getData watch on every node.
async fn register(
    mut conn: Connection,
    paths: Arc<Vec<String>>,
    window: usize,
    deadline: Instant,
) -> Result<Connection, BenchError> {
    let reqs: Vec<Request> = paths
        .iter()
        .map(|p| {
            Request::GetData(GetDataRequest {
                path: p.clone(),
                watch: true,
            })
        })
        .collect();
    let addr = conn.addr();
    pipeline(&mut conn, reqs, window, deadline, |inc| match inc {
        Incoming::Reply(r) if !r.is_ok() => Err(request_error(
            addr,
            "getData",
            &paths[r.tag as usize],
            r.err,
        )),
        _ => Ok(()),
    })
    .await?;
    Ok(conn)
}

struct Probe {
    index: usize,
    sent: Instant,
    counts: Vec<u32>,
    last: Instant,
}

/// Every event, attributed to (session, node).
struct Accounting {
    sessions: usize,
    index: HashMap<String, usize>,
    is_changed: Vec<bool>,
    changed_slot: Vec<Option<usize>>,
    /// sessions x changed nodes, row-major by session.
    counts: Vec<u32>,
    expected_seen: usize,
    unexpected: u64,
    probe: Option<Probe>,
}

impl Accounting {
    fn new(sessions: usize, paths: &[String], changed: &[usize]) -> Self {
        let mut is_changed = vec![false; paths.len()];
        let mut changed_slot = vec![None; paths.len()];
        for (slot, &i) in changed.iter().enumerate() {
            is_changed[i] = true;
            changed_slot[i] = Some(slot);
        }
        Accounting {
            sessions,
            index: paths.iter().cloned().zip(0..).collect(),
            is_changed,
            changed_slot,
            counts: vec![0; sessions * changed.len()],
            expected_seen: 0,
            unexpected: 0,
            probe: None,
        }
    }

    fn changed_counts(&self) -> &[u32] {
        &self.counts
    }

    fn expected_total(&self) -> usize {
        self.counts.len()
    }

    fn probe_heard(&self) -> usize {
        self.probe
            .as_ref()
            .map_or(0, |p| p.counts.iter().filter(|&&c| c >= 1).count())
    }

    /// Records one event; true when it was the first expected one for its pair.
    fn event(&mut self, session: usize, e: &Event) -> bool {
        let width = self.counts.len() / self.sessions.max(1);
        let node = self.index.get(&e.path).copied();
        let data_changed = e.event_type == EventType::NodeDataChanged.as_i32();
        match (node, data_changed) {
            (Some(i), true) if self.is_changed[i] => {
                let slot = session * width + self.changed_slot[i].unwrap_or(0);
                match self.counts.get_mut(slot) {
                    Some(c) => {
                        *c += 1;
                        if *c == 1 {
                            self.expected_seen += 1;
                            return true;
                        }
                    }
                    None => self.unexpected += 1,
                }
            }
            (Some(i), true)
                if self
                    .probe
                    .as_ref()
                    .is_some_and(|p| p.index == i && e.received >= p.sent) =>
            {
                if let Some(p) = self.probe.as_mut()
                    && let Some(c) = p.counts.get_mut(session)
                {
                    *c += 1;
                    p.last = p.last.max(e.received);
                }
            }
            _ => self.unexpected += 1,
        }
        false
    }

    fn first_unchanged(&self) -> Option<usize> {
        self.is_changed.iter().position(|c| !c)
    }
}

struct Phases {
    connected: Duration,
    registered: Duration,
    catchup: Option<Duration>,
    per_session_registered: Vec<Duration>,
}

async fn coordinate(
    a: &ReconnectArgs,
    acc: &mut Accounting,
    rx: &mut mpsc::Receiver<Msg>,
    writer: &mut Connection,
    start: Instant,
    bar: &Progress,
) -> Result<Phases, BenchError> {
    let k = a.sessions;
    let deadline = start + a.timeout;
    let mut connected = 0;
    let mut last_connected = start;
    let mut per_session = Vec::with_capacity(k);
    let mut last_registered = start;
    let mut last_catchup = (acc.expected_total() == 0).then_some(start);
    while connected < k || per_session.len() < k || acc.expected_seen < acc.expected_total() {
        let Some(msg) = recv(rx, deadline).await? else {
            break;
        };
        match msg {
            Msg::Failed(e) => return Err(e),
            Msg::Connected(at) => {
                connected += 1;
                last_connected = last_connected.max(at);
            }
            Msg::Registered(at) => {
                per_session.push(at.saturating_duration_since(start));
                last_registered = last_registered.max(at);
            }
            Msg::Event(idx, e) => {
                if acc.event(idx, &e) && acc.expected_seen == acc.expected_total() {
                    last_catchup = Some(e.received);
                }
            }
        }
    }
    if connected < k || per_session.len() < k {
        return Err(BenchError::Workload(format!(
            "within {:?} only {connected} of {k} sessions resumed and {} re-registered their watches",
            a.timeout,
            per_session.len()
        )));
    }
    bar.inc(1);
    bar.set_message("catch-up quiet period");
    drain_for(acc, rx, a.quiet).await?;
    bar.inc(1);

    if let Some(index) = acc.first_unchanged() {
        bar.set_message("probe");
        let path = acc
            .index
            .iter()
            .find(|(_, i)| **i == index)
            .map(|(p, _)| p.clone())
            .unwrap_or_default();
        let sent = Instant::now();
        acc.probe = Some(Probe {
            index,
            sent,
            counts: vec![0; k],
            last: sent,
        });
        writer.send(&set_data_req(&path, b"probe"), 0)?;
        writer.flush().await?;
        let probe_deadline = Instant::now() + a.timeout;
        loop {
            match writer.recv_until(probe_deadline).await? {
                Some(Incoming::Reply(r)) if r.op == OpCode::SetData => {
                    if !r.is_ok() {
                        return Err(request_error(writer.addr(), "setData", &path, r.err));
                    }
                    break;
                }
                Some(_) => {}
                None => {
                    return Err(BenchError::Timeout {
                        addr: writer.addr(),
                        during: "waiting for the probe write".into(),
                    });
                }
            }
        }
        while acc.probe_heard() < k {
            let Some(msg) = recv(rx, probe_deadline).await? else {
                break;
            };
            handle_late(acc, msg)?;
        }
        drain_for(acc, rx, a.quiet).await?;
    }
    bar.inc(1);
    Ok(Phases {
        connected: last_connected.saturating_duration_since(start),
        registered: last_registered.saturating_duration_since(start),
        catchup: last_catchup.map(|t| t.saturating_duration_since(start)),
        per_session_registered: per_session,
    })
}

fn handle_late(acc: &mut Accounting, msg: Msg) -> Result<(), BenchError> {
    match msg {
        Msg::Failed(e) => Err(e),
        Msg::Event(idx, e) => {
            acc.event(idx, &e);
            Ok(())
        }
        Msg::Connected(_) | Msg::Registered(_) => Ok(()),
    }
}

/// Keeps accounting for `quiet`, so late or duplicate events are seen.
async fn drain_for(
    acc: &mut Accounting,
    rx: &mut mpsc::Receiver<Msg>,
    quiet: Duration,
) -> Result<(), BenchError> {
    let until = Instant::now() + quiet;
    while let Some(msg) = recv(rx, until).await? {
        handle_late(acc, msg)?;
    }
    Ok(())
}

async fn recv(rx: &mut mpsc::Receiver<Msg>, deadline: Instant) -> Result<Option<Msg>, BenchError> {
    match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
        Ok(Some(m)) => Ok(Some(m)),
        Err(_) => Ok(None),
        Ok(None) => Err(BenchError::Workload(
            "every resumed session stopped early".into(),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn resumed(
    idx: usize,
    addr: SocketAddr,
    opts: ConnectOptions,
    relative_zxid: i64,
    batches: Arc<Vec<Vec<String>>>,
    gate: Arc<Semaphore>,
    tx: mpsc::Sender<Msg>,
    stop: watch::Receiver<bool>,
    hard: Instant,
) {
    let result = async {
        let mut conn = {
            // Bounded concurrent handshakes; a closed semaphore cannot happen (never closed).
            let _permit = gate.acquire().await.ok();
            Connection::connect(addr, &opts).await?
        };
        if tx.send(Msg::Connected(Instant::now())).await.is_err() {
            return Ok(None);
        }
        for b in batches.iter() {
            let sw = Request::SetWatches(SetWatches {
                relative_zxid,
                data_watches: b.clone(),
                exist_watches: Vec::new(),
                child_watches: Vec::new(),
            });
            conn.send_with_xid(xid::SET_WATCHES, &sw, 0)?;
        }
        conn.flush().await?;
        let mut acked = 0;
        while !*stop.borrow() && Instant::now() < hard {
            let until = hard.min(Instant::now() + POLL);
            let msg = match conn.recv_until(until).await? {
                None => continue,
                Some(Incoming::Reply(r)) => {
                    if !r.is_ok() {
                        return Err(request_error(conn.addr(), "setWatches", "", r.err));
                    }
                    acked += 1;
                    if acked < batches.len() {
                        continue;
                    }
                    Msg::Registered(r.received)
                }
                Some(Incoming::Event(e)) => Msg::Event(idx, e),
            };
            if tx.send(msg).await.is_err() {
                break;
            }
        }
        Ok(Some(conn))
    }
    .await;
    match result {
        Ok(Some(conn)) => {
            let _ = conn.close(Instant::now() + Duration::from_secs(5)).await;
        }
        Ok(None) => {}
        Err(e) => {
            let _ = tx.send(Msg::Failed(e)).await;
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
    fn changed_nodes_are_spread_and_distinct() {
        assert_eq!(changed_indices(10, 3), [0, 3, 6]);
        assert_eq!(changed_indices(4, 4), [0, 1, 2, 3]);
        assert!(changed_indices(5, 0).is_empty());
    }

    #[test]
    fn names_are_padded() {
        let a = ReconnectArgs {
            watches_per_session: 2,
            name_len: 10,
            ..ReconnectArgs::default()
        };
        let p = node_paths("/r", &a);
        assert_eq!(p, ["/r/reconnect/___n000000", "/r/reconnect/___n000001"]);
    }

    #[test]
    fn accounting_counts_once_duplicates_and_strays() {
        let paths: Vec<String> = (0..4).map(|i| format!("/n{i}")).collect();
        let mut acc = Accounting::new(2, &paths, &[0, 2]);
        let t = Instant::now();
        assert!(acc.event(0, &ev("/n0", EventType::NodeDataChanged, t)));
        assert!(!acc.event(0, &ev("/n0", EventType::NodeDataChanged, t)));
        assert!(acc.event(1, &ev("/n2", EventType::NodeDataChanged, t)));
        assert!(!acc.event(1, &ev("/n1", EventType::NodeDataChanged, t)));
        assert!(!acc.event(1, &ev("/n0", EventType::NodeDeleted, t)));
        assert!(!acc.event(1, &ev("/elsewhere", EventType::NodeDataChanged, t)));
        assert_eq!(acc.changed_counts(), [2, 0, 0, 1]);
        assert_eq!(acc.expected_seen, 2);
        assert_eq!(acc.unexpected, 3);
        // The probe counts only events at or after its write.
        acc.probe = Some(Probe {
            index: 1,
            sent: t + Duration::from_millis(5),
            counts: vec![0; 2],
            last: t,
        });
        acc.event(0, &ev("/n1", EventType::NodeDataChanged, t));
        acc.event(
            0,
            &ev(
                "/n1",
                EventType::NodeDataChanged,
                t + Duration::from_millis(6),
            ),
        );
        assert_eq!(acc.probe_heard(), 1);
        assert_eq!(acc.unexpected, 4);
        assert_eq!(acc.first_unchanged(), Some(1));
    }
}
