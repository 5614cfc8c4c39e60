//! The typed answers to four-letter words: what each word reports, with no layout.
//!
//! [`super::text`] renders them as ZooKeeper's four-letter-word text; `serde::Serialize` gives
//! them ZooKeeper's AdminServer JSON names (`server_stats`, `path_to_session_ids`, …), so the
//! admin HTTP server can send the same data. Where AdminServer has no name for a fact, the
//! field is the four-letter word's key in snake case.
//!
//! Counts are `u64` whatever their type in the core, so the JSON is the same on every platform.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// What `srvr`, `stat`, `mntr` and `envi` report as the server version. Clients such as kazoo
/// read the protocol generation from it, so it leads with the ZooKeeper release we match.
pub(crate) const VERSION: &str = concat!(
    "3.9.2-watchkeeper-",
    env!("CARGO_PKG_VERSION"),
    ", built on watchkeeper"
);

/// The answer to one four-letter word.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Report {
    /// The word is known but not in `4lw.commands.whitelist`.
    NotAllowed(&'static str),
    /// `ruok`.
    Ruok,
    /// `ruok` of a member whose storage failed: why (it takes no more writes).
    Failed(String),
    /// `isro`.
    IsReadOnly(IsReadOnly),
    /// `gtmk` and `stmk`.
    TraceMask(TraceMask),
    /// `srvr`.
    ServerSummary(ServerSummary),
    /// `stat`.
    Stat(Stat),
    /// `cons`.
    Connections(Connections),
    /// `crst`: the connections' counters are back to zero.
    ConnectionStatReset,
    /// `srst`: the server's counters are back to zero.
    StatReset,
    /// `conf`.
    Conf(Conf),
    /// `envi`.
    Environment(Environment),
    /// `dirs`.
    Dirs(DirSizes),
    /// `wchs`.
    WatchSummary(WatchSummary),
    /// `wchc`.
    WatchesBySession(WatchesBySession),
    /// `wchp`.
    WatchesByPath(WatchesByPath),
    /// `dump`.
    Dump(Dump),
    /// `mntr`. Boxed: it is by far the largest answer.
    Monitor(Box<Monitor>),
    /// `hash`: tree digests (ZooKeeper's `digest.enabled`) are not kept, so there are none.
    Hash,
}

/// `isro`, AdminServer's `is_read_only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct IsReadOnly {
    /// Always false: a member that cannot serve writes closes its clients instead, so they move
    /// to one that can (there is no read-only mode).
    pub read_only: bool,
}

/// `gtmk`/`stmk`, AdminServer's `get_trace_mask`/`set_trace_mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct TraceMask {
    /// Always 0: there is no request tracing to switch on, so setting the mask changes nothing.
    pub tracemask: u64,
}

/// `srvr`, AdminServer's `server_stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ServerSummary {
    pub version: &'static str,
    pub read_only: bool,
    pub server_stats: ServerStats,
    /// As ZooKeeper counts it: the root twice (monitoring compares against that).
    pub node_count: u64,
}

/// The counters in `srvr` and `stat`, named as in AdminServer's `server_stats` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ServerStats {
    pub packets_sent: u64,
    pub packets_received: u64,
    /// `Mode:` in the text: standalone, leader, follower, observer, looking or stopped.
    pub server_state: &'static str,
    /// `Zxid:` in the text: the last zxid applied to the tree.
    pub last_processed_zxid: i64,
    /// Writes this member proposed and has not applied yet.
    pub outstanding_requests: u64,
    /// Milliseconds, over every request since the start or the last `srst`.
    #[serde(serialize_with = "four_places")]
    pub avg_latency: f64,
    pub max_latency: u64,
    /// 0 before the first request.
    pub min_latency: u64,
    pub num_alive_client_connections: u64,
    /// Milliseconds since the server started (not in the text; AdminServer has it).
    pub uptime: u64,
}

/// `stat`, AdminServer's `stats`: the summary and every connection in the brief form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Stat {
    #[serde(flatten)]
    pub summary: ServerSummary,
    /// With no `session` part (ZooKeeper's brief form).
    pub connections: Vec<ConnectionInfo>,
    /// Always empty: there is no TLS client port. Kept for AdminServer's shape.
    pub secure_connections: Vec<ConnectionInfo>,
}

