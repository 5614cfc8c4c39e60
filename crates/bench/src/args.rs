//! What a benchmark run is asked to do: plain structs with defaults, no command-line parsing.
//! The `watchkeeper bench` command mirrors each documented field as a flag.
//!
//! Every field has a bound checked by `validate` before anything connects, so a typo cannot
//! open a million sessions or run for a day.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::BenchError;

/// Upper bounds on the knobs.
pub mod limits {
    use std::time::Duration;
    pub const MAX_SESSIONS: usize = 20_000;
    pub const MAX_IN_FLIGHT: usize = 4096;
    pub const MAX_VALUE_SIZE: usize = 1_000_000;
    pub const MAX_KEYS: usize = 1_000_000;
    pub const MAX_TOTAL_WATCHES: u64 = 50_000_000;
    pub const MAX_ROUNDS: u32 = 10_000;
    pub const MAX_RUNS: u32 = 100;
    pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
    pub const MAX_BATCH_BYTES: usize = 900 * 1024;
    /// Members of one ensemble in a connect string (ZooKeeper's own limit is 255 ids; a
    /// loopback benchmark never needs more than a handful).
    pub const MAX_MEMBERS: usize = 64;
}

/// One benchmark invocation: which server(s), which workload, how often.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchArgs {
    /// The server to load, `HOST:PORT`, or the members of an ensemble as a connect string
    /// `HOST:PORT,HOST:PORT,...` (`--server`). Member N (from 1) is the Nth address; `read`,
    /// `write` and `mixed` spread their sessions over the members round robin, `failover` and
    /// `storm` need every member; the other workloads use the first.
    pub server: String,
    /// A second server or ensemble to compare with, in the same form (`--compare`). The
    /// workload then runs alternately on both, `runs` times each: A, B, A, B, ...
    pub compare: Option<String>,
    /// How many times the workload runs on each server (`--runs`); medians are reported.
    pub runs: u32,
    /// Name of the first server in tables and plots (`--label`); default: detected with the
    /// `srvr` four-letter word ("watchkeeper 0.1.0", "zookeeper 3.8.4"), else the address.
    pub label: Option<String>,
    /// Name of the compared server (`--compare-label`).
    pub compare_label: Option<String>,
    /// Process id of the first server, for its memory (VmRSS) in the `watches` workload
    /// (`--server-pid`; local servers only).
    pub server_pid: Option<u32>,
    /// Process id of the compared server (`--compare-pid`).
    pub compare_pid: Option<u32>,
    /// Where each member's process id comes from, in connect-string order (`--member-pids`):
    /// what `failover` and `storm` SIGKILL, and whose CPU time `read`/`write`/`mixed` and
    /// `storm` report. Empty: unknown.
    #[serde(default)]
    pub member_pids: Vec<PidSource>,
    /// The same for the compared ensemble (`--compare-member-pids`).
    #[serde(default)]
    pub compare_member_pids: Vec<PidSource>,
    /// Shell command (`sh -c`) that brings a killed member back and returns once it serves
    /// (`--restart-cmd`); `{id}` is replaced by the member's number (1-based), `{addr}`,
    /// `{host}` and `{port}` by its client address.
    #[serde(default)]
    pub restart_cmd: Option<String>,
    /// The same for the compared ensemble (`--compare-restart-cmd`).
    #[serde(default)]
    pub compare_restart_cmd: Option<String>,
    /// Parent znode of everything the benchmark creates (`--root`).
    pub root: String,
    /// Session timeout to ask for (`--session-timeout`).
    pub session_timeout: Duration,
    /// Bound on connecting plus the handshake, per connection (`--connect-timeout`).
    pub connect_timeout: Duration,
    /// Draw progress bars on stderr (`--no-progress` turns them off); they are hidden anyway
    /// when stderr is not a terminal.
    pub progress: bool,
    /// Seed for key choice and operation mix (`--seed`).
    pub seed: u64,
    pub workload: Workload,
}

impl Default for BenchArgs {
    fn default() -> Self {
        BenchArgs {
            server: "127.0.0.1:2181".into(),
            compare: None,
            runs: 1,
            label: None,
            compare_label: None,
            server_pid: None,
            compare_pid: None,
            member_pids: Vec::new(),
            compare_member_pids: Vec::new(),
            restart_cmd: None,
            compare_restart_cmd: None,
            root: "/wkbench".into(),
            session_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            progress: true,
            seed: 1,
            workload: Workload::Read(LoadArgs::default()),
        }
    }
}

