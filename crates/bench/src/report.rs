//! The report of a benchmark: every run's result, per-server medians of the headline metrics,
//! and with two servers a side-by-side comparison. Serialises to JSON (the input of
//! [`crate::plot`]) and renders as plain-text tables.
//!
//! Ratios are always B/A, where A is `--server` and B is `--compare`; the `better` column says
//! which server wins each metric and by what factor, so no reader has to remember whether
//! higher or lower is good.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::args::Workload;
use crate::hist::{LatencySummary, median, ms};
use crate::workload::{Better, Metric, WorkloadResult};

/// A server as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// As given on the command line.
    pub addr: String,
    /// Name used in tables and plot legends.
    pub label: String,
    /// The first line of its `srvr` answer, when it answered.
    pub version: Option<String>,
}

/// One run of the workload on one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Index into [`Report::servers`].
    pub server: usize,
    /// 0-based round; with two servers, round r ran on A then on B.
    pub round: u32,
    pub result: WorkloadResult,
}

/// Medians over one server's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    pub server: usize,
    pub runs: usize,
    pub metrics: Vec<Metric>,
}

/// One metric, A against B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    pub metric: String,
    pub unit: String,
    /// Median on A (`--server`) and on B (`--compare`).
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// Smallest and largest value over the runs on A and on B.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_range: Option<(f64, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_range: Option<(f64, f64)>,
    /// B divided by A; `None` when A is 0 or either is missing.
    pub ratio_b_over_a: Option<f64>,
    pub better: Better,
    /// "A", "B" or "tie" (within 1%); `None` when a value is missing.
    pub winner: Option<String>,
    /// How many times better the winner is; `None` for a tie or when the loser is 0.
    pub factor: Option<f64>,
}

/// Everything a benchmark invocation produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// "watchkeeper-bench <version>".
    pub tool: String,
    pub workload: Workload,
    /// A, then B when comparing.
    pub servers: Vec<ServerInfo>,
    pub runs: Vec<Run>,
    pub summary: Vec<ServerSummary>,
    pub comparison: Option<Vec<ComparisonRow>>,
}

impl Report {
    /// Assembles a report and computes its medians and comparison.
    pub fn new(workload: Workload, servers: Vec<ServerInfo>, runs: Vec<Run>) -> Report {
        let summary: Vec<ServerSummary> = (0..servers.len()).map(|s| summarise(s, &runs)).collect();
        let comparison = (summary.len() == 2).then(|| compare(&summary[0], &summary[1]));
        Report {
            tool: format!("watchkeeper-bench {}", env!("CARGO_PKG_VERSION")),
            workload,
            servers,
            runs,
            summary,
            comparison,
        }
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The human-readable form: one block per run, then medians and the comparison.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "watchkeeper bench {}: {}",
            self.workload.name(),
            self.workload.describe()
        );
        for (i, s) in self.servers.iter().enumerate() {
            let _ = writeln!(out, "server {}: {} ({})", side(i), s.label, s.addr);
        }
        for run in &self.runs {
            let label = self
                .servers
                .get(run.server)
                .map_or("?", |s| s.label.as_str());
            let _ = writeln!(
                out,
                "\nrun {} on {} ({label}):",
                run.round + 1,
                side(run.server)
            );
            render_result(&mut out, &run.result);
        }
        out.push('\n');
        match &self.comparison {
            Some(rows) => render_comparison(&mut out, self, rows),
            None => {
                if let Some(s) = self.summary.first() {
                    let mut t = Table::new(&["metric", "unit", &format!("median of {}", s.runs)]);
                    for m in &s.metrics {
                        t.row(vec![
                            m.name.clone(),
                            m.unit.clone(),
                            fmt_with_range(m.value, m.min.zip(m.max), s.runs),
                        ]);
                    }
                    out.push_str(&t.render());
                }
            }
        }
        out
    }
}

fn side(i: usize) -> &'static str {
    match i {
        0 => "A",
        1 => "B",
        _ => "?",
    }
}

fn summarise(server: usize, runs: &[Run]) -> ServerSummary {
    let mine: Vec<Vec<Metric>> = runs
        .iter()
        .filter(|r| r.server == server)
        .map(|r| r.result.metrics())
        .collect();
    let Some(first) = mine.first() else {
        return ServerSummary {
            server,
            runs: 0,
            metrics: Vec::new(),
        };
    };
    let metrics = first
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let values: Vec<f64> = mine
                .iter()
                .filter_map(|ms| ms.get(i).and_then(|m| m.value))
                .collect();
            let finite = || values.iter().copied().filter(|v| v.is_finite());
            Metric {
                value: median(&values),
                min: finite().reduce(f64::min),
                max: finite().reduce(f64::max),
                ..m.clone()
            }
        })
        .collect();
    ServerSummary {
        server,
        runs: mine.len(),
        metrics,
    }
}