/// `cons`, AdminServer's `connections`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Connections {
    /// In the full form: with a `session` part once the handshake has given them one.
    pub connections: Vec<ConnectionInfo>,
    /// Always empty: there is no TLS client port. Kept for AdminServer's shape.
    pub secure_connections: Vec<ConnectionInfo>,
}

/// One client connection, as `stat` and `cons` list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ConnectionInfo {
    pub remote_socket_address: SocketAddr,
    /// `queued=` in the text: bytes waiting in the connection's outbox (ZooKeeper counts
    /// requests there; the outbox is what a slow client fills here).
    pub queued_bytes: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    /// Only in `cons`, and only once the connection has a session.
    #[serde(flatten)]
    pub session: Option<SessionStats>,
}

/// The session part of a `cons` line, named as in AdminServer's full connection form. The
/// min/avg/max latencies are the server's (ZooKeeper keeps them per connection), the average
/// truncated to whole milliseconds as ZooKeeper prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SessionStats {
    pub session_id: i64,
    /// ZooKeeper's four-letter op code of the last request; "NA" until one is recorded.
    pub last_operation: &'static str,
    /// When the connection was accepted, in milliseconds since the Unix epoch.
    pub established: u64,
    /// The negotiated session timeout, milliseconds.
    pub session_timeout: u64,
    /// -1 after `crst`.
    pub last_zxid: i64,
    /// Not tracked: always 0.
    pub last_response_time: u64,
    pub last_latency: u64,
    pub min_latency: u64,
    pub avg_latency: u64,
    pub max_latency: u64,
}

/// `conf`, AdminServer's `configuration`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Conf {
    #[serde(flatten)]
    pub server: ServerConf,
    #[serde(flatten)]
    pub dirs: DataDirs,
    /// In an ensemble only: the `server.N=` lines and `version=`.
    #[serde(flatten)]
    pub ensemble: Option<Membership>,
}

/// The settings `conf` prints, as the server runs with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ServerConf {
    /// The port actually bound (so a configured 0 shows the port chosen).
    pub client_port: u16,
    /// Always -1: there is no TLS client port.
    pub secure_client_port: i32,
    /// Milliseconds.
    pub tick_time: u64,
    pub max_client_cnxns: u64,
    /// Milliseconds.
    pub min_session_timeout: u64,
    /// Milliseconds.
    pub max_session_timeout: u64,
    /// Always -1: the operating system's default backlog.
    pub client_port_listen_backlog: i32,
    /// 0 when standalone, as ZooKeeper prints it.
    pub server_id: u64,
}

/// Where the data lives and how much of it there is, for `conf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DataDirs {
    /// Absolute.
    pub data_dir: String,
    /// Bytes in the files directly in `data_dir`.
    pub data_dir_size: u64,
    /// Absolute; `data_dir` when no separate log directory is set.
    pub data_log_dir: String,
    /// Bytes in the files directly in `data_log_dir`.
    pub data_log_size: u64,
}

/// The ensemble's members as `conf` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Membership {
    /// Each member's `server.N=` value in ZooKeeper's form, by id.
    pub servers: BTreeMap<u64, String>,
    /// The configuration's version: the log index of the entry that set it (hex in the text).
    pub version: u64,
}

/// `dirs`, AdminServer's `dirs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct DirSizes {
    /// Bytes in the files directly in the data directory.
    pub datadir_size: u64,
    /// Bytes in the files directly in the log directory.
    pub logdir_size: u64,
}

/// `envi`, AdminServer's `environment`: facts about the process and its host, under
/// ZooKeeper's (Java) property names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Environment {
    pub zookeeper_version: &'static str,
    pub host_name: Option<String>,
    pub tmp_dir: String,
    pub os_name: &'static str,
    pub os_arch: &'static str,
    /// The kernel release.
    pub os_version: Option<String>,
    pub user_name: Option<String>,
    pub user_home: Option<String>,
    /// The working directory.
    pub user_dir: Option<String>,
    /// This process's resident set, MiB.
    pub resident_mb: u64,
    /// The machine's physical memory, MiB.
    pub physical_mb: u64,
}