/// The workloads (`watchkeeper bench <workload>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "workload", rename_all = "kebab-case")]
pub enum Workload {
    /// getData only.
    Read(LoadArgs),
    /// setData and create+delete only.
    Write(LoadArgs),
    /// Reads with probability `read_ratio`, writes otherwise.
    Mixed(LoadArgs),
    /// One writer, many watchers: notification fan-out latency.
    Fanout(FanoutArgs),
    /// Many watches: registration rate and the server's memory per watch.
    Watches(WatchesArgs),
    /// Sessions with watches lose their connections, resume and re-register.
    Reconnect(ReconnectArgs),
    /// An ensemble's leader is SIGKILLed: time until a write through a survivor succeeds.
    Failover(FailoverArgs),
    /// An ensemble member holding a third of many sessions dies: time until every orphaned
    /// session has resumed elsewhere and re-armed its watches.
    Storm(StormArgs),
}

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Read(_) => "read",
            Workload::Write(_) => "write",
            Workload::Mixed(_) => "mixed",
            Workload::Fanout(_) => "fanout",
            Workload::Watches(_) => "watches",
            Workload::Reconnect(_) => "reconnect",
            Workload::Failover(_) => "failover",
            Workload::Storm(_) => "storm",
        }
    }

    /// A one-line description of the parameters, for table headings.
    pub fn describe(&self) -> String {
        match self {
            Workload::Read(a) | Workload::Write(a) | Workload::Mixed(a) => {
                let mut s = format!(
                    "{} sessions x {} in flight, {} B values, {} keys, warm-up {:?}, ",
                    a.sessions, a.in_flight, a.value_size, a.keys, a.warmup
                );
                match a.requests {
                    Some(n) => s.push_str(&format!("{n} requests (at most {:?})", a.duration)),
                    None => s.push_str(&format!("{:?}", a.duration)),
                }
                if let Workload::Mixed(_) = self {
                    s.push_str(&format!(", read ratio {}", a.read_ratio));
                }
                if !matches!(self, Workload::Read(_)) {
                    s.push_str(&format!(", create+delete ratio {}", a.create_ratio));
                }
                s
            }
            Workload::Fanout(a) => format!(
                "{} watchers, {} watches, {} rounds, {} B values",
                a.watchers, a.mode, a.rounds, a.value_size
            ),
            Workload::Watches(a) => format!(
                "{} sessions x {} {} watches on {} paths, {} in flight",
                a.sessions,
                a.watches_per_session,
                a.kind,
                if a.shared { "shared" } else { "distinct" },
                a.in_flight
            ),
            Workload::Reconnect(a) => format!(
                "{} sessions x {} data watches, {} nodes changed during the outage, setWatches batches of {} B",
                a.sessions, a.watches_per_session, a.changed, a.batch_bytes
            ),
            Workload::Failover(a) => format!(
                "SIGKILL the leader, one setData at a time through a survivor ({:?} per attempt, {:?} of writes before the kill)",
                a.write_timeout, a.warmup
            ),
            Workload::Storm(a) => format!(
                "{} sessions x {} data watches over {} nodes, spread over the members; SIGKILL a {}; {} nodes changed meanwhile",
                a.sessions, a.watches_per_session, a.nodes, a.kill, a.changed
            ),
        }
    }

    /// Whether the workload kills and restarts ensemble members (and so needs their pids and
    /// a restart command).
    pub fn kills_members(&self) -> bool {
        matches!(self, Workload::Failover(_) | Workload::Storm(_))
    }
}

/// `read`, `write` and `mixed`: a closed loop of C sessions, each keeping P requests in flight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadArgs {
    /// Concurrent sessions, C (`--sessions`).
    pub sessions: usize,
    /// Requests each session keeps in flight, P (`--in-flight`).
    pub in_flight: usize,
    /// Bytes per value written by setData and create (`--value-size`).
    pub value_size: usize,
    /// Distinct nodes read and written, chosen uniformly (`--keys`).
    pub keys: usize,
    /// How long to measure after the warm-up (`--duration`); with `requests`, the cap.
    pub duration: Duration,
    /// Stop after this many measured requests (`--requests`), or at `duration`, first wins.
    pub requests: Option<u64>,
    /// Load applied before measuring starts (`--warmup`).
    pub warmup: Duration,
    /// `mixed` only: the fraction of operations that are reads (`--read-ratio`, 0..=1).
    pub read_ratio: f64,
    /// `write`/`mixed`: the fraction of write choices that become a create followed by a
    /// delete of a fresh node instead of a setData (`--create-ratio`, 0..=1).
    pub create_ratio: f64,
}

impl Default for LoadArgs {
    fn default() -> Self {
        LoadArgs {
            sessions: 8,
            in_flight: 32,
            value_size: 256,
            keys: 1000,
            duration: Duration::from_secs(10),
            requests: None,
            warmup: Duration::from_secs(2),
            read_ratio: 0.9,
            create_ratio: 0.25,
        }
    }
}

