//! Charts from the JSON reports of several runs, as hand-written SVG: fan-out latency against
//! the number of watchers, and server memory growth against the number of watches, one line
//! per server (so Watchkeeper and ZooKeeper share each chart); and for ensembles, bars side by
//! side per server: read and write throughput, and failover and reconnect-storm times (with
//! the range of the runs as whiskers).
//!
//! A report contributes one point per server: the median over that server's runs. Points of
//! the same series at the same x (repeated invocations) are merged by their median. The x axis
//! is logarithmic when the values span more than a factor of 20, as watcher counts usually do.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::BenchError;
use crate::args::Workload;
use crate::hist::median;
use crate::report::Report;
use crate::workload::WorkloadResult;

/// The SVG documents built from a set of reports; a chart with no data is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plots {
    /// Time until the last watcher heard (median of rounds) vs watchers.
    pub fanout: Option<String>,
    /// Server memory growth vs watches registered.
    pub memory: Option<String>,
    /// Ensembles: read and write throughput per server.
    pub ensemble_throughput: Option<String>,
    /// Ensembles: failover and storm times per server.
    pub ensemble_recovery: Option<String>,
}

/// One line on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    /// (x, y), sorted by x.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Builds both charts from reports (of any workloads; the irrelevant ones are skipped).
pub fn plot(reports: &[Report]) -> Plots {
    let fanout = fanout_series(reports);
    let memory = memory_series(reports);
    let (throughput, recovery) = ensemble_bars(reports);
    Plots {
        ensemble_throughput: (!throughput.categories.is_empty()).then(|| render_bars(&throughput)),
        ensemble_recovery: (!recovery.categories.is_empty()).then(|| render_bars(&recovery)),
        fanout: (!fanout.is_empty()).then(|| {
            render_svg(&Chart {
                title: "Watch fan-out: time until the last watcher hears a write".into(),
                x_label: "watchers".into(),
                y_label: "ms (median of rounds)".into(),
                series: fanout,
            })
        }),
        memory: (!memory.is_empty()).then(|| {
            render_svg(&Chart {
                title: "Server memory growth from watches".into(),
                x_label: "watches registered".into(),
                y_label: "MiB".into(),
                series: memory,
            })
        }),
    }
}

