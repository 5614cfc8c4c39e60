//! Turning replies, events and errors into text: zkCli-like lines for people, one JSON value
//! per reply (and per event) for scripts.
//!
//! Human output follows zkCli where zkCli has a form (`[a, b]` for `ls`, the `cZxid = 0x…`
//! stat block, `'world,'anyone` ACL lines, `Created /x`, `WatchedEvent state:… type:… path:…`),
//! except that times are ISO 8601 UTC. JSON output: stats are objects with ZooKeeper's field
//! names and numeric values (times in milliseconds since the epoch); data follows
//! `encoding.rs`; an error is `{"error": {"kind", "message", "exit_code"}}`.

use serde_json::{Map, Value, json};
use watchkeeper_proto::{Acl, Stat};

use super::acl::format_perms;
use super::commands::{CmdError, Reply, Subtree};
use super::encoding::{data_field, data_for_humans};
use super::store::Event;

/// Output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Human,
    Json,
}

/// The text a reply prints (empty for replies zkCli prints nothing for); ends with a newline
/// unless empty.
pub fn reply(r: &Reply, style: Style) -> String {
    match style {
        Style::Human => human(r),
        Style::Json => match json_reply(r) {
            Some(v) => format!("{v}\n"),
            None => String::new(),
        },
    }
}

fn human(r: &Reply) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    match r {
        Reply::Children { children, stat } => {
            line(&format!("[{}]", children.join(", ")));
            if let Some(s) = stat {
                line(&stat_block(s));
            }
        }
        Reply::Paths(paths) => paths.iter().for_each(|p| line(p)),
        Reply::Data { data, stat } => {
            line(&data_for_humans(data));
            if let Some(s) = stat {
                line(&stat_block(s));
            }
        }
        Reply::Stat(s) => line(&stat_block(s)),
        Reply::Created(path) => line(&format!("Created {path}")),
        Reply::Written { stat, show } => {
            if *show {
                line(&stat_block(stat));
            }
        }
        Reply::Acl { acl, stat } => {
            for a in acl {
                line(&format!(
                    "'{},'{}\n: {}",
                    a.id.scheme,
                    a.id.id,
                    format_perms(a.perms)
                ));
            }
            if let Some(s) = stat {
                line(&stat_block(s));
            }
        }
        Reply::Synced(_) => line("Sync is OK"),
        Reply::Tree(tree) => out.push_str(&draw_tree(tree)),
        Reply::Exported {
            document,
            file,
            nodes,
            skipped_ephemerals,
        } => match file {
            None => line(document),
            Some(f) => {
                let skipped = match skipped_ephemerals {
                    0 => String::new(),
                    n => format!(" ({n} ephemeral nodes left out)"),
                };
                line(&format!(
                    "Exported {nodes} nodes to {}{skipped}",
                    f.display()
                ));
            }
        },
        Reply::Imported { path, nodes } => line(&format!("Imported {nodes} nodes at {path}")),
        Reply::Help(text) => out.push_str(text),
        Reply::Deleted { .. } | Reply::AclSet { .. } | Reply::AuthAdded { .. } | Reply::Quit => {}
    }
    out
}