/// `fanout`: N watcher sessions, one writer, repeated rounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FanoutArgs {
    /// Watcher sessions, N (`--watchers`).
    pub watchers: usize,
    /// How each watcher watches the node (`--mode one-shot|persistent|recursive`).
    pub mode: WatchMode,
    /// Writes (rounds) measured (`--rounds`); the median over rounds is reported.
    pub rounds: u32,
    /// Bytes written by each setData (`--value-size`).
    pub value_size: usize,
    /// Longest a round may wait for every watcher to hear (`--round-timeout`).
    pub round_timeout: Duration,
    /// Pause between rounds (`--pause`).
    pub pause: Duration,
    /// Rounds run first and not measured (`--warmup-rounds`), so that a server which compiles
    /// its hot paths at run time (ZooKeeper's JIT) is measured warm.
    #[serde(default)]
    pub warmup_rounds: u32,
}

impl Default for FanoutArgs {
    fn default() -> Self {
        FanoutArgs {
            watchers: 100,
            mode: WatchMode::OneShot,
            rounds: 20,
            value_size: 16,
            round_timeout: Duration::from_secs(10),
            pause: Duration::from_millis(10),
            warmup_rounds: 3,
        }
    }
}

/// `watches`: S sessions register W watches each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WatchesArgs {
    /// Sessions, S (`--sessions`).
    pub sessions: usize,
    /// Watches per session, W (`--watches`).
    pub watches_per_session: usize,
    /// Every session watches the same W paths (`--shared`); otherwise S x W distinct paths.
    pub shared: bool,
    /// What kind of watch (`--kind exists|data|child|persistent|recursive`). `exists` watches
    /// missing nodes, so no node is created and the memory measured is the watches' alone.
    pub kind: WatchKind,
    /// Registration requests in flight per session (`--in-flight`).
    pub in_flight: usize,
    /// Wait after registering before reading memory, so the server settles (`--settle`).
    pub settle: Duration,
    /// Longest the registration may take (`--timeout`).
    pub timeout: Duration,
}

impl Default for WatchesArgs {
    fn default() -> Self {
        WatchesArgs {
            sessions: 10,
            watches_per_session: 1000,
            shared: false,
            kind: WatchKind::Exists,
            in_flight: 64,
            settle: Duration::from_millis(500),
            timeout: Duration::from_secs(300),
        }
    }
}

/// `reconnect`: K sessions with M data watches each lose their connections at once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReconnectArgs {
    /// Sessions, K (`--sessions`).
    pub sessions: usize,
    /// Data watches per session, M, all on the same M nodes (`--watches`).
    pub watches_per_session: usize,
    /// Nodes the writer changes during the outage (`--changed`); each watching session must
    /// get exactly one catch-up event per changed node and none for the others.
    pub changed: usize,
    /// Pad node names to at least this many characters (`--name-len`), to exercise setWatches
    /// batching with fewer nodes.
    pub name_len: usize,
    /// Bytes of paths per setWatches packet (`--batch-bytes`); the Java client uses 128 KiB.
    pub batch_bytes: usize,
    /// Registration requests in flight per session before the outage (`--in-flight`).
    pub in_flight: usize,
    /// How long the connections stay down after the writer finished (`--outage`).
    pub outage: Duration,
    /// Wait this long after the last expected event for stray ones (`--quiet`).
    pub quiet: Duration,
    /// Longest each phase may take (`--timeout`).
    pub timeout: Duration,
}

impl Default for ReconnectArgs {
    fn default() -> Self {
        ReconnectArgs {
            sessions: 20,
            watches_per_session: 1000,
            changed: 10,
            name_len: 0,
            batch_bytes: 128 * 1024,
            in_flight: 64,
            outage: Duration::ZERO,
            quiet: Duration::from_millis(300),
            timeout: Duration::from_secs(60),
        }
    }
}

/// `failover`: one kill of the leader per run (`--runs` rounds, alternating servers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailoverArgs {
    /// How long the write loop runs before the kill (`--warmup`).
    pub warmup: Duration,
    /// Deadline of each write attempt (`--write-timeout`); a write that misses it is followed
    /// by another at once (on the same connection while it stands).
    pub write_timeout: Duration,
    /// Pause after a refused connection attempt before trying the next survivor
    /// (`--retry-pause`); bounds how hard a dead or electing ensemble is hammered.
    pub retry_pause: Duration,
    /// Longest the ensemble may take to be whole before the kill, to accept a write after it,
    /// and to be whole again after the restart (`--timeout`, each).
    pub timeout: Duration,
    /// Wait after the ensemble is whole again before the run ends (`--settle`), so the
    /// restarted member has caught up before the next round.
    pub settle: Duration,
}

