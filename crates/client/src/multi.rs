//! multi (atomic writes) and multiRead (batched reads).
//!
//! A multi applies all its ops or none: on failure [`Error::MultiFailed`] names the first op
//! that failed and its code. A multiRead answers every op independently. Argument errors (an
//! invalid path) are reported by `commit` before anything is sent, naming the op.

use watchkeeper_proto::{
    CheckVersionRequest, DeleteRequest, ErrorCode, GetChildrenRequest, GetDataRequest, MultiOp,
    MultiRequest, MultiResult as WireResult, Request, Response, SetDataRequest, Stat,
};

use crate::client::{Client, unexpected};
use crate::error::{Error, Result};
use crate::retry::retrying;
use crate::types::CreateOptions;

/// One op's outcome in a successful multi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// The created path (with its sequence suffix) and, from servers that report it, its stat.
    Create {
        path: String,
        stat: Option<Stat>,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
}

/// Builds an atomic multi. Ops are added by value so they chain:
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::{CreateOptions, Error};
///
/// let result = client
///     .multi()
///     .check("/config", Some(3))
///     .set_data("/config", b"v4", None)
///     .create("/config-history/v-", b"v4", &CreateOptions::persistent_sequential())
///     .commit()
///     .await;
/// match result {
///     Ok(results) => println!("{results:?}"),
///     Err(Error::MultiFailed { index, code }) => println!("op {index} failed: {code}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "nothing is sent until commit() is awaited"]
pub struct MultiBuilder<'a> {
    client: &'a Client,
    ops: Vec<MultiOp>,
    error: Option<Error>,
}

impl<'a> MultiBuilder<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        MultiBuilder {
            client,
            ops: Vec::new(),
            error: None,
        }
    }

    fn push(mut self, op: Result<MultiOp>) -> Self {
        match op {
            Ok(op) => self.ops.push(op),
            Err(e) if self.error.is_none() => {
                self.error = Some(Error::BadArguments(format!("op #{}: {e}", self.ops.len())));
            }
            Err(_) => {}
        }
        self
    }

    fn path(&self, path: &str) -> Result<String> {
        self.client.server_path(path)
    }

    pub fn create(self, path: &str, data: &[u8], opts: &CreateOptions) -> Self {
        let op = self
            .client
            .create_request(path, data, opts)
            .and_then(|r| match r {
                Request::Create2(c) => Ok(MultiOp::Create2(c)),
                Request::CreateContainer(c) => Ok(MultiOp::CreateContainer(c)),
                Request::CreateTtl(c) => Ok(MultiOp::CreateTtl(c)),
                _ => Err(Error::BadArguments("not a create".into())),
            });
        self.push(op)
    }

    pub fn delete(self, path: &str, version: Option<i32>) -> Self {
        let op = self.path(path).map(|path| {
            MultiOp::Delete(DeleteRequest {
                path,
                version: version.unwrap_or(-1),
            })
        });
        self.push(op)
    }

    pub fn set_data(self, path: &str, data: &[u8], version: Option<i32>) -> Self {
        let op = self.path(path).map(|path| {
            MultiOp::SetData(SetDataRequest {
                path,
                data: Some(data.to_vec()),
                version: version.unwrap_or(-1),
            })
        });
        self.push(op)
    }

    /// Requires the node to exist and, if `version` is given, to have that data version.
    pub fn check(self, path: &str, version: Option<i32>) -> Self {
        let op = self.path(path).map(|path| {
            MultiOp::Check(CheckVersionRequest {
                path,
                version: version.unwrap_or(-1),
            })
        });
        self.push(op)
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sends the multi. Never retried: on ConnectionLoss it may or may not have been applied.
    /// An empty multi succeeds without a round trip.
    pub async fn commit(self) -> Result<Vec<MultiResult>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.ops.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.ops.len();
        let request = Request::Multi(MultiRequest { ops: self.ops });
        let Response::Multi(resp) = self.client.call(&request, None).await? else {
            return Err(Error::Protocol("multi answered with another body".into()));
        };
        if resp.results.len() != n {
            return Err(Error::Protocol(format!(
                "multi of {n} ops answered with {} results",
                resp.results.len()
            )));
        }
        if let Some((index, code)) = resp.results.iter().enumerate().find_map(|(i, r)| match r {
            WireResult::Error(e) if *e != 0 => Some((i, *e)),
            _ => None,
        }) {
            let code = ErrorCode::from_i32(code)
                .ok_or_else(|| Error::Protocol(format!("unknown error code {code}")))?;
            return Err(Error::MultiFailed { index, code });
        }
        resp.results
            .into_iter()
            .map(|r| match r {
                WireResult::Create(path) => Ok(MultiResult::Create {
                    path: self.client.strip(&path),
                    stat: None,
                }),
                WireResult::Create2(path, stat) => Ok(MultiResult::Create {
                    path: self.client.strip(&path),
                    stat: Some(stat),
                }),
                WireResult::Delete => Ok(MultiResult::Delete),
                WireResult::SetData(stat) => Ok(MultiResult::SetData { stat }),
                WireResult::Check => Ok(MultiResult::Check),
                other => Err(Error::Protocol(format!(
                    "unexpected multi result {:?}",
                    other.op()
                ))),
            })
            .collect()
    }
}