fn compare(a: &ServerSummary, b: &ServerSummary) -> Vec<ComparisonRow> {
    a.metrics
        .iter()
        .zip(&b.metrics)
        .map(|(ma, mb)| {
            let (va, vb) = (ma.value, mb.value);
            let ratio = match (va, vb) {
                (Some(x), Some(y)) if x != 0.0 => Some(y / x),
                _ => None,
            };
            let (winner, factor) = match (va, vb) {
                (Some(x), Some(y)) => judge(x, y, ma.better),
                _ => (None, None),
            };
            ComparisonRow {
                metric: ma.name.clone(),
                unit: ma.unit.clone(),
                a: va,
                b: vb,
                a_range: ma.min.zip(ma.max),
                b_range: mb.min.zip(mb.max),
                ratio_b_over_a: ratio,
                better: ma.better,
                winner,
                factor,
            }
        })
        .collect()
}

/// Which side wins and by what factor; within 1% is a tie.
fn judge(a: f64, b: f64, better: Better) -> (Option<String>, Option<f64>) {
    let (hi, lo) = (a.max(b), a.min(b));
    if hi == lo || (lo > 0.0 && hi / lo <= 1.01) {
        return (Some("tie".into()), None);
    }
    let a_wins = match better {
        Better::Higher => a > b,
        Better::Lower => a < b,
    };
    let factor = (lo > 0.0).then(|| hi / lo);
    (Some(if a_wins { "A" } else { "B" }.into()), factor)
}

fn render_comparison(out: &mut String, report: &Report, rows: &[ComparisonRow]) {
    let name = |i: usize| {
        report.servers.get(i).map_or_else(
            || side(i).to_string(),
            |s| format!("{}: {}", side(i), s.label),
        )
    };
    let runs = report.summary.first().map_or(0, |s| s.runs);
    let _ = writeln!(
        out,
        "medians (min..max) of {runs} run(s) per server, alternating A, B; ratio is B/A"
    );
    let (a, b) = (
        format!("{} (median)", name(0)),
        format!("{} (median)", name(1)),
    );
    let mut t = Table::new(&["metric", "unit", &a, &b, "B/A", "better"]);
    for r in rows {
        let better = match (r.winner.as_deref(), r.factor) {
            (Some("tie"), _) => "tie (within 1%)".to_string(),
            (Some(w), Some(f)) => format!(
                "{w}, {f:.2}x {}",
                match r.better {
                    Better::Higher => "higher",
                    Better::Lower => "lower",
                }
            ),
            (Some(w), None) => format!("{w} (other is 0)"),
            (None, _) => "-".into(),
        };
        t.row(vec![
            r.metric.clone(),
            r.unit.clone(),
            fmt_with_range(r.a, r.a_range, runs),
            fmt_with_range(r.b, r.b_range, runs),
            r.ratio_b_over_a.map_or("-".into(), |x| format!("{x:.3}")),
            better,
        ]);
    }
    out.push_str(&t.render());
}

