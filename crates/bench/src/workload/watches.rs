//! `watches`: S sessions register W watches each, pipelined; how fast, and how much server
//! memory each watch costs.
//!
//! Memory is sampled after the sessions are open and any nodes exist, and again after every
//! registration was answered and `settle` passed, so the difference is the watches' alone.
//! The source is said in the result: the server process's VmRSS when its pid is known (a
//! local server), else Watchkeeper's `mntr` key `zk_watch_index_bytes`. ZooKeeper's `mntr` has
//! no memory figure (`zk_approximate_data_size` is znode data, not memory), so without a pid
//! there is none for it. `zk_watch_count` is sampled too, as a check that the server holds the
//! watches it acknowledged.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use watchkeeper_proto::{
    AddWatchRequest, ErrorCode, ExistsRequest, GetChildrenRequest, GetDataRequest, Request,
};

use super::{Ctx, Target};
use crate::BenchError;
use crate::args::{WatchKind, WatchesArgs};
use crate::conn::{Connection, Incoming};
use crate::hist::{LatencyHistogram, LatencySummary};
use crate::pipeline::{
    close_all, connect_many, delete_nodes, ensure_nodes, pipeline, with_ancestors,
};
use crate::probe;
use crate::progress::Progress;

/// Where a memory figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemorySource {
    /// `/proc/<pid>/status` VmRSS of the server process.
    VmRss,
    /// Watchkeeper's `mntr` key `zk_watch_index_bytes` (the watch index's heap).
    MntrWatchIndexBytes,
}

impl fmt::Display for MemorySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemorySource::VmRss => "VmRSS",
            MemorySource::MntrWatchIndexBytes => "mntr zk_watch_index_bytes",
        })
    }
}

impl MemorySource {
    /// A few words for chart legends.
    pub fn short(self) -> &'static str {
        match self {
            MemorySource::VmRss => "VmRSS",
            MemorySource::MntrWatchIndexBytes => "watch index",
        }
    }
}

/// The server's memory before and after registering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryGrowth {
    pub source: MemorySource,
    /// The process measured, for [`MemorySource::VmRss`].
    pub pid: Option<u32>,
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub delta_bytes: i64,
    pub bytes_per_watch: f64,
}

/// The outcome of one `watches` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchesResult {
    pub sessions: usize,
    pub watches_per_session: usize,
    pub total_watches: u64,
    pub kind: WatchKind,
    pub shared: bool,
    /// From the first registration sent to the last one answered, in seconds.
    pub elapsed_s: f64,
    /// Registrations answered per second.
    pub rate_per_s: f64,
    pub latency: LatencySummary,
    /// Registrations answered with an error (exists on a missing node is not one).
    pub errors: u64,
    pub error_codes: BTreeMap<i32, u64>,
    pub memory: Option<MemoryGrowth>,
    /// How memory was measured, or why it was not.
    pub memory_note: String,
    /// `zk_watch_count` after minus before, when `mntr` answers.
    pub server_watch_count_delta: Option<i64>,
    /// Growth of Watchkeeper's `mntr` `zk_watch_index_bytes` per watch, whatever `memory`'s
    /// source: on a warm server VmRSS may not move while the index still grows.
    #[serde(default)]
    pub index_bytes_per_watch: Option<f64>,
    /// Notifications received while registering (none are expected).
    pub events: u64,
    /// The server process's VmRSS growth while the sessions connected, per session (local
    /// servers whose pid was given).
    #[serde(default)]
    pub bytes_per_session: Option<f64>,
}

struct SessionOutcome {
    conn: Connection,
    hist: LatencyHistogram,
    errors: BTreeMap<i32, u64>,
    events: u64,
    last: Option<Instant>,
}

pub fn watch_paths(root: &str, a: &WatchesArgs, session: usize) -> Vec<String> {
    let base = format!("{root}/watches");
    (0..a.watches_per_session)
        .map(|i| {
            if a.shared {
                format!("{base}/n{i:07}")
            } else {
                format!("{base}/s{session}/n{i:07}")
            }
        })
        .collect()
}

