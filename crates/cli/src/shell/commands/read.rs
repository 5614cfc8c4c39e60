//! Commands that only read: `ls`, `get`, `stat`, `getAcl`, `sync`.

use watchkeeper_proto::ErrorCode;

use super::walk::{System, walk};
use super::{CmdError, Outcome, Reply};
use crate::shell::store::Store;

pub async fn ls<S: Store>(
    store: &S,
    path: &str,
    stat: bool,
    watch: bool,
) -> Result<Outcome<S>, CmdError> {
    let at = |e| CmdError::at(path, e);
    if watch {
        let (mut children, st, w) = store.get_children_watch(path).await.map_err(at)?;
        children.sort_unstable();
        let reply = Reply::Children {
            children,
            stat: stat.then_some(st),
        };
        return Ok(Outcome::Watching(reply, w));
    }
    let (mut children, st) = store.get_children(path).await.map_err(at)?;
    children.sort_unstable();
    Ok(Outcome::Done(Reply::Children {
        children,
        stat: stat.then_some(st),
    }))
}

/// `ls -R`: every path below `path`, as zkCli prints them.
pub async fn ls_recursive<S: Store>(store: &S, path: &str) -> Result<Reply, CmdError> {
    let tree = walk(store, path, System::Include).await?;
    Ok(Reply::Paths(
        tree.preorder().into_iter().map(|(p, _)| p).collect(),
    ))
}

pub async fn get<S: Store>(
    store: &S,
    path: &str,
    stat: bool,
    watch: bool,
) -> Result<Outcome<S>, CmdError> {
    let at = |e| CmdError::at(path, e);
    if watch {
        let (data, st, w) = store.get_data_watch(path).await.map_err(at)?;
        let reply = Reply::Data {
            data,
            stat: stat.then_some(st),
        };
        return Ok(Outcome::Watching(reply, w));
    }
    let (data, st) = store.get_data(path).await.map_err(at)?;
    Ok(Outcome::Done(Reply::Data {
        data,
        stat: stat.then_some(st),
    }))
}

pub async fn stat<S: Store>(store: &S, path: &str, watch: bool) -> Result<Outcome<S>, CmdError> {
    let missing = || CmdError::Server {
        code: ErrorCode::NoNode,
        path: path.to_string(),
    };
    if watch {
        // exists sets the watch even on a missing node, but a missing node is still reported
        // as an error here (as zkCli does), so that watch's event is not waited for.
        let (st, w) = store
            .exists_watch(path)
            .await
            .map_err(|e| CmdError::at(path, e))?;
        return Ok(Outcome::Watching(Reply::Stat(st.ok_or_else(missing)?), w));
    }
    let st = store
        .exists(path)
        .await
        .map_err(|e| CmdError::at(path, e))?;
    Ok(Outcome::Done(Reply::Stat(st.ok_or_else(missing)?)))
}

pub async fn get_acl<S: Store>(store: &S, path: &str, stat: bool) -> Result<Reply, CmdError> {
    let (acl, st) = store
        .get_acl(path)
        .await
        .map_err(|e| CmdError::at(path, e))?;
    Ok(Reply::Acl {
        acl,
        stat: stat.then_some(st),
    })
}

pub async fn sync<S: Store>(store: &S, path: &str) -> Result<Reply, CmdError> {
    store.sync(path).await.map_err(|e| CmdError::at(path, e))?;
    Ok(Reply::Synced(path.to_string()))
}
