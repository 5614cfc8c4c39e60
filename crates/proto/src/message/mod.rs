//! Whole request and response bodies keyed by opcode: [`Request`] and [`Response`].
//!
//! A body's layout depends on the opcode in its header (the request's, for a reply), so
//! decoding takes the opcode; encoding writes the body only, never the header.

mod request;
mod response;

pub use request::Request;
pub use response::Response;
