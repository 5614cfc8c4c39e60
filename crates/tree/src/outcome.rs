//! What applying an entry produced: the result the client is answered with and the changes the
//! watch index turns into events.

use std::sync::Arc;

use watchkeeper_proto::{Acl, ErrorCode, Stat};

/// A successful operation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// `path` is the actual (possibly sequential) name.
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet {
        stat: Stat,
    },
    AclSet {
        stat: Stat,
    },
    Checked,
    /// Every sub-op succeeded; one result each, in order.
    Multi(Vec<OpResult>),
    /// One code per sub-op: `Ok` before the failing one, its code, `RuntimeInconsistency` after
    /// (ZooKeeper's rule). Nothing changed.
    MultiFailed(Vec<ErrorCode>),
    SessionCreated,
    SessionClosed,
    /// A `ReapNode` deleted its node.
    Reaped,
}

/// One change, for the watch index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// NodeCreated on this path.
    Created(String),
    /// NodeDeleted on this path.
    Deleted(String),
    /// NodeDataChanged on this path.
    DataChanged(String),
    /// NodeChildrenChanged on this (parent) path.
    ChildrenChanged(String),
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Created(p)
            | Change::Deleted(p)
            | Change::DataChanged(p)
            | Change::ChildrenChanged(p) => p,
        }
    }
}

/// The outcome of [`crate::DataTree::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// A failed multi is `Ok(OpResult::MultiFailed(..))`; any `Err` changed nothing.
    pub result: Result<OpResult, ErrorCode>,
    /// What changed, in order; empty whenever nothing changed.
    pub changes: Vec<Change>,
    /// `acls[i]` is the ACL ZooKeeper 3.9 checks READ against before delivering the event for
    /// `changes[i]` (CVE-2024-23944): the node's ACL for Created/Deleted/DataChanged (for a
    /// deleted node, the ACL it had), the parent's ACL for ChildrenChanged.
    pub acls: Vec<Arc<[Acl]>>,
}

impl Applied {
    pub(crate) fn failed(code: ErrorCode) -> Self {
        Applied {
            result: Err(code),
            changes: Vec::new(),
            acls: Vec::new(),
        }
    }
}
