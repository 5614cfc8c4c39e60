//! The Watchkeeper server: a coordination service that speaks Apache ZooKeeper's client
//! protocol, standalone or as a member of a Raft-replicated ensemble.
//!
//! The parts, in the order a request meets them:
//! - [`connection`]: the handshake and four-letter words, one task per connection, reading
//!   frames with a [`frame_reader::FrameReader`];
//! - `core`: the single task that owns the tree, the watch index and the sessions, runs reads,
//!   proposes writes and applies the committed log in zxid order;
//! - Raft, the log and the peer transport live in `watchkeeper-consensus`;
//! - [`outbox`]: each connection's bounded outbound queue;
//! - `status`: what the server reports about itself (four-letter words), as typed data and as
//!   text.
//!
//! Start one with [`RunningServer::start`] and a [`Config`].

pub mod config;
pub mod connection;
mod core;
mod fourlw;
pub mod frame_reader;
mod member;
pub mod outbox;
mod server;
mod status;

pub use config::{Config, ConfigError, FourLetterWhitelist};
pub use server::{RunningServer, StartError};