impl Default for FailoverArgs {
    fn default() -> Self {
        FailoverArgs {
            warmup: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            retry_pause: Duration::from_millis(10),
            timeout: Duration::from_secs(60),
            settle: Duration::from_secs(1),
        }
    }
}

/// Which member `storm` kills.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KillWhich {
    /// The first member `srvr` calls a follower: its sessions move, the others stay.
    Follower,
    /// The leader: an election too (ZooKeeper's followers then drop their clients as well).
    Leader,
}

/// `storm`: S sessions x W watches spread over the members; one member dies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StormArgs {
    /// Sessions, S (`--sessions`); session i connects to member i mod n.
    pub sessions: usize,
    /// Data watches per session, W (`--watches`).
    pub watches_per_session: usize,
    /// Nodes the watches are spread over, N >= W (`--nodes`); session i watches nodes
    /// (i*W + j) mod N for j < W, so each node has about S*W/N watchers on every member.
    pub nodes: usize,
    /// Nodes changed right after the kill, while the orphaned sessions are away
    /// (`--changed`); every session watching one must get exactly one NodeDataChanged.
    pub changed: usize,
    /// Which member dies (`--kill follower|leader`).
    pub kill: KillWhich,
    /// Registration requests in flight per session before the kill (`--in-flight`).
    pub in_flight: usize,
    /// Handshakes (first connections and resumptions) in progress at once
    /// (`--concurrency`). 32 stays under the listen backlog of 50 that ZooKeeper's client port
    /// has by default (Java's), which would otherwise drop SYNs that come back only a second
    /// later; the orphans of a real storm are spread out by their clients' own back-off (the
    /// Java client waits up to a second before reconnecting).
    pub concurrency: usize,
    /// Bytes of paths per setWatches packet (`--batch-bytes`).
    pub batch_bytes: usize,
    /// Wait this long after the last expected event for stray ones (`--quiet`).
    pub quiet: Duration,
    /// Pause after a refused connection attempt before the next (`--retry-pause`).
    pub retry_pause: Duration,
    /// Longest each phase may take (`--timeout`).
    pub timeout: Duration,
    /// Wait after the ensemble is whole again before the run ends (`--settle`).
    pub settle: Duration,
}

impl Default for StormArgs {
    fn default() -> Self {
        StormArgs {
            sessions: 3000,
            watches_per_session: 10,
            nodes: 1000,
            changed: 100,
            kill: KillWhich::Follower,
            in_flight: 10,
            concurrency: 32,
            batch_bytes: 128 * 1024,
            quiet: Duration::from_millis(500),
            retry_pause: Duration::from_millis(10),
            timeout: Duration::from_secs(120),
            settle: Duration::from_secs(1),
        }
    }
}

/// Where a member's process id comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PidSource {
    /// A fixed process id; it is stale once the member was restarted.
    Pid(u32),
    /// A file holding the pid (the scripts' `server.pid`), read again at every use.
    File(PathBuf),
}

impl FromStr for PidSource {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self, BenchError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(BenchError::Args("an empty pid entry".into()));
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            let pid: u32 = s
                .parse()
                .map_err(|_| BenchError::Args(format!("pid `{s}` is out of range")))?;
            if pid <= 1 {
                return Err(BenchError::Args(format!("pid {pid} is not a server's")));
            }
            return Ok(PidSource::Pid(pid));
        }
        Ok(PidSource::File(PathBuf::from(s)))
    }
}

impl fmt::Display for PidSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidSource::Pid(p) => write!(f, "{p}"),
            PidSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Splits a connect string `HOST:PORT,HOST:PORT,...` into its members, checking that each
/// has a host and a numeric port. A chroot suffix (`/path`) is refused: the benchmark names
/// its own root with `--root`.
pub fn split_connect_string(s: &str) -> Result<Vec<String>, BenchError> {
    let members: Vec<String> = s.split(',').map(|m| m.trim().to_string()).collect();
    for m in &members {
        let (host, port) = m
            .rsplit_once(':')
            .ok_or_else(|| BenchError::Args(format!("member `{m}` of `{s}` is not HOST:PORT")))?;
        if host.is_empty() || host.contains('/') {
            return Err(BenchError::Args(format!(
                "member `{m}` of `{s}` has no host (or a chroot, which is not supported; use --root)"
            )));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => {
                return Err(BenchError::Args(format!(
                    "member `{m}` of `{s}` has a bad port (or a chroot, which is not supported; use --root)"
                )));
            }
        }
    }
    check(members.len() <= limits::MAX_MEMBERS, || {
        format!("`{s}` lists more than {} members", limits::MAX_MEMBERS)
    })?;
    Ok(members)
}