/// One op's outcome in a multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiReadResult {
    /// Data (empty for null) and stat.
    Data {
        data: Vec<u8>,
        stat: Stat,
    },
    Children {
        children: Vec<String>,
    },
    /// This op failed (NoNode, NoAuth...); the others are unaffected.
    Error(ErrorCode),
}

/// Builds a multiRead (ZooKeeper 3.6+): getData and getChildren ops answered together, with no
/// watches.
#[derive(Debug)]
#[must_use = "nothing is sent until commit() is awaited"]
pub struct MultiReadBuilder<'a> {
    client: &'a Client,
    ops: Vec<MultiOp>,
    error: Option<Error>,
}

impl<'a> MultiReadBuilder<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        MultiReadBuilder {
            client,
            ops: Vec::new(),
            error: None,
        }
    }

    fn push(mut self, path: &str, make: impl FnOnce(String) -> MultiOp) -> Self {
        match self.client.server_path(path) {
            Ok(server) => self.ops.push(make(server)),
            Err(e) if self.error.is_none() => {
                self.error = Some(Error::BadArguments(format!("op #{}: {e}", self.ops.len())));
            }
            Err(_) => {}
        }
        self
    }

    pub fn get_data(self, path: &str) -> Self {
        self.push(path, |path| {
            MultiOp::GetData(GetDataRequest { path, watch: false })
        })
    }

    pub fn get_children(self, path: &str) -> Self {
        self.push(path, |path| {
            MultiOp::GetChildren(GetChildrenRequest { path, watch: false })
        })
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sends the reads (retried on ConnectionLoss, like every read).
    pub async fn commit(self) -> Result<Vec<MultiReadResult>> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.ops.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.ops.len();
        let request = Request::MultiRead(MultiRequest { ops: self.ops });
        let client = self.client;
        let resp = retrying!(client, async {
            match client.call(&request, None).await? {
                Response::Multi(m) => Ok(m),
                other => Err(unexpected(&other)),
            }
        })?;
        if resp.results.len() != n {
            return Err(Error::Protocol(format!(
                "multiRead of {n} ops answered with {} results",
                resp.results.len()
            )));
        }
        resp.results
            .into_iter()
            .map(|r| match r {
                WireResult::GetData(data, stat) => Ok(MultiReadResult::Data {
                    data: data.unwrap_or_default(),
                    stat,
                }),
                WireResult::GetChildren(children) => Ok(MultiReadResult::Children { children }),
                WireResult::Error(code) => ErrorCode::from_i32(code)
                    .map(MultiReadResult::Error)
                    .ok_or_else(|| Error::Protocol(format!("unknown error code {code}"))),
                other => Err(Error::Protocol(format!(
                    "unexpected multiRead result {:?}",
                    other.op()
                ))),
            })
            .collect()
    }
}
