//! `watchkeeper bench` end to end: a short read workload against a real server, its JSON
//! report printed and saved with `--output`, and bad arguments refused.

mod common;

use std::process::Command;

use common::{BIN, Server, path_str, tempdir};
use watchkeeper_bench::{LoadArgs, Report, Workload};

#[test]
fn a_short_read_benchmark_reports_json() {
    let dir = tempdir();
    let s = Server::start(&dir.path().join("data"));
    let report = path_str(&dir.path().join("report.json"));
    let out = Command::new(BIN)
        .args(["bench", "--server", &s.addr(), "--no-progress", "--json"])
        .args(["--output", &report, "--root", "/bench-test"])
        .args([
            "read",
            "--sessions",
            "2",
            "--in-flight",
            "4",
            "--keys",
            "10",
        ])
        .args(["--duration", "300ms", "--warmup", "0s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let printed = Report::from_json(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let saved = Report::from_json(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(printed, saved);
    let expected = LoadArgs {
        sessions: 2,
        in_flight: 4,
        keys: 10,
        duration: std::time::Duration::from_millis(300),
        warmup: std::time::Duration::ZERO,
        ..LoadArgs::default()
    };
    assert_eq!(saved.workload, Workload::Read(expected));
    assert_eq!(saved.servers.len(), 1);
    assert_eq!(saved.servers[0].addr, s.addr());
    assert_eq!(saved.runs.len(), 1);

    // Bad arguments fail before anything connects.
    let out = Command::new(BIN)
        .args(["bench", "--server", &s.addr(), "read", "--sessions", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sessions"));
}
