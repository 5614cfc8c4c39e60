//! Prints the bytes the watch index spends per watch, at 1M and 10M watches, for one-shot,
//! persistent and recursive watches, with 1, 10 and 1000 watchers per path; then the time to
//! fire one event on a path watched by 10k and 100k sessions.
//!
//! Run: `cargo run --release -p watchkeeper-watch --example memory [-- 1000000 ...]`
//! (`WATCH_MEMORY_DETAIL=1` adds the bytes per watch of each part of the index; `-- --fanout`
//! runs only the fan-out timing.)
//! Each scenario runs in a fresh child process so that its resident-set growth is its own.
//! `heap` is [`WatchIndex::heap_bytes`] (container capacities); `rss` is the growth of the
//! process's resident set while building (allocator overhead included); `text` is the part of
//! either spent on path strings themselves. Every session holds about 100 watches.

use std::process::Command;
use std::time::{Duration, Instant};

use watchkeeper_proto::EventType;
use watchkeeper_watch::{WatchIndex, WatchKind};

const SESSION_BASE: i64 = 0x1000_0000_0000_0000;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn kind_of(name: &str) -> Option<WatchKind> {
    match name {
        "one-shot" => Some(WatchKind::Data),
        "persistent" => Some(WatchKind::Persistent),
        "recursive" => Some(WatchKind::PersistentRecursive),
        _ => None,
    }
}

fn one(n: usize, per_path: usize, kind_name: &str) {
    let Some(kind) = kind_of(kind_name) else {
        eprintln!("unknown kind {kind_name}");
        return;
    };
    let paths = n / per_path;
    let sessions = (n / 100).max(per_path);
    let before = rss_bytes();
    let t = Instant::now();
    let mut idx = WatchIndex::new();
    let mut name = String::new();
    let mut text = 0usize;
    for p in 0..paths {
        name.clear();
        use std::fmt::Write;
        let _ = write!(name, "/app/svc{:03}/node-{p:010}", p % 1000);
        text += name.len();
        for j in 0..per_path {
            let s = (p * per_path + j) % sessions;
            idx.add(&name, SESSION_BASE + s as i64, kind);
        }
    }
    let build = t.elapsed();
    let rss = rss_bytes().saturating_sub(before);
    assert_eq!(idx.watch_count(), n);
    let heap = idx.heap_bytes();
    println!(
        "{n:>9} {kind_name:>10} {per_path:>9} {paths:>9} {sessions:>8} {:>8.1} {:>8.1} {:>8.1} {:>8.2}s",
        heap as f64 / n as f64,
        rss as f64 / n as f64,
        text as f64 / n as f64,
        build.as_secs_f64()
    );
    if std::env::var_os("WATCH_MEMORY_DETAIL").is_some() {
        let b = idx.heap_breakdown();
        let per = |x: usize| x as f64 / n as f64;
        println!(
            "          text {:.1} records {:.1} table {:.1} heads {:.1} big-sets {:.1} sessions {:.1} lists {:.1}",
            per(b.path_text),
            per(b.path_records),
            per(b.path_table),
            per(b.set_heads),
            per(b.big_sets),
            per(b.session_table),
            per(b.session_lists)
        );
    }
}

/// (Median, minimum) time of one trigger on a path watched by `n` sessions; one-shot watches are
/// re-armed (untimed) between runs. The minimum is the better guide on a busy machine.
fn fanout(n: usize, kind: WatchKind) -> (Duration, Duration) {
    let mut idx = WatchIndex::new();
    let sessions: Vec<i64> = (0..n as i64).map(|s| SESSION_BASE + s).collect();
    for s in &sessions {
        idx.add("/hot/config", *s, kind);
    }
    let mut out = vec![0i64; n];
    let mut times = Vec::new();
    for _ in 0..31 {
        out.clear();
        let t = Instant::now();
        idx.trigger("/hot/config", EventType::NodeDataChanged, &mut out);
        times.push(t.elapsed());
        assert_eq!(out.len(), n);
        if kind == WatchKind::Data {
            for s in &sessions {
                idx.add("/hot/config", *s, kind);
            }
        }
    }
    times.sort();
    (times[times.len() / 2], times[0])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--one") {
        let n = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let per_path = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
        one(n, per_path, args.get(3).map_or("one-shot", String::as_str));
        return;
    }
    let fanout_only = args.first().map(String::as_str) == Some("--fanout");
    let scales: Vec<usize> = if args.is_empty() {
        vec![1_000_000, 10_000_000]
    } else {
        args.iter().filter_map(|s| s.parse().ok()).collect()
    };
    println!(
        "{:>9} {:>10} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "watches", "kind", "per path", "paths", "sessions", "heap/w", "rss/w", "text/w", "build"
    );
    let Ok(me) = std::env::current_exe() else {
        eprintln!("cannot find own executable");
        return;
    };
    for n in scales.into_iter().filter(|_| !fanout_only) {
        for kind in ["one-shot", "persistent", "recursive"] {
            for per_path in [1usize, 10, 1000].into_iter().filter(|p| *p <= n) {
                let status = Command::new(&me)
                    .args(["--one", &n.to_string(), &per_path.to_string(), kind])
                    .status();
                if !status.is_ok_and(|s| s.success()) {
                    eprintln!("scenario {n} {kind} {per_path} failed");
                }
            }
        }
    }
    println!("\nfan-out: one NodeDataChanged on a path watched by n sessions (31 runs)");
    for n in [10_000usize, 100_000] {
        for (name, kind) in [
            ("one-shot", WatchKind::Data),
            ("persistent", WatchKind::Persistent),
            ("recursive", WatchKind::PersistentRecursive),
        ] {
            let (median, min) = fanout(n, kind);
            println!(
                "{n:>7} sessions {name:>10}: median {:>8.1} us, min {:>8.1} us ({:.1} ns/session)",
                median.as_secs_f64() * 1e6,
                min.as_secs_f64() * 1e6,
                min.as_secs_f64() * 1e9 / n as f64
            );
        }
    }
}