impl Environment {
    /// ZooKeeper's keys in its order, with their values. The Java-specific ones have no meaning
    /// here; like anything unknown they read `<NA>`, as ZooKeeper prints a property it lacks.
    /// The memory rows stand in for the JVM's heap: free is what the process leaves of the
    /// machine, max the machine, total what the process holds.
    pub(crate) fn rows(&self) -> [(&'static str, String); 18] {
        let na = || "<NA>".to_string();
        let or_na = |v: &Option<String>| v.clone().unwrap_or_else(na);
        [
            ("zookeeper.version", self.zookeeper_version.to_string()),
            ("host.name", or_na(&self.host_name)),
            ("java.version", na()),
            ("java.vendor", na()),
            ("java.home", na()),
            ("java.class.path", na()),
            ("java.library.path", na()),
            ("java.io.tmpdir", self.tmp_dir.clone()),
            ("java.compiler", na()),
            ("os.name", self.os_name.to_string()),
            ("os.arch", self.os_arch.to_string()),
            ("os.version", or_na(&self.os_version)),
            ("user.name", or_na(&self.user_name)),
            ("user.home", or_na(&self.user_home)),
            ("user.dir", or_na(&self.user_dir)),
            (
                "os.memory.free",
                format!("{}MB", self.physical_mb.saturating_sub(self.resident_mb)),
            ),
            ("os.memory.max", format!("{}MB", self.physical_mb)),
            ("os.memory.total", format!("{}MB", self.resident_mb)),
        ]
    }
}

/// AdminServer's `environment` is a flat map of the same keys and string values as the text.
impl Serialize for Environment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rows = self.rows();
        let mut map = s.serialize_map(Some(rows.len()))?;
        for (k, v) in &rows {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `wchs`, AdminServer's `watch_summary`. Like ZooKeeper's, it counts only the data-watch table
/// (data, exist, persistent and persistent-recursive watches): tools compare the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct WatchSummary {
    /// Sessions with at least one such watch.
    pub num_connections: u64,
    pub num_paths: u64,
    pub num_total_watches: u64,
}

/// `wchc`, AdminServer's `watches`: the data-watch table by session, paths sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct WatchesBySession {
    pub session_id_to_watched_paths: BTreeMap<i64, Vec<String>>,
}

/// `wchp`, AdminServer's `watches_by_path`: the data-watch table by path, sessions sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct WatchesByPath {
    pub path_to_session_ids: BTreeMap<String, Vec<i64>>,
}

/// `dump`: sessions, their ephemeral nodes, and connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Dump {
    /// Every session, the soonest to expire first. (AdminServer groups sessions by expiry
    /// bucket instead; there are no buckets here.)
    pub session_expiry: Vec<SessionExpiry>,
    /// Only the sessions that own ephemeral nodes, paths sorted.
    pub session_id_to_ephemeral_paths: BTreeMap<i64, Vec<String>>,
    /// Sorted by session.
    pub connections: Vec<ConnectionSession>,
}

/// When a session expires unless its client is heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct SessionExpiry {
    pub session_id: i64,
    pub expires_in_ms: u64,
}

/// A connection and the session it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct ConnectionSession {
    pub remote_socket_address: SocketAddr,
    /// 0 until the handshake has given the connection a session.
    pub session_id: i64,
}

/// `mntr`, AdminServer's `monitor`: ZooKeeper's keys, then Watchkeeper's own, then the
/// ensemble's. Exporters, dashboards and alert rules key on these names (with `zk_` in the text,
/// without it in JSON), so they are renamed never and added to only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Monitor {
    pub server: ServerMetrics,
    pub fds: FdCounts,
    pub ensemble: EnsembleMetrics,
}

/// The `mntr` rows the core knows from its own state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerMetrics {
    pub version: &'static str,
    pub server_state: &'static str,
    pub avg_latency: f64,
    pub max_latency: u64,
    pub min_latency: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub num_alive_connections: u64,
    pub outstanding_requests: u64,
    /// Milliseconds.
    pub uptime: u64,
    /// The root twice, as ZooKeeper counts.
    pub znode_count: u64,
    /// As ZooKeeper counts: one per (path, session) in each of its two watch tables.
    pub watch_count: u64,
    /// Watchkeeper's: every registration, whatever its kind.
    pub watch_registrations: u64,
    pub watched_paths_count: u64,
    pub watching_sessions_count: u64,
    /// Heap held by the watch index.
    pub watch_index_bytes: u64,
    pub notifications_sent: u64,
    /// Events kept for persistent-watch catch-up.
    pub event_journal_entries: u64,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    pub global_sessions: u64,
    /// Always 0: there are no local sessions.
    pub local_sessions: u64,
}

/// This process's file descriptors, from `/proc` (0 where it cannot be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FdCounts {
    pub open: u64,
    /// The soft limit.
    pub max: u64,
}

