//! Integration tests of the client against a real server (see `common`).

mod common;
mod ops;
mod proxy;
