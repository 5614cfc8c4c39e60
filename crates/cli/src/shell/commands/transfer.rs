//! `export PATH [FILE]` and `import FILE PATH`: a subtree as a JSON document and back.
//!
//! The document is flat, so that no tree depth runs into a JSON parser's nesting limit:
//!
//! ```json
//! { "format": "watchkeeper-export/1", "path": "/app",
//!   "nodes": [ { "path": "", "data": "v1", "acl": ["world:anyone:cdrwa"] },
//!              { "path": "config/blob", "data_hex": "00ff", "acl": ["world:anyone:r"] } ] }
//! ```
//!
//! `path` is relative to the exported root ("" is the root); parents come before children.
//! Data is the UTF-8 text under `data` when it is valid UTF-8, otherwise lowercase hex under
//! `data_hex`. ACLs use zkCli's `scheme:id:perms` syntax. Ephemeral nodes belong to a session
//! and are left out (the reply counts them); `/zookeeper` is left out of an export of `/`.
//! Container and TTL nodes cannot be told from persistent ones by a client and come back
//! persistent.
//!
//! Import creates the root at PATH and everything below it, parents first; PATH must not exist
//! (except `/`, whose own data and ACL are left alone). It stops at the first failure and says
//! how many nodes it had created.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use watchkeeper_proto::{CreateMode, ErrorCode};

use super::walk::{MAX_WALK_NODES, System, WALK_CONCURRENCY, join, walk};
use super::{CmdError, Reply};
use crate::shell::acl::{format_acl, parse_acl};
use crate::shell::encoding::{data_field, unhex};
use crate::shell::parse::checked_path;
use crate::shell::store::{Store, StoreError};

/// The `format` value this version writes and reads.
pub const EXPORT_FORMAT: &str = "watchkeeper-export/1";

/// Largest export file `import` reads, and most data bytes `export` collects.
pub const MAX_EXPORT_BYTES: u64 = 256 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: String,
    /// Where the subtree was exported from (informational).
    path: String,
    nodes: Vec<ExportNode>,
}

/// One node of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportNode {
    /// Relative to the exported root; "" is the root itself.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hex: Option<String>,
    /// Absent: the open ACL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Vec<String>>,
}

pub async fn export<S: Store>(
    store: &S,
    root: &str,
    file: Option<PathBuf>,
) -> Result<Reply, CmdError> {
    let tree = walk(store, root, System::Exclude).await?;
    let paths: Vec<String> = tree.preorder().into_iter().map(|(p, _)| p).collect();
    let fetched: Vec<_> = stream::iter(paths)
        .map(|p| async move {
            let data = store.get_data(&p).await;
            let acl = store.get_acl(&p).await;
            (p, data, acl)
        })
        .buffered(WALK_CONCURRENCY)
        .collect()
        .await;

    let mut nodes = Vec::with_capacity(fetched.len());
    let mut skipped_ephemerals = 0;
    let mut dropped: Vec<String> = Vec::new();
    let mut bytes = 0u64;
    for (p, data, acl) in fetched {
        // Anything under a node that vanished or was skipped goes too, so every node's
        // parent is in the document.
        if dropped.iter().any(|d| is_below(&p, d)) {
            continue;
        }
        let ((data, stat), (acl, _)) = match (data, acl) {
            (Ok(d), Ok(a)) => (d, a),
            (Err(StoreError::Server(ErrorCode::NoNode)), _)
            | (_, Err(StoreError::Server(ErrorCode::NoNode)))
                if p != root =>
            {
                dropped.push(p);
                continue;
            }
            (Err(e), _) | (_, Err(e)) => return Err(CmdError::at(&p, e)),
        };
        if stat.ephemeral_owner != 0 {
            skipped_ephemerals += 1;
            dropped.push(p);
            continue;
        }
        bytes += data.len() as u64;
        if bytes > MAX_EXPORT_BYTES {
            return Err(CmdError::TooLarge(format!(
                "{root} holds more than {MAX_EXPORT_BYTES} bytes of data; export a smaller subtree"
            )));
        }
        let (key, text) = data_field(&data);
        nodes.push(ExportNode {
            path: relative(root, &p).to_string(),
            data: (key == "data").then(|| text.clone()),
            data_hex: (key == "data_hex").then_some(text),
            acl: Some(format_acl(&acl).split(',').map(str::to_string).collect()),
        });
    }
    let count = nodes.len();
    let document = serde_json::to_string_pretty(&Document {
        format: EXPORT_FORMAT.to_string(),
        path: root.to_string(),
        nodes,
    })
    .map_err(|e| CmdError::Client(format!("cannot encode the export: {e}")))?;
    if let Some(file) = &file {
        std::fs::write(file, format!("{document}\n")).map_err(|e| CmdError::File {
            path: file.clone(),
            why: e.to_string(),
        })?;
    }
    Ok(Reply::Exported {
        document,
        file,
        nodes: count,
        skipped_ephemerals,
    })
}