fn render_result(out: &mut String, result: &WorkloadResult) {
    match result {
        WorkloadResult::Load(r) => {
            let mut t = latency_table("op");
            for s in r.ops.iter().chain(std::iter::once(&r.total)) {
                latency_row(&mut t, &s.op, &s.latency, s.errors, Some(s.throughput));
            }
            push_indented(out, &t.render());
            let _ = writeln!(
                out,
                "  throughput {} ops/s over {:.2} s; {} warm-up replies not measured",
                fmt_num(r.throughput),
                r.elapsed_s,
                r.warmup_requests
            );
            for s in r.ops.iter().filter(|s| s.errors > 0) {
                let _ = writeln!(out, "  {} error codes: {:?}", s.op, s.error_codes);
            }
        }
        WorkloadResult::Fanout(r) => {
            let _ = writeln!(
                out,
                "  {} watchers ({}), {} rounds: time to last watcher {} ms, per-watcher p50 {} ms, p99 {} ms, first to last {} ms (medians of rounds)",
                r.watchers,
                r.mode,
                r.rounds.len(),
                fmt_opt(r.median_last_ms),
                fmt_opt(r.median_p50_ms),
                fmt_opt(r.median_p99_ms),
                fmt_opt(r.median_spread_ms)
            );
            let _ = writeln!(
                out,
                "  events: expected {}, delivered {}, missing {}, duplicates {}, unexpected {}",
                r.expected_events, r.delivered, r.missing, r.duplicates, r.unexpected
            );
            let cpu = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |us| format!("{us:.2}"));
            let _ = writeln!(
                out,
                "  CPU per delivered event over the measured rounds: server {} us, load generator {} us",
                cpu(r.server_cpu_us_per_event),
                cpu(r.client_cpu_us_per_event)
            );
            let mut t = latency_table("");
            latency_row(&mut t, "delivery", &r.delivery, 0, None);
            latency_row(&mut t, "setData", &r.write, 0, None);
            push_indented(out, &t.render());
        }
        WorkloadResult::Watches(r) => {
            let _ = writeln!(
                out,
                "  {} {} watches ({} sessions x {}, {} paths) in {:.3} s: {} watches/s, {} errors",
                r.total_watches,
                r.kind,
                r.sessions,
                r.watches_per_session,
                if r.shared { "shared" } else { "distinct" },
                r.elapsed_s,
                fmt_num(r.rate_per_s),
                r.errors
            );
            let mut t = latency_table("");
            latency_row(&mut t, "register", &r.latency, r.errors, None);
            push_indented(out, &t.render());
            match &r.memory {
                Some(m) => {
                    let _ = writeln!(
                        out,
                        "  server memory: {:+.2} MiB, {:.1} bytes per watch [{}]",
                        m.delta_bytes as f64 / (1024.0 * 1024.0),
                        m.bytes_per_watch,
                        r.memory_note
                    );
                }
                None => {
                    let _ = writeln!(out, "  server memory: {}", r.memory_note);
                }
            }
            if let (Some(b), Some(m)) = (r.index_bytes_per_watch, &r.memory)
                && m.source != crate::workload::watches::MemorySource::MntrWatchIndexBytes
            {
                let _ = writeln!(
                    out,
                    "  watch index (mntr zk_watch_index_bytes): {b:.1} bytes per watch"
                );
            }
            if let Some(d) = r.server_watch_count_delta {
                let _ = writeln!(out, "  server zk_watch_count grew by {d}");
            }
            if let Some(b) = r.bytes_per_session {
                let _ = writeln!(
                    out,
                    "  server memory per connected session (VmRSS growth while connecting): {b:.0} bytes"
                );
            }
            if r.events > 0 {
                let _ = writeln!(out, "  {} unexpected notifications", r.events);
            }
        }
        WorkloadResult::Reconnect(r) => {
            let _ = writeln!(
                out,
                "  {} sessions x {} watches, {} changed during the outage, {} setWatches packet(s) each; initial registration {:.3} s",
                r.sessions,
                r.watches_per_session,
                r.changed,
                r.batches_per_session,
                r.initial_registration_s
            );
            let _ = writeln!(
                out,
                "  all reconnected {} ms, all watches re-registered {} ms, catch-up complete {} ms",
                fmt_num(r.reconnect_ms),
                fmt_num(r.reregister_ms),
                fmt_opt(r.catchup_ms)
            );
            let _ = writeln!(
                out,
                "  catch-up events: expected {}, exactly once {}, missing {}, duplicated {}; unexpected {}",
                r.expected_events, r.delivered_once, r.missing, r.duplicated, r.unexpected
            );
            if let Some(p) = &r.probe {
                let _ = writeln!(
                    out,
                    "  probe {}: heard once by {} of {}, missing {}, duplicated {}, last after {} ms",
                    p.path,
                    p.heard_once,
                    p.expected,
                    p.missing,
                    p.duplicated,
                    fmt_opt(p.last_ms)
                );
            }
            let mut t = latency_table("");
            latency_row(&mut t, "re-register", &r.reregister, 0, None);
            push_indented(out, &t.render());
        }
        WorkloadResult::Failover(r) => {
            let _ = writeln!(
                out,
                "  killed member {} of {} (the leader); new leader {}; kill took {:.1} ms",
                r.killed,
                r.members,
                r.new_leader.map_or("-".into(), |l| l.to_string()),
                r.kill_ms
            );
            let _ = writeln!(
                out,
                "  first write after the kill acknowledged after {} ms through member {}; writer disconnected after {} ms",
                fmt_num(r.failover_ms),
                r.acked_by,
                fmt_opt(r.disconnected_ms)
            );
            let _ = writeln!(
                out,
                "  after the kill: {} writes sent, {} timed out, {} error replies; {} sessions resumed, {} failed connection attempts; whole again {} ms after the restart",
                r.attempts,
                r.timeouts,
                r.error_replies,
                r.reconnects,
                r.connect_failures,
                fmt_num(r.recovery_ms)
            );
            let mut t = latency_table("");
            latency_row(&mut t, "setData before", &r.before, 0, None);
            push_indented(out, &t.render());
        }
        WorkloadResult::Storm(r) => {
            let _ = writeln!(
                out,
                "  {} sessions x {} watches over {} nodes on {} members; killed member {} ({}), which held {} sessions; initial registration {:.3} s",
                r.sessions,
                r.watches_per_session,
                r.nodes,
                r.members,
                r.killed,
                r.killed_mode.name(),
                r.orphaned,
                r.initial_registration_s
            );
            let _ = writeln!(
                out,
                "  after the kill: {} changes acknowledged {} ms; {} sessions lost their connection ({} losses), last noticed {} ms; all resumed {} ms, all re-armed {} ms ({} setWatches packets, {} failed attempts); catch-up complete {} ms",
                r.changed,
                fmt_opt(r.writes_ms),
                r.disconnected,
                r.losses,
                fmt_num(r.detected_ms),
                fmt_num(r.resumed_ms),
                fmt_num(r.rearmed_ms),
                r.set_watches_packets,
                r.failed_attempts,
                fmt_opt(r.catchup_ms)
            );
            let _ = writeln!(
                out,
                "  change events: expected {}, exactly once {}, missing {}, duplicated {}; unexpected {}",
                r.events.expected,
                r.events.once,
                r.events.missing,
                r.events.duplicated,
                r.unexpected
            );
            if let Some(p) = &r.probe {
                let _ = writeln!(
                    out,
                    "  probe of {} nodes: expected {}, exactly once {}, missing {}, duplicated {}, last after {} ms",
                    p.nodes,
                    p.events.expected,
                    p.events.once,
                    p.events.missing,
                    p.events.duplicated,
                    fmt_opt(p.last_ms)
                );
            }
            let cpu = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.0}"));
            let _ = writeln!(
                out,
                "  CPU from the kill until re-armed: survivors {} ms, load generator {} ms; listen-queue drops (machine-wide) {}; whole again {} ms after the restart",
                cpu(r.server_cpu_ms),
                cpu(r.client_cpu_ms),
                r.listen_drops.map_or("-".into(), |d| d.to_string()),
                fmt_num(r.recovery_ms)
            );
            let mut t = latency_table("");
            latency_row(&mut t, "kill to re-armed", &r.rearmed, 0, None);
            push_indented(out, &t.render());
        }
    }
}

