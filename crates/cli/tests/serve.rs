//! `watchkeeper serve` as a process: clean shutdown on SIGTERM, data kept across a restart,
//! and `--config zoo.cfg` (read, and refused with the line number when malformed).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Server, path_str, tempdir, wait_timeout};

#[test]
fn sigterm_stops_cleanly_and_data_survives_a_restart() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let mut s = Server::start(&data);
    s.ok(&["create", "/kept", "across restarts"]);
    s.ok(&["create", "/kept/child", "c"]);
    s.ok(&["set", "/kept", "v2"]);
    let status = s.signal_and_wait("TERM");
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    assert!(s.stderr().contains("shutting down"), "{}", s.stderr());
    drop(s);

    let s = Server::start(&data);
    assert_eq!(s.ok(&["get", "/kept"]), "v2\n");
    assert_eq!(s.ok(&["ls", "/kept"]), "[child]\n");
    assert!(s.ok(&["stat", "/kept"]).contains("dataVersion = 1\n"));
    // Writes keep working after recovery.
    assert_eq!(s.ok(&["create", "/after"]), "Created /after\n");
}

#[test]
fn serve_reads_zoo_cfg() {
    let dir = tempdir();
    let cfg = dir.path().join("zoo.cfg");
    let data = path_str(&dir.path().join("zkdata"));
    let s = Server::start_with(|port| {
        std::fs::write(
            &cfg,
            format!(
                "# a ZooKeeper config\ntickTime=500\nclientPort={port}\n\
                 clientPortAddress=127.0.0.1\ndataDir={data}\n4lw.commands.whitelist=ruok,conf\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--config").arg(&cfg);
        cmd
    });
    s.ok(&["create", "/from-cfg", "x"]);
    // The data went where the file said.
    assert!(std::path::Path::new(&data).is_dir(), "{data} missing");
    let conf = four_letter(s.port, "conf");
    assert!(conf.contains("tickTime=500"), "{conf}");
    assert!(conf.contains(&format!("clientPort={}", s.port)), "{conf}");
}

#[test]
fn malformed_zoo_cfg_names_the_line() {
    let dir = tempdir();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        "tickTime=2000\n# fine so far\nclientPort=not-a-port\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(20)).expect("serve exits");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("zoo.cfg:3:"), "{stderr}");
    assert!(stderr.contains("clientPort"), "{stderr}");
}

/// Sends a four-letter word and returns the answer.
fn four_letter(port: u16, word: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(word.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    answer
}
