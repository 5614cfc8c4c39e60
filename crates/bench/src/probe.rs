//! Looking at a server from outside the protocol: four-letter words (`srvr` for its name,
//! `mntr` for its counters), and a local process's resident memory and CPU time from `/proc`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most bytes read from a four-letter-word answer.
const MAX_ANSWER: usize = 1 << 20;

/// Sends a four-letter word and reads the answer until the server closes; `None` when the
/// server cannot be reached in `timeout` or does not answer.
pub async fn four_letter(addr: SocketAddr, word: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let io = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(word.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 || out.len() + n > MAX_ANSWER {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(out).ok()
    };
    tokio::time::timeout_at(deadline.into(), io)
        .await
        .ok()
        .flatten()
        .filter(|s| !s.is_empty())
}

/// `mntr`'s `key<TAB>value` lines; empty when the word is not allowed or not answered.
pub async fn mntr(addr: SocketAddr, timeout: Duration) -> BTreeMap<String, String> {
    four_letter(addr, "mntr", timeout)
        .await
        .map(|s| parse_mntr(&s))
        .unwrap_or_default()
}

pub fn parse_mntr(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            k.starts_with("zk_")
                .then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// A name for the server from its `srvr` answer: "watchkeeper 0.1.0" or "zookeeper 3.8.4".
pub fn label_from_srvr(srvr: &str) -> Option<String> {
    let line = srvr.lines().find(|l| l.starts_with("Zookeeper version:"))?;
    let version = line["Zookeeper version:".len()..].trim();
    // ZooKeeper: "3.8.4-<hash>, built on <date>". Watchkeeper leads with the release it
    // matches: "3.9.2-watchkeeper-0.1.0, built on watchkeeper".
    let leading_number = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect()
    };
    let (kind, number) = match version.find("watchkeeper-") {
        Some(i) => (
            "watchkeeper",
            leading_number(&version[i + "watchkeeper-".len()..]),
        ),
        None if version.contains("watchkeeper") => ("watchkeeper", String::new()),
        None => ("zookeeper", leading_number(version)),
    };
    Some(if number.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {number}")
    })
}

/// Resident set size of a local process, in bytes, from `/proc/<pid>/status` (VmRSS).
pub fn vm_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next().unwrap_or("kB");
    let factor = match unit {
        "kB" | "KB" | "kb" => 1024,
        "mB" | "MB" => 1024 * 1024,
        "B" => 1,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// CPU time a local process has used so far (all its threads, user and system), in
/// nanoseconds: the sum of `/proc/<pid>/task/*/schedstat`, or `/proc/<pid>/stat`'s clock ticks
/// where schedstat is missing. Threads that exited are not counted, so compare two readings
/// of a server whose threads live as long as it does.
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = parse_schedstat(&text) {
            total = total.saturating_add(ns);
            any = true;
        }
    }
    if any {
        return Some(total);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|ticks| ticks.saturating_mul(NS_PER_USER_HZ_TICK))
}

/// Linux reports `/proc/<pid>/stat` times in USER_HZ ticks, 100 per second on every
/// architecture it exports them for.
const NS_PER_USER_HZ_TICK: u64 = 10_000_000;

/// The first field of a schedstat line: time spent on the CPU, in nanoseconds.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15, counted after the
/// parenthesised command name, which may itself contain spaces).
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state), so field n is at index n - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mntr_lines_parse() {
        let m = parse_mntr("zk_version\t3.8.4\nzk_watch_count\t12\ngarbage\nzk_x\t 5 \n");
        assert_eq!(m.get("zk_watch_count").map(String::as_str), Some("12"));
        assert_eq!(m.get("zk_x").map(String::as_str), Some("5"));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn labels_from_srvr() {
        let zk = "Zookeeper version: 3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, built on 2024-02-12 22:16 UTC\nLatency min/avg/max: 0/0.0/0\n";
        assert_eq!(label_from_srvr(zk).as_deref(), Some("zookeeper 3.8.4"));
        let wk = "Zookeeper version: 3.9.2-watchkeeper-0.1.0, built on watchkeeper\n";
        assert_eq!(label_from_srvr(wk).as_deref(), Some("watchkeeper 0.1.0"));
        assert_eq!(label_from_srvr("imok"), None);
    }

    #[test]
    fn vm_rss_parses_and_rejects_odd_units() {
        let status = "Name:\tjava\nVmPeak:\t 100 kB\nVmRSS:\t  2048 kB\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("VmRSS: 1 parsecs\n"), None);
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        // Our own process is always there on Linux.
        assert!(vm_rss_bytes(std::process::id()).unwrap_or(0) > 0);
    }

    #[test]
    fn cpu_time_parses_and_grows_with_work() {
        assert_eq!(parse_schedstat("2801827 66456 3\n"), Some(2_801_827));
        assert_eq!(parse_schedstat(""), None);
        let stat = "413 (watch keeper) S 1 413 413 0 -1 4194624 1 0 0 0 57 31 0 0 20 0 4 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(57 + 31));
        assert_eq!(parse_stat_cpu_ticks("413 (x) S 1"), None);
        let me = std::process::id();
        let before = process_cpu_ns(me).expect("our own CPU time");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(
            process_cpu_ns(me).expect("our own CPU time") > before,
            "{x}"
        );
    }
}