/// Parses a pid list for `members` members: comma-separated entries in connect-string order,
/// each a pid or a pid file; or a single entry containing `{id}`, expanded for members
/// 1..=`members` (`/tmp/wk/m{id}/server.pid`).
pub fn parse_member_pids(s: &str, members: usize) -> Result<Vec<PidSource>, BenchError> {
    let entries: Vec<&str> = s.split(',').map(str::trim).collect();
    if entries.len() == 1 && entries[0].contains("{id}") {
        return (1..=members)
            .map(|id| entries[0].replace("{id}", &id.to_string()).parse())
            .collect();
    }
    if entries.len() != members {
        return Err(BenchError::Args(format!(
            "{} pid entries for {members} members (one per member, or one with {{id}})",
            entries.len()
        )));
    }
    entries.iter().map(|e| e.parse()).collect()
}

/// How fan-out watchers watch the node.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WatchMode {
    /// getData with watch=true, re-armed after every event.
    OneShot,
    /// addWatch mode 0 on the node.
    Persistent,
    /// addWatch mode 1 (persistent-recursive) on the node's parent.
    Recursive,
}

/// What kind of watch the `watches` workload registers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WatchKind {
    /// exists(watch=true) on nodes that do not exist.
    Exists,
    /// getData(watch=true) on existing nodes.
    Data,
    /// getChildren(watch=true) on existing nodes.
    Child,
    /// addWatch mode 0.
    Persistent,
    /// addWatch mode 1.
    Recursive,
}

macro_rules! text_enum {
    ($t:ty, $what:literal, $($v:ident => [$($s:literal),+]),+ $(,)?) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let names: &[&str] = match self { $(<$t>::$v => &[$($s),+]),+ };
                f.write_str(names[0])
            }
        }
        impl FromStr for $t {
            type Err = BenchError;
            fn from_str(s: &str) -> Result<Self, BenchError> {
                match s {
                    $($($s)|+ => Ok(<$t>::$v),)+
                    _ => Err(BenchError::Args(format!(concat!("unknown ", $what, " `{}`"), s))),
                }
            }
        }
    };
}

text_enum!(WatchMode, "watch mode",
    OneShot => ["one-shot", "oneshot"],
    Persistent => ["persistent"],
    Recursive => ["recursive", "persistent-recursive"],
);

text_enum!(KillWhich, "member to kill",
    Follower => ["follower"],
    Leader => ["leader"],
);

text_enum!(WatchKind, "watch kind",
    Exists => ["exists"],
    Data => ["data"],
    Child => ["child", "children"],
    Persistent => ["persistent"],
    Recursive => ["recursive", "persistent-recursive"],
);