fn json_reply(r: &Reply) -> Option<Value> {
    let with_stat = |mut v: Map<String, Value>, stat: &Option<Stat>| {
        if let Some(s) = stat {
            v.insert("stat".into(), stat_json(s));
        }
        Value::Object(v)
    };
    Some(match r {
        Reply::Children { children, stat } => {
            let mut m = Map::new();
            m.insert("children".into(), json!(children));
            with_stat(m, stat)
        }
        Reply::Paths(paths) => json!({ "paths": paths }),
        Reply::Data { data, stat } => {
            let (key, text) = data_field(data);
            let mut m = Map::new();
            m.insert(key.into(), Value::String(text));
            with_stat(m, stat)
        }
        Reply::Stat(s) => stat_json(s),
        Reply::Created(path) => json!({ "path": path }),
        Reply::Written { stat, .. } => json!({ "stat": stat_json(stat) }),
        Reply::Deleted { path, count } => json!({ "path": path, "deleted": count }),
        Reply::Acl { acl, stat } => {
            let mut m = Map::new();
            m.insert("acl".into(), acl_json(acl));
            with_stat(m, stat)
        }
        Reply::AclSet { stat, count } => json!({ "stat": stat_json(stat), "nodes": count }),
        Reply::AuthAdded { scheme } => json!({ "scheme": scheme }),
        Reply::Synced(path) => json!({ "path": path }),
        Reply::Tree(tree) => {
            let nodes: Vec<Value> = tree
                .preorder()
                .into_iter()
                .map(|(path, depth)| {
                    let children = tree.children(&path).len();
                    json!({ "path": path, "depth": depth, "children": children })
                })
                .collect();
            json!({ "root": tree.root(), "nodes": nodes })
        }
        Reply::Exported {
            document,
            file,
            nodes,
            skipped_ephemerals,
        } => match file {
            // The document is JSON already; printed as is.
            None => serde_json::from_str(document).ok()?,
            Some(f) => json!({
                "file": f.display().to_string(),
                "nodes": nodes,
                "skipped_ephemerals": skipped_ephemerals,
            }),
        },
        Reply::Imported { path, nodes } => json!({ "path": path, "nodes": nodes }),
        Reply::Help(text) => json!({ "help": text }),
        Reply::Quit => return None,
    })
}

/// zkCli's stat block (without a trailing newline).
pub fn stat_block(s: &Stat) -> String {
    [
        format!("cZxid = {:#x}", s.czxid),
        format!("ctime = {}", iso_time(s.ctime)),
        format!("mZxid = {:#x}", s.mzxid),
        format!("mtime = {}", iso_time(s.mtime)),
        format!("pZxid = {:#x}", s.pzxid),
        format!("cversion = {}", s.cversion),
        format!("dataVersion = {}", s.version),
        format!("aclVersion = {}", s.aversion),
        format!("ephemeralOwner = {:#x}", s.ephemeral_owner),
        format!("dataLength = {}", s.data_length),
        format!("numChildren = {}", s.num_children),
    ]
    .join("\n")
}

pub fn stat_json(s: &Stat) -> Value {
    json!({
        "czxid": s.czxid, "mzxid": s.mzxid, "pzxid": s.pzxid,
        "ctime": s.ctime, "mtime": s.mtime,
        "version": s.version, "cversion": s.cversion, "aversion": s.aversion,
        "ephemeralOwner": s.ephemeral_owner,
        "dataLength": s.data_length, "numChildren": s.num_children,
    })
}

fn acl_json(acl: &[Acl]) -> Value {
    acl.iter()
        .map(|a| json!({ "scheme": a.id.scheme, "id": a.id.id, "perms": format_perms(a.perms) }))
        .collect()
}

/// One watch event as a line.
pub fn event(e: &Event, style: Style) -> String {
    match style {
        Style::Human => format!(
            "WatchedEvent state:{:?} type:{:?} path:{} zxid: {}\n",
            e.state, e.kind, e.path, e.zxid
        ),
        Style::Json => format!(
            "{}\n",
            json!({
                "type": format!("{:?}", e.kind),
                "state": format!("{:?}", e.state),
                "path": e.path,
                "zxid": e.zxid,
            })
        ),
    }
}

/// An error as the line printed to stderr.
pub fn error(e: &CmdError, style: Style) -> String {
    match style {
        Style::Human => format!("{e}\n"),
        Style::Json => format!(
            "{}\n",
            json!({ "error": {
                "kind": e.kind(),
                "message": e.to_string(),
                "exit_code": e.exit_code(),
            }})
        ),
    }
}

