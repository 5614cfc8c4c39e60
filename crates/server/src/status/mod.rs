//! What the server reports about itself, as typed data: the answers to four-letter words now,
//! and the admin HTTP server's JSON later (ZooKeeper's AdminServer answers the same questions).
//!
//! - [`report`]: the data, one type per word, with AdminServer's JSON names;
//! - [`text`]: pure functions from those types to ZooKeeper's four-letter-word text;
//! - [`host`]: the facts only the operating system has (directory sizes, descriptors, memory).
//!
//! A four-letter word goes: connection task → core (`CoreMsg::FourLetter`), which fills what
//! its own state tells with in-memory reads only (`core/report.rs`) and replies with an
//! [`Answer`] → back on the connection task, [`Answer::complete`] reads what the operating
//! system tells on the blocking pool, and [`text::render`] writes the text. So a `mntr` scrape
//! costs the core no system call, and the text layout is decided at the edge.

pub(crate) mod host;
pub(crate) mod report;
pub(crate) mod text;

pub(crate) use host::HostWork;
pub(crate) use report::*;

/// What the core replies to a four-letter word.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The report is complete: only the layout is left.
    Ready(Report),
    /// The core's part of the report; the rest comes from the operating system.
    Host(HostWork),
}

impl Answer {
    /// The complete report. Host reads run on tokio's blocking pool, so neither the core nor a
    /// runtime worker waits on the file system; `None` if that task could not finish (the
    /// runtime is shutting down).
    pub(crate) async fn complete(self) -> Option<Report> {
        match self {
            Answer::Ready(report) => Some(report),
            Answer::Host(work) => tokio::task::spawn_blocking(move || work.complete())
                .await
                .ok(),
        }
    }
}