fn register_request(kind: WatchKind, path: String) -> Request {
    match kind {
        WatchKind::Exists => Request::Exists(ExistsRequest { path, watch: true }),
        WatchKind::Data => Request::GetData(GetDataRequest { path, watch: true }),
        WatchKind::Child => Request::GetChildren(GetChildrenRequest { path, watch: true }),
        WatchKind::Persistent => Request::AddWatch(AddWatchRequest { path, mode: 0 }),
        WatchKind::Recursive => Request::AddWatch(AddWatchRequest { path, mode: 1 }),
    }
}

/// Whether a registration reply left a watch. exists on a missing node answers NoNode and
/// still leaves one.
fn registered(kind: WatchKind, err: i32) -> bool {
    err == ErrorCode::Ok.as_i32()
        || (kind == WatchKind::Exists && err == ErrorCode::NoNode.as_i32())
}

/// The nodes the workload must create (parents first), none for kinds that need no node.
fn nodes_needed(root: &str, a: &WatchesArgs) -> Vec<String> {
    if !matches!(a.kind, WatchKind::Data | WatchKind::Child) {
        return Vec::new();
    }
    let mut nodes = with_ancestors(&format!("{root}/watches"));
    if a.shared {
        nodes.extend(watch_paths(root, a, 0));
    } else {
        for s in 0..a.sessions {
            nodes.push(format!("{root}/watches/s{s}"));
            nodes.extend(watch_paths(root, a, s));
        }
    }
    nodes
}

struct Sample {
    rss: Option<u64>,
    mntr: BTreeMap<String, String>,
}

async fn sample(target: &Target, timeout: Duration) -> Sample {
    Sample {
        rss: target.pid.and_then(probe::vm_rss_bytes),
        mntr: probe::mntr(target.addr, timeout).await,
    }
}

fn mntr_u64(m: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    m.get(key).and_then(|v| v.parse().ok())
}

/// Picks the memory source both samples have, preferring VmRSS.
fn memory_growth(
    target: &Target,
    before: &Sample,
    after: &Sample,
    watches: u64,
) -> (Option<MemoryGrowth>, String) {
    let mntr_key = "zk_watch_index_bytes";
    let (source, b, a) = match (before.rss, after.rss) {
        (Some(b), Some(a)) => (MemorySource::VmRss, b, a),
        _ => match (
            mntr_u64(&before.mntr, mntr_key),
            mntr_u64(&after.mntr, mntr_key),
        ) {
            (Some(b), Some(a)) => (MemorySource::MntrWatchIndexBytes, b, a),
            _ => {
                let why = match target.pid {
                    Some(pid) => format!("cannot read VmRSS of pid {pid}, and "),
                    None => "no server pid given, and ".to_string(),
                };
                let mntr = if before.mntr.is_empty() {
                    "mntr is not answered (not in 4lw.commands.whitelist?)"
                } else {
                    "mntr has no memory figure (ZooKeeper's has none)"
                };
                return (None, format!("memory not measured: {why}{mntr}"));
            }
        },
    };
    let delta = a as i64 - b as i64;
    let note = match source {
        MemorySource::VmRss => format!(
            "VmRSS of server pid {} (whole process)",
            target.pid.unwrap_or(0)
        ),
        MemorySource::MntrWatchIndexBytes => {
            "mntr zk_watch_index_bytes (the watch index alone, not the process)".to_string()
        }
    };
    let growth = MemoryGrowth {
        source,
        pid: (source == MemorySource::VmRss)
            .then_some(target.pid)
            .flatten(),
        before_bytes: b,
        after_bytes: a,
        delta_bytes: delta,
        bytes_per_watch: if watches > 0 {
            delta as f64 / watches as f64
        } else {
            0.0
        },
    };
    (Some(growth), note)
}

/// Waits until `until` while every connection answers the server and pings when due; whatever
/// arrives meanwhile (ping replies) is dropped.
async fn keep_alive(conns: &mut [Connection], until: Instant) -> Result<(), BenchError> {
    let results = futures::future::join_all(conns.iter_mut().map(|c| async move {
        while c.recv_until(until).await?.is_some() {}
        Ok::<(), BenchError>(())
    }))
    .await;
    results.into_iter().collect()
}

