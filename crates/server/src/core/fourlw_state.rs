//! The answers to four-letter words, in Apache ZooKeeper's formats (monitoring tools parse them).

use std::fmt::Write as _;

use watchkeeper_watch::Kinds;

use super::Core;
use crate::fourlw::COMMANDS;

/// What `srvr`, `stat`, `mntr` and `envi` report as the server version. Clients such as kazoo
/// read the protocol generation from it, so it leads with the ZooKeeper release we match.
pub(crate) const VERSION: &str = concat!(
    "3.9.2-watchkeeper-",
    env!("CARGO_PKG_VERSION"),
    ", built on watchkeeper"
);

/// ZooKeeper's wchs, wchc and wchp list only its data-watch table: data and exist watches,
/// persistent and persistent-recursive ones. Tools compare against those numbers.
const ZK_DATA_TABLE: Kinds =
    Kinds::from_bits(Kinds::DATA.bits() | Kinds::PERSISTENT.bits() | Kinds::RECURSIVE.bits());

impl Core {
    pub(super) fn four_letter(&mut self, cmd: &str) -> String {
        debug_assert!(COMMANDS.contains(&cmd));
        if !self.cfg.four_letter_whitelist.allows(cmd) {
            return format!("{cmd} is not executed because it is not in the whitelist.\n");
        }
        match cmd {
            "ruok" => "imok".to_string(),
            "isro" => "rw".to_string(),
            "gtmk" => "0".to_string(),
            "stmk" => "0".to_string(),
            "srvr" => self.server_summary(false),
            "stat" => self.server_summary(true),
            "cons" => {
                let mut out = self.connection_lines(true);
                out.push('\n');
                out
            }
            "crst" => {
                for c in self.conns.values_mut() {
                    c.packets_received = 0;
                    c.packets_sent = 0;
                    c.last_zxid = -1;
                    c.last_op = "NA";
                    c.last_latency_ms = 0;
                }
                "Connection stats reset.\n".to_string()
            }
            "srst" => {
                self.stats.reset();
                "Server stats reset.\n".to_string()
            }
            "conf" => self.conf(),
            "envi" => envi(),
            "dirs" => {
                let data = dir_size(&self.cfg.data_dir);
                let log = dir_size(self.cfg.log_dir());
                format!("datadir_size: {data}\nlogdir_size: {log}\n")
            }
            "wchs" => {
                let by_path = self.watches.by_path_of(ZK_DATA_TABLE);
                let sessions: std::collections::HashSet<i64> = by_path
                    .iter()
                    .flat_map(|(_, s)| s.iter().copied())
                    .collect();
                let total: usize = by_path.iter().map(|(_, s)| s.len()).sum();
                format!(
                    "{} connections watching {} paths\nTotal watches:{}\n",
                    sessions.len(),
                    by_path.len(),
                    total
                )
            }
            "wchc" => grouped(
                self.watches.by_session_of(ZK_DATA_TABLE),
                |session| format!("0x{session:x}"),
                |path| path.clone(),
            ),
            "wchp" => grouped(
                self.watches.by_path_of(ZK_DATA_TABLE),
                |path| path.clone(),
                |session| format!("0x{session:x}"),
            ),
            "dump" => self.dump(),
            "mntr" => self.mntr(),
            "hash" => String::new(),
            _ => format!("{cmd} is not executed because it is not in the whitelist.\n"),
        }
    }

    /// ZooKeeper counts the root twice in its node table; monitoring compares against that.
    fn zk_node_count(&self) -> usize {
        self.tree.node_count() + 1
    }

    fn server_summary(&self, with_clients: bool) -> String {
        let mut out = format!("Zookeeper version: {VERSION}\n");
        if with_clients {
            out.push_str("Clients:\n");
            out.push_str(&self.connection_lines(false));
            out.push('\n');
        }
        let s = &self.stats;
        let mode = self.consensus.status().role.mode();
        let _ = write!(
            out,
            "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {mode}\nNode count: {}\n",
            s.latency_min_ms.unwrap_or(0),
            java_double(s.avg_latency()),
            s.latency_max_ms,
            s.packets_received,
            s.packets_sent,
            self.conns.len(),
            self.pending.len(),
            self.tree.last_zxid(),
            self.zk_node_count(),
        );
        out
    }

