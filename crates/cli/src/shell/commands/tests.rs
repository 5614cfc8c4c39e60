//! Command dispatch against the in-memory store: parse a line, execute it, check the reply,
//! the tree and the rendered text.

use futures::StreamExt;
use watchkeeper_proto::{Acl, ErrorCode, EventType, Id, KeeperState, perms};

use super::*;
use crate::shell::fake::{FakeStore, tree};
use crate::shell::parse::{parse, tokenize};
use crate::shell::render::{self, Style};
use crate::shell::store::Event;

async fn run(store: &FakeStore, line: &str) -> Result<Outcome<FakeStore>, CmdError> {
    execute(store, parse(&tokenize(line).unwrap())?).await
}

async fn reply(store: &FakeStore, line: &str) -> Reply {
    match run(store, line).await {
        Ok(o) => o
            .reply()
            .cloned()
            .unwrap_or_else(|| panic!("{line}: no reply")),
        Err(e) => panic!("{line}: {e}"),
    }
}

async fn human(store: &FakeStore, line: &str) -> String {
    render::reply(&reply(store, line).await, Style::Human)
}

async fn error(store: &FakeStore, line: &str) -> CmdError {
    run(store, line).await.expect_err(line)
}

fn sample() -> FakeStore {
    tree(&[
        ("/app", "root"),
        ("/app/b", ""),
        ("/app/a", "x"),
        ("/app/a/deep", "d"),
        ("/other", ""),
    ])
}

#[tokio::test]
async fn crud_round_trip() {
    let s = FakeStore::new();
    assert_eq!(human(&s, "create /n hello").await, "Created /n\n");
    assert_eq!(human(&s, "get /n").await, "hello\n");
    assert_eq!(human(&s, "set /n world").await, "");
    assert_eq!(s.data("/n").unwrap(), b"world");
    assert!(human(&s, "get -s /n").await.contains("dataVersion = 1\n"));
    assert!(matches!(
        reply(&s, "set -s /n again -v 1").await,
        Reply::Written { show: true, stat } if stat.version == 2
    ));
    assert_eq!(
        error(&s, "set /n x -v 7").await.to_string(),
        "Version does not match: /n"
    );
    assert_eq!(
        error(&s, "delete -v 0 /n").await.to_string(),
        "Version does not match: /n"
    );
    assert_eq!(human(&s, "delete /n").await, "");
    assert_eq!(
        error(&s, "get /n").await.to_string(),
        "Node does not exist: /n"
    );
}

#[tokio::test]
async fn create_modes_and_errors() {
    let s = FakeStore::new();
    assert_eq!(human(&s, "create -s /q-").await, "Created /q-0000000001\n");
    assert_eq!(human(&s, "create -e /eph").await, "Created /eph\n");
    let e = error(&s, "create /eph/child").await;
    assert_eq!(e.to_string(), "Ephemerals cannot have children: /eph/child");
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        error(&s, "create /eph").await.to_string(),
        "Node already exists: /eph"
    );
    assert_eq!(
        error(&s, "create /no/parent").await.to_string(),
        "Node does not exist: /no/parent"
    );
    assert_eq!(human(&s, "create -t 500 /ttl").await, "Created /ttl\n");
    human(&s, "create /locked v world:anyone:r").await;
    assert_eq!(
        s.acl("/locked").unwrap(),
        vec![Acl::new(perms::READ, Id::anyone())]
    );
}

#[tokio::test]
async fn ls_sorts_and_recurses() {
    let s = sample();
    assert_eq!(human(&s, "ls /app").await, "[a, b]\n");
    assert_eq!(human(&s, "ls /").await, "[app, other, zookeeper]\n");
    assert_eq!(
        human(&s, "ls -R /app").await,
        "/app\n/app/a\n/app/a/deep\n/app/b\n"
    );
    let text = human(&s, "ls -s /app").await;
    assert!(text.starts_with("[a, b]\ncZxid = "), "{text}");
    assert!(text.contains("numChildren = 2\n"));
    // Looking includes ZooKeeper's own subtree.
    assert!(human(&s, "ls -R /").await.contains("/zookeeper/quota\n"));
    assert_eq!(
        error(&s, "ls /nope").await.to_string(),
        "Node does not exist: /nope"
    );
}

#[tokio::test]
async fn stat_and_missing_nodes() {
    let s = sample();
    assert!(matches!(reply(&s, "stat /app").await, Reply::Stat(st) if st.num_children == 2));
    let e = error(&s, "stat /missing").await;
    assert_eq!(e.to_string(), "Node does not exist: /missing");
    assert!(matches!(
        e,
        CmdError::Server {
            code: ErrorCode::NoNode,
            ..
        }
    ));
}