pub async fn import<S: Store>(store: &S, file: &Path, root: &str) -> Result<Reply, CmdError> {
    let plan = read_plan(file, root)?;
    let mut created = 0;
    for level in plan {
        let results: Vec<(String, Result<String, StoreError>)> = stream::iter(level)
            .map(|node| async move {
                let r = store
                    .create(
                        &node.path,
                        &node.data,
                        CreateMode::Persistent,
                        node.acl.as_deref(),
                        None,
                    )
                    .await;
                (node.path, r)
            })
            .buffered(WALK_CONCURRENCY)
            .collect()
            .await;
        let mut failure = None;
        for (path, r) in results {
            match r {
                Ok(_) => created += 1,
                Err(e) => {
                    failure.get_or_insert(CmdError::at(&path, e));
                }
            }
        }
        if let Some(source) = failure {
            return Err(CmdError::Partial {
                done: created,
                what: "creating",
                source: Box::new(source),
            });
        }
    }
    Ok(Reply::Imported {
        path: root.to_string(),
        nodes: created,
    })
}

/// A node to create, resolved and checked.
#[derive(Debug)]
struct Planned {
    path: String,
    data: Vec<u8>,
    acl: Option<Vec<watchkeeper_proto::Acl>>,
}

/// Reads and checks the whole file before anything is created, grouping nodes by depth.
fn read_plan(file: &Path, root: &str) -> Result<Vec<Vec<Planned>>, CmdError> {
    let file_err = |why: String| CmdError::File {
        path: file.to_path_buf(),
        why,
    };
    let size = std::fs::metadata(file)
        .map_err(|e| file_err(e.to_string()))?
        .len();
    if size > MAX_EXPORT_BYTES {
        return Err(CmdError::TooLarge(format!(
            "{} is larger than {MAX_EXPORT_BYTES} bytes",
            file.display()
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| file_err(e.to_string()))?;
    let doc: Document =
        serde_json::from_str(&text).map_err(|e| CmdError::BadExport(e.to_string()))?;
    if doc.format != EXPORT_FORMAT {
        return Err(CmdError::BadExport(format!(
            "format `{}`, expected `{EXPORT_FORMAT}`",
            doc.format
        )));
    }
    if doc.nodes.len() > MAX_WALK_NODES {
        return Err(CmdError::TooLarge(format!(
            "more than {MAX_WALK_NODES} nodes"
        )));
    }
    let bad = |what: String| Err(CmdError::BadExport(what));
    match doc.nodes.first() {
        Some(first) if first.path.is_empty() => {}
        _ => return bad("the first node must be the root (path \"\")".into()),
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut levels: Vec<Vec<Planned>> = Vec::new();
    for node in &doc.nodes {
        let rel = node.path.as_str();
        if !seen.insert(rel) {
            return bad(format!("node `{rel}` appears twice"));
        }
        let depth = if rel.is_empty() {
            0
        } else {
            let parent = rel.rfind('/').map_or("", |i| &rel[..i]);
            if !seen.contains(parent) {
                return bad(format!("node `{rel}` comes before its parent"));
            }
            rel.split('/').count()
        };
        let path = if rel.is_empty() {
            root.to_string()
        } else {
            checked_path(&join(root, rel)).map_err(|e| CmdError::BadExport(e.to_string()))?
        };
        let data = match (&node.data, &node.data_hex) {
            (Some(_), Some(_)) => return bad(format!("node `{rel}` has both data and data_hex")),
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(h)) => match unhex(h) {
                Some(bytes) => bytes,
                None => return bad(format!("node `{rel}`: data_hex is not hexadecimal")),
            },
            (None, None) => Vec::new(),
        };
        let acl = match &node.acl {
            None => None,
            Some(entries) => Some(
                parse_acl(&entries.join(","))
                    .map_err(|e| CmdError::BadExport(format!("node `{rel}`: {e}")))?,
            ),
        };
        // `/` exists already; its own data and ACL are not the import's to change.
        if path == "/" {
            continue;
        }
        if levels.len() <= depth {
            levels.resize_with(depth + 1, Vec::new);
        }
        levels[depth].push(Planned { path, data, acl });
    }
    Ok(levels)
}

/// `path` relative to `root` ("" for the root itself).
fn relative<'a>(root: &str, path: &'a str) -> &'a str {
    if path.len() <= root.len() {
        ""
    } else if root == "/" {
        &path[1..]
    } else {
        &path[root.len() + 1..]
    }
}

fn is_below(path: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || path
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative("/", "/"), "");
        assert_eq!(relative("/", "/a/b"), "a/b");
        assert_eq!(relative("/a", "/a"), "");
        assert_eq!(relative("/a", "/a/b/c"), "b/c");
        assert!(is_below("/a/b", "/a"));
        assert!(!is_below("/ab", "/a"));
        assert!(!is_below("/a", "/a"));
    }

    fn plan(json: &str, root: &str) -> Result<Vec<Vec<Planned>>, CmdError> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.json");
        std::fs::write(&f, json).unwrap();
        read_plan(&f, root)
    }

    #[test]
    fn plan_checks_the_document() {
        let ok = r#"{"format":"watchkeeper-export/1","path":"/x","nodes":[
            {"path":""},{"path":"a","data_hex":"00ff"},{"path":"a/b","data":"t","acl":["world:anyone:r"]}]}"#;
        let levels = plan(ok, "/y").unwrap();
        assert_eq!(levels.len(), 3);
        assert_eq!(levels[1][0].path, "/y/a");
        assert_eq!(levels[1][0].data, vec![0, 0xff]);
        assert_eq!(levels[2][0].acl.as_ref().unwrap().len(), 1);
        // Into "/" the root itself is not created.
        assert!(plan(ok, "/").unwrap()[0].is_empty());

        let cases = [
            (
                r#"{"format":"other","path":"/","nodes":[{"path":""}]}"#,
                "format",
            ),
            (
                r#"{"format":"watchkeeper-export/1","path":"/","nodes":[]}"#,
                "root",
            ),
            (
                r#"{"format":"watchkeeper-export/1","path":"/","nodes":[{"path":""},{"path":"a/b"}]}"#,
                "parent",
            ),
            (
                r#"{"format":"watchkeeper-export/1","path":"/","nodes":[{"path":""},{"path":"a"},{"path":"a"}]}"#,
                "twice",
            ),
            (
                r#"{"format":"watchkeeper-export/1","path":"/","nodes":[{"path":""},{"path":"a","data":"x","data_hex":"00"}]}"#,
                "both",
            ),
            (
                r#"{"format":"watchkeeper-export/1","path":"/","nodes":[{"path":""},{"path":"a","data_hex":"0"}]}"#,
                "hexadecimal",
            ),
            (
                r#"{"format":"watchkeeper-export/1","path":"/","nodes":[{"path":""},{"path":"a","acl":["x"]}]}"#,
                "scheme:id:perms",
            ),
            (
                r#"{"format":"watchkeeper-export/1","path":"/","nodes":[{"path":""},{"path":".."}]}"#,
                "relative",
            ),
            ("not json", "expected"),
        ];
        for (json, needle) in cases {
            let err = plan(json, "/t").unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}
