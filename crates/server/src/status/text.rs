//! Four-letter-word text: ZooKeeper's layout for each [`Report`], byte for byte where monitoring
//! tools parse it (kazoo reads `srvr`'s version, exporters split `mntr` on tabs, scripts grep
//! `stat`). Pure functions of the report: everything was measured before.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::report::*;

/// The text a four-letter-word connection receives before it is closed.
pub(crate) fn render(report: &Report) -> String {
    match report {
        Report::NotAllowed(cmd) => {
            format!("{cmd} is not executed because it is not in the whitelist.\n")
        }
        Report::Ruok => "imok".to_string(),
        // Anything but "imok" fails ZooKeeper's health checks; this one also says why.
        Report::Failed(why) => format!("not ok: {why}\n"),
        Report::IsReadOnly(r) => if r.read_only { "ro" } else { "rw" }.to_string(),
        Report::TraceMask(m) => m.tracemask.to_string(),
        Report::ServerSummary(s) => server_summary(s, None),
        Report::Stat(s) => server_summary(&s.summary, Some(&s.connections)),
        Report::Connections(c) => {
            let mut out = connection_lines(&c.connections);
            out.push('\n');
            out
        }
        Report::ConnectionStatReset => "Connection stats reset.\n".to_string(),
        Report::StatReset => "Server stats reset.\n".to_string(),
        Report::Conf(c) => conf(c),
        Report::Environment(e) => environment(e),
        Report::Dirs(d) => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            d.datadir_size, d.logdir_size
        ),
        Report::WatchSummary(w) => format!(
            "{} connections watching {} paths\nTotal watches:{}\n",
            w.num_connections, w.num_paths, w.num_total_watches
        ),
        Report::WatchesBySession(w) => grouped(
            &w.session_id_to_watched_paths,
            |session| format!("0x{session:x}"),
            |path| path.clone(),
        ),
        Report::WatchesByPath(w) => grouped(
            &w.path_to_session_ids,
            |path| path.clone(),
            |session| format!("0x{session:x}"),
        ),
        Report::Dump(d) => dump(d),
        Report::Monitor(m) => monitor(m),
        Report::Hash => String::new(),
    }
}

/// `srvr`, and with the client lines `stat`.
fn server_summary(s: &ServerSummary, clients: Option<&[ConnectionInfo]>) -> String {
    let mut out = format!("Zookeeper version: {}\n", s.version);
    if let Some(clients) = clients {
        out.push_str("Clients:\n");
        out.push_str(&connection_lines(clients));
        out.push('\n');
    }
    let st = &s.server_stats;
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        st.min_latency,
        java_double(st.avg_latency),
        st.max_latency,
        st.packets_received,
        st.packets_sent,
        st.num_alive_client_connections,
        st.outstanding_requests,
        st.last_processed_zxid,
        st.server_state,
        s.node_count,
    );
    out
}

/// One line per connection; the session part only where the report has one (`cons`).
fn connection_lines(conns: &[ConnectionInfo]) -> String {
    let mut out = String::new();
    for c in conns {
        let _ = write!(
            out,
            " /{}[1](queued={},recved={},sent={}",
            c.remote_socket_address, c.queued_bytes, c.packets_received, c.packets_sent
        );
        if let Some(s) = &c.session {
            let _ = write!(
                out,
                ",sid=0x{:x},lop={},est={},to={},lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                s.session_id,
                s.last_operation,
                s.established,
                s.session_timeout,
                s.last_zxid,
                s.last_response_time,
                s.last_latency,
                s.min_latency,
                s.avg_latency,
                s.max_latency
            );
        }
        out.push_str(")\n");
    }
    out
}

fn conf(c: &Conf) -> String {
    let (s, d) = (&c.server, &c.dirs);
    let mut out = format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog={}\nserverId={}\n",
        s.client_port,
        s.secure_client_port,
        d.data_dir,
        d.data_dir_size,
        d.data_log_dir,
        d.data_log_size,
        s.tick_time,
        s.max_client_cnxns,
        s.min_session_timeout,
        s.max_session_timeout,
        s.client_port_listen_backlog,
        s.server_id,
    );
    if let Some(m) = &c.ensemble {
        for (id, server) in &m.servers {
            let _ = writeln!(out, "server.{id}={server}");
        }
        let _ = writeln!(out, "version={:x}", m.version);
    }
    out
}