#[tokio::test]
async fn watch_flags_return_the_watch() {
    let s = sample();
    for (line, kind) in [
        ("get -w /app", "data"),
        ("ls -w /app", "children"),
        ("stat -w /app", "exists"),
    ] {
        match run(&s, line).await.unwrap() {
            Outcome::Watching(_, w) => {
                assert_eq!(w.await.path, "/app");
            }
            other => panic!("{line}: {other:?}"),
        }
        assert!(s.watches().contains(&(kind, "/app".to_string())), "{line}");
    }
}

#[tokio::test]
async fn deleteall_takes_the_subtree_and_spares_zookeeper() {
    let s = sample();
    assert_eq!(
        reply(&s, "deleteall /app").await,
        Reply::Deleted {
            path: "/app".into(),
            count: 4
        }
    );
    assert_eq!(s.paths(), ["/", "/other", "/zookeeper", "/zookeeper/quota"]);
    assert!(matches!(
        reply(&s, "deleteall /").await,
        Reply::Deleted { count: 1, .. }
    ));
    assert_eq!(s.paths(), ["/", "/zookeeper", "/zookeeper/quota"]);
    assert_eq!(
        error(&s, "deleteall /gone").await.to_string(),
        "Node does not exist: /gone"
    );
}

#[tokio::test]
async fn deleteall_reports_partial_progress() {
    let s = sample();
    s.fail_on("/app/a", ErrorCode::NoAuth);
    // The walk itself fails on /app/a's listing; nothing is deleted.
    assert_eq!(
        error(&s, "deleteall /app").await.to_string(),
        "Insufficient permission: /app/a"
    );
    assert!(s.data("/app/a/deep").is_some());

    let s = sample();
    s.fail_delete_of("/app/a", ErrorCode::NoAuth);
    let e = error(&s, "deleteall /app").await;
    // The deepest level went (/app/a/deep), then /app/b beside the refused /app/a.
    assert_eq!(
        e.to_string(),
        "Insufficient permission: /app/a (stopped after deleting 2 nodes)"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        s.paths(),
        [
            "/",
            "/app",
            "/app/a",
            "/other",
            "/zookeeper",
            "/zookeeper/quota"
        ]
    );
}

#[tokio::test]
async fn acls() {
    let s = sample();
    assert_eq!(human(&s, "getAcl /app").await, "'world,'anyone\n: cdrwa\n");
    assert!(matches!(
        reply(&s, "setAcl /app world:anyone:r,digest:bob:h=:cdrwa").await,
        Reply::AclSet { count: 1, .. }
    ));
    assert_eq!(
        human(&s, "getAcl /app").await,
        "'world,'anyone\n: r\n'digest,'bob:h=\n: cdrwa\n"
    );
    assert_eq!(s.acl("/app/a").unwrap(), Acl::open_unsafe());
    assert!(matches!(
        reply(&s, "setAcl -R /app world:anyone:rw").await,
        Reply::AclSet { count: 4, .. }
    ));
    assert_eq!(
        s.acl("/app/a/deep").unwrap(),
        vec![Acl::new(perms::READ | perms::WRITE, Id::anyone())]
    );
    assert_eq!(
        error(&s, "setAcl -v 9 /app world:anyone:r")
            .await
            .to_string(),
        "Version does not match: /app"
    );
    assert_eq!(error(&s, "setAcl /app nonsense").await.exit_code(), 2);
}

#[tokio::test]
async fn auth_and_sync() {
    let s = FakeStore::new();
    assert_eq!(human(&s, "addauth digest bob:pw").await, "");
    assert_eq!(s.auths(), vec![("digest".to_string(), b"bob:pw".to_vec())]);
    assert_eq!(
        error(&s, "addauth digest nocolon").await.to_string(),
        "Authentication failed"
    );
    assert_eq!(human(&s, "sync /").await, "Sync is OK\n");
}

#[tokio::test]
async fn tree_is_drawn() {
    let s = sample();
    human(&s, "create /app/b/c").await;
    assert_eq!(
        human(&s, "tree /app").await,
        "/app\n├── a\n│   └── deep\n└── b\n    └── c\n"
    );
    assert_eq!(human(&s, "tree /other").await, "/other\n");
    let json: serde_json::Value =
        serde_json::from_str(&render::reply(&reply(&s, "tree /app").await, Style::Json)).unwrap();
    assert_eq!(json["nodes"][2]["path"], "/app/a/deep");
    assert_eq!(json["nodes"][2]["depth"], 2);
}