    fn connection_lines(&self, full: bool) -> String {
        let mut conns: Vec<_> = self.conns.iter().collect();
        conns.sort_by_key(|(id, _)| **id);
        let mut out = String::new();
        for (_, c) in conns {
            let _ = write!(
                out,
                " /{}[1](queued={},recved={},sent={}",
                c.peer,
                c.outbox.queued_bytes(),
                c.packets_received,
                c.packets_sent
            );
            if full && c.session != 0 {
                let timeout = self
                    .sessions
                    .get(&c.session)
                    .map(|s| s.timeout.as_millis())
                    .unwrap_or(0);
                let est = std::time::SystemTime::now()
                    .checked_sub(c.established.elapsed())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                let _ = write!(
                    out,
                    ",sid=0x{:x},lop={},est={},to={},lzxid=0x{:x},lresp=0,llat={},minlat={},avglat={},maxlat={}",
                    c.session,
                    c.last_op,
                    est,
                    timeout,
                    c.last_zxid,
                    c.last_latency_ms,
                    self.stats.latency_min_ms.unwrap_or(0),
                    self.stats.avg_latency() as u64,
                    self.stats.latency_max_ms
                );
            }
            out.push_str(")\n");
        }
        out
    }

    fn conf(&self) -> String {
        let cfg = &self.cfg;
        let status = self.consensus.status();
        let standalone = status.role == watchkeeper_consensus::status::Role::Standalone;
        let mut out = format!(
            "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
            cfg.client_addr.port(),
            absolute(&cfg.data_dir),
            dir_size(&cfg.data_dir),
            absolute(cfg.log_dir()),
            dir_size(cfg.log_dir()),
            cfg.tick_time.as_millis(),
            cfg.max_client_cnxns,
            cfg.min_session_timeout().as_millis(),
            cfg.max_session_timeout().as_millis(),
            if standalone { 0 } else { status.id },
        );
        if !standalone {
            let m = &status.members;
            let mut lines: Vec<_> = m.voters.iter().chain(&m.observers).collect();
            lines.sort_by_key(|(id, _)| *id);
            for (id, node) in lines {
                let _ = writeln!(out, "server.{id}={node}");
            }
            let _ = writeln!(out, "version={:x}", m.version);
        }
        out
    }

    fn dump(&self) -> String {
        let mut out = String::from("SessionTracker dump:\nSession Sets (");
        let now = std::time::Instant::now();
        let mut sessions: Vec<_> = self.sessions.iter().collect();
        sessions.sort_by_key(|(id, s)| (s.deadline, **id));
        let _ = writeln!(out, "{})/({}):", sessions.len(), sessions.len());
        for (id, s) in &sessions {
            let ms = s.deadline.saturating_duration_since(now).as_millis();
            let _ = writeln!(out, "1 expire in {ms} ms:\n\t0x{id:x}");
        }
        out.push_str("ephemeral nodes dump:\n");
        let owners: Vec<(i64, Vec<String>)> = {
            let mut ids: Vec<i64> = self.tree.sessions().map(|(id, _)| id).collect();
            ids.sort();
            ids.into_iter()
                .map(|id| {
                    let mut paths: Vec<String> =
                        self.tree.ephemerals(id).map(str::to_owned).collect();
                    paths.sort();
                    (id, paths)
                })
                .filter(|(_, p)| !p.is_empty())
                .collect()
        };
        let _ = writeln!(out, "Sessions with Ephemerals ({}):", owners.len());
        for (id, paths) in owners {
            let _ = writeln!(out, "0x{id:x}:");
            for p in paths {
                let _ = writeln!(out, "\t{p}");
            }
        }
        out.push_str("Connections dump:\nConnections Sets (");
        let _ = writeln!(out, "{})/({}):", self.conns.len(), self.conns.len());
        let mut conns: Vec<_> = self.conns.values().collect();
        conns.sort_by_key(|c| c.session);
        for c in conns {
            let _ = writeln!(out, "\tip: /{} sessionId: 0x{:x}", c.peer, c.session);
        }
        out
    }