/// The ensemble's `mntr` rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnsembleMetrics {
    /// The last Raft log index this member holds (a zxid is a log index).
    pub last_proposed_zxid: u64,
    pub raft_term: u64,
    /// `sync`s waiting for the leader's read index.
    pub pending_syncs: u64,
    /// Only on a leader, as ZooKeeper prints them.
    pub leader: Option<LeaderMetrics>,
}

/// A leader's view of the others, as ZooKeeper counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaderMetrics {
    /// The other voters.
    pub followers: u64,
    /// Voters that hold everything the leader has committed.
    pub synced_followers: u64,
    pub synced_observers: u64,
}

/// One `mntr` value, typed so JSON gets numbers and the text gets ZooKeeper's spelling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Metric<'a> {
    Count(u64),
    /// Printed as Java prints a double.
    Double(f64),
    Text(&'a str),
}

impl Monitor {
    /// Every row, keys without the `zk_` prefix, in the order both the text and JSON use.
    pub(crate) fn rows(&self) -> Vec<(&'static str, Metric<'_>)> {
        use Metric::{Count, Double, Text};
        let s = &self.server;
        let e = &self.ensemble;
        let mut rows = vec![
            ("version", Text(s.version)),
            ("server_state", Text(s.server_state)),
            ("avg_latency", Double(s.avg_latency)),
            ("max_latency", Count(s.max_latency)),
            ("min_latency", Count(s.min_latency)),
            ("packets_received", Count(s.packets_received)),
            ("packets_sent", Count(s.packets_sent)),
            ("num_alive_connections", Count(s.num_alive_connections)),
            ("outstanding_requests", Count(s.outstanding_requests)),
            ("uptime", Count(s.uptime)),
            ("znode_count", Count(s.znode_count)),
            ("watch_count", Count(s.watch_count)),
            ("watch_registrations", Count(s.watch_registrations)),
            ("watched_paths_count", Count(s.watched_paths_count)),
            ("watching_sessions_count", Count(s.watching_sessions_count)),
            ("watch_index_bytes", Count(s.watch_index_bytes)),
            ("notifications_sent", Count(s.notifications_sent)),
            ("event_journal_entries", Count(s.event_journal_entries)),
            ("ephemerals_count", Count(s.ephemerals_count)),
            ("approximate_data_size", Count(s.approximate_data_size)),
            ("global_sessions", Count(s.global_sessions)),
            ("local_sessions", Count(s.local_sessions)),
            ("open_file_descriptor_count", Count(self.fds.open)),
            ("max_file_descriptor_count", Count(self.fds.max)),
            ("last_proposed_zxid", Count(e.last_proposed_zxid)),
            ("raft_term", Count(e.raft_term)),
            ("pending_syncs", Count(e.pending_syncs)),
        ];
        if let Some(l) = &e.leader {
            rows.push(("followers", Count(l.followers)));
            rows.push(("synced_followers", Count(l.synced_followers)));
            rows.push(("synced_observers", Count(l.synced_observers)));
        }
        rows
    }
}

/// AdminServer's `monitor` is a flat map of the `mntr` keys without `zk_`.
impl Serialize for Monitor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rows = self.rows();
        let mut map = s.serialize_map(Some(rows.len()))?;
        for (k, v) in &rows {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for Metric<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Metric::Count(v) => s.serialize_u64(v),
            Metric::Double(v) => four_places(&v, s),
            Metric::Text(v) => s.serialize_str(v),
        }
    }
}

