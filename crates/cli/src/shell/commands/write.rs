//! Commands that change the tree or the session: `create`, `set`, `delete`, `deleteall`,
//! `setAcl`, `addauth`.

use futures::{StreamExt, stream};
use watchkeeper_proto::{Acl, CreateMode, ErrorCode};

use super::walk::{System, WALK_CONCURRENCY, walk};
use super::{CmdError, Reply};
use crate::shell::store::{Store, StoreError};

pub async fn create<S: Store>(
    store: &S,
    path: &str,
    data: &[u8],
    mode: CreateMode,
    acl: Option<&[Acl]>,
    ttl: Option<i64>,
) -> Result<Reply, CmdError> {
    let created = store
        .create(path, data, mode, acl, ttl)
        .await
        .map_err(|e| CmdError::at(path, e))?;
    Ok(Reply::Created(created))
}

pub async fn set<S: Store>(
    store: &S,
    path: &str,
    data: &[u8],
    version: Option<i32>,
    show: bool,
) -> Result<Reply, CmdError> {
    let stat = store
        .set_data(path, data, version)
        .await
        .map_err(|e| CmdError::at(path, e))?;
    Ok(Reply::Written { stat, show })
}

pub async fn delete<S: Store>(
    store: &S,
    path: &str,
    version: Option<i32>,
) -> Result<Reply, CmdError> {
    store
        .delete(path, version)
        .await
        .map_err(|e| CmdError::at(path, e))?;
    Ok(Reply::Deleted {
        path: path.to_string(),
        count: 1,
    })
}

/// Deletes a subtree, deepest level first, each level's deletes pipelined. Nodes already gone
/// are fine; a node that gained a child meanwhile stops the command (NotEmpty). `/` itself
/// cannot be deleted, so `deleteall /` empties it (sparing `/zookeeper`).
pub async fn delete_all<S: Store>(store: &S, path: &str) -> Result<Reply, CmdError> {
    let tree = walk(store, path, System::Exclude).await?;
    let mut by_depth: Vec<Vec<String>> = Vec::new();
    for (p, depth) in tree.preorder() {
        if p == "/" {
            continue;
        }
        if by_depth.len() <= depth {
            by_depth.resize_with(depth + 1, Vec::new);
        }
        by_depth[depth].push(p);
    }
    let mut count = 0;
    for level in by_depth.into_iter().rev() {
        pipeline(
            level,
            |p| async move {
                let r = store.delete(&p, None).await;
                (p, r)
            },
            &mut count,
            "deleting",
        )
        .await?;
    }
    Ok(Reply::Deleted {
        path: path.to_string(),
        count,
    })
}

/// Sets the ACL of `path`, or with `recursive` of every node below it too (each with the
/// same expected version, as zkCli does).
pub async fn set_acl<S: Store>(
    store: &S,
    path: &str,
    acl: &[Acl],
    version: Option<i32>,
    recursive: bool,
) -> Result<Reply, CmdError> {
    let stat = store
        .set_acl(path, acl, version)
        .await
        .map_err(|e| CmdError::at(path, e))?;
    let mut count = 1;
    if recursive {
        let tree = walk(store, path, System::Exclude).await?;
        let below: Vec<String> = tree
            .preorder()
            .into_iter()
            .skip(1)
            .map(|(p, _)| p)
            .collect();
        pipeline(
            below,
            |p| async move {
                let r = store.set_acl(&p, acl, version).await;
                (p, r)
            },
            &mut count,
            "changing",
        )
        .await?;
    }
    Ok(Reply::AclSet { stat, count })
}

/// Runs `op` on every path of one level, [`WALK_CONCURRENCY`] at a time, adds the
/// successes to `count`, and stops with [`CmdError::Partial`] (saying what was `what`-ing)
/// at the first real failure, so a partial recursive change always reports how far it got.
async fn pipeline<T, F, Fut>(
    paths: Vec<String>,
    op: F,
    count: &mut usize,
    what: &'static str,
) -> Result<(), CmdError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = (String, Result<T, StoreError>)>,
{
    let results: Vec<(String, Result<T, StoreError>)> = stream::iter(paths)
        .map(op)
        .buffered(WALK_CONCURRENCY)
        .collect()
        .await;
    let (done, failure) = tally(results);
    *count += done;
    match failure {
        Some(source) => Err(CmdError::Partial {
            done: *count,
            what,
            source: Box::new(source),
        }),
        None => Ok(()),
    }
}

/// Counts the successes of one pipelined level and keeps its first real failure; a node
/// that is already gone counts as neither.
pub fn tally<T>(results: Vec<(String, Result<T, StoreError>)>) -> (usize, Option<CmdError>) {
    let mut done = 0;
    let mut failure = None;
    for (path, r) in results {
        match r {
            Ok(_) => done += 1,
            Err(StoreError::Server(ErrorCode::NoNode)) => {}
            Err(e) => {
                failure.get_or_insert(CmdError::at(&path, e));
            }
        }
    }
    (done, failure)
}

pub async fn add_auth<S: Store>(store: &S, scheme: &str, auth: &[u8]) -> Result<Reply, CmdError> {
    store
        .add_auth(scheme, auth)
        .await
        .map_err(|e| CmdError::at(scheme, e))?;
    Ok(Reply::AuthAdded {
        scheme: scheme.to_string(),
    })
}
