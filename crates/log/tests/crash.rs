//! Crash consistency: a child process appends, syncs and prints each acknowledged index, and is
//! killed with SIGKILL at a random moment; every acknowledged record must then be recovered,
//! intact and in order. Several rounds run on the same directory, so recovery after a crash is
//! itself followed by more writing and another crash.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use watchkeeper_log::{LogOptions, Wal};

const DIR_VAR: &str = "WATCHKEEPER_LOG_CRASH_DIR";
const SEED_VAR: &str = "WATCHKEEPER_LOG_CRASH_SEED";

fn opts() -> LogOptions {
    // Small segments so that rollover and purging happen often.
    LogOptions {
        segment_bytes: 64 << 10,
        max_record_bytes: 4096,
    }
}

/// The payload of record `i`: its length and bytes both depend on `i`.
fn content(i: u64) -> Vec<u8> {
    let len = (i.wrapping_mul(7919) % 1500) as usize;
    (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
}

fn snapshot_content(i: u64) -> Vec<u8> {
    format!("snapshot at {i}").into_bytes()
}

/// xorshift64*: enough randomness for batch sizes and kill times, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The child's body: runs only when the parent sets the directory variable.
#[test]
#[ignore = "helper process for crash_consistency_under_sigkill"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let seed = std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1u64);
    let mut rng = Rng(seed | 1);
    let (mut wal, _) = Wal::open(Path::new(&dir), opts()).expect("child open");
    let mut batches = 0u64;
    loop {
        let n = 1 + rng.below(64);
        for _ in 0..n {
            let i = wal.last_index() + 1;
            wal.append(i, &content(i)).expect("append");
        }
        wal.sync().expect("sync");
        // Acknowledged only now, after the fdatasync.
        println!("acked {}", wal.last_index());
        batches += 1;
        if batches.is_multiple_of(8) {
            let at = wal.last_index().saturating_sub(rng.below(100));
            wal.install_snapshot(at, &snapshot_content(at), 2)
                .expect("snapshot");
        }
    }
}

fn run_child_until_killed(dir: &Path, rng: &mut Rng) -> u64 {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .env(SEED_VAR, rng.next().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acked = 0u64;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("acked ") {
                acked = n.trim().parse().expect("acked index");
                let _ = tx.send(());
            }
        }
        acked
    });
    // Let the child get going, then kill it at a random moment.
    rx.recv_timeout(Duration::from_secs(30))
        .expect("child acknowledged nothing in 30 s");
    std::thread::sleep(Duration::from_millis(rng.below(400)));
    child.kill().expect("SIGKILL child");
    let status = child.wait().expect("wait for child");
    assert!(!status.success(), "child exited by itself: {status}");
    reader.join().expect("reader thread")
}

#[test]
fn crash_consistency_under_sigkill() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed | 1);
    let d = tempfile::tempdir().expect("tempdir");
    let mut acked_ever = 0u64;
    let mut repairs = 0;
    for round in 0..6 {
        let acked = run_child_until_killed(d.path(), &mut rng);
        assert!(
            acked >= acked_ever,
            "round {round}: child acknowledged {acked}, below the earlier {acked_ever}"
        );
        acked_ever = acked;

        let (wal, rec) = Wal::open(d.path(), opts())
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): recovery failed: {e}"));
        repairs += usize::from(rec.repaired_tail.is_some());
        let from = match &rec.snapshot {
            Some((at, payload)) => {
                assert_eq!(payload, &snapshot_content(*at), "round {round}");
                at + 1
            }
            None => 1,
        };
        for (k, (i, payload)) in rec.entries.iter().enumerate() {
            assert_eq!(*i, from + k as u64, "round {round}: entries not contiguous");
            assert!(payload == &content(*i), "round {round}: entry {i} damaged");
        }
        assert!(
            wal.last_index() >= acked,
            "round {round} (seed {seed}): acknowledged {acked} but recovered only up to {}",
            wal.last_index()
        );
        eprintln!(
            "round {round}: acked {acked}, recovered {} (snapshot {:?}, {} entries, torn tail {:?})",
            wal.last_index(),
            rec.snapshot.as_ref().map(|s| s.0),
            rec.entries.len(),
            rec.repaired_tail.as_ref().map(|r| r.offset)
        );
    }
    eprintln!("{repairs} torn tails repaired");
}
