//! The core's side of the four-letter words: it reads its own state into the typed reports of
//! `crate::status`, with in-memory reads only. What the operating system knows (directory
//! sizes, descriptors, memory) is left to `status::host`, off this task: the core is the one
//! task every client request goes through, and monitoring polls these words.

use std::collections::BTreeMap;

use watchkeeper_consensus::status::{Role, Status};
use watchkeeper_watch::Kinds;

use super::Core;
use crate::fourlw::COMMANDS;
use crate::status::{self, Answer, HostWork, Report, VERSION};

/// ZooKeeper's wchs, wchc and wchp list only its data-watch table: data and exist watches,
/// persistent and persistent-recursive ones. Tools compare against those numbers.
const ZK_DATA_TABLE: Kinds =
    Kinds::from_bits(Kinds::DATA.bits() | Kinds::PERSISTENT.bits() | Kinds::RECURSIVE.bits());

impl Core {
    /// The answer to a four-letter word, or its refusal when the word is not whitelisted.
    /// `crst` and `srst` reset the counters they name.
    pub(super) fn four_letter(&mut self, cmd: &'static str) -> Answer {
        debug_assert!(COMMANDS.contains(&cmd));
        if !self.cfg.four_letter_whitelist.allows(cmd) {
            return Answer::Ready(Report::NotAllowed(cmd));
        }
        let report = match cmd {
            "ruok" => match self.consensus.status().fatal {
                None => Report::Ruok,
                Some(why) => Report::Failed(why),
            },
            "isro" => Report::IsReadOnly(status::IsReadOnly { read_only: false }),
            "gtmk" | "stmk" => Report::TraceMask(status::TraceMask { tracemask: 0 }),
            "srvr" => Report::ServerSummary(self.server_summary()),
            "stat" => Report::Stat(status::Stat {
                summary: self.server_summary(),
                connections: self.connections(false),
                secure_connections: Vec::new(),
            }),
            "cons" => Report::Connections(status::Connections {
                connections: self.connections(true),
                secure_connections: Vec::new(),
            }),
            "crst" => {
                for c in self.conns.values_mut() {
                    c.packets_received = 0;
                    c.packets_sent = 0;
                    c.last_zxid = -1;
                    c.last_op = "NA";
                    c.last_latency_ms = 0;
                }
                Report::ConnectionStatReset
            }
            "srst" => {
                self.stats.reset();
                Report::StatReset
            }
            // These need the file system or /proc too: the connection task finishes them.
            "conf" => return Answer::Host(self.conf()),
            "envi" => return Answer::Host(HostWork::Environment),
            "dirs" => {
                return Answer::Host(HostWork::Dirs {
                    data_dir: self.cfg.data_dir.clone(),
                    log_dir: self.cfg.log_dir().to_owned(),
                });
            }
            "wchs" => Report::WatchSummary(self.watch_summary()),
            "wchc" => Report::WatchesBySession(status::WatchesBySession {
                session_id_to_watched_paths: sorted_groups(
                    self.watches.by_session_of(ZK_DATA_TABLE),
                ),
            }),
            "wchp" => Report::WatchesByPath(status::WatchesByPath {
                path_to_session_ids: sorted_groups(self.watches.by_path_of(ZK_DATA_TABLE)),
            }),
            "dump" => Report::Dump(self.dump()),
            "mntr" => {
                return Answer::Host(HostWork::Monitor {
                    server: self.server_metrics(),
                    ensemble: ensemble_metrics(&self.consensus.status(), self.syncs.len()),
                });
            }
            "hash" => Report::Hash,
            // Not a word we answer (recognition and this table disagree): refused like one
            // outside the whitelist rather than answered with something made up.
            _ => Report::NotAllowed(cmd),
        };
        Answer::Ready(report)
    }

    /// ZooKeeper counts the root twice in its node table; monitoring compares against that.
    fn zk_node_count(&self) -> u64 {
        self.tree.node_count() as u64 + 1
    }

