//! Errors of starting and running a member.

/// Why a member could not start, or an operation on it failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    #[error("cannot open the data directory: {0}")]
    Log(#[from] watchkeeper_log::LogError),
    #[error(
        "the snapshot at index {index} cannot be read: {source}; move it aside to start from the log alone"
    )]
    Snapshot {
        index: u64,
        source: crate::snapshot::SnapshotFormatError,
    },
    #[error("log record {index} cannot be decoded: {why}; the log is damaged")]
    Record { index: u64, why: String },
    #[error("the Raft state file cannot be decoded: {0}; the data directory is damaged")]
    State(String),
    #[error("cannot start the log thread: {0}")]
    Thread(std::io::Error),
    #[error("the Raft configuration is invalid: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source} (is another server using the port?)")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("Raft stopped: {0}")]
    Fatal(String),
}
