//! The one way registering a watch can fail: the index is full.
//!
//! (Written out by hand: this crate depends only on std and `watchkeeper-proto`.)

use std::fmt;

/// A hard limit of the index's compact encoding was reached. Each is far beyond what fits in
/// memory in practice; the server should answer the request with an error rather than register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityError {
    /// More than [`crate::MAX_SESSIONS`] sessions hold watches at once.
    Sessions,
    /// More than `u32::MAX - 1` distinct paths are watched at once.
    Paths,
    /// The watched paths' text would exceed 4 GiB.
    PathBytes,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CapacityError::Sessions => "watch index full: too many sessions with watches",
            CapacityError::Paths => "watch index full: too many watched paths",
            CapacityError::PathBytes => "watch index full: watched path text exceeds 4 GiB",
        })
    }
}

impl std::error::Error for CapacityError {}