fn latency_table(first: &str) -> Table {
    Table::new(&[
        first, "count", "errors", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
    ])
}

fn latency_row(t: &mut Table, name: &str, l: &LatencySummary, errors: u64, rate: Option<f64>) {
    t.row(vec![
        name.to_string(),
        l.count.to_string(),
        errors.to_string(),
        rate.map_or("-".into(), fmt_num),
        format!("{:.3}", ms(l.p50_us)),
        format!("{:.3}", ms(l.p90_us)),
        format!("{:.3}", ms(l.p99_us)),
        format!("{:.3}", ms(l.p999_us)),
        format!("{:.3}", ms(l.max_us)),
    ]);
}

fn push_indented(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// A number with precision suited to its size.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || (v.fract() == 0.0 && a < 1e15) {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), fmt_num)
}

/// A median, with the range of the runs when there were several and they differ:
/// `1234 (1100..1400)`.
fn fmt_with_range(v: Option<f64>, range: Option<(f64, f64)>, runs: usize) -> String {
    match (v, range) {
        (Some(v), Some((lo, hi))) if runs > 1 && lo < hi => {
            format!("{} ({}..{})", fmt_num(v), fmt_num(lo), fmt_num(hi))
        }
        _ => fmt_opt(v),
    }
}

/// A plain-text table: first column left-aligned, the rest right-aligned.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (c, w) in width.iter().enumerate() {
                let cell = r.get(c).map_or("", String::as_str);
                if c == 0 {
                    let _ = write!(line, "{cell:<w$}");
                } else {
                    let _ = write!(line, "  {cell:>w$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::args::LoadArgs;
    use crate::workload::load::{LoadResult, OpStats};

    fn load(throughput: f64, p50_us: u64) -> WorkloadResult {
        let latency = LatencySummary {
            count: 100,
            min_us: 10,
            p50_us,
            p90_us: p50_us * 2,
            p99_us: p50_us * 3,
            p999_us: p50_us * 4,
            max_us: p50_us * 5,
            mean_us: p50_us as f64,
        };
        let total = OpStats {
            op: "all".into(),
            count: 100,
            errors: 0,
            error_codes: BTreeMap::new(),
            latency,
            throughput,
        };
        WorkloadResult::Load(LoadResult {
            read_ratio: 1.0,
            elapsed_s: 1.0,
            throughput,
            ops: vec![OpStats {
                op: "getData".into(),
                ..total.clone()
            }],
            total,
            warmup_requests: 3,
            events: 0,
            members: 1,
            server_cpu_us_per_op: None,
            client_cpu_us_per_op: None,
        })
    }

    fn servers() -> Vec<ServerInfo> {
        vec![
            ServerInfo {
                addr: "127.0.0.1:1".into(),
                label: "watchkeeper 0.1.0".into(),
                version: None,
            },
            ServerInfo {
                addr: "127.0.0.1:2".into(),
                label: "zookeeper 3.8.4".into(),
                version: None,
            },
        ]
    }

    fn compare_report() -> Report {
        let runs = vec![
            Run {
                server: 0,
                round: 0,
                result: load(1000.0, 100),
            },
            Run {
                server: 1,
                round: 0,
                result: load(400.0, 300),
            },
            Run {
                server: 0,
                round: 1,
                result: load(1200.0, 120),
            },
            Run {
                server: 1,
                round: 1,
                result: load(500.0, 200),
            },
            Run {
                server: 0,
                round: 2,
                result: load(1100.0, 110),
            },
            Run {
                server: 1,
                round: 2,
                result: load(450.0, 250),
            },
        ];
        Report::new(Workload::Read(LoadArgs::default()), servers(), runs)
    }

    #[test]
    fn medians_and_ratios() {
        let r = compare_report();
        assert_eq!(r.summary.len(), 2);
        assert_eq!(r.summary[0].runs, 3);
        let rows = r.comparison.as_ref().unwrap();
        let tp = &rows[0];
        assert_eq!(tp.metric, "throughput");
        assert_eq!((tp.a, tp.b), (Some(1100.0), Some(450.0)));
        assert!((tp.ratio_b_over_a.unwrap() - 450.0 / 1100.0).abs() < 1e-9);
        assert_eq!(tp.winner.as_deref(), Some("A"));
        assert!((tp.factor.unwrap() - 1100.0 / 450.0).abs() < 1e-9);
        let p50 = &rows[1];
        assert_eq!((p50.a, p50.b), (Some(0.11), Some(0.25)));
        assert_eq!(p50.winner.as_deref(), Some("A"), "lower latency wins");
        let errors = &rows[4];
        assert_eq!(errors.winner.as_deref(), Some("tie"));
        assert_eq!(errors.ratio_b_over_a, None, "0/0 has no ratio");
    }

    #[test]
    fn judging() {
        assert_eq!(
            judge(100.0, 100.5, Better::Higher).0.as_deref(),
            Some("tie")
        );
        assert_eq!(
            judge(1.0, 2.0, Better::Higher),
            (Some("B".into()), Some(2.0))
        );
        assert_eq!(
            judge(1.0, 2.0, Better::Lower),
            (Some("A".into()), Some(2.0))
        );
        assert_eq!(judge(0.0, 3.0, Better::Lower), (Some("A".into()), None));
    }

    #[test]
    fn table_shows_percentiles_and_labels_the_ratio() {
        let text = compare_report().render_table();
        for needle in [
            "watchkeeper bench read:",
            "server A: watchkeeper 0.1.0 (127.0.0.1:1)",
            "server B: zookeeper 3.8.4 (127.0.0.1:2)",
            "p50 ms",
            "p99.9 ms",
            "max ms",
            "ratio is B/A",
            "B/A",
            "A, 2.44x higher",
            "run 3 on B (zookeeper 3.8.4):",
            "getData",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        // Columns line up: every row of a table block has the header's width or less.
        let single = Report::new(
            Workload::Read(LoadArgs::default()),
            servers()[..1].to_vec(),
            vec![Run {
                server: 0,
                round: 0,
                result: load(10.0, 1500),
            }],
        );
        let text = single.render_table();
        assert!(text.contains("median of 1"), "{text}");
        assert!(text.contains("1.500"), "p50 in ms: {text}");
        assert!(single.comparison.is_none());
    }

    #[test]
    fn json_round_trips() {
        let r = compare_report();
        let j = r.to_json();
        assert!(j.contains("\"ratio_b_over_a\""));
        assert_eq!(Report::from_json(&j).unwrap(), r);
    }

    #[test]
    fn numbers_format_by_size() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(12.0), "12");
        assert_eq!(fmt_num(123456.7), "123457");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.23456), "1.235");
        assert_eq!(fmt_opt(None), "-");
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["long name".into(), "1".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "a          bb");
        assert_eq!(lines[1], "long name   1");
    }
}