fn environment(e: &Environment) -> String {
    let mut out = String::from("Environment:\n");
    for (k, v) in e.rows() {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

/// wchc/wchp layout: each group's head on a line, its items indented by a tab, and a blank
/// line at the end. The report has them sorted already.
fn grouped<K, V>(
    groups: &BTreeMap<K, Vec<V>>,
    head: impl Fn(&K) -> String,
    item: impl Fn(&V) -> String,
) -> String {
    let mut out = String::new();
    for (key, items) in groups {
        let _ = writeln!(out, "{}", head(key));
        for i in items {
            let _ = writeln!(out, "\t{}", item(i));
        }
    }
    out.push('\n');
    out
}

fn dump(d: &Dump) -> String {
    let mut out = String::from("SessionTracker dump:\nSession Sets (");
    let n = d.session_expiry.len();
    let _ = writeln!(out, "{n})/({n}):");
    for s in &d.session_expiry {
        let _ = writeln!(
            out,
            "1 expire in {} ms:\n\t0x{:x}",
            s.expires_in_ms, s.session_id
        );
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(
        out,
        "Sessions with Ephemerals ({}):",
        d.session_id_to_ephemeral_paths.len()
    );
    for (id, paths) in &d.session_id_to_ephemeral_paths {
        let _ = writeln!(out, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\nConnections Sets (");
    let n = d.connections.len();
    let _ = writeln!(out, "{n})/({n}):");
    for c in &d.connections {
        let _ = writeln!(
            out,
            "\tip: /{} sessionId: 0x{:x}",
            c.remote_socket_address, c.session_id
        );
    }
    out
}

/// `zk_<key>\t<value>` lines.
fn monitor(m: &Monitor) -> String {
    let mut out = String::new();
    for (k, v) in m.rows() {
        let _ = match v {
            Metric::Count(n) => writeln!(out, "zk_{k}\t{n}"),
            Metric::Double(x) => writeln!(out, "zk_{k}\t{}", java_double(x)),
            Metric::Text(t) => writeln!(out, "zk_{k}\t{t}"),
        };
    }
    out
}

/// Java prints doubles with at least one decimal ("0.0", "1.5"); ZooKeeper rounds averages to
/// four.
fn java_double(v: f64) -> String {
    let s = format!("{:.4}", v);
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_double(2.25), "2.25");
        assert_eq!(java_double(10.0 / 3.0), "3.3333");
    }

    #[test]
    fn short_answers() {
        assert_eq!(
            render(&Report::NotAllowed("mntr")),
            "mntr is not executed because it is not in the whitelist.\n"
        );
        assert_eq!(render(&Report::Ruok), "imok");
        assert_eq!(
            render(&Report::IsReadOnly(IsReadOnly { read_only: false })),
            "rw"
        );
        assert_eq!(
            render(&Report::IsReadOnly(IsReadOnly { read_only: true })),
            "ro"
        );
        assert_eq!(render(&Report::TraceMask(TraceMask { tracemask: 0 })), "0");
        assert_eq!(
            render(&Report::ConnectionStatReset),
            "Connection stats reset.\n"
        );
        assert_eq!(render(&Report::StatReset), "Server stats reset.\n");
        assert_eq!(render(&Report::Hash), "");
        assert_eq!(
            render(&Report::Dirs(DirSizes {
                datadir_size: 512,
                logdir_size: 67108864
            })),
            "datadir_size: 512\nlogdir_size: 67108864\n"
        );
    }

    fn summary() -> ServerSummary {
        ServerSummary {
            version: "3.9.2-test, built on test",
            read_only: false,
            server_stats: ServerStats {
                packets_sent: 13,
                packets_received: 12,
                server_state: "follower",
                last_processed_zxid: 0x1b,
                outstanding_requests: 1,
                avg_latency: 2.5,
                max_latency: 20,
                min_latency: 1,
                num_alive_client_connections: 2,
                uptime: 19808,
            },
            node_count: 7,
        }
    }

    fn connection(port: u16, session: Option<SessionStats>) -> ConnectionInfo {
        ConnectionInfo {
            remote_socket_address: ([127, 0, 0, 1], port).into(),
            queued_bytes: 0,
            packets_received: 4,
            packets_sent: 3,
            session,
        }
    }

    fn session() -> SessionStats {
        SessionStats {
            session_id: 0x1000abc,
            last_operation: "NA",
            established: 1796312813831,
            session_timeout: 4000,
            last_zxid: -1,
            last_response_time: 0,
            last_latency: 2,
            min_latency: 1,
            avg_latency: 2,
            max_latency: 20,
        }
    }

    #[test]
    fn srvr_layout() {
        assert_eq!(
            render(&Report::ServerSummary(summary())),
            "Zookeeper version: 3.9.2-test, built on test\n\
             Latency min/avg/max: 1/2.5/20\n\
             Received: 12\n\
             Sent: 13\n\
             Connections: 2\n\
             Outstanding: 1\n\
             Zxid: 0x1b\n\
             Mode: follower\n\
             Node count: 7\n"
        );
    }

    #[test]
    fn stat_lists_clients_in_the_brief_form_then_a_blank_line() {
        let stat = Stat {
            summary: summary(),
            connections: vec![connection(40001, None), connection(40002, None)],
            secure_connections: vec![],
        };
        assert_eq!(
            render(&Report::Stat(stat)),
            "Zookeeper version: 3.9.2-test, built on test\n\
             Clients:\n \
             /127.0.0.1:40001[1](queued=0,recved=4,sent=3)\n \
             /127.0.0.1:40002[1](queued=0,recved=4,sent=3)\n\
             \n\
             Latency min/avg/max: 1/2.5/20\n\
             Received: 12\n\
             Sent: 13\n\
             Connections: 2\n\
             Outstanding: 1\n\
             Zxid: 0x1b\n\
             Mode: follower\n\
             Node count: 7\n"
        );
    }

    #[test]
    fn cons_shows_the_session_part_where_there_is_one() {
        let cons = Connections {
            connections: vec![connection(40001, Some(session())), connection(40002, None)],
            secure_connections: vec![],
        };
        assert_eq!(
            render(&Report::Connections(cons)),
            " /127.0.0.1:40001[1](queued=0,recved=4,sent=3,sid=0x1000abc,lop=NA,\
             est=1796312813831,to=4000,lzxid=0xffffffffffffffff,lresp=0,llat=2,minlat=1,\
             avglat=2,maxlat=20)\n \
             /127.0.0.1:40002[1](queued=0,recved=4,sent=3)\n\
             \n"
        );
        let none = Connections {
            connections: vec![],
            secure_connections: vec![],
        };
        assert_eq!(render(&Report::Connections(none)), "\n");
    }

    fn conf(ensemble: Option<Membership>) -> Conf {
        Conf {
            server: ServerConf {
                client_port: 2181,
                secure_client_port: -1,
                tick_time: 2000,
                max_client_cnxns: 60,
                min_session_timeout: 4000,
                max_session_timeout: 40000,
                client_port_listen_backlog: -1,
                server_id: if ensemble.is_some() { 2 } else { 0 },
            },
            dirs: DataDirs {
                data_dir: "/var/lib/wk".into(),
                data_dir_size: 100,
                data_log_dir: "/var/log/wk".into(),
                data_log_size: 200,
            },
            ensemble,
        }
    }

    const CONF_HEAD: &str = "clientPort=2181\n\
         secureClientPort=-1\n\
         dataDir=/var/lib/wk\n\
         dataDirSize=100\n\
         dataLogDir=/var/log/wk\n\
         dataLogSize=200\n\
         tickTime=2000\n\
         maxClientCnxns=60\n\
         minSessionTimeout=4000\n\
         maxSessionTimeout=40000\n\
         clientPortListenBacklog=-1\n";

    #[test]
    fn conf_standalone() {
        assert_eq!(
            render(&Report::Conf(conf(None))),
            format!("{CONF_HEAD}serverId=0\n")
        );
    }

    #[test]
    fn conf_in_an_ensemble_lists_the_members_by_id_and_the_version_in_hex() {
        let members = Membership {
            servers: BTreeMap::from([
                (3, "10.0.0.3:2888:3888:observer;0.0.0.0:2181".to_string()),
                (1, "10.0.0.1:2888:3888:participant;0.0.0.0:2181".to_string()),
                (2, "10.0.0.2:2888:3888:participant;0.0.0.0:2181".to_string()),
            ]),
            version: 0x1f,
        };
        assert_eq!(
            render(&Report::Conf(conf(Some(members)))),
            format!(
                "{CONF_HEAD}serverId=2\n\
                 server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                 server.2=10.0.0.2:2888:3888:participant;0.0.0.0:2181\n\
                 server.3=10.0.0.3:2888:3888:observer;0.0.0.0:2181\n\
                 version=1f\n"
            )
        );
    }

    #[test]
    fn envi_layout() {
        let e = Environment {
            zookeeper_version: "3.9.2-test, built on test",
            host_name: Some("box".into()),
            tmp_dir: "/tmp".into(),
            os_name: "linux",
            os_arch: "x86_64",
            os_version: Some("6.1.0".into()),
            user_name: None,
            user_home: Some("/root".into()),
            user_dir: Some("/srv".into()),
            resident_mb: 14,
            physical_mb: 256,
        };
        assert_eq!(
            render(&Report::Environment(e)),
            "Environment:\n\
             zookeeper.version=3.9.2-test, built on test\n\
             host.name=box\n\
             java.version=<NA>\n\
             java.vendor=<NA>\n\
             java.home=<NA>\n\
             java.class.path=<NA>\n\
             java.library.path=<NA>\n\
             java.io.tmpdir=/tmp\n\
             java.compiler=<NA>\n\
             os.name=linux\n\
             os.arch=x86_64\n\
             os.version=6.1.0\n\
             user.name=<NA>\n\
             user.home=/root\n\
             user.dir=/srv\n\
             os.memory.free=242MB\n\
             os.memory.max=256MB\n\
             os.memory.total=14MB\n"
        );
    }

    #[test]
    fn watch_words() {
        assert_eq!(
            render(&Report::WatchSummary(WatchSummary {
                num_connections: 2,
                num_paths: 3,
                num_total_watches: 4
            })),
            "2 connections watching 3 paths\nTotal watches:4\n"
        );
        let by_session = WatchesBySession {
            session_id_to_watched_paths: BTreeMap::from([
                (0x20, vec!["/x".to_string()]),
                (0x10, vec!["/x".to_string(), "/y".to_string()]),
            ]),
        };
        assert_eq!(
            render(&Report::WatchesBySession(by_session)),
            "0x10\n\t/x\n\t/y\n0x20\n\t/x\n\n"
        );
        let by_path = WatchesByPath {
            path_to_session_ids: BTreeMap::from([
                ("/y".to_string(), vec![0x10]),
                ("/x".to_string(), vec![0x10, 0x20]),
            ]),
        };
        assert_eq!(
            render(&Report::WatchesByPath(by_path)),
            "/x\n\t0x10\n\t0x20\n/y\n\t0x10\n\n"
        );
        let empty = WatchesByPath {
            path_to_session_ids: BTreeMap::new(),
        };
        assert_eq!(render(&Report::WatchesByPath(empty)), "\n");
    }

    #[test]
    fn dump_layout() {
        let d = Dump {
            session_expiry: vec![
                SessionExpiry {
                    session_id: 0x20,
                    expires_in_ms: 1500,
                },
                SessionExpiry {
                    session_id: 0x10,
                    expires_in_ms: 3999,
                },
            ],
            session_id_to_ephemeral_paths: BTreeMap::from([(
                0x10,
                vec!["/a".to_string(), "/b".to_string()],
            )]),
            connections: vec![
                ConnectionSession {
                    remote_socket_address: ([127, 0, 0, 1], 40001).into(),
                    session_id: 0x10,
                },
                ConnectionSession {
                    remote_socket_address: ([127, 0, 0, 1], 40002).into(),
                    session_id: 0x20,
                },
            ],
        };
        assert_eq!(
            render(&Report::Dump(d)),
            "SessionTracker dump:\n\
             Session Sets (2)/(2):\n\
             1 expire in 1500 ms:\n\t0x20\n\
             1 expire in 3999 ms:\n\t0x10\n\
             ephemeral nodes dump:\n\
             Sessions with Ephemerals (1):\n\
             0x10:\n\t/a\n\t/b\n\
             Connections dump:\n\
             Connections Sets (2)/(2):\n\
             \tip: /127.0.0.1:40001 sessionId: 0x10\n\
             \tip: /127.0.0.1:40002 sessionId: 0x20\n"
        );
    }

    fn metrics() -> ServerMetrics {
        ServerMetrics {
            version: "3.9.2-test, built on test",
            server_state: "leader",
            avg_latency: 0.0,
            max_latency: 3,
            min_latency: 1,
            packets_received: 10,
            packets_sent: 11,
            num_alive_connections: 1,
            outstanding_requests: 2,
            uptime: 1000,
            znode_count: 5,
            watch_count: 6,
            watch_registrations: 7,
            watched_paths_count: 8,
            watching_sessions_count: 9,
            watch_index_bytes: 64,
            notifications_sent: 12,
            event_journal_entries: 13,
            ephemerals_count: 14,
            approximate_data_size: 15,
            global_sessions: 16,
            local_sessions: 0,
        }
    }

    const MNTR_HEAD: &str = "zk_version\t3.9.2-test, built on test\n\
         zk_server_state\tleader\n\
         zk_avg_latency\t0.0\n\
         zk_max_latency\t3\n\
         zk_min_latency\t1\n\
         zk_packets_received\t10\n\
         zk_packets_sent\t11\n\
         zk_num_alive_connections\t1\n\
         zk_outstanding_requests\t2\n\
         zk_uptime\t1000\n\
         zk_znode_count\t5\n\
         zk_watch_count\t6\n\
         zk_watch_registrations\t7\n\
         zk_watched_paths_count\t8\n\
         zk_watching_sessions_count\t9\n\
         zk_watch_index_bytes\t64\n\
         zk_notifications_sent\t12\n\
         zk_event_journal_entries\t13\n\
         zk_ephemerals_count\t14\n\
         zk_approximate_data_size\t15\n\
         zk_global_sessions\t16\n\
         zk_local_sessions\t0\n\
         zk_open_file_descriptor_count\t20\n\
         zk_max_file_descriptor_count\t1024\n\
         zk_last_proposed_zxid\t9\n\
         zk_raft_term\t2\n\
         zk_pending_syncs\t1\n";

    fn monitor(leader: Option<LeaderMetrics>) -> Report {
        Report::Monitor(Box::new(Monitor {
            server: metrics(),
            fds: FdCounts {
                open: 20,
                max: 1024,
            },
            ensemble: EnsembleMetrics {
                last_proposed_zxid: 9,
                raft_term: 2,
                pending_syncs: 1,
                leader,
            },
        }))
    }

    #[test]
    fn mntr_layout() {
        assert_eq!(render(&monitor(None)), MNTR_HEAD);
    }

    #[test]
    fn mntr_on_a_leader_ends_with_the_follower_rows() {
        let leader = LeaderMetrics {
            followers: 2,
            synced_followers: 1,
            synced_observers: 1,
        };
        assert_eq!(
            render(&monitor(Some(leader))),
            format!("{MNTR_HEAD}zk_followers\t2\nzk_synced_followers\t1\nzk_synced_observers\t1\n")
        );
    }
}
