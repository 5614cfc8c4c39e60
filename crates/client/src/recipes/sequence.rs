//! What the queue-shaped recipes share: sequential node names, creating them so that a
//! connection loss cannot duplicate them, and waiting for one's turn by watching a single
//! predecessor.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::path;
use crate::types::CreateOptions;
use crate::{Client, ErrorCode, KeeperState, WatchedEvent};

/// Length of the server's sequence suffix.
const SEQ_DIGITS: usize = 10;
/// Marks a name as created with [`create_protected`]: `_c_<32 hex digits>-<prefix><seq>`.
const PROTECTED: &str = "_c_";
const GUID_HEX: usize = 32;
/// Attempts at a create interrupted by connection losses.
const CREATE_ATTEMPTS: usize = 8;

/// A child of a recipe's directory with its parsed sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeqNode {
    pub(crate) name: String,
    /// The prefix the recipe gave it (`lock-`, `read-`...), without any protection marker.
    pub(crate) kind: String,
    pub(crate) seq: i64,
}

/// Parses `[_c_<guid>-]<kind><10 digits>`; other names are not the recipe's.
pub(crate) fn parse(name: &str) -> Option<SeqNode> {
    let body = match name.strip_prefix(PROTECTED) {
        Some(rest) => {
            let (guid, rest) = rest.split_at_checked(GUID_HEX)?;
            if !guid.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            rest.strip_prefix('-')?
        }
        None => name,
    };
    let split = body.len().checked_sub(SEQ_DIGITS)?;
    let (kind, digits) = body.split_at_checked(split)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // ZooKeeper formats a signed int: it wraps to negative numbers past 2^31-1.
    let seq = digits.parse::<i64>().ok()?;
    let seq = if seq > i64::from(i32::MAX) {
        seq - (1 << 32)
    } else {
        seq
    };
    Some(SeqNode {
        name: name.to_owned(),
        kind: kind.to_owned(),
        seq,
    })
}

/// The recipe's children (those whose kind is in `kinds`), oldest first.
pub(crate) fn sorted(children: &[String], kinds: &[&str]) -> Vec<SeqNode> {
    let mut nodes: Vec<SeqNode> = children
        .iter()
        .filter_map(|c| parse(c))
        .filter(|n| kinds.contains(&n.kind.as_str()))
        .collect();
    nodes.sort_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.name.cmp(&b.name)));
    nodes
}

