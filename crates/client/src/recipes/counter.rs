//! A distributed `i64` counter updated by versioned writes: read the value and its version,
//! write the new value only if the version is unchanged, and try again if it was not.
//!
//! The value is stored as 8 big-endian bytes, as Curator's DistributedAtomicLong stores it; a
//! missing or empty node reads as 0.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::types::CreateOptions;
use crate::{Client, ErrorCode, path};

/// Attempts before an update under contention gives up with [`Error::Timeout`].
const MAX_ATTEMPTS: u32 = 10_000;

/// A shared counter.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::AtomicCounter;
///
/// let visits = AtomicCounter::new(&client, "/counters/visits");
/// let now = visits.increment().await?;
/// let doubled = visits.add(now).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AtomicCounter {
    client: Client,
    path: String,
}

impl AtomicCounter {
    pub fn new(client: &Client, path: &str) -> AtomicCounter {
        AtomicCounter {
            client: client.clone(),
            path: path.to_owned(),
        }
    }

    /// The current value (0 if the node does not exist).
    pub async fn get(&self) -> Result<i64> {
        match self.client.get_data(&self.path).await {
            Ok((data, _)) => decode(&data),
            Err(Error::Server(ErrorCode::NoNode)) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Adds `delta` and returns the new value.
    pub async fn add(&self, delta: i64) -> Result<i64> {
        self.update(|v| Some(v.wrapping_add(delta)))
            .await
            .map(|(_, new)| new)
    }

    pub async fn increment(&self) -> Result<i64> {
        self.add(1).await
    }

    pub async fn decrement(&self) -> Result<i64> {
        self.add(-1).await
    }

    /// Sets the value unconditionally.
    pub async fn set(&self, value: i64) -> Result<()> {
        self.update(|_| Some(value)).await.map(|_| ())
    }

    /// Sets `new` only if the value is `expected`; true if it was.
    pub async fn compare_and_set(&self, expected: i64, new: i64) -> Result<bool> {
        let (old, _) = self.update(|v| (v == expected).then_some(new)).await?;
        Ok(old == expected)
    }

    /// Applies `f` to the current value until a versioned write of its result succeeds
    /// (`None` from `f`: leave the value alone). Returns (old, new).
    async fn update(&self, f: impl Fn(i64) -> Option<i64>) -> Result<(i64, i64)> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 2 {
                // Many writers on one node: spread the retries out.
                let ms = rand::random::<u64>() % u64::from(attempt.min(20));
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            match self.client.get_data(&self.path).await {
                Ok((data, stat)) => {
                    let old = decode(&data)?;
                    let Some(new) = f(old) else {
                        return Ok((old, old));
                    };
                    match self
                        .client
                        .set_data(&self.path, &new.to_be_bytes(), Some(stat.version))
                        .await
                    {
                        Ok(_) => return Ok((old, new)),
                        Err(Error::Server(ErrorCode::BadVersion)) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(Error::Server(ErrorCode::NoNode)) => {
                    let Some(new) = f(0) else {
                        return Ok((0, 0));
                    };
                    match self
                        .client
                        .create(&self.path, &new.to_be_bytes(), &CreateOptions::persistent())
                        .await
                    {
                        Ok(_) => return Ok((0, new)),
                        Err(Error::Server(ErrorCode::NodeExists)) => continue,
                        Err(Error::Server(ErrorCode::NoNode)) => {
                            self.client.ensure_path(path::parent(&self.path)).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Timeout)
    }
}

fn decode(data: &[u8]) -> Result<i64> {
    match data.len() {
        0 => Ok(0),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(data);
            Ok(i64::from_be_bytes(b))
        }
        n => Err(Error::BadArguments(format!(
            "a counter node holds 8 bytes, this one {n}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_curators_encoding() {
        assert_eq!(decode(&[]), Ok(0));
        assert_eq!(decode(&(-5i64).to_be_bytes()), Ok(-5));
        assert_eq!(decode(&i64::MAX.to_be_bytes()), Ok(i64::MAX));
        assert!(decode(b"12").is_err());
    }
}
