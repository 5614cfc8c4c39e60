//! Group-commit throughput: appends and syncs per second for batch sizes 1, 16 and 256.
//!
//! `cargo run --release -p watchkeeper-log --example bench -- [DIR] [SECONDS] [PAYLOAD_BYTES]`
//!
//! DIR must be on the disk under test (a tmpfs makes fdatasync free and the numbers
//! meaningless); by default a temporary directory under the current directory is used.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use watchkeeper_log::{LogOptions, Wal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let seconds: f64 = args.next().map_or(Ok(2.0), |s| s.parse())?;
    let payload_len: usize = args.next().map_or(Ok(128), |s| s.parse())?;
    let payload = vec![0x5au8; payload_len];
    println!(
        "payload {payload_len} bytes, {seconds} s per batch size, directory under {}",
        base.display()
    );
    println!(
        "{:>6} {:>12} {:>12} {:>12}",
        "batch", "appends/s", "syncs/s", "us/sync"
    );
    for batch in [1usize, 16, 256] {
        let dir = tempfile::tempdir_in(&base)?;
        let (mut wal, _) = Wal::open(dir.path(), LogOptions::default())?;
        let deadline = Duration::from_secs_f64(seconds);
        let start = Instant::now();
        let (mut appends, mut syncs) = (0u64, 0u64);
        while start.elapsed() < deadline {
            for _ in 0..batch {
                let i = wal.last_index() + 1;
                wal.append(i, &payload)?;
            }
            wal.sync()?;
            appends += batch as u64;
            syncs += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{batch:>6} {:>12.0} {:>12.0} {:>12.0}",
            appends as f64 / secs,
            syncs as f64 / secs,
            secs * 1e6 / syncs as f64
        );
    }
    Ok(())
}