/// A double rounded to four decimals, as AdminServer and the text both give averages.
fn four_places<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 10_000.0).round() / 10_000.0)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn summary() -> ServerSummary {
        ServerSummary {
            version: VERSION,
            read_only: false,
            server_stats: ServerStats {
                packets_sent: 13,
                packets_received: 12,
                server_state: "standalone",
                last_processed_zxid: 11,
                outstanding_requests: 0,
                avg_latency: 10.0 / 3.0,
                max_latency: 20,
                min_latency: 1,
                num_alive_client_connections: 2,
                uptime: 19808,
            },
            node_count: 7,
        }
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn srvr_json_uses_adminservers_names() {
        let v = serde_json::to_value(summary()).unwrap();
        let mut top = keys(&v);
        top.sort();
        assert_eq!(top, ["node_count", "read_only", "server_stats", "version"]);
        // Every name is one AdminServer's `server_stats` object has (3.8 sample).
        let zk = [
            "packets_sent",
            "packets_received",
            "server_state",
            "last_processed_zxid",
            "outstanding_requests",
            "avg_latency",
            "max_latency",
            "min_latency",
            "num_alive_client_connections",
            "uptime",
        ];
        let mut stats = keys(&v["server_stats"]);
        stats.sort();
        let mut zk = zk.to_vec();
        zk.sort();
        assert_eq!(stats, zk);
        assert_eq!(v["server_stats"]["avg_latency"], json!(3.3333));
        assert_eq!(v["server_stats"]["server_state"], json!("standalone"));
    }

    #[test]
    fn stat_json_is_the_summary_and_brief_connections() {
        let stat = Stat {
            summary: summary(),
            connections: vec![ConnectionInfo {
                remote_socket_address: "127.0.0.1:45996".parse().unwrap(),
                queued_bytes: 0,
                packets_received: 2,
                packets_sent: 2,
                session: None,
            }],
            secure_connections: vec![],
        };
        let v = serde_json::to_value(stat).unwrap();
        assert_eq!(v["node_count"], json!(7));
        assert_eq!(
            v["connections"],
            json!([{
                "remote_socket_address": "127.0.0.1:45996",
                "queued_bytes": 0,
                "packets_received": 2,
                "packets_sent": 2,
            }])
        );
        assert_eq!(v["secure_connections"], json!([]));
    }

    #[test]
    fn cons_json_flattens_the_session_into_the_connection() {
        let c = ConnectionInfo {
            remote_socket_address: "127.0.0.1:45996".parse().unwrap(),
            queued_bytes: 5,
            packets_received: 2,
            packets_sent: 3,
            session: Some(SessionStats {
                session_id: 72057626481197059,
                last_operation: "NA",
                established: 1796312813831,
                session_timeout: 30000,
                last_zxid: 11,
                last_response_time: 0,
                last_latency: 3,
                min_latency: 0,
                avg_latency: 2,
                max_latency: 3,
            }),
        };
        let v = serde_json::to_value(c).unwrap();
        assert_eq!(v["session_id"], json!(72057626481197059_i64));
        assert_eq!(v["last_operation"], json!("NA"));
        assert_eq!(v["session_timeout"], json!(30000));
        assert_eq!(v["remote_socket_address"], json!("127.0.0.1:45996"));
    }

    #[test]
    fn watch_json_matches_adminserver() {
        let by_session = WatchesBySession {
            session_id_to_watched_paths: BTreeMap::from([
                (72057626481197059, vec!["/app".to_string()]),
                (72057626481197060, vec!["/app/cfg".to_string()]),
            ]),
        };
        assert_eq!(
            serde_json::to_value(by_session).unwrap(),
            json!({"session_id_to_watched_paths": {
                "72057626481197059": ["/app"],
                "72057626481197060": ["/app/cfg"],
            }})
        );
        let by_path = WatchesByPath {
            path_to_session_ids: BTreeMap::from([
                ("/app".to_string(), vec![72057626481197059]),
                ("/app/cfg".to_string(), vec![72057626481197060]),
            ]),
        };
        assert_eq!(
            serde_json::to_value(by_path).unwrap(),
            json!({"path_to_session_ids": {
                "/app": [72057626481197059_i64],
                "/app/cfg": [72057626481197060_i64],
            }})
        );
        let summary = WatchSummary {
            num_connections: 2,
            num_paths: 2,
            num_total_watches: 2,
        };
        assert_eq!(
            serde_json::to_value(summary).unwrap(),
            json!({"num_connections": 2, "num_paths": 2, "num_total_watches": 2})
        );
    }

    #[test]
    fn conf_and_dirs_json_use_adminservers_names() {
        let conf = Conf {
            server: ServerConf {
                client_port: 22181,
                secure_client_port: -1,
                tick_time: 2000,
                max_client_cnxns: 60,
                min_session_timeout: 4000,
                max_session_timeout: 40000,
                client_port_listen_backlog: -1,
                server_id: 0,
            },
            dirs: DataDirs {
                data_dir: "/srv/zk".into(),
                data_dir_size: 10,
                data_log_dir: "/srv/zk".into(),
                data_log_size: 10,
            },
            ensemble: None,
        };
        let v = serde_json::to_value(conf).unwrap();
        for (k, want) in [
            ("client_port", json!(22181)),
            ("data_dir", json!("/srv/zk")),
            ("data_log_dir", json!("/srv/zk")),
            ("tick_time", json!(2000)),
            ("max_client_cnxns", json!(60)),
            ("min_session_timeout", json!(4000)),
            ("max_session_timeout", json!(40000)),
            ("server_id", json!(0)),
            ("client_port_listen_backlog", json!(-1)),
        ] {
            assert_eq!(v[k], want, "{k}");
        }
        assert!(v.get("servers").is_none(), "standalone has no members");
        let dirs = DirSizes {
            datadir_size: 1,
            logdir_size: 2,
        };
        assert_eq!(
            serde_json::to_value(dirs).unwrap(),
            json!({"datadir_size": 1, "logdir_size": 2})
        );
    }

    #[test]
    fn envi_json_is_the_flat_map_of_zookeepers_keys() {
        let e = Environment {
            zookeeper_version: VERSION,
            host_name: Some("localhost".into()),
            tmp_dir: "/tmp".into(),
            os_name: "linux",
            os_arch: "x86_64",
            os_version: None,
            user_name: Some("root".into()),
            user_home: Some("/root".into()),
            user_dir: Some("/srv".into()),
            resident_mb: 14,
            physical_mb: 256,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["host.name"], json!("localhost"));
        assert_eq!(v["os.version"], json!("<NA>"));
        assert_eq!(v["java.compiler"], json!("<NA>"));
        assert_eq!(v["os.memory.free"], json!("242MB"));
        assert_eq!(v.as_object().unwrap().len(), 18);
    }

    fn monitor(leader: Option<LeaderMetrics>) -> Monitor {
        Monitor {
            server: ServerMetrics {
                version: VERSION,
                server_state: "leader",
                avg_latency: 1.5,
                max_latency: 3,
                min_latency: 1,
                packets_received: 10,
                packets_sent: 11,
                num_alive_connections: 1,
                outstanding_requests: 0,
                uptime: 1000,
                znode_count: 5,
                watch_count: 0,
                watch_registrations: 0,
                watched_paths_count: 0,
                watching_sessions_count: 0,
                watch_index_bytes: 64,
                notifications_sent: 0,
                event_journal_entries: 0,
                ephemerals_count: 0,
                approximate_data_size: 0,
                global_sessions: 1,
                local_sessions: 0,
            },
            fds: FdCounts {
                open: 20,
                max: 1024,
            },
            ensemble: EnsembleMetrics {
                last_proposed_zxid: 9,
                raft_term: 2,
                pending_syncs: 0,
                leader,
            },
        }
    }

    #[test]
    fn mntr_json_has_the_text_keys_in_the_text_order() {
        let m = monitor(Some(LeaderMetrics {
            followers: 2,
            synced_followers: 1,
            synced_observers: 0,
        }));
        let text_keys: Vec<&str> = m.rows().iter().map(|(k, _)| *k).collect();
        let json = serde_json::to_string(&m).unwrap();
        // Key order is part of the contract: find each key after the one before it.
        let mut at = 0;
        for k in &text_keys {
            let needle = format!("\"{k}\":");
            let found = json[at..]
                .find(&needle)
                .unwrap_or_else(|| panic!("{k} missing or out of order in {json}"));
            at += found + needle.len();
        }
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v.as_object().unwrap().len(), text_keys.len());
        assert_eq!(v["avg_latency"], json!(1.5));
        assert_eq!(v["server_state"], json!("leader"));
        assert_eq!(v["synced_followers"], json!(1));
        assert_eq!(v["open_file_descriptor_count"], json!(20));
    }

    #[test]
    fn mntr_has_follower_rows_only_on_a_leader() {
        let keys =
            |m: &Monitor| -> Vec<&'static str> { m.rows().iter().map(|(k, _)| *k).collect() };
        let plain = monitor(None);
        let plain_keys = keys(&plain);
        assert_eq!(plain_keys.last(), Some(&"pending_syncs"));
        let leader = monitor(Some(LeaderMetrics {
            followers: 2,
            synced_followers: 2,
            synced_observers: 1,
        }));
        let leader_keys = keys(&leader);
        assert_eq!(leader_keys[..plain_keys.len()], plain_keys[..]);
        assert_eq!(
            leader_keys[plain_keys.len()..],
            ["followers", "synced_followers", "synced_observers"]
        );
    }
}
