//! What the server reports about itself, as typed data: the answers to four-letter words now,
//! and the admin HTTP server's JSON later (ZooKeeper's AdminServer answers the same questions).
//!
//! - [`report`]: the data, one type per word, with AdminServer's JSON names;
//! - [`text`]: pure functions from those types to ZooKeeper's four-letter-word text;
//! - [`host`]: the facts only the operating system has (directory sizes, descriptors, memory).
//!
//! The core fills the reports from its own state (`core/report.rs`).

pub(crate) mod host;
pub(crate) mod report;
pub(crate) mod text;

pub(crate) use report::*;