    fn mntr(&self) -> String {
        let s = &self.stats;
        let (open_fds, max_fds) = fd_counts();
        let status = self.consensus.status();
        let mut rows: Vec<(&str, String)> = vec![
            ("version", VERSION.to_string()),
            ("server_state", status.role.mode().to_string()),
            ("avg_latency", java_double(s.avg_latency())),
            ("max_latency", s.latency_max_ms.to_string()),
            ("min_latency", s.latency_min_ms.unwrap_or(0).to_string()),
            ("packets_received", s.packets_received.to_string()),
            ("packets_sent", s.packets_sent.to_string()),
            ("num_alive_connections", self.conns.len().to_string()),
            ("outstanding_requests", self.pending.len().to_string()),
            ("uptime", self.started.elapsed().as_millis().to_string()),
            ("znode_count", self.zk_node_count().to_string()),
            ("watch_count", self.watches.zk_watch_count().to_string()),
            (
                "watch_registrations",
                self.watches.watch_count().to_string(),
            ),
            ("watched_paths_count", self.watches.path_count().to_string()),
            (
                "watching_sessions_count",
                self.watches.session_count().to_string(),
            ),
            ("watch_index_bytes", self.watches.heap_bytes().to_string()),
            ("notifications_sent", s.notifications_sent.to_string()),
            ("event_journal_entries", self.journal.len().to_string()),
            ("ephemerals_count", self.tree.ephemeral_count().to_string()),
            (
                "approximate_data_size",
                self.tree.approximate_data_size().to_string(),
            ),
            ("global_sessions", self.sessions.len().to_string()),
            ("local_sessions", "0".to_string()),
            ("open_file_descriptor_count", open_fds.to_string()),
            ("max_file_descriptor_count", max_fds.to_string()),
            ("last_proposed_zxid", status.last_log_index.to_string()),
            ("raft_term", status.term.to_string()),
            ("pending_syncs", self.syncs.len().to_string()),
        ];
        if status.role == watchkeeper_consensus::status::Role::Leader {
            // As ZooKeeper counts them: followers are voters, synced ones have everything the
            // leader has committed.
            let voters: Vec<u64> = status.members.voters.iter().map(|(id, _)| *id).collect();
            let followers = status.followers.iter().filter(|f| voters.contains(&f.id));
            let synced = followers
                .clone()
                .filter(|f| f.matched.is_some_and(|m| m >= status.committed))
                .count();
            rows.push(("followers", followers.count().to_string()));
            rows.push(("synced_followers", synced.to_string()));
            let observers = status.followers.len()
                - voters
                    .iter()
                    .filter(|v| **v != status.id)
                    .count()
                    .min(status.followers.len());
            rows.push(("synced_observers", observers.to_string()));
        }
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "zk_{k}\t{v}");
        }
        out
    }
}

/// wchc/wchp layout: each group's head on a line, its items indented by a tab, sorted, and a
/// blank line at the end.
fn grouped<K: Ord, V: Ord>(
    mut groups: Vec<(K, Vec<V>)>,
    head: impl Fn(&K) -> String,
    item: impl Fn(&V) -> String,
) -> String {
    groups.sort();
    let mut out = String::new();
    for (key, mut items) in groups {
        items.sort();
        let _ = writeln!(out, "{}", head(&key));
        for i in &items {
            let _ = writeln!(out, "\t{}", item(i));
        }
    }
    out.push('\n');
    out
}

/// Java prints doubles with at least one decimal ("0.0", "1.5").
fn java_double(v: f64) -> String {
    let s = format!("{:.4}", v);
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

fn envi() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let env = |k: &str| std::env::var(k).ok();
    let na = |v: Option<String>| v.unwrap_or_else(|| "<NA>".to_string());
    let (rss_mb, total_mb) = memory_mb();
    // ZooKeeper's keys in its order; the Java-specific ones have no meaning here.
    let rows: [(&str, String); 18] = [
        ("zookeeper.version", VERSION.to_string()),
        ("host.name", na(read("/proc/sys/kernel/hostname"))),
        ("java.version", na(None)),
        ("java.vendor", na(None)),
        ("java.home", na(None)),
        ("java.class.path", na(None)),
        ("java.library.path", na(None)),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", na(None)),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("os.version", na(read("/proc/sys/kernel/osrelease"))),
        ("user.name", na(env("USER"))),
        ("user.home", na(env("HOME"))),
        (
            "user.dir",
            na(std::env::current_dir()
                .ok()
                .map(|d| d.display().to_string())),
        ),
        (
            "os.memory.free",
            format!("{}MB", total_mb.saturating_sub(rss_mb)),
        ),
        ("os.memory.max", format!("{total_mb}MB")),
        ("os.memory.total", format!("{rss_mb}MB")),
    ];
    let mut out = String::from("Environment:\n");
    for (k, v) in rows {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

/// (resident set of this process, physical memory) in MiB, from /proc.
fn memory_mb() -> (u64, u64) {
    let kb = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    (
        kb(&status, "VmRSS:") / 1024,
        kb(&meminfo, "MemTotal:") / 1024,
    )
}

fn absolute(p: &std::path::Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_owned())
        .display()
        .to_string()
}

/// Total size of the files directly in a directory (ours are flat).
fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn fd_counts() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|rd| rd.count() as u64)
        .unwrap_or(0);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    (open, max)
}

#[cfg(test)]
mod tests {
    use super::java_double;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_double(2.25), "2.25");
    }
}
