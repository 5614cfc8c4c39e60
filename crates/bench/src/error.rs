//! Why a benchmark could not run or finish. Every variant names the server involved where one
//! is, so a failed comparison says which side failed.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A benchmark failed. Slow or lost *results* (missed events, error replies under load) are not
/// errors: they are counted in the report. These are the conditions under which there is no
/// meaningful report at all.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An argument is out of its allowed range or inconsistent with another.
    #[error("bad arguments: {0}")]
    Args(String),
    #[error("cannot resolve `{addr}`: {why}")]
    Resolve { addr: String, why: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("i/o error talking to {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Nothing arrived in time; `during` says what was awaited.
    #[error("{addr}: timed out {during}")]
    Timeout { addr: SocketAddr, during: String },
    #[error("{addr} closed the connection")]
    Closed { addr: SocketAddr },
    /// The server sent something that does not follow the protocol (bad frame, undecodable
    /// record, a reply out of xid order).
    #[error("{addr} broke the protocol: {detail}")]
    Protocol { addr: SocketAddr, detail: String },
    /// The server refused to resume a session (timeout 0 in the ConnectResponse).
    #[error("{addr} reports session {session:#x} expired")]
    SessionExpired { addr: SocketAddr, session: i64 },
    /// A setup or bookkeeping request failed with an error code the benchmark cannot work around.
    #[error("{addr}: {op} {path} failed with error {code}")]
    Request {
        addr: SocketAddr,
        op: &'static str,
        path: String,
        code: i32,
    },
    /// A workload could not proceed (e.g. watchers never armed).
    #[error("{0}")]
    Workload(String),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a benchmark report: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A spawned task panicked or was cancelled (a bug in this crate, reported rather than
    /// propagated as a panic).
    #[error("a benchmark task failed: {0}")]
    Task(String),
}

impl From<tokio::task::JoinError> for BenchError {
    fn from(e: tokio::task::JoinError) -> Self {
        BenchError::Task(e.to_string())
    }
}
