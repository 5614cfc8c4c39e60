//! Building blocks the workloads share: opening many sessions, running a list of requests
//! through one connection with a bounded window, and creating or removing the nodes a
//! workload needs.

use std::net::SocketAddr;
use std::time::Instant;

use futures::StreamExt;
use watchkeeper_proto::{
    Acl, CreateMode, CreateRequest, DeleteRequest, ErrorCode, Request, SetDataRequest,
};

use crate::BenchError;
use crate::conn::{ConnectOptions, Connection, Incoming};

/// Handshakes in progress at once when opening many sessions.
pub const CONNECT_CONCURRENCY: usize = 64;

/// Opens `n` sessions, at most [`CONNECT_CONCURRENCY`] handshakes at a time; in index order.
pub async fn connect_many(
    addr: SocketAddr,
    n: usize,
    opts: &ConnectOptions,
) -> Result<Vec<Connection>, BenchError> {
    futures::stream::iter(0..n)
        .map(|_| Connection::connect(addr, opts))
        .buffered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Closes sessions concurrently, each bounded by `deadline`; the first error is returned
/// after every close was tried.
pub async fn close_all(conns: Vec<Connection>, deadline: Instant) -> Result<(), BenchError> {
    let results: Vec<_> = futures::stream::iter(conns)
        .map(|c| c.close(deadline))
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Sends `reqs` in order with at most `window` unanswered, handing every reply (tagged with
/// the request's index) and notification to `on`. Fails on timeout or when `on` fails.
pub async fn pipeline(
    conn: &mut Connection,
    reqs: impl IntoIterator<Item = Request>,
    window: usize,
    deadline: Instant,
    mut on: impl FnMut(Incoming) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let window = window.max(1);
    let mut reqs = reqs.into_iter().enumerate().peekable();
    loop {
        while conn.in_flight() < window {
            let Some((i, req)) = reqs.next() else { break };
            conn.send(&req, i as u64)?;
        }
        conn.flush().await?;
        if conn.in_flight() == 0 && reqs.peek().is_none() {
            return Ok(());
        }
        match conn.recv_until(deadline).await? {
            Some(incoming) => on(incoming)?,
            None => {
                return Err(BenchError::Timeout {
                    addr: conn.addr(),
                    during: "waiting for pipelined replies".into(),
                });
            }
        }
    }
}

/// An open ACL, as `ZooDefs.Ids.OPEN_ACL_UNSAFE`.
fn open_acl() -> Vec<Acl> {
    Acl::open_unsafe()
}

pub fn create_req(path: &str, data: &[u8], mode: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path: path.to_string(),
        data: Some(data.to_vec()),
        acl: open_acl(),
        flags: mode.as_i32(),
    })
}

pub fn set_data_req(path: &str, data: &[u8]) -> Request {
    Request::SetData(SetDataRequest {
        path: path.to_string(),
        data: Some(data.to_vec()),
        version: -1,
    })
}

pub fn delete_req(path: &str) -> Request {
    Request::Delete(DeleteRequest {
        path: path.to_string(),
        version: -1,
    })
}

/// Makes every path exist as a persistent node holding `data` (parents must come before their
/// children). Existing nodes get `data` written when `overwrite` is set.
pub async fn ensure_nodes(
    conn: &mut Connection,
    paths: &[String],
    data: &[u8],
    overwrite: bool,
    window: usize,
    deadline: Instant,
) -> Result<(), BenchError> {
    let addr = conn.addr();
    let mut existing = Vec::new();
    let reqs = paths
        .iter()
        .map(|p| create_req(p, data, CreateMode::Persistent));
    pipeline(conn, reqs, window, deadline, |inc| {
        if let Incoming::Reply(r) = inc {
            let i = r.tag as usize;
            match ErrorCode::from_i32(r.err) {
                Some(ErrorCode::Ok) => {}
                Some(ErrorCode::NodeExists) => existing.push(i),
                _ => return Err(request_error(addr, "create", &paths[i], r.err)),
            }
        }
        Ok(())
    })
    .await?;
    if !overwrite || existing.is_empty() {
        return Ok(());
    }
    let reqs = existing.iter().map(|&i| set_data_req(&paths[i], data));
    pipeline(conn, reqs, window, deadline, |inc| match inc {
        Incoming::Reply(r) if !r.is_ok() => Err(request_error(
            addr,
            "setData",
            &paths[existing[r.tag as usize]],
            r.err,
        )),
        _ => Ok(()),
    })
    .await
}

/// Deletes every path that exists (children must come before their parents). A node that is
/// already gone is fine; one that cannot be deleted is an error.
pub async fn delete_nodes(
    conn: &mut Connection,
    paths: &[String],
    window: usize,
    deadline: Instant,
) -> Result<(), BenchError> {
    let addr = conn.addr();
    let reqs = paths.iter().map(|p| delete_req(p));
    pipeline(conn, reqs, window, deadline, |inc| {
        if let Incoming::Reply(r) = inc {
            match ErrorCode::from_i32(r.err) {
                Some(ErrorCode::Ok | ErrorCode::NoNode) => {}
                _ => return Err(request_error(addr, "delete", &paths[r.tag as usize], r.err)),
            }
        }
        Ok(())
    })
    .await
}

pub fn request_error(addr: SocketAddr, op: &'static str, path: &str, code: i32) -> BenchError {
    BenchError::Request {
        addr,
        op,
        path: path.to_string(),
        code,
    }
}

/// The path and its ancestors below `/`, outermost first: `/a/b` gives `/a`, `/a/b`.
pub fn with_ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in path.char_indices().skip(1) {
        if c == '/' {
            out.push(path[..i].to_string());
        }
    }
    if path.len() > 1 {
        out.push(path.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_come_first() {
        assert_eq!(with_ancestors("/a/b/c"), ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(with_ancestors("/a"), ["/a"]);
        assert!(with_ancestors("/").is_empty());
    }
}
