//! Retrying idempotent reads on ConnectionLoss.
//!
//! A macro rather than a function taking a closure: the operation borrows the client and its
//! request, and futures built from async closures over borrowed state cannot be proven `Send`,
//! which would make every client call unusable from `tokio::spawn`.

use std::time::Duration;

/// First and largest pause between retries.
pub(crate) const RETRY_MIN: Duration = Duration::from_millis(20);
pub(crate) const RETRY_MAX: Duration = Duration::from_millis(500);

/// Evaluates `$op` (an `async` block yielding a `Result`) and re-evaluates it after a pause
/// while it fails with a retryable error, for at most one session timeout of `$client`.
macro_rules! retrying {
    ($client:expr, $op:expr) => {{
        let deadline = std::time::Instant::now() + $client.session_timeout();
        let mut delay = $crate::retry::RETRY_MIN;
        loop {
            let result: $crate::Result<_> = $op.await;
            match result {
                Err(e) if e.is_retryable() && std::time::Instant::now() + delay < deadline => {
                    tracing::debug!(?delay, "read retried after connection loss");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min($crate::retry::RETRY_MAX);
                }
                r => break r,
            }
        }
    }};
}

pub(crate) use retrying;
