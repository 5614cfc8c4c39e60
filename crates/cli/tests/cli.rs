//! `watchkeeper cli` one-shot commands against a real `watchkeeper serve`: output, exit codes,
//! JSON, ACLs, export/import and watches.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Server, capture, cli, free_port, path_str, send_signal, tempdir, wait_for};
use serde_json::Value;

#[test]
fn crud_and_exit_codes() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    assert_eq!(s.ok(&["create", "/a", "hello"]), "Created /a\n");
    assert_eq!(s.ok(&["get", "/a"]), "hello\n");
    assert_eq!(s.ok(&["set", "/a", "hello world"]), "");
    let text = s.ok(&["get", "-s", "/a"]);
    assert!(text.starts_with("hello world\ncZxid = 0x"), "{text}");
    assert!(text.contains("\ndataVersion = 1\n"), "{text}");
    assert!(text.contains("\ndataLength = 11\n"), "{text}");
    assert!(s.ok(&["stat", "/a"]).contains("numChildren = 0\n"));

    let r = s.cli(&["set", "/a", "x", "-v", "0"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "Version does not match: /a\n")
    );
    assert_eq!(s.ok(&["delete", "-v", "1", "/a"]), "");

    let r = s.cli(&["get", "/a"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stderr, "Node does not exist: /a\n");
    assert_eq!(r.stdout, "");
    let r = s.cli(&["create", "/missing/child"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "Node does not exist: /missing/child\n")
    );

    // The suffix is the parent's cversion, which /a's create and delete moved.
    let seq = s.ok(&["create", "-s", "/seq-"]);
    let digits = seq
        .strip_prefix("Created /seq-")
        .and_then(|r| r.strip_suffix('\n'));
    assert!(
        digits.is_some_and(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit())),
        "{seq}"
    );
    assert_eq!(s.ok(&["sync", "/"]), "Sync is OK\n");
}