    fn server_summary(&self) -> status::ServerSummary {
        let s = &self.stats;
        status::ServerSummary {
            version: VERSION,
            read_only: false,
            server_stats: status::ServerStats {
                packets_sent: s.packets_sent,
                packets_received: s.packets_received,
                server_state: self.consensus.role().mode(),
                last_processed_zxid: self.tree.last_zxid(),
                outstanding_requests: self.pending.len() as u64,
                avg_latency: s.avg_latency(),
                max_latency: s.latency_max_ms,
                min_latency: s.latency_min_ms.unwrap_or(0),
                num_alive_client_connections: self.conns.len() as u64,
                uptime: self.started.elapsed().as_millis() as u64,
            },
            node_count: self.zk_node_count(),
        }
    }

    /// Every connection in the order it was accepted; `full` adds the session part (`cons`).
    fn connections(&self, full: bool) -> Vec<status::ConnectionInfo> {
        let mut conns: Vec<_> = self.conns.iter().collect();
        conns.sort_by_key(|(id, _)| **id);
        let now = std::time::SystemTime::now();
        conns
            .into_iter()
            .map(|(_, c)| status::ConnectionInfo {
                remote_socket_address: c.peer,
                queued_bytes: c.outbox.queued_bytes() as u64,
                packets_received: c.packets_received,
                packets_sent: c.packets_sent,
                session: (full && c.session != 0).then(|| status::SessionStats {
                    session_id: c.session,
                    last_operation: c.last_op,
                    established: now
                        .checked_sub(c.established.elapsed())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_millis() as u64),
                    session_timeout: self
                        .sessions
                        .get(&c.session)
                        .map_or(0, |s| s.timeout.as_millis() as u64),
                    last_zxid: c.last_zxid,
                    last_response_time: 0,
                    last_latency: c.last_latency_ms,
                    min_latency: self.stats.latency_min_ms.unwrap_or(0),
                    avg_latency: self.stats.avg_latency() as u64,
                    max_latency: self.stats.latency_max_ms,
                }),
            })
            .collect()
    }

    /// `conf` as far as the settings and the members go; the directories are measured later.
    fn conf(&self) -> HostWork {
        let cfg = &self.cfg;
        let st = self.consensus.status();
        let standalone = st.role == Role::Standalone;
        HostWork::Conf {
            server: status::ServerConf {
                client_port: cfg.client_addr.port(),
                secure_client_port: -1,
                tick_time: cfg.tick_time.as_millis() as u64,
                max_client_cnxns: cfg.max_client_cnxns as u64,
                min_session_timeout: cfg.min_session_timeout().as_millis() as u64,
                max_session_timeout: cfg.max_session_timeout().as_millis() as u64,
                client_port_listen_backlog: -1,
                server_id: if standalone { 0 } else { st.id },
            },
            ensemble: (!standalone).then(|| membership(&st)),
            data_dir: cfg.data_dir.clone(),
            log_dir: cfg.log_dir().to_owned(),
        }
    }

    fn watch_summary(&self) -> status::WatchSummary {
        let by_path = self.watches.by_path_of(ZK_DATA_TABLE);
        let sessions: std::collections::HashSet<i64> = by_path
            .iter()
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        status::WatchSummary {
            num_connections: sessions.len() as u64,
            num_paths: by_path.len() as u64,
            num_total_watches: by_path.iter().map(|(_, s)| s.len() as u64).sum(),
        }
    }

    fn dump(&self) -> status::Dump {
        let now = self.now();
        let mut sessions: Vec<_> = self.sessions.iter().collect();
        sessions.sort_by_key(|(id, s)| (s.deadline, **id));
        let ephemerals = self
            .tree
            .sessions()
            .map(|(id, _)| {
                let mut paths: Vec<String> = self.tree.ephemerals(id).map(str::to_owned).collect();
                paths.sort();
                (id, paths)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let mut conns: Vec<_> = self.conns.values().collect();
        conns.sort_by_key(|c| c.session);
        status::Dump {
            session_expiry: sessions
                .into_iter()
                .map(|(id, s)| status::SessionExpiry {
                    session_id: *id,
                    expires_in_ms: s.deadline.saturating_duration_since(now).as_millis() as u64,
                })
                .collect(),
            session_id_to_ephemeral_paths: ephemerals,
            connections: conns
                .into_iter()
                .map(|c| status::ConnectionSession {
                    remote_socket_address: c.peer,
                    session_id: c.session,
                })
                .collect(),
        }
    }

    fn server_metrics(&self) -> status::ServerMetrics {
        let s = &self.stats;
        let w = &self.watches;
        status::ServerMetrics {
            version: VERSION,
            server_state: self.consensus.role().mode(),
            avg_latency: s.avg_latency(),
            max_latency: s.latency_max_ms,
            min_latency: s.latency_min_ms.unwrap_or(0),
            packets_received: s.packets_received,
            packets_sent: s.packets_sent,
            num_alive_connections: self.conns.len() as u64,
            outstanding_requests: self.pending.len() as u64,
            uptime: self.started.elapsed().as_millis() as u64,
            znode_count: self.zk_node_count(),
            watch_count: w.zk_watch_count() as u64,
            watch_registrations: w.watch_count() as u64,
            watched_paths_count: w.path_count() as u64,
            watching_sessions_count: w.session_count() as u64,
            watch_index_bytes: w.heap_bytes() as u64,
            notifications_sent: s.notifications_sent,
            event_journal_entries: self.journal.len() as u64,
            ephemerals_count: self.tree.ephemeral_count() as u64,
            approximate_data_size: self.tree.approximate_data_size(),
            global_sessions: self.sessions.len() as u64,
            local_sessions: 0,
        }
    }
}

/// wchc/wchp groups with their items sorted, keyed (and so ordered) by session or path.
fn sorted_groups<K: Ord, V: Ord>(groups: Vec<(K, Vec<V>)>) -> BTreeMap<K, Vec<V>> {
    groups
        .into_iter()
        .map(|(k, mut items)| {
            items.sort();
            (k, items)
        })
        .collect()
}

/// The `server.N` lines of `conf`: voters and observers, by id.
fn membership(st: &Status) -> status::Membership {
    let m = &st.members;
    status::Membership {
        servers: m
            .voters
            .iter()
            .chain(&m.observers)
            .map(|(id, node)| (*id, node.to_string()))
            .collect(),
        version: m.version,
    }
}

/// The ensemble rows of `mntr`; the follower counts only on a leader, as ZooKeeper prints them.
fn ensemble_metrics(st: &Status, pending_syncs: usize) -> status::EnsembleMetrics {
    let leader = (st.role == Role::Leader).then(|| {
        // As ZooKeeper counts them: followers are voters, synced ones have everything the
        // leader has committed; every other member the leader replicates to is an observer.
        let voters: Vec<u64> = st.members.voters.iter().map(|(id, _)| *id).collect();
        let followers = st.followers.iter().filter(|f| voters.contains(&f.id));
        let synced = followers
            .clone()
            .filter(|f| f.matched.is_some_and(|m| m >= st.committed))
            .count();
        let other_voters = voters.iter().filter(|v| **v != st.id).count();
        status::LeaderMetrics {
            followers: followers.count() as u64,
            synced_followers: synced as u64,
            synced_observers: (st.followers.len() - other_voters.min(st.followers.len())) as u64,
        }
    });
    status::EnsembleMetrics {
        last_proposed_zxid: st.last_log_index,
        raft_term: st.term,
        pending_syncs: pending_syncs as u64,
        leader,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use watchkeeper_consensus::state_machine::Members;
    use watchkeeper_consensus::status::FollowerProgress;
    use watchkeeper_consensus::types::PeerNode;
    use watchkeeper_tree::DataTree;

    use super::*;
    use crate::config::{Config, FourLetterWhitelist};

    fn node(host: &str, observer: bool) -> PeerNode {
        PeerNode {
            host: host.into(),
            quorum_port: 2888,
            election_port: 3888,
            client_host: String::new(),
            client_port: 2181,
            observer,
        }
    }

    /// Member 1 of voters 1, 2, 3 and observer 4, at commit point 10.
    fn status(role: Role) -> Status {
        let progress = |id, matched| FollowerProgress { id, matched };
        Status {
            id: 1,
            role,
            leader: Some(1),
            term: 3,
            last_log_index: 12,
            committed: 10,
            last_applied: 10,
            members: Members {
                voters: vec![
                    (3, node("10.0.0.3", false)),
                    (1, node("10.0.0.1", false)),
                    (2, node("10.0.0.2", false)),
                ],
                observers: vec![(4, node("10.0.0.4", true))],
                version: 0x1f,
            },
            followers: vec![
                progress(2, Some(10)),
                progress(3, Some(9)),
                progress(4, Some(10)),
            ],
            quorum_acked: None,
            fatal: None,
        }
    }

    #[test]
    fn a_leader_counts_its_followers_as_zookeeper_does() {
        let m = ensemble_metrics(&status(Role::Leader), 2);
        assert_eq!(
            m,
            status::EnsembleMetrics {
                last_proposed_zxid: 12,
                raft_term: 3,
                pending_syncs: 2,
                leader: Some(status::LeaderMetrics {
                    followers: 2,
                    synced_followers: 1,
                    synced_observers: 1,
                }),
            }
        );
    }

    #[test]
    fn only_a_leader_has_follower_rows() {
        for role in [
            Role::Follower,
            Role::Observer,
            Role::Looking,
            Role::Standalone,
        ] {
            assert_eq!(ensemble_metrics(&status(role), 0).leader, None, "{role:?}");
        }
    }

    #[test]
    fn conf_lists_voters_and_observers_by_id() {
        let m = membership(&status(Role::Follower));
        let ids: Vec<u64> = m.servers.keys().copied().collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(m.servers[&4], "10.0.0.4:2888:3888:observer;0.0.0.0:2181");
        assert_eq!(m.version, 0x1f);
    }

    fn core(whitelist: FourLetterWhitelist) -> Core {
        let cfg = Config {
            four_letter_whitelist: whitelist,
            ..Config::default()
        };
        let handle = watchkeeper_consensus::node::Handle::detached(1);
        Core::new(Arc::new(cfg), DataTree::new(), handle, 0)
    }

    /// The words whose reports need the file system or /proc.
    const HOST_WORDS: [&str; 4] = ["conf", "dirs", "envi", "mntr"];

    #[test]
    fn words_that_need_the_host_leave_it_to_the_connection() {
        let mut core = core(FourLetterWhitelist::All);
        for cmd in COMMANDS.iter().copied() {
            let answer = core.four_letter(cmd);
            if HOST_WORDS.contains(&cmd) {
                assert!(matches!(answer, Answer::Host(_)), "{cmd}: {answer:?}");
            } else {
                assert!(matches!(answer, Answer::Ready(_)), "{cmd}: {answer:?}");
            }
        }
    }

    #[test]
    fn a_fresh_standalone_core_reports_itself() {
        let mut core = core(FourLetterWhitelist::All);
        let Answer::Ready(Report::ServerSummary(s)) = core.four_letter("srvr") else {
            panic!("srvr is ready at once");
        };
        assert_eq!(s.version, VERSION);
        assert_eq!(s.server_stats.server_state, "standalone");
        assert_eq!(s.node_count, 5, "ZooKeeper 3.9 counts 5 in a fresh tree");
        let Answer::Host(HostWork::Monitor { server, ensemble }) = core.four_letter("mntr") else {
            panic!("mntr leaves the descriptors to the host");
        };
        assert_eq!((server.znode_count, server.global_sessions), (5, 0));
        assert_eq!(ensemble.leader, None);
        let Answer::Host(HostWork::Conf {
            server, ensemble, ..
        }) = core.four_letter("conf")
        else {
            panic!("conf leaves the directories to the host");
        };
        assert_eq!(server.server_id, 0, "standalone prints server id 0");
        assert_eq!(ensemble, None);
    }

    #[test]
    fn words_outside_the_whitelist_are_refused_and_change_nothing() {
        // The default whitelist is srvr only.
        let mut core = core(FourLetterWhitelist::default());
        core.stats.packets_received = 3;
        for cmd in ["mntr", "srst", "envi"] {
            assert!(
                matches!(core.four_letter(cmd), Answer::Ready(Report::NotAllowed(c)) if c == cmd),
                "{cmd}"
            );
        }
        assert_eq!(
            core.stats.packets_received, 3,
            "a refused srst resets nothing"
        );
        assert!(matches!(
            core.four_letter("srvr"),
            Answer::Ready(Report::ServerSummary(_))
        ));
    }

    #[test]
    fn wchc_and_wchp_groups_come_out_sorted() {
        let groups = sorted_groups(vec![(2_i64, vec!["/b", "/a"]), (1, vec!["/c"])]);
        let flat: Vec<(i64, Vec<&str>)> = groups.into_iter().collect();
        assert_eq!(flat, [(1, vec!["/c"]), (2, vec!["/a", "/b"])]);
    }
}