#[tokio::test]
async fn export_import_round_trip() {
    let s = sample();
    s.create_now(
        "/app/bin",
        &[0, 159, 146, 150],
        watchkeeper_proto::CreateMode::Persistent,
        Some(&[Acl::new(
            perms::READ | perms::ADMIN,
            Id::new("digest", "u:h="),
        )]),
    )
    .unwrap();
    human(&s, "create -e /app/a/session-bound").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.json");
    let line = format!("export /app {}", file.display());
    assert_eq!(
        human(&s, &line).await,
        format!(
            "Exported 5 nodes to {} (1 ephemeral nodes left out)\n",
            file.display()
        )
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["format"], EXPORT_FORMAT);
    assert_eq!(doc["nodes"][0]["path"], "");
    assert_eq!(doc["nodes"][0]["data"], "root");
    let bin = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["path"] == "bin")
        .unwrap();
    assert_eq!(bin["data_hex"], "009f9296");
    assert_eq!(bin["acl"][0], "digest:u:h=:ra");

    let line = format!("import {} /copy", file.display());
    assert_eq!(human(&s, &line).await, "Imported 5 nodes at /copy\n");
    assert_eq!(s.data("/copy").unwrap(), b"root");
    assert_eq!(s.data("/copy/a/deep").unwrap(), b"d");
    assert_eq!(s.data("/copy/bin").unwrap(), vec![0, 159, 146, 150]);
    assert_eq!(s.acl("/copy/bin").unwrap(), s.acl("/app/bin").unwrap());
    assert!(s.data("/copy/a/session-bound").is_none());

    // A second import collides at the root and says so.
    let e = error(&s, &format!("import {} /copy", file.display())).await;
    assert_eq!(
        e.to_string(),
        "Node already exists: /copy (stopped after creating 0 nodes)"
    );
    // Without a file the document is the reply.
    match reply(&s, "export /other").await {
        Reply::Exported {
            document,
            file: None,
            nodes: 1,
            ..
        } => assert!(document.contains("\"path\": \"/other\"")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn export_of_root_leaves_zookeeper_out_and_imports_into_root() {
    let s = tree(&[("/a", "1"), ("/a/b", "2")]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.json");
    human(&s, &format!("export / {}", file.display())).await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("zookeeper"), "{text}");
    human(&s, "deleteall /").await;
    assert_eq!(
        human(&s, &format!("import {} /", file.display())).await,
        "Imported 2 nodes at /\n"
    );
    assert_eq!(
        s.paths(),
        ["/", "/a", "/a/b", "/zookeeper", "/zookeeper/quota"]
    );
}

#[tokio::test]
async fn watch_streams_scripted_events() {
    let s = sample();
    let ev = |path: &str| Event {
        kind: EventType::NodeCreated,
        state: KeeperState::SyncConnected,
        path: path.into(),
        zxid: 1,
    };
    s.script(vec![Ok(ev("/app/x")), Ok(ev("/app/y"))]);
    match run(&s, "watch -r /app").await.unwrap() {
        Outcome::Stream { path, events } => {
            assert_eq!(path, "/app");
            let got: Vec<_> = events.map(|e| e.unwrap().path).collect().await;
            assert_eq!(got, ["/app/x", "/app/y"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(s.watches().contains(&("recursive", "/app".to_string())));
    assert!(matches!(
        run(&s, "watch /app").await,
        Ok(Outcome::Stream { .. })
    ));
    assert!(s.watches().contains(&("persistent", "/app".to_string())));
}

#[tokio::test]
async fn help_and_quit() {
    let s = FakeStore::new();
    let text = human(&s, "help").await;
    for c in crate::shell::parse::COMMANDS {
        assert!(text.contains(c.usage), "help lacks {}", c.name);
    }
    assert_eq!(
        human(&s, "help get").await,
        "get [-s] [-w] PATH\n  print a node's data\n"
    );
    assert_eq!(error(&s, "help nope").await.exit_code(), 2);
    assert_eq!(reply(&s, "quit").await, Reply::Quit);
}

#[tokio::test]
async fn errors_in_json() {
    let s = FakeStore::new();
    let e = error(&s, "get /foo").await;
    let v: serde_json::Value = serde_json::from_str(&render::error(&e, Style::Json)).unwrap();
    assert_eq!(v["error"]["message"], "Node does not exist: /foo");
}
