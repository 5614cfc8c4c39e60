//! An ensemble seen from outside: each member's role from its `srvr` answer, which member
//! leads, whether the ensemble is whole (every member leader or follower, exactly one leader),
//! and making every member catch up with the writes of a setup (`sync`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use watchkeeper_proto::{OpCode, Request, SyncRequest};

use crate::BenchError;
use crate::conn::{ConnectOptions, Connection, Incoming};
use crate::probe;

/// A member's role as `srvr` prints it after `Mode:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Leader,
    Follower,
    Observer,
    Standalone,
    /// Anything else a member may say while it is not serving (Watchkeeper's `looking`).
    Other,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::Standalone => "standalone",
            Mode::Other => "other",
        }
    }
}

/// The `Mode:` line of a `srvr` answer; `None` when there is none (ZooKeeper says "This
/// ZooKeeper instance is not currently serving requests" while it elects).
pub fn parse_mode(srvr: &str) -> Option<Mode> {
    let line = srvr.lines().find_map(|l| l.trim().strip_prefix("Mode:"))?;
    Some(match line.trim() {
        "leader" => Mode::Leader,
        "follower" => Mode::Follower,
        "observer" => Mode::Observer,
        "standalone" => Mode::Standalone,
        _ => Mode::Other,
    })
}

/// The index of the only leader, or `None` when there is none or more than one.
pub fn leader_index(modes: &[Option<Mode>]) -> Option<usize> {
    let mut leaders = modes
        .iter()
        .enumerate()
        .filter(|(_, m)| **m == Some(Mode::Leader));
    let first = leaders.next()?.0;
    leaders.next().is_none().then_some(first)
}

/// Every member is leader or follower and exactly one leads.
pub fn is_whole(modes: &[Option<Mode>]) -> bool {
    leader_index(modes).is_some()
        && modes
            .iter()
            .all(|m| matches!(m, Some(Mode::Leader | Mode::Follower)))
}

/// The first follower, for a choice of survivor or victim that is not the leader.
pub fn first_follower(modes: &[Option<Mode>]) -> Option<usize> {
    modes.iter().position(|m| *m == Some(Mode::Follower))
}

/// How the modes read in a message: `leader, follower, -`.
pub fn describe(modes: &[Option<Mode>]) -> String {
    let names: Vec<&str> = modes.iter().map(|m| m.map_or("-", Mode::name)).collect();
    names.join(", ")
}

/// How long one `srvr` may take.
const SRVR_TIMEOUT: Duration = Duration::from_secs(2);

/// How often roles are polled while waiting for them.
const POLL: Duration = Duration::from_millis(100);

/// Every member's mode now, asked concurrently.
pub async fn modes(members: &[SocketAddr]) -> Vec<Option<Mode>> {
    let asks = members.iter().map(|&a| async move {
        probe::four_letter(a, "srvr", SRVR_TIMEOUT)
            .await
            .as_deref()
            .and_then(parse_mode)
    });
    futures::future::join_all(asks).await
}

/// Waits until the ensemble is whole; returns the modes and the leader's index.
pub async fn wait_whole(
    members: &[SocketAddr],
    within: Duration,
    during: &str,
) -> Result<(Vec<Option<Mode>>, usize), BenchError> {
    let deadline = Instant::now() + within;
    loop {
        let m = modes(members).await;
        if is_whole(&m)
            && let Some(l) = leader_index(&m)
        {
            return Ok((m, l));
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Workload(format!(
                "{during}: the ensemble was not whole within {within:?} (modes: {})",
                describe(&m)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until one of `candidates` says leader; returns its index.
pub async fn wait_leader_among(
    members: &[SocketAddr],
    candidates: &[usize],
    within: Duration,
) -> Option<usize> {
    let deadline = Instant::now() + within;
    loop {
        let m = modes(members).await;
        if let Some(l) = leader_index(&m).filter(|l| candidates.contains(l)) {
            return Some(l);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Makes each member catch up with every write acknowledged so far: a `sync` of `path` on a
/// fresh session per member, so that reads and watches registered there afterwards see the
/// setup's nodes.
pub async fn sync_members(
    members: &[SocketAddr],
    path: &str,
    opts: &ConnectOptions,
) -> Result<(), BenchError> {
    if members.len() < 2 {
        return Ok(());
    }
    for &addr in members {
        let mut c = Connection::connect(addr, opts).await?;
        c.send(
            &Request::Sync(SyncRequest {
                path: path.to_string(),
            }),
            0,
        )?;
        c.flush().await?;
        let deadline = Instant::now() + opts.connect_timeout.max(Duration::from_secs(10));
        loop {
            match c.recv_until(deadline).await? {
                Some(Incoming::Reply(r)) if r.op == OpCode::Sync => {
                    if !r.is_ok() {
                        return Err(crate::pipeline::request_error(addr, "sync", path, r.err));
                    }
                    break;
                }
                Some(_) => {}
                None => {
                    return Err(BenchError::Timeout {
                        addr,
                        during: "waiting for sync".into(),
                    });
                }
            }
        }
        let _ = c.close(Instant::now() + opts.connect_timeout).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZK_LEADER: &str = "Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25 08:49 UTC\nLatency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\nZxid: 0x100000000\nMode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n";

    #[test]
    fn modes_parse_from_srvr() {
        assert_eq!(parse_mode(ZK_LEADER), Some(Mode::Leader));
        assert_eq!(
            parse_mode("Zookeeper version: 3.9.2-watchkeeper-0.1.0\r\nMode: follower\r\n"),
            Some(Mode::Follower)
        );
        assert_eq!(parse_mode("Mode: standalone\n"), Some(Mode::Standalone));
        assert_eq!(parse_mode("Mode: looking\n"), Some(Mode::Other));
        assert_eq!(
            parse_mode("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
        assert_eq!(parse_mode(""), None);
    }

    #[test]
    fn leader_and_wholeness() {
        use Mode::*;
        let whole = [Some(Follower), Some(Leader), Some(Follower)];
        assert_eq!(leader_index(&whole), Some(1));
        assert!(is_whole(&whole));
        assert_eq!(first_follower(&whole), Some(0));
        let electing = [Some(Follower), None, Some(Follower)];
        assert_eq!(leader_index(&electing), None);
        assert!(!is_whole(&electing));
        let two = [Some(Leader), Some(Leader), Some(Follower)];
        assert_eq!(leader_index(&two), None, "two leaders is no answer");
        let missing = [Some(Leader), Some(Follower), None];
        assert_eq!(leader_index(&missing), Some(0));
        assert!(!is_whole(&missing), "a member down is not whole");
        assert!(!is_whole(&[Some(Leader), Some(Other), Some(Follower)]));
        assert_eq!(describe(&missing), "leader, follower, -");
    }
}