#[test]
fn usage_errors_and_unreachable_servers() {
    // Usage errors are found before connecting: no server needed.
    let r = cli("127.0.0.1:1", &["get"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(2), "usage: get [-s] [-w] PATH\n")
    );
    let r = cli("127.0.0.1:1", &["get", "relative"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("must start with /"), "{}", r.stderr);
    let r = cli("127.0.0.1:1", &["frobnicate"]);
    assert_eq!(r.code, Some(2));
    let r = cli("127.0.0.1:1", &["help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("deleteall PATH"));

    let port = free_port().to_string();
    let r = Command::new(BIN)
        .args([
            "cli",
            "--server",
            &format!("127.0.0.1:{port}"),
            "--connect-timeout-secs",
            "1",
        ])
        .args(["ls", "/"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("cannot connect to 127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

#[test]
fn ls_tree_and_deleteall() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    for p in ["/app", "/app/svc", "/app/svc/a", "/app/svc/b", "/app/cfg"] {
        s.ok(&["create", p]);
    }
    assert_eq!(s.ok(&["ls", "/app"]), "[cfg, svc]\n");
    assert_eq!(
        s.ok(&["ls", "-R", "/app"]),
        "/app\n/app/cfg\n/app/svc\n/app/svc/a\n/app/svc/b\n"
    );
    assert_eq!(
        s.ok(&["tree", "/app"]),
        "/app\n├── cfg\n└── svc\n    ├── a\n    └── b\n"
    );
    let r = s.cli(&["delete", "/app"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "Node not empty: /app\n")
    );
    assert_eq!(s.ok(&["deleteall", "/app"]), "");
    assert_eq!(s.ok(&["ls", "/"]), "[zookeeper]\n");
}

#[test]
fn json_output() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    let v: Value = serde_json::from_str(&s.ok(&["--json", "create", "/j", "v1"])).unwrap();
    assert_eq!(v["path"], "/j");
    let v: Value = serde_json::from_str(&s.ok(&["--json", "get", "-s", "/j"])).unwrap();
    assert_eq!(v["data"], "v1");
    assert_eq!(v["stat"]["version"], 0);
    assert_eq!(v["stat"]["dataLength"], 2);
    let v: Value = serde_json::from_str(&s.ok(&["--json", "ls", "/"])).unwrap();
    assert_eq!(v["children"], serde_json::json!(["j", "zookeeper"]));
    let v: Value = serde_json::from_str(&s.ok(&["--json", "set", "/j", "v2"])).unwrap();
    assert_eq!(v["stat"]["version"], 1);
    let v: Value = serde_json::from_str(&s.ok(&["--json", "getAcl", "/j"])).unwrap();
    assert_eq!(
        v["acl"],
        serde_json::json!([{ "scheme": "world", "id": "anyone", "perms": "cdrwa" }])
    );

    let r = s.cli(&["--json", "get", "/nope"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stdout, "");
    let e: Value = serde_json::from_str(&r.stderr).unwrap();
    assert_eq!(e["error"]["kind"], "NoNode");
    assert_eq!(e["error"]["message"], "Node does not exist: /nope");
}

#[test]
fn acls_and_auth() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    s.ok(&["create", "/open", "x"]);
    assert_eq!(s.ok(&["getAcl", "/open"]), "'world,'anyone\n: cdrwa\n");
    s.ok(&["setAcl", "/open", "world:anyone:r"]);
    assert_eq!(s.ok(&["getAcl", "/open"]), "'world,'anyone\n: r\n");
    let r = s.cli(&["set", "/open", "y"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "Insufficient permission: /open\n")
    );
    assert_eq!(s.ok(&["get", "/open"]), "x\n");

    // `auth` ACLs name the session's own identities: bob's digest here.
    let bob = ["--auth", "digest:bob:secret"];
    s.ok(&["create", "/secret", "s"]);
    s.ok(&[&bob[..], &["setAcl", "/secret", "auth::cdrwa"]].concat());
    let r = s.cli(&["get", "/secret"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "Insufficient permission: /secret\n")
    );
    assert_eq!(s.ok(&[&bob[..], &["get", "/secret"]].concat()), "s\n");
    let acl = s.ok(&[&bob[..], &["getAcl", "/secret"]].concat());
    assert!(
        acl.starts_with("'digest,'bob:") && acl.ends_with("\n: cdrwa\n"),
        "{acl}"
    );
    let r = s.cli(&["--auth", "digest:eve:guess", "get", "/secret"]);
    assert_eq!(r.code, Some(1));

    let r = s.cli(&["setAcl", "/open", "world:anyone:rx"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("unknown permission `x`"), "{}", r.stderr);
}

#[test]
fn export_import_round_trip() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    s.ok(&["create", "/src", "root data"]);
    s.ok(&["create", "/src/cfg", "{\"a\": 1}"]);
    s.ok(&["create", "/src/cfg/deep", "ünïcode"]);
    s.ok(&["create", "/src/ro", "r", "world:anyone:r"]);
    let file = path_str(&dir.path().join("src.json"));
    assert_eq!(
        s.ok(&["export", "/src", &file]),
        format!("Exported 4 nodes to {file}\n")
    );
    assert_eq!(
        s.ok(&["import", &file, "/copy"]),
        "Imported 4 nodes at /copy\n"
    );
    assert_eq!(s.ok(&["get", "/copy/cfg/deep"]), "ünïcode\n");
    assert_eq!(s.ok(&["get", "/copy/cfg"]), "{\"a\": 1}\n");
    assert_eq!(s.ok(&["getAcl", "/copy/ro"]), "'world,'anyone\n: r\n");

    // The copy exports to the same nodes.
    let a: Value = serde_json::from_str(&s.ok(&["export", "/src"])).unwrap();
    let b: Value = serde_json::from_str(&s.ok(&["export", "/copy"])).unwrap();
    assert_eq!(a["nodes"], b["nodes"]);
    assert_eq!(b["path"], "/copy");

    let r = s.cli(&["import", &file, "/copy"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        "Node already exists: /copy (stopped after creating 0 nodes)\n"
    );
    let r = s.cli(&["import", "/no/such/file.json", "/x"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("/no/such/file.json: "), "{}", r.stderr);
}

#[test]
fn watch_streams_events_until_interrupted() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    s.ok(&["create", "/w"]);
    let mut child = Command::new(BIN)
        .args(["cli", "--server", &s.addr(), "watch", "-r", "/w"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = capture(child.stdout.take().unwrap());
    let err = capture(child.stderr.take().unwrap());
    wait_for(&err, "watching /w", Duration::from_secs(20));
    s.ok(&["create", "/w/x"]);
    s.ok(&["set", "/w/x", "1"]);
    wait_for(
        &out,
        "type:NodeDataChanged path:/w/x",
        Duration::from_secs(20),
    );
    assert!(
        out.lock()
            .unwrap()
            .starts_with("WatchedEvent state:SyncConnected type:NodeCreated path:/w/x zxid: "),
        "{}",
        out.lock().unwrap()
    );
    send_signal(child.id(), "INT");
    let status = common::wait_timeout(&mut child, Duration::from_secs(20)).expect("watch exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn get_with_watch_waits_for_the_event_in_one_shot_mode() {
    let dir = tempdir();
    let s = Server::start(dir.path());
    s.ok(&["create", "/g", "old"]);
    let mut child = Command::new(BIN)
        .args(["cli", "--server", &s.addr(), "--json", "get", "-w", "/g"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = capture(child.stdout.take().unwrap());
    wait_for(&out, "\"data\":\"old\"", Duration::from_secs(20));
    s.ok(&["set", "/g", "new"]);
    let status = common::wait_timeout(&mut child, Duration::from_secs(20)).expect("get -w exits");
    assert_eq!(status.code(), Some(0));
    let text = out.lock().unwrap().clone();
    let event: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(event["type"], "NodeDataChanged");
    assert_eq!(event["path"], "/g");
}

#[test]
fn shell_reads_commands_from_a_pipe() {
    use std::io::Write;
    let dir = tempdir();
    let s = Server::start(dir.path());
    let mut child = Command::new(BIN)
        .args(["cli", "--server", &s.addr()])
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"create /sh 'two words'\nget /sh\nbogus\nget /none\nls /\nquit\nget /sh\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Errors do not end the shell; `quit` does (the last `get` never runs).
    assert!(stdout.starts_with("Connected to 127.0.0.1:"), "{stdout}");
    assert!(
        stdout.ends_with("Created /sh\ntwo words\n[sh, zookeeper]\n"),
        "{stdout}"
    );
    assert_eq!(
        stderr,
        "unknown command `bogus` (try `help`)\nNode does not exist: /none\n"
    );
}