/// Parses `500ms`, `10s`, `2m`, `1h`, `1.5s` or a bare number of seconds; for flag parsers
/// (`value_parser = watchkeeper_bench::parse_duration`).
pub fn parse_duration(s: &str) -> Result<Duration, BenchError> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| BenchError::Args(format!("bad duration `{s}`")))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(BenchError::Args(format!(
                "bad duration unit `{other}` in `{s}` (ms, s, m, h)"
            )));
        }
    };
    if !secs.is_finite() || secs < 0.0 || secs > limits::MAX_DURATION.as_secs_f64() {
        return Err(BenchError::Args(format!(
            "duration `{s}` is outside 0..={:?}",
            limits::MAX_DURATION
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), BenchError> {
    if ok {
        Ok(())
    } else {
        Err(BenchError::Args(what()))
    }
}

fn check_range<T: PartialOrd + fmt::Display>(
    name: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), BenchError> {
    check(v >= lo && v <= hi, || {
        format!("{name} is {v}, must be {lo}..={hi}")
    })
}

fn check_duration(name: &str, d: Duration) -> Result<(), BenchError> {
    check(d <= limits::MAX_DURATION, || {
        format!("{name} {d:?} exceeds {:?}", limits::MAX_DURATION)
    })
}

/// Bounds shared by the watch-holding workloads (`watches`, `reconnect`): each count alone.
fn check_watch_counts(sessions: usize, watches_per_session: usize) -> Result<(), BenchError> {
    use limits::*;
    check_range("sessions", sessions, 1, MAX_SESSIONS)?;
    check_range("watches", watches_per_session, 1, MAX_KEYS)
}

/// Bounds shared by the watch-holding workloads: the watches of all sessions together,
/// and a timeout that can elapse.
fn check_watch_total(
    sessions: usize,
    watches_per_session: usize,
    timeout: Duration,
) -> Result<(), BenchError> {
    use limits::MAX_TOTAL_WATCHES;
    let total = sessions as u64 * watches_per_session as u64;
    check(total <= MAX_TOTAL_WATCHES, || {
        format!("{total} watches in all exceeds {MAX_TOTAL_WATCHES}")
    })?;
    check(timeout > Duration::ZERO, || {
        "timeout must be positive".into()
    })
}

impl BenchArgs {
    /// Checks every bound; called by [`crate::run`] before anything connects.
    pub fn validate(&self) -> Result<(), BenchError> {
        use limits::*;
        check_range("runs", self.runs, 1, MAX_RUNS)?;
        check(
            self.root.starts_with('/')
                && self.root.len() > 1
                && !self.root.ends_with('/')
                && !self.root.contains("//"),
            || format!("root `{}` must be an absolute path other than /", self.root),
        )?;
        check(self.session_timeout >= Duration::from_millis(100), || {
            "session timeout must be at least 100ms".into()
        })?;
        check_duration("session timeout", self.session_timeout)?;
        check_duration("connect timeout", self.connect_timeout)?;
        let sides = [
            ("--server", Some(&self.server), &self.member_pids),
            (
                "--compare",
                self.compare.as_ref(),
                &self.compare_member_pids,
            ),
        ];
        for (flag, connect, pids) in sides {
            let Some(connect) = connect else {
                check(pids.is_empty(), || {
                    "--compare-member-pids without --compare".into()
                })?;
                continue;
            };
            let members = split_connect_string(connect)?.len();
            check(pids.is_empty() || pids.len() == members, || {
                format!(
                    "{} pids for the {members} members of {flag} {connect}",
                    pids.len()
                )
            })?;
            if self.workload.kills_members() {
                check(members >= 3, || {
                    format!(
                        "{} needs an ensemble of at least 3 members; {flag} {connect} lists {members}",
                        self.workload.name()
                    )
                })?;
            }
        }
        match &self.workload {
            Workload::Read(a) | Workload::Write(a) | Workload::Mixed(a) => a.validate(),
            Workload::Fanout(a) => a.validate(),
            Workload::Watches(a) => a.validate(),
            Workload::Reconnect(a) => a.validate(),
            Workload::Failover(a) => a.validate(),
            Workload::Storm(a) => a.validate(),
        }
    }
}

impl FailoverArgs {
    fn validate(&self) -> Result<(), BenchError> {
        for (name, d) in [
            ("write timeout", self.write_timeout),
            ("timeout", self.timeout),
        ] {
            check(d > Duration::ZERO, || format!("{name} must be positive"))?;
            check_duration(name, d)?;
        }
        check_duration("warm-up", self.warmup)?;
        check_duration("retry pause", self.retry_pause)?;
        check_duration("settle", self.settle)
    }
}

impl StormArgs {
    fn validate(&self) -> Result<(), BenchError> {
        use limits::*;
        check_watch_counts(self.sessions, self.watches_per_session)?;
        check_range("nodes", self.nodes, self.watches_per_session, MAX_KEYS)?;
        check_range("changed", self.changed, 0, self.nodes)?;
        check_range("in-flight", self.in_flight, 1, MAX_IN_FLIGHT)?;
        check_range("concurrency", self.concurrency, 1, MAX_SESSIONS)?;
        check_range("batch bytes", self.batch_bytes, 1, MAX_BATCH_BYTES)?;
        check_watch_total(self.sessions, self.watches_per_session, self.timeout)?;
        check_duration("quiet", self.quiet)?;
        check_duration("retry pause", self.retry_pause)?;
        check_duration("settle", self.settle)?;
        check_duration("timeout", self.timeout)
    }
}

impl LoadArgs {
    fn validate(&self) -> Result<(), BenchError> {
        use limits::*;
        check_range("sessions", self.sessions, 1, MAX_SESSIONS)?;
        check_range("in-flight", self.in_flight, 1, MAX_IN_FLIGHT)?;
        check_range("value size", self.value_size, 0, MAX_VALUE_SIZE)?;
        check_range("keys", self.keys, 1, MAX_KEYS)?;
        check_range("read ratio", self.read_ratio, 0.0, 1.0)?;
        check_range("create ratio", self.create_ratio, 0.0, 1.0)?;
        check(self.requests != Some(0), || {
            "requests must be positive".into()
        })?;
        check(self.duration > Duration::ZERO, || {
            "duration must be positive".into()
        })?;
        check_duration("duration", self.duration)?;
        check_duration("warm-up", self.warmup)
    }
}

impl FanoutArgs {
    fn validate(&self) -> Result<(), BenchError> {
        use limits::*;
        check_range("watchers", self.watchers, 1, MAX_SESSIONS)?;
        check_range("rounds", self.rounds, 1, MAX_ROUNDS)?;
        check_range("warm-up rounds", self.warmup_rounds, 0, MAX_ROUNDS)?;
        check_range("value size", self.value_size, 0, MAX_VALUE_SIZE)?;
        check(self.round_timeout > Duration::ZERO, || {
            "round timeout must be positive".into()
        })?;
        check_duration("round timeout", self.round_timeout)?;
        check_duration("pause", self.pause)
    }
}

impl WatchesArgs {
    fn validate(&self) -> Result<(), BenchError> {
        use limits::*;
        check_watch_counts(self.sessions, self.watches_per_session)?;
        check_range("in-flight", self.in_flight, 1, MAX_IN_FLIGHT)?;
        check_watch_total(self.sessions, self.watches_per_session, self.timeout)?;
        check_duration("settle", self.settle)?;
        check_duration("timeout", self.timeout)
    }
}

impl ReconnectArgs {
    fn validate(&self) -> Result<(), BenchError> {
        use limits::*;
        check_watch_counts(self.sessions, self.watches_per_session)?;
        check_range("changed", self.changed, 0, self.watches_per_session)?;
        check_range("name length", self.name_len, 0, 4096)?;
        check_range("batch bytes", self.batch_bytes, 1, MAX_BATCH_BYTES)?;
        check_range("in-flight", self.in_flight, 1, MAX_IN_FLIGHT)?;
        check_watch_total(self.sessions, self.watches_per_session, self.timeout)?;
        check_duration("outage", self.outage)?;
        check_duration("quiet", self.quiet)?;
        check_duration("timeout", self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration(" 1h ").unwrap(), Duration::from_secs(3600));
        for bad in ["", "s", "10x", "-1s", "1e9", "99999h", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_parse_and_print_their_flag_names() {
        for m in [
            WatchMode::OneShot,
            WatchMode::Persistent,
            WatchMode::Recursive,
        ] {
            assert_eq!(m.to_string().parse::<WatchMode>().unwrap(), m);
        }
        for k in [
            WatchKind::Exists,
            WatchKind::Data,
            WatchKind::Child,
            WatchKind::Persistent,
            WatchKind::Recursive,
        ] {
            assert_eq!(k.to_string().parse::<WatchKind>().unwrap(), k);
        }
        assert_eq!(
            "persistent-recursive".parse::<WatchMode>().unwrap(),
            WatchMode::Recursive
        );
        assert!("sometimes".parse::<WatchMode>().is_err());
    }

    #[test]
    fn defaults_are_valid_and_bounds_are_enforced() {
        let mut a = BenchArgs::default();
        a.validate().unwrap();
        for w in [
            Workload::Fanout(FanoutArgs::default()),
            Workload::Watches(WatchesArgs::default()),
            Workload::Reconnect(ReconnectArgs::default()),
            Workload::Mixed(LoadArgs::default()),
        ] {
            a.workload = w;
            a.validate().unwrap();
        }
        let bad = [
            Workload::Read(LoadArgs {
                sessions: 0,
                ..LoadArgs::default()
            }),
            Workload::Mixed(LoadArgs {
                read_ratio: 1.5,
                ..LoadArgs::default()
            }),
            Workload::Write(LoadArgs {
                requests: Some(0),
                ..LoadArgs::default()
            }),
            Workload::Fanout(FanoutArgs {
                rounds: 0,
                ..FanoutArgs::default()
            }),
            Workload::Watches(WatchesArgs {
                sessions: 20_000,
                watches_per_session: 1_000_000,
                ..WatchesArgs::default()
            }),
            Workload::Reconnect(ReconnectArgs {
                changed: 2000,
                ..ReconnectArgs::default()
            }),
        ];
        for w in bad {
            a.workload = w.clone();
            assert!(a.validate().is_err(), "{w:?}");
        }
        let root_bad = BenchArgs {
            root: "/".into(),
            ..BenchArgs::default()
        };
        assert!(root_bad.validate().is_err());
    }

    #[test]
    fn connect_strings_split_into_members() {
        assert_eq!(
            split_connect_string("127.0.0.1:2181").unwrap(),
            ["127.0.0.1:2181"]
        );
        assert_eq!(
            split_connect_string("a:1, b:2 ,localhost:3").unwrap(),
            ["a:1", "b:2", "localhost:3"]
        );
        assert_eq!(split_connect_string("[::1]:2181").unwrap(), ["[::1]:2181"]);
        for bad in [
            "",
            "a",
            "a:1,",
            "a:1,,b:2",
            ":1",
            "a:0",
            "a:x",
            "a:1/chroot",
            "a:99999",
        ] {
            assert!(split_connect_string(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn member_pids_parse_as_lists_or_a_template() {
        assert_eq!(
            parse_member_pids("10,/run/b.pid, 12", 3).unwrap(),
            [
                PidSource::Pid(10),
                PidSource::File("/run/b.pid".into()),
                PidSource::Pid(12)
            ]
        );
        assert_eq!(
            parse_member_pids("/e/m{id}/server.pid", 2).unwrap(),
            [
                PidSource::File("/e/m1/server.pid".into()),
                PidSource::File("/e/m2/server.pid".into())
            ]
        );
        assert!(parse_member_pids("10,11", 3).is_err(), "one per member");
        assert!(parse_member_pids("10,,12", 3).is_err());
        assert!(parse_member_pids("1,2,3", 3).is_err(), "pid 1 is init");
        assert!(parse_member_pids("99999999999,2,3", 3).is_err());
        assert_eq!(PidSource::Pid(7).to_string(), "7");
        assert_eq!(PidSource::File("/x".into()).to_string(), "/x");
    }

    #[test]
    fn ensemble_workloads_need_three_members_and_matching_pids() {
        let three = "h:1,h:2,h:3";
        let mut a = BenchArgs {
            server: three.into(),
            workload: Workload::Failover(FailoverArgs::default()),
            ..BenchArgs::default()
        };
        a.validate().unwrap();
        a.workload = Workload::Storm(StormArgs::default());
        a.validate().unwrap();
        a.compare = Some("h:9".into());
        assert!(a.validate().is_err(), "the compared side has one member");
        a.compare = Some(three.into());
        a.member_pids = vec![PidSource::Pid(5)];
        assert!(a.validate().is_err(), "one pid for three members");
        a.member_pids = vec![PidSource::Pid(5), PidSource::Pid(6), PidSource::Pid(7)];
        a.validate().unwrap();
        a.server = "h:1".into();
        a.member_pids.clear();
        assert!(a.validate().is_err());
        // Load workloads take any number of members.
        a.workload = Workload::Read(LoadArgs::default());
        a.validate().unwrap();
        let no_compare = BenchArgs {
            compare_member_pids: vec![PidSource::Pid(5)],
            ..BenchArgs::default()
        };
        assert!(no_compare.validate().is_err());
        for bad in [
            StormArgs {
                nodes: 5,
                watches_per_session: 10,
                ..StormArgs::default()
            },
            StormArgs {
                changed: 1001,
                ..StormArgs::default()
            },
            StormArgs {
                sessions: 0,
                ..StormArgs::default()
            },
        ] {
            let a = BenchArgs {
                server: three.into(),
                workload: Workload::Storm(bad.clone()),
                ..BenchArgs::default()
            };
            assert!(a.validate().is_err(), "{bad:?}");
        }
        let a = BenchArgs {
            server: three.into(),
            workload: Workload::Failover(FailoverArgs {
                write_timeout: Duration::ZERO,
                ..FailoverArgs::default()
            }),
            ..BenchArgs::default()
        };
        assert!(a.validate().is_err());
        assert_eq!("leader".parse::<KillWhich>().unwrap(), KillWhich::Leader);
        assert_eq!(KillWhich::Follower.to_string(), "follower");
    }

    #[test]
    fn args_round_trip_through_json() {
        let a = BenchArgs {
            compare: Some("127.0.0.1:2182".into()),
            workload: Workload::Fanout(FanoutArgs {
                mode: WatchMode::Recursive,
                ..FanoutArgs::default()
            }),
            ..BenchArgs::default()
        };
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.contains("\"workload\":\"fanout\""), "{j}");
        assert!(j.contains("\"mode\":\"recursive\""), "{j}");
        assert_eq!(serde_json::from_str::<BenchArgs>(&j).unwrap(), a);

        let e = BenchArgs {
            server: "h:1,h:2,h:3".into(),
            member_pids: vec![
                PidSource::Pid(5),
                PidSource::File("/p".into()),
                PidSource::Pid(7),
            ],
            restart_cmd: Some("start {id}".into()),
            workload: Workload::Storm(StormArgs::default()),
            ..BenchArgs::default()
        };
        let j = serde_json::to_string(&e).unwrap();
        assert!(j.contains("\"workload\":\"storm\""), "{j}");
        assert_eq!(serde_json::from_str::<BenchArgs>(&j).unwrap(), e);
        // Arguments saved before ensembles existed still load.
        let mut old: serde_json::Value = serde_json::from_str(&j).unwrap();
        for key in [
            "member_pids",
            "compare_member_pids",
            "restart_cmd",
            "compare_restart_cmd",
        ] {
            assert!(old.as_object_mut().unwrap().remove(key).is_some(), "{key}");
        }
        let old: BenchArgs = serde_json::from_value(old).unwrap();
        assert!(old.member_pids.is_empty() && old.restart_cmd.is_none());
    }
}