/// Reads JSON reports from `inputs` and writes `fanout.svg` and/or `memory.svg` into
/// `out_dir`; returns the files written.
pub fn plot_files(inputs: &[PathBuf], out_dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let mut reports = Vec::with_capacity(inputs.len());
    for path in inputs {
        let text = std::fs::read_to_string(path).map_err(|source| BenchError::File {
            path: path.clone(),
            source,
        })?;
        reports.push(Report::from_json(&text).map_err(|source| BenchError::Json {
            path: path.clone(),
            source,
        })?);
    }
    let plots = plot(&reports);
    let mut written = Vec::new();
    for (name, svg) in [
        ("fanout.svg", plots.fanout),
        ("memory.svg", plots.memory),
        ("ensemble-throughput.svg", plots.ensemble_throughput),
        ("ensemble-recovery.svg", plots.ensemble_recovery),
    ] {
        if let Some(svg) = svg {
            let path = out_dir.join(name);
            std::fs::write(&path, svg).map_err(|source| BenchError::File {
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
    }
    if written.is_empty() {
        return Err(BenchError::Args(
            "no fanout, watches or ensemble results among the reports: nothing to plot".into(),
        ));
    }
    Ok(written)
}

/// Per-server medians of `value` over the runs of each report, keyed by series label.
fn collect(
    reports: &[Report],
    mut point: impl FnMut(&Report, &str, &WorkloadResult) -> Option<(String, f64, f64)>,
) -> Vec<Series> {
    // label -> x (as bits, to key exactly) -> y values
    let mut by_label: BTreeMap<String, BTreeMap<u64, (f64, Vec<f64>)>> = BTreeMap::new();
    for report in reports {
        for (s, server) in report.servers.iter().enumerate() {
            let mut ys = Vec::new();
            let mut key = None;
            for run in report.runs.iter().filter(|r| r.server == s) {
                if let Some((label, x, y)) = point(report, &server.label, &run.result) {
                    ys.push(y);
                    key = Some((label, x));
                }
            }
            if let (Some((label, x)), Some(y)) = (key, median(&ys)) {
                by_label
                    .entry(label)
                    .or_default()
                    .entry(x.to_bits())
                    .or_insert((x, Vec::new()))
                    .1
                    .push(y);
            }
        }
    }
    by_label
        .into_iter()
        .map(|(label, xs)| {
            let mut points: Vec<(f64, f64)> = xs
                .into_values()
                .filter_map(|(x, ys)| median(&ys).map(|y| (x, y)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series { label, points }
        })
        .collect()
}

fn fanout_series(reports: &[Report]) -> Vec<Series> {
    collect(reports, |report, server, result| {
        let (Workload::Fanout(args), WorkloadResult::Fanout(r)) = (&report.workload, result) else {
            return None;
        };
        let label = format!("{server}, {}", args.mode);
        Some((label, args.watchers as f64, r.median_last_ms?))
    })
}

fn memory_series(reports: &[Report]) -> Vec<Series> {
    collect(reports, |report, server, result| {
        let (Workload::Watches(args), WorkloadResult::Watches(r)) = (&report.workload, result)
        else {
            return None;
        };
        let m = r.memory.as_ref()?;
        let label = format!("{server} ({}, {})", args.kind, m.source.short());
        let x = (args.sessions * args.watches_per_session) as f64;
        Some((label, x, m.delta_bytes as f64 / (1024.0 * 1024.0)))
    })
}

/// A grouped bar chart: per category, one bar per series.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    /// Series labels (servers), in legend order.
    pub series: Vec<String>,
    /// values[category][series].
    pub values: Vec<Vec<Option<Bar>>>,
}

/// One bar: (median, min, max) over a server's runs.
pub type Bar = (f64, f64, f64);

/// Per report and server: the median, min and max of one metric over that server's runs.
fn bar_values(report: &Report, metric: &str) -> Vec<(String, Option<Bar>)> {
    report
        .servers
        .iter()
        .enumerate()
        .map(|(s, server)| {
            let v = report
                .summary
                .iter()
                .find(|x| x.server == s)
                .and_then(|x| x.metrics.iter().find(|m| m.name == metric))
                .and_then(|m| {
                    let v = m.value?;
                    Some((v, m.min.unwrap_or(v), m.max.unwrap_or(v)))
                });
            (server.label.clone(), v)
        })
        .collect()
}

/// The ensemble charts: throughput of read/write runs against more than one member, and the
/// failover and storm times.
fn ensemble_bars(reports: &[Report]) -> (Bars, Bars) {
    let mut throughput = Bars {
        title: "Ensembles: throughput, sessions spread over the members".into(),
        y_label: "ops/s (median of runs; whiskers: min..max)".into(),
        categories: Vec::new(),
        series: Vec::new(),
        values: Vec::new(),
    };
    let mut recovery = Bars {
        title: "Ensembles: failover and reconnect storm".into(),
        y_label: "ms (median of runs; whiskers: min..max)".into(),
        ..throughput.clone()
    };
    for report in reports {
        let members = report
            .servers
            .first()
            .map_or(1, |s| s.addr.split(',').count());
        let (chart, category, metric) = match &report.workload {
            Workload::Read(a) | Workload::Write(a) if members > 1 => (
                &mut throughput,
                format!(
                    "{} ({}x{} in flight)",
                    report.workload.name(),
                    a.sessions,
                    a.in_flight
                ),
                "throughput",
            ),
            Workload::Failover(_) => (
                &mut recovery,
                "failover: leader SIGKILL to a write".into(),
                "failover time",
            ),
            Workload::Storm(a) => (
                &mut recovery,
                format!(
                    "storm: {} x {} watches, {} dies",
                    a.sessions, a.watches_per_session, a.kill
                ),
                "storm time (all resumed and re-armed)",
            ),
            _ => continue,
        };
        let values = bar_values(report, metric);
        let row = match chart.categories.iter().position(|c| *c == category) {
            Some(i) => i,
            None => {
                chart.categories.push(category);
                chart.values.push(Vec::new());
                chart.categories.len() - 1
            }
        };
        for (label, v) in values {
            let col = match chart.series.iter().position(|s| *s == label) {
                Some(i) => i,
                None => {
                    chart.series.push(label);
                    chart.series.len() - 1
                }
            };
            let cells = &mut chart.values[row];
            if cells.len() <= col {
                cells.resize(col + 1, None);
            }
            // The first report of a category and server counts: a later one (a second series
            // against the same reference server, say) only adds its new servers.
            if cells[col].is_none() {
                cells[col] = v;
            }
        }
    }
    for chart in [&mut throughput, &mut recovery] {
        let n = chart.series.len();
        for cells in &mut chart.values {
            cells.resize(n, None);
        }
    }
    (throughput, recovery)
}

/// Renders a grouped bar chart as a standalone SVG document.
pub fn render_bars(chart: &Bars) -> String {
    let top = chart
        .values
        .iter()
        .flatten()
        .flatten()
        .map(|&(v, _, hi)| v.max(hi))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y_ticks = linear_ticks(0.0, top);
    let (px_left, px_right) = (LEFT, WIDTH - RIGHT);
    let (px_top, px_bottom) = (TOP, HEIGHT - BOTTOM);
    let sy = Scale {
        lo: y_ticks.first().copied().unwrap_or(0.0),
        hi: y_ticks.last().copied().unwrap_or(1.0),
        log: false,
        px0: px_bottom,
        px1: px_top,
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
        (px_left + px_right) / 2.0,
        escape(&chart.title)
    );
    for &t in &y_ticks {
        let y = sy.at(t);
        let _ = writeln!(
            s,
            r##"<line x1="{px_left}" y1="{y:.1}" x2="{px_right}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            px_left - 6.0,
            y + 4.0,
            escape(&tick_label(t))
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{px_left}" y="{px_top}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        px_right - px_left,
        px_bottom - px_top
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">{}</text>"#,
        (px_top + px_bottom) / 2.0,
        (px_top + px_bottom) / 2.0,
        escape(&chart.y_label)
    );
    let groups = chart.categories.len().max(1) as f64;
    let group_w = (px_right - px_left) / groups;
    let n = chart.series.len().max(1) as f64;
    let bar_w = group_w * 0.7 / n;
    for (g, (category, cells)) in chart.categories.iter().zip(&chart.values).enumerate() {
        let x0 = px_left + group_w * g as f64 + group_w * 0.15;
        for (i, cell) in cells.iter().enumerate() {
            let Some((v, lo, hi)) = *cell else { continue };
            let color = COLORS[i % COLORS.len()];
            let x = x0 + bar_w * i as f64;
            let y = sy.at(v);
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
                bar_w * 0.9,
                (px_bottom - y).max(0.0)
            );
            let cx = x + bar_w * 0.45;
            if hi > lo {
                let (ylo, yhi) = (sy.at(lo), sy.at(hi));
                let _ = writeln!(
                    s,
                    r##"<line x1="{cx:.1}" y1="{ylo:.1}" x2="{cx:.1}" y2="{yhi:.1}" stroke="#222"/><line x1="{:.1}" y1="{yhi:.1}" x2="{:.1}" y2="{yhi:.1}" stroke="#222"/><line x1="{:.1}" y1="{ylo:.1}" x2="{:.1}" y2="{ylo:.1}" stroke="#222"/>"##,
                    cx - 4.0,
                    cx + 4.0,
                    cx - 4.0,
                    cx + 4.0
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                sy.at(hi.max(v)) - 5.0,
                escape(&tick_label(v))
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            px_left + group_w * (g as f64 + 0.5),
            px_bottom + 18.0,
            escape(category)
        );
    }
    for (i, label) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let ly = px_top + 10.0 + 20.0 * i as f64;
        let lx = px_right + 16.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="14" height="10" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            ly - 5.0,
            lx + 20.0,
            ly + 4.0,
            escape(label)
        );
    }
    s.push_str("</svg>\n");
    s
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 330.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// A mapping from data to pixels along one axis.
#[derive(Debug, Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    px0: f64,
    px1: f64,
}

impl Scale {
    fn at(&self, v: f64) -> f64 {
        let (v, lo, hi) = if self.log {
            (
                v.max(f64::MIN_POSITIVE).log10(),
                self.lo.log10(),
                self.hi.log10(),
            )
        } else {
            (v, self.lo, self.hi)
        };
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        self.px0 + t.clamp(0.0, 1.0) * (self.px1 - self.px0)
    }
}

/// About five round-numbered ticks from 0 (or below, for negative data) to at least `max`.
fn linear_ticks(min: f64, max: f64) -> Vec<f64> {
    let lo = min.min(0.0);
    let hi = if max > lo { max } else { lo + 1.0 };
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Powers of ten covering [min, max].
fn log_ticks(min: f64, max: f64) -> Vec<f64> {
    let lo = min.log10().floor() as i32;
    let hi = max.log10().ceil().max(f64::from(lo + 1)) as i32;
    (lo..=hi).map(|e| 10f64.powi(e)).collect()
}

/// Short tick labels: 1500 -> "1.5k", 2000000 -> "2M".
fn tick_label(v: f64) -> String {
    let a = v.abs();
    let (n, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{n:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders a chart as a standalone SVG document.
pub fn render_svg(chart: &Chart) -> String {
    let points = || chart.series.iter().flat_map(|s| s.points.iter());
    let xs: Vec<f64> = points().map(|p| p.0).filter(|v| v.is_finite()).collect();
    let ys: Vec<f64> = points().map(|p| p.1).filter(|v| v.is_finite()).collect();
    let fold = |v: &[f64], f: fn(f64, f64) -> f64, init: f64| v.iter().copied().fold(init, f);
    let (xmin, xmax) = (
        fold(&xs, f64::min, f64::INFINITY),
        fold(&xs, f64::max, f64::NEG_INFINITY),
    );
    let (ymin, ymax) = (
        fold(&ys, f64::min, f64::INFINITY),
        fold(&ys, f64::max, f64::NEG_INFINITY),
    );
    let x_log = !xs.is_empty() && xmin > 0.0 && xmax / xmin > 20.0;
    let x_ticks = if xs.is_empty() {
        vec![0.0, 1.0]
    } else if x_log {
        log_ticks(xmin, xmax)
    } else {
        linear_ticks(xmin, xmax)
    };
    let y_ticks = if ys.is_empty() {
        vec![0.0, 1.0]
    } else {
        linear_ticks(ymin, ymax)
    };
    let first = |t: &[f64]| t.first().copied().unwrap_or(0.0);
    let last = |t: &[f64]| t.last().copied().unwrap_or(1.0);
    let (px_left, px_right) = (LEFT, WIDTH - RIGHT);
    let (px_top, px_bottom) = (TOP, HEIGHT - BOTTOM);
    let sx = Scale {
        lo: first(&x_ticks),
        hi: last(&x_ticks),
        log: x_log,
        px0: px_left,
        px1: px_right,
    };
    let sy = Scale {
        lo: first(&y_ticks),
        hi: last(&y_ticks),
        log: false,
        px0: px_bottom,
        px1: px_top,
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
        (px_left + px_right) / 2.0,
        escape(&chart.title)
    );
    // Grid and ticks.
    for &t in &y_ticks {
        let y = sy.at(t);
        let _ = writeln!(
            s,
            r##"<line x1="{px_left}" y1="{y:.1}" x2="{px_right}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            px_left - 6.0,
            y + 4.0,
            escape(&tick_label(t))
        );
    }
    for &t in &x_ticks {
        let x = sx.at(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{px_top}" x2="{x:.1}" y2="{px_bottom}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            px_bottom + 18.0,
            escape(&tick_label(t))
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{px_left}" y="{px_top}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        px_right - px_left,
        px_bottom - px_top
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}{}</text>"#,
        (px_left + px_right) / 2.0,
        HEIGHT - 18.0,
        escape(&chart.x_label),
        if x_log { " (log scale)" } else { "" }
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">{}</text>"#,
        (px_top + px_bottom) / 2.0,
        (px_top + px_bottom) / 2.0,
        escape(&chart.y_label)
    );
    // Lines, markers and the legend.
    for (i, series) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!x_log || *x > 0.0))
            .map(|&(x, y)| (sx.at(x), sy.at(y)))
            .collect();
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (x, y) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"/>"#
            );
        }
        let ly = px_top + 10.0 + 20.0 * i as f64;
        let lx = px_right + 16.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            escape(&series.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{FanoutArgs, WatchKind, WatchesArgs};
    use crate::hist::LatencySummary;
    use crate::report::{Run, ServerInfo};
    use crate::workload::fanout::FanoutResult;
    use crate::workload::watches::{MemoryGrowth, MemorySource, WatchesResult};

    fn servers() -> Vec<ServerInfo> {
        ["watchkeeper 0.1.0", "zookeeper 3.8.4"]
            .iter()
            .enumerate()
            .map(|(i, l)| ServerInfo {
                addr: format!("127.0.0.1:{i}"),
                label: l.to_string(),
                version: None,
            })
            .collect()
    }

    fn fanout_report(watchers: usize, last_ms: [f64; 2]) -> Report {
        let args = FanoutArgs {
            watchers,
            ..FanoutArgs::default()
        };
        let runs = (0..2)
            .map(|s| Run {
                server: s,
                round: 0,
                result: WorkloadResult::Fanout(FanoutResult {
                    watchers,
                    mode: args.mode,
                    rounds: vec![],
                    median_last_ms: Some(last_ms[s]),
                    median_p50_ms: None,
                    median_p99_ms: None,
                    median_spread_ms: None,
                    delivery: LatencySummary::default(),
                    write: LatencySummary::default(),
                    expected_events: 0,
                    delivered: 0,
                    missing: 0,
                    duplicates: 0,
                    unexpected: 0,
                    server_cpu_us_per_event: None,
                    client_cpu_us_per_event: None,
                }),
            })
            .collect();
        Report::new(Workload::Fanout(args), servers(), runs)
    }

    fn watches_report(per_session: usize, delta: i64) -> Report {
        let args = WatchesArgs {
            sessions: 10,
            watches_per_session: per_session,
            ..WatchesArgs::default()
        };
        let result = WorkloadResult::Watches(WatchesResult {
            sessions: 10,
            watches_per_session: per_session,
            total_watches: 10 * per_session as u64,
            kind: WatchKind::Exists,
            shared: false,
            elapsed_s: 1.0,
            rate_per_s: 1.0,
            latency: LatencySummary::default(),
            errors: 0,
            error_codes: Default::default(),
            memory: Some(MemoryGrowth {
                source: MemorySource::VmRss,
                pid: Some(1),
                before_bytes: 0,
                after_bytes: delta as u64,
                delta_bytes: delta,
                bytes_per_watch: 1.0,
            }),
            memory_note: String::new(),
            server_watch_count_delta: None,
            index_bytes_per_watch: None,
            events: 0,
            bytes_per_session: None,
        });
        Report::new(
            Workload::Watches(args),
            servers()[..1].to_vec(),
            vec![Run {
                server: 0,
                round: 0,
                result,
            }],
        )
    }

    #[test]
    fn both_servers_share_the_fanout_chart() {
        let reports = vec![
            fanout_report(1000, [2.0, 20.0]),
            fanout_report(10, [0.5, 1.0]),
            fanout_report(100, [1.0, 5.0]),
        ];
        let series = fanout_series(&reports);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].label, "watchkeeper 0.1.0, one-shot");
        assert_eq!(
            series[0].points,
            [(10.0, 0.5), (100.0, 1.0), (1000.0, 2.0)],
            "sorted by watchers"
        );
        let plots = plot(&reports);
        let svg = plots.fanout.unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(
            svg.contains("(log scale)"),
            "10..1000 watchers is a log axis"
        );
        assert!(svg.contains("zookeeper 3.8.4, one-shot"));
        assert!(plots.memory.is_none());
    }

    #[test]
    fn memory_chart_in_mib() {
        let reports = vec![watches_report(100, 1 << 20), watches_report(200, 3 << 20)];
        let series = memory_series(&reports);
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].points, [(1000.0, 1.0), (2000.0, 3.0)]);
        assert!(series[0].label.contains("VmRSS"));
        let svg = plot(&reports).memory.unwrap();
        assert!(!svg.contains("log scale"), "a factor of 2 stays linear");
    }

    #[test]
    fn points_stay_inside_the_plot_area() {
        let chart = Chart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                label: "a<b & \"c\"".into(),
                points: vec![(1.0, 0.3), (7.0, 123.0), (50.0, 9.9)],
            }],
        };
        let svg = render_svg(&chart);
        assert!(
            svg.contains("a&lt;b &amp; &quot;c&quot;"),
            "labels are escaped"
        );
        for c in svg.split("<circle ").skip(1) {
            let num = |attr: &str| -> f64 {
                let rest = &c[c.find(attr).unwrap() + attr.len() + 2..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            };
            let (cx, cy) = (num("cx"), num("cy"));
            assert!((LEFT..=WIDTH - RIGHT).contains(&cx), "cx {cx}");
            assert!((TOP..=HEIGHT - BOTTOM).contains(&cy), "cy {cy}");
        }
    }

    fn storm_report(times: [[f64; 2]; 2]) -> Report {
        use crate::workload::storm::{PairCounts, StormResult};
        let args = crate::args::StormArgs::default();
        let result = |ms: f64| {
            WorkloadResult::Storm(StormResult {
                sessions: 3000,
                watches_per_session: 10,
                nodes: 1000,
                changed: 100,
                members: 3,
                killed: 1,
                killed_mode: crate::ensemble::Mode::Follower,
                orphaned: 1000,
                disconnected: 1000,
                losses: 1000,
                initial_registration_s: 1.0,
                writes_ms: Some(10.0),
                detected_ms: 1.0,
                resumed_ms: ms,
                rearmed_ms: ms,
                catchup_ms: Some(ms),
                rearmed: LatencySummary::default(),
                failed_attempts: 0,
                set_watches_packets: 1000,
                events: PairCounts::default(),
                unexpected: 0,
                probe: None,
                server_cpu_ms: None,
                client_cpu_ms: None,
                recovery_ms: 1.0,
                listen_drops: None,
            })
        };
        let mut servers = servers();
        for s in &mut servers {
            s.addr = "h:1,h:2,h:3".into();
        }
        let runs = (0..2)
            .flat_map(|round| {
                (0..2).map(move |s| Run {
                    server: s,
                    round,
                    result: result(times[s][round as usize]),
                })
            })
            .collect();
        Report::new(Workload::Storm(args), servers, runs)
    }

    #[test]
    fn ensemble_bars_show_medians_and_ranges() {
        let mut second = storm_report([[50.0, 50.0], [1.0, 1.0]]);
        second.servers[0].label = "watchkeeper, other settings".into();
        let reports = vec![storm_report([[100.0, 300.0], [900.0, 1100.0]]), second];
        let (_, with_second) = ensemble_bars(&reports);
        assert_eq!(with_second.series.len(), 3, "{:?}", with_second.series);
        assert_eq!(
            with_second.values[0],
            [
                Some((200.0, 100.0, 300.0)),
                Some((1000.0, 900.0, 1100.0)),
                Some((50.0, 50.0, 50.0))
            ],
            "the first report of a server counts"
        );
        let reports = &reports[..1];
        let (throughput, recovery) = ensemble_bars(reports);
        assert!(throughput.categories.is_empty());
        assert_eq!(recovery.categories.len(), 1);
        assert!(recovery.categories[0].starts_with("storm: 3000 x 10"));
        assert_eq!(recovery.series, ["watchkeeper 0.1.0", "zookeeper 3.8.4"]);
        assert_eq!(
            recovery.values[0],
            [Some((200.0, 100.0, 300.0)), Some((1000.0, 900.0, 1100.0))]
        );
        let plots = plot(reports);
        assert!(plots.ensemble_throughput.is_none() && plots.fanout.is_none());
        let svg = plots.ensemble_recovery.expect("a recovery chart");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Two bars plus two legend swatches, a whisker (three lines) on each bar.
        assert_eq!(svg.matches("<rect x=").count(), 1 + 2 + 2, "{svg}");
        assert!(svg.contains("zookeeper 3.8.4"));
        // Bars stay in the plot area.
        for bar in svg.split("<rect x=\"").skip(2) {
            let y: f64 = bar
                .split("y=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .expect("y");
            assert!((TOP - 1.0..=HEIGHT - BOTTOM).contains(&y), "{y}");
        }
    }

    #[test]
    fn ticks() {
        assert_eq!(linear_ticks(0.0, 9.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(
            linear_ticks(3.0, 100.0),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(log_ticks(10.0, 5000.0), [10.0, 100.0, 1000.0, 10000.0]);
        assert_eq!(tick_label(1500.0), "1.5k");
        assert_eq!(tick_label(2e6), "2M");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(10.0), "10");
    }

    #[test]
    fn files_round_trip_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for (i, r) in [fanout_report(10, [1.0, 2.0]), watches_report(10, 1 << 20)]
            .iter()
            .enumerate()
        {
            let p = dir.path().join(format!("r{i}.json"));
            std::fs::write(&p, r.to_json()).unwrap();
            inputs.push(p);
        }
        let written = plot_files(&inputs, dir.path()).unwrap();
        assert_eq!(written.len(), 2);
        assert!(
            std::fs::read_to_string(&written[0])
                .unwrap()
                .contains("<svg")
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{}").unwrap();
        assert!(matches!(
            plot_files(&[bad], dir.path()),
            Err(BenchError::Json { .. })
        ));
    }
}