pub async fn run(ctx: &Ctx<'_>, a: &WatchesArgs) -> Result<WatchesResult, BenchError> {
    let addr = ctx.target.addr;
    let nodes = nodes_needed(ctx.root, a);
    let mut setup = Connection::connect(addr, &ctx.opts).await?;
    ensure_nodes(
        &mut setup,
        &nodes,
        b"",
        false,
        256,
        super::setup_deadline(nodes.len()),
    )
    .await?;
    let rss_without_sessions = ctx.target.pid.and_then(probe::vm_rss_bytes);
    let sessions_count = a.sessions.max(1) as f64;
    let mut conns = connect_many(addr, a.sessions, &ctx.opts).await?;
    let probe_timeout = ctx.opts.connect_timeout;
    // Idle sessions must keep pinging, or a settle longer than the session timeout expires them.
    keep_alive(&mut conns, Instant::now() + a.settle).await?;
    keep_alive(std::slice::from_mut(&mut setup), Instant::now()).await?;
    let before = sample(ctx.target, probe_timeout).await;
    let bytes_per_session = match (rss_without_sessions, before.rss) {
        (Some(b), Some(a)) => Some((a as f64 - b as f64) / sessions_count),
        _ => None,
    };

    let total = a.sessions as u64 * a.watches_per_session as u64;
    let bar = Progress::new(ctx.progress, total, "watches");
    let start = Instant::now();
    let deadline = start + a.timeout;
    let mut handles = Vec::with_capacity(conns.len());
    for (s, conn) in conns.into_iter().enumerate() {
        let reqs: Vec<Request> = watch_paths(ctx.root, a, s)
            .into_iter()
            .map(|p| register_request(a.kind, p))
            .collect();
        handles.push(tokio::spawn(register(
            conn,
            reqs,
            a.kind,
            a.in_flight,
            deadline,
            bar.clone(),
        )));
    }
    let mut outcomes = Vec::with_capacity(handles.len());
    let mut first_err = None;
    for h in handles {
        match h.await? {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    bar.finish();
    let mut hist = LatencyHistogram::new();
    let mut errors = BTreeMap::new();
    let mut events = 0;
    let mut last = None::<Instant>;
    let mut conns = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        hist.merge(&o.hist);
        for (c, n) in o.errors {
            *errors.entry(c).or_default() += n;
        }
        events += o.events;
        if let Some(t) = o.last {
            last = Some(last.map_or(t, |l: Instant| l.max(t)));
        }
        conns.push(o.conn);
    }
    let after = if first_err.is_none() {
        keep_alive(&mut conns, Instant::now() + a.settle).await?;
        keep_alive(std::slice::from_mut(&mut setup), Instant::now()).await?;
        Some(sample(ctx.target, probe_timeout).await)
    } else {
        None
    };

    // Closing the sessions drops their watches; then the nodes go.
    let close_deadline = Instant::now() + ctx.opts.connect_timeout;
    let closed = close_all(conns, close_deadline).await;
    let mut cleanup: Vec<String> = nodes.into_iter().rev().collect();
    cleanup.retain(|p| p.len() > format!("{}/watches", ctx.root).len());
    let deleted = delete_nodes(
        &mut setup,
        &cleanup,
        256,
        super::setup_deadline(cleanup.len()),
    )
    .await;
    let _ = setup.close(Instant::now() + ctx.opts.connect_timeout).await;
    if let Some(e) = first_err {
        return Err(e);
    }
    closed?;
    deleted?;
    let after = after.unwrap_or(Sample {
        rss: None,
        mntr: BTreeMap::new(),
    });

    let elapsed = last.map_or(0.0, |l| l.saturating_duration_since(start).as_secs_f64());
    let answered = hist.len();
    let error_count: u64 = errors.values().sum();
    let ok_watches = answered.saturating_sub(error_count);
    let (memory, memory_note) = memory_growth(ctx.target, &before, &after, ok_watches);
    let count_key = "zk_watch_count";
    let server_watch_count_delta = match (
        mntr_u64(&before.mntr, count_key),
        mntr_u64(&after.mntr, count_key),
    ) {
        (Some(b), Some(a)) => Some(a as i64 - b as i64),
        _ => None,
    };
    let index_key = "zk_watch_index_bytes";
    let index_bytes_per_watch = match (
        mntr_u64(&before.mntr, index_key),
        mntr_u64(&after.mntr, index_key),
    ) {
        (Some(b), Some(a)) if ok_watches > 0 => Some((a as f64 - b as f64) / ok_watches as f64),
        _ => None,
    };
    Ok(WatchesResult {
        sessions: a.sessions,
        watches_per_session: a.watches_per_session,
        total_watches: total,
        kind: a.kind,
        shared: a.shared,
        elapsed_s: elapsed,
        rate_per_s: if elapsed > 0.0 {
            answered as f64 / elapsed
        } else {
            0.0
        },
        latency: hist.summary(),
        errors: error_count,
        error_codes: errors,
        memory,
        memory_note,
        server_watch_count_delta,
        index_bytes_per_watch,
        events,
        bytes_per_session,
    })
}

async fn register(
    mut conn: Connection,
    reqs: Vec<Request>,
    kind: WatchKind,
    window: usize,
    deadline: Instant,
    bar: Progress,
) -> Result<SessionOutcome, BenchError> {
    let mut hist = LatencyHistogram::new();
    let mut errors = BTreeMap::new();
    let mut events = 0;
    let mut last = None;
    let mut unreported = 0;
    pipeline(&mut conn, reqs, window, deadline, |inc| {
        match inc {
            Incoming::Event(_) => events += 1,
            Incoming::Reply(r) => {
                hist.record(r.latency());
                if !registered(kind, r.err) {
                    *errors.entry(r.err).or_insert(0u64) += 1;
                }
                last = Some(r.received);
                unreported += 1;
                if unreported == 256 {
                    bar.inc(unreported);
                    unreported = 0;
                }
            }
        }
        Ok(())
    })
    .await?;
    bar.inc(unreported);
    Ok(SessionOutcome {
        conn,
        hist,
        errors,
        events,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pid: Option<u32>) -> Target {
        let addr = "127.0.0.1:1".parse().unwrap();
        Target {
            addr,
            members: vec![addr],
            label: "t".into(),
            pid,
            control: None,
        }
    }

    fn s(rss: Option<u64>, bytes: Option<u64>) -> Sample {
        let mut mntr = BTreeMap::new();
        mntr.insert("zk_version".into(), "x".into());
        if let Some(b) = bytes {
            mntr.insert("zk_watch_index_bytes".into(), b.to_string());
        }
        Sample { rss, mntr }
    }

    #[test]
    fn memory_prefers_rss_then_mntr_and_says_which() {
        let (m, note) = memory_growth(
            &target(Some(9)),
            &s(Some(1000), Some(10)),
            &s(Some(3000), Some(20)),
            100,
        );
        let m = m.unwrap();
        assert_eq!(
            (m.source, m.pid, m.delta_bytes),
            (MemorySource::VmRss, Some(9), 2000)
        );
        assert!((m.bytes_per_watch - 20.0).abs() < 1e-9);
        assert!(note.contains("VmRSS"), "{note}");

        let (m, note) = memory_growth(&target(None), &s(None, Some(10)), &s(None, Some(510)), 50);
        let m = m.unwrap();
        assert_eq!(m.source, MemorySource::MntrWatchIndexBytes);
        assert_eq!(m.pid, None);
        assert!((m.bytes_per_watch - 10.0).abs() < 1e-9);
        assert!(note.contains("zk_watch_index_bytes"), "{note}");

        let (m, note) = memory_growth(&target(None), &s(None, None), &s(None, None), 50);
        assert!(m.is_none());
        assert!(note.contains("no memory figure"), "{note}");
    }

    #[test]
    fn paths_are_shared_or_distinct() {
        let mut a = WatchesArgs {
            sessions: 2,
            watches_per_session: 3,
            ..WatchesArgs::default()
        };
        a.shared = true;
        assert_eq!(watch_paths("/r", &a, 0), watch_paths("/r", &a, 1));
        a.shared = false;
        let p0 = watch_paths("/r", &a, 0);
        let p1 = watch_paths("/r", &a, 1);
        assert!(p0.iter().all(|p| !p1.contains(p)));
        assert_eq!(p0[2], "/r/watches/s0/n0000002");
        assert!(
            nodes_needed("/r", &a).is_empty(),
            "exists watches need no nodes"
        );
        a.kind = WatchKind::Data;
        let nodes = nodes_needed("/r", &a);
        assert_eq!(nodes.len(), 2 + 2 * 4);
        assert_eq!(nodes[0], "/r");
        assert!(registered(WatchKind::Exists, ErrorCode::NoNode.as_i32()));
        assert!(!registered(WatchKind::Data, ErrorCode::NoNode.as_i32()));
    }
}
