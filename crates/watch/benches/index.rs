//! Benchmarks of the watch index: bulk registration, fan-out of one event to many sessions,
//! recursive lookups up a deep path, and dropping one session out of a million watches.
//!
//! Run: `cargo bench -p watchkeeper-watch` (add `-- fanout` to run one group).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use watchkeeper_proto::EventType;
use watchkeeper_watch::{WatchIndex, WatchKind};

const SESSION_BASE: i64 = 0x1000_0000_0000_0000;

fn path(p: usize) -> String {
    format!("/app/svc{:03}/node-{p:010}", p % 1000)
}

/// `sessions` sessions, each watching `per_session` of `paths` paths (spread evenly).
fn build(sessions: usize, per_session: usize, paths: &[String], kind: WatchKind) -> WatchIndex {
    let mut idx = WatchIndex::new();
    for s in 0..sessions {
        for k in 0..per_session {
            let p = (s + k * sessions) % paths.len();
            idx.add(&paths[p], SESSION_BASE + s as i64, kind);
        }
    }
    idx
}

fn add(c: &mut Criterion) {
    let paths: Vec<String> = (0..100_000).map(path).collect();
    let mut g = c.benchmark_group("add");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(1_000_000));
    for kind in [WatchKind::Data, WatchKind::PersistentRecursive] {
        // 1M watches: 10k sessions x 100 paths, 10 watchers on each of 100k paths.
        g.bench_function(BenchmarkId::new("1M", format!("{kind:?}")), |b| {
            b.iter_batched(
                WatchIndex::new,
                |mut idx| {
                    for s in 0..10_000usize {
                        for k in 0..100 {
                            let p = (s + k * 10_000) % paths.len();
                            idx.add(&paths[p], SESSION_BASE + s as i64, kind);
                        }
                    }
                    idx
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn one_hot_path(n: usize, kind: WatchKind) -> WatchIndex {
    let mut idx = WatchIndex::new();
    for s in 0..n {
        idx.add("/hot/config", SESSION_BASE + s as i64, kind);
    }
    idx
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    for n in [10_000usize, 100_000] {
        g.throughput(Throughput::Elements(n as u64));
        // Persistent watches stay, so the same index is triggered again and again.
        let mut idx = one_hot_path(n, WatchKind::Persistent);
        let mut out = Vec::with_capacity(n);
        g.bench_function(BenchmarkId::new("persistent", n), |b| {
            b.iter(|| {
                out.clear();
                idx.trigger("/hot/config", EventType::NodeDataChanged, &mut out);
                black_box(out.len())
            })
        });
        // One-shot watches are consumed: each sample triggers a fresh copy.
        let idx = one_hot_path(n, WatchKind::Data);
        g.bench_function(BenchmarkId::new("one_shot", n), |b| {
            b.iter_batched(
                || {
                    // A buffer whose pages are already touched, as a server's reused one is.
                    let mut out = vec![0i64; n];
                    out.clear();
                    (idx.clone(), out)
                },
                |(mut idx, mut out)| {
                    idx.trigger("/hot/config", EventType::NodeDataChanged, &mut out);
                    (idx, out)
                },
                BatchSize::LargeInput,
            )
        });
        // What a server does: fire the one-shot watches, then every session re-registers.
        let mut idx = one_hot_path(n, WatchKind::Data);
        let mut out = Vec::with_capacity(n);
        g.bench_function(BenchmarkId::new("one_shot_and_rearm", n), |b| {
            b.iter(|| {
                out.clear();
                idx.trigger("/hot/config", EventType::NodeDataChanged, &mut out);
                for s in &out {
                    idx.add("/hot/config", *s, WatchKind::Data);
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn recursive(c: &mut Criterion) {
    let paths: Vec<String> = (0..100_000).map(path).collect();
    // A million other watches, then recursive watchers on every ancestor of a depth-10 leaf.
    let mut idx = build(10_000, 100, &paths, WatchKind::Data);
    let mut p = String::new();
    for d in 0..10 {
        p.push_str(&format!("/level{d}"));
        idx.add(&p, 1 + d as i64, WatchKind::PersistentRecursive);
    }
    idx.add("/", 99, WatchKind::PersistentRecursive);
    let leaf = format!("{p}/leaf");
    let mut out = Vec::new();
    let mut g = c.benchmark_group("recursive");
    g.bench_function("depth10_leaf_change", |b| {
        b.iter(|| {
            out.clear();
            idx.trigger(&leaf, EventType::NodeDataChanged, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("unwatched_path_change", |b| {
        b.iter(|| {
            out.clear();
            idx.trigger("/elsewhere/a/b/c", EventType::NodeDataChanged, &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn remove_session(c: &mut Criterion) {
    let paths: Vec<String> = (0..100_000).map(path).collect();
    let mut idx = build(10_000, 100, &paths, WatchKind::Data);
    let mut g = c.benchmark_group("remove_session");
    g.bench_function("100_watches_among_1M", |b| {
        let mut s = 0usize;
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let id = SESSION_BASE + s as i64;
                let t = Instant::now();
                idx.remove_session(id);
                spent += t.elapsed();
                for k in 0..100 {
                    idx.add(&paths[(s + k * 10_000) % paths.len()], id, WatchKind::Data);
                }
                s = (s + 1) % 10_000;
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, add, fanout, recursive, remove_session);
criterion_main!(benches);
