//! Listing a whole subtree: breadth first, one level at a time, with a bounded number of
//! `getChildren` requests in flight (the client pipelines them on one connection).
//!
//! The subtree is not a snapshot: nodes created or deleted during the walk may or may not show.
//! A node that vanishes between being listed and being visited is dropped rather than reported
//! as an error; only a missing root is an error.

use std::collections::HashMap;

use futures::{StreamExt, stream};
use watchkeeper_proto::ErrorCode;

use super::CmdError;
use crate::shell::store::{Store, StoreError};

/// Most nodes one walk visits; past it the command fails instead of growing without bound.
pub const MAX_WALK_NODES: usize = 1_000_000;

/// Requests in flight at once during a walk.
pub const WALK_CONCURRENCY: usize = 64;

/// ZooKeeper's own subtree, present on every server.
pub const SYSTEM_ROOT: &str = "/zookeeper";

/// Whether a walk from `/` descends into `/zookeeper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// For looking (`ls -R`, `tree`).
    Include,
    /// For changing or copying (`deleteall`, `setAcl -R`, `export`): the server owns it.
    Exclude,
}

/// A walked subtree: each visited path's sorted child names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtree {
    root: String,
    children: HashMap<String, Vec<String>>,
}

impl Subtree {
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Sorted child names of a visited path (empty for unknown paths).
    pub fn children(&self, path: &str) -> &[String] {
        self.children.get(path).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every path with its depth below the root, parents before children, siblings sorted.
    pub fn preorder(&self) -> Vec<(String, usize)> {
        let mut out = Vec::with_capacity(self.children.len());
        let mut stack = vec![(self.root.clone(), 0)];
        while let Some((path, depth)) = stack.pop() {
            for name in self.children(&path).iter().rev() {
                stack.push((join(&path, name), depth + 1));
            }
            out.push((path, depth));
        }
        out
    }
}

/// `parent` + `/` + `name`, without doubling the root's slash.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Walks the subtree under `root`.
pub async fn walk<S: Store>(store: &S, root: &str, system: System) -> Result<Subtree, CmdError> {
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut level = vec![root.to_string()];
    while !level.is_empty() {
        let results: Vec<(String, Result<Vec<String>, StoreError>)> = stream::iter(level)
            .map(|path| async move {
                let r = store.get_children(&path).await.map(|(c, _)| c);
                (path, r)
            })
            .buffered(WALK_CONCURRENCY)
            .collect()
            .await;
        let mut next = Vec::new();
        for (path, result) in results {
            let mut names = match result {
                Ok(names) => names,
                Err(StoreError::Server(ErrorCode::NoNode)) if path != root => {
                    forget(&mut children, &path);
                    continue;
                }
                Err(e) => return Err(CmdError::at(&path, e)),
            };
            if system == System::Exclude && path == "/" {
                names.retain(|n| join("/", n) != SYSTEM_ROOT);
            }
            names.sort_unstable();
            next.extend(names.iter().map(|n| join(&path, n)));
            children.insert(path, names);
            if children.len() + next.len() > MAX_WALK_NODES {
                return Err(CmdError::TooLarge(format!(
                    "{root} has more than {MAX_WALK_NODES} nodes; walk a smaller subtree"
                )));
            }
        }
        level = next;
    }
    Ok(Subtree {
        root: root.to_string(),
        children,
    })
}

/// Drops a vanished node from its parent's list.
fn forget(children: &mut HashMap<String, Vec<String>>, path: &str) {
    let Some(cut) = path.rfind('/') else { return };
    let (parent, name) = (if cut == 0 { "/" } else { &path[..cut] }, &path[cut + 1..]);
    if let Some(list) = children.get_mut(parent) {
        list.retain(|n| n != name);
    }
}