/// Creates a sequential child `<dir>/_c_<guid>-<kind><seq>` and returns its name. After a
/// connection loss it looks for the node by its random prefix before trying again, so at most
/// one node is ever created. A missing `dir` is created.
pub(crate) async fn create_protected(
    client: &Client,
    dir: &str,
    kind: &str,
    data: &[u8],
    opts: &CreateOptions,
) -> Result<String> {
    let prefix = format!("{PROTECTED}{:032x}-{kind}", rand::random::<u128>());
    let full = path::join(dir, &prefix);
    let mut last = Error::ConnectionLoss;
    for _ in 0..CREATE_ATTEMPTS {
        match client.create(&full, data, opts).await {
            Ok((created, _)) => return Ok(last_segment(&created).to_owned()),
            Err(Error::Server(ErrorCode::NoNode)) => client.ensure_path(dir).await?,
            Err(Error::ConnectionLoss) => {
                // Did it get there before the connection went? sync first: another server
                // of an ensemble might not have seen it yet.
                client.sync(dir).await?;
                let (children, _) = client.get_children(dir).await?;
                if let Some(found) = children.into_iter().find(|c| c.starts_with(&prefix)) {
                    return Ok(found);
                }
                last = Error::ConnectionLoss;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

pub(crate) fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// How a wait for one's turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    Go,
    TimedOut,
}

/// Waits until `blocker` says `me` (a child of `dir` of one of `kinds`) is not blocked: it
/// returns the index of the node to wait for, or `None`. Only that one node is watched.
pub(crate) async fn wait_turn(
    client: &Client,
    dir: &str,
    me: &str,
    kinds: &[&str],
    blocker: impl Fn(&[SeqNode], usize) -> Option<usize>,
    deadline: Option<Instant>,
) -> Result<Turn> {
    loop {
        let (children, _) = client.get_children(dir).await?;
        let nodes = sorted(&children, kinds);
        let Some(i) = nodes.iter().position(|n| n.name == me) else {
            // Our node is gone: the session expired or someone deleted it.
            return Err(Error::Server(ErrorCode::NoNode));
        };
        let Some(j) = blocker(&nodes, i) else {
            return Ok(Turn::Go);
        };
        let ahead = path::join(dir, &nodes[j].name);
        let (stat, watch) = client.exists_watch(&ahead).await?;
        if stat.is_none() {
            continue;
        }
        let event = match deadline {
            None => watch.await,
            Some(d) => match tokio::time::timeout_at(d.into(), watch).await {
                Ok(e) => e,
                Err(_) => return Ok(Turn::TimedOut),
            },
        };
        session_ended(&event)?;
    }
}

/// Waits until `path` does not exist (or the deadline passes: `Ok(false)`).
pub(crate) async fn wait_gone(
    client: &Client,
    path: &str,
    deadline: Option<Instant>,
) -> Result<bool> {
    loop {
        let (stat, watch) = client.exists_watch(path).await?;
        if stat.is_none() {
            return Ok(true);
        }
        let event = match deadline {
            None => watch.await,
            Some(d) => match tokio::time::timeout_at(d.into(), watch).await {
                Ok(e) => e,
                Err(_) => return Ok(false),
            },
        };
        session_ended(&event)?;
    }
}

/// The error for a watch that ended because the session did.
pub(crate) fn session_ended(event: &WatchedEvent) -> Result<()> {
    match event.state {
        KeeperState::Expired => Err(Error::SessionExpired),
        KeeperState::Closed => Err(Error::Closed),
        KeeperState::AuthFailed => Err(Error::AuthFailed),
        _ => Ok(()),
    }
}

/// True for errors after which a recipe's background task can only stop.
pub(crate) fn is_terminal(e: &Error) -> bool {
    matches!(e, Error::SessionExpired | Error::Closed | Error::AuthFailed)
}

/// Deletes a node in the background (from a `Drop`), if a runtime is there to do it.
pub(crate) fn spawn_delete(client: &Client, path: &str) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let client = client.clone();
        let path = path.to_owned();
        handle.spawn(async move {
            if let Err(e) = client.delete(&path, None).await
                && e != Error::Server(ErrorCode::NoNode)
            {
                tracing::warn!(path, error = %e, "could not delete a recipe node on drop");
            }
        });
    }
}

/// Deletes a node, treating "already gone" as done.
pub(crate) async fn delete_if_present(client: &Client, path: &str) -> Result<()> {
    match client.delete(path, None).await {
        Ok(()) | Err(Error::Server(ErrorCode::NoNode)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A short pause before a background task retries after a transient error.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_protected_names() {
        let plain = parse("lock-0000000012").unwrap();
        assert_eq!((plain.kind.as_str(), plain.seq), ("lock-", 12));
        let guid = "0123456789abcdef0123456789ABCDEF";
        let p = parse(&format!("_c_{guid}-read-0000000003")).unwrap();
        assert_eq!((p.kind.as_str(), p.seq), ("read-", 3));
        let wrapped = parse("x-2147483648").unwrap();
        assert_eq!(wrapped.seq, i64::from(i32::MIN));
        for bad in [
            "lock-12",
            "ready",
            "_c_nothex-lock-0000000001",
            "lock-00000000x1",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sorts_by_sequence_across_kinds_and_protection() {
        let guid = "f".repeat(32);
        let children = vec![
            "write-0000000005".to_owned(),
            format!("_c_{guid}-read-0000000002"),
            "read-0000000009".to_owned(),
            "ready".to_owned(),
            "other-0000000001".to_owned(),
        ];
        let s = sorted(&children, &["read-", "write-"]);
        let seqs: Vec<i64> = s.iter().map(|n| n.seq).collect();
        assert_eq!(seqs, [2, 5, 9]);
    }
}