/// The subtree drawn with box-drawing characters, root first.
pub fn draw_tree(tree: &Subtree) -> String {
    let mut out = format!("{}\n", tree.root());
    // (path, the prefix its own children are drawn with, whether it is its parent's last child)
    let mut stack: Vec<(String, String, bool)> = Vec::new();
    let push_children = |stack: &mut Vec<(String, String, bool)>, path: &str, prefix: &str| {
        let names = tree.children(path);
        for (i, name) in names.iter().enumerate().rev() {
            let child = super::commands::join(path, name);
            stack.push((child, prefix.to_string(), i + 1 == names.len()));
        }
    };
    push_children(&mut stack, tree.root(), "");
    while let Some((path, prefix, last)) = stack.pop() {
        let name = path.rsplit('/').next().unwrap_or(&path);
        let (branch, carry) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        out.push_str(&format!("{prefix}{branch}{name}\n"));
        push_children(&mut stack, &path, &format!("{prefix}{carry}"));
    }
    out
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso_time(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchkeeper_proto::{EventType, Id, KeeperState, perms};

    #[test]
    fn times() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso_time(1_714_989_600_000), "2024-05-06T10:00:00.000Z");
        assert_eq!(iso_time(-1), "1969-12-31T23:59:59.999Z");
        // Extreme values do not panic.
        let _ = iso_time(i64::MAX);
        let _ = iso_time(i64::MIN);
    }

    #[test]
    fn human_forms_follow_zkcli() {
        let r = Reply::Children {
            children: vec!["a".into(), "b".into()],
            stat: None,
        };
        assert_eq!(reply(&r, Style::Human), "[a, b]\n");
        let r = Reply::Acl {
            acl: vec![Acl::new(perms::ALL, Id::anyone())],
            stat: None,
        };
        assert_eq!(reply(&r, Style::Human), "'world,'anyone\n: cdrwa\n");
        assert_eq!(
            reply(&Reply::Created("/x".into()), Style::Human),
            "Created /x\n"
        );
        let s = Stat {
            czxid: 0x1f,
            num_children: 2,
            ..Stat::default()
        };
        let text = reply(&Reply::Stat(s), Style::Human);
        assert!(
            text.starts_with("cZxid = 0x1f\nctime = 1970-01-01T00:00:00.000Z\n"),
            "{text}"
        );
        assert!(text.ends_with("numChildren = 2\n"));
        let data = Reply::Data {
            data: vec![0xff],
            stat: None,
        };
        assert_eq!(reply(&data, Style::Human), "0xff\n");
    }

    #[test]
    fn json_forms() {
        let data = Reply::Data {
            data: b"v".to_vec(),
            stat: Some(Stat::default()),
        };
        let v: Value = serde_json::from_str(&reply(&data, Style::Json)).unwrap();
        assert_eq!(v["data"], "v");
        assert_eq!(v["stat"]["numChildren"], 0);
        let bin = Reply::Data {
            data: vec![0, 0xff],
            stat: None,
        };
        let v: Value = serde_json::from_str(&reply(&bin, Style::Json)).unwrap();
        assert_eq!(v, json!({ "data_hex": "00ff" }));
        let e = Event {
            kind: EventType::NodeCreated,
            state: KeeperState::SyncConnected,
            path: "/a".into(),
            zxid: 7,
        };
        let v: Value = serde_json::from_str(&event(&e, Style::Json)).unwrap();
        assert_eq!(v["type"], "NodeCreated");
        assert_eq!(
            event(&e, Style::Human),
            "WatchedEvent state:SyncConnected type:NodeCreated path:/a zxid: 7\n"
        );
        let err = CmdError::Server {
            code: watchkeeper_proto::ErrorCode::NoNode,
            path: "/foo".into(),
        };
        let v: Value = serde_json::from_str(&error(&err, Style::Json)).unwrap();
        assert_eq!(v["error"]["kind"], "NoNode");
        assert_eq!(v["error"]["message"], "Node does not exist: /foo");
        assert_eq!(v["error"]["exit_code"], 1);
    }
}
