//! Integration tests of the client against a real server (see `common`).

mod common;
mod fake;
mod fourlw;
mod ops;
mod proxy;
mod recipes;
mod sessions;
mod watches;
