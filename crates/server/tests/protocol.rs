//! The wire protocol at its edges, spoken by hand: four-letter words and the whitelist,
//! malformed, truncated and oversized frames (the connection closes, the server lives on),
//! unknown opcodes, the handshake without its readOnly byte, reply order under pipelining,
//! and maxClientCnxns per IP.

mod common;

use std::time::Duration;

use common::jute::{Enc, body, err, op, xid};
use common::raw::{ConnectReq, Frame, Raw, four_letter};
use common::{TestServer, eventually, within};
use watchkeeper_server::FourLetterWhitelist;

/// `key=value` or `key\tvalue` lines into pairs, in order.
fn pairs(text: &str, sep: char) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once(sep)
                .unwrap_or_else(|| panic!("line without {sep:?}: {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{key} missing from {pairs:?}"))
}

/// Asserts the server still serves a new session normally.
async fn still_serving(addr: std::net::SocketAddr) {
    let mut r = Raw::session(addr).await;
    let rep = r.call(op::EXISTS, &body::path_watch("/", false)).await;
    assert_eq!(rep.err, 0, "server no longer serves after the bad client");
    assert_eq!(four_letter(addr, "ruok").await, "imok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruok_and_isro() {
    let s = TestServer::start().await;
    within(30, async {
        assert_eq!(four_letter(s.addr, "ruok").await, "imok");
        assert_eq!(four_letter(s.addr, "isro").await, "rw");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srvr_and_stat_report_the_server() {
    let s = TestServer::start().await;
    within(30, async {
        let fresh = four_letter(s.addr, "srvr").await;
        let lines: Vec<&str> = fresh.lines().collect();
        assert!(fresh.ends_with('\n'));
        assert!(
            lines[0].starts_with("Zookeeper version: ") && lines[0].len() > 19,
            "{fresh}"
        );
        let labels: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split_once(": ").map(|(k, _)| k).unwrap_or(l))
            .collect();
        assert_eq!(
            labels,
            vec![
                "Latency min/avg/max",
                "Received",
                "Sent",
                "Connections",
                "Outstanding",
                "Zxid",
                "Mode",
                "Node count"
            ],
            "{fresh}"
        );
        assert!(fresh.contains("\nMode: standalone\n"), "{fresh}");
        assert!(
            fresh.contains("\nNode count: 5\n"),
            "a fresh ZooKeeper 3.9 reports 5 (root counted twice): {fresh}"
        );
        let lat = lines[1].trim_start_matches("Latency min/avg/max: ");
        let parts: Vec<&str> = lat.split('/').collect();
        assert_eq!(parts.len(), 3, "{lat}");
        parts[0].parse::<i64>().expect("min latency is an integer");
        parts[1].parse::<f64>().expect("avg latency is a number");
        parts[2].parse::<i64>().expect("max latency is an integer");

        let mut r = Raw::session(s.addr).await;
        r.create("/a", b"").await;
        let z = r.create("/b", b"").await;
        let out = four_letter(s.addr, "srvr").await;
        assert!(
            out.contains(&format!("\nZxid: 0x{z:x}\n")),
            "Zxid must be the last zxid 0x{z:x}: {out}"
        );
        assert!(out.contains("\nNode count: 7\n"), "{out}");
        let conns: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("Connections: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(conns >= 1, "{out}");

        let stat = four_letter(s.addr, "stat").await;
        assert!(stat.starts_with("Zookeeper version: "), "{stat}");
        assert!(stat.contains("\nClients:\n"), "{stat}");
        let port = r.local_port();
        let client_line = stat
            .lines()
            .find(|l| l.starts_with(&format!(" /127.0.0.1:{port}[")))
            .unwrap_or_else(|| panic!("no line for our connection (port {port}): {stat}"));
        assert!(
            client_line.contains("](queued=")
                && client_line.contains(",recved=")
                && client_line.contains(",sent=")
                && client_line.ends_with(')'),
            "{client_line}"
        );
        assert!(stat.contains("\nMode: standalone\n"), "{stat}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mntr_is_tab_separated_zk_keys() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        r.create("/a", b"12345").await;
        let rep = r.call(op::CREATE, &body::create("/eph", b"", 1)).await;
        assert_eq!(rep.err, 0);
        assert_eq!(
            r.call(op::GET_DATA, &body::path_watch("/a", true))
                .await
                .err,
            0
        );
        assert_eq!(
            r.call(op::GET_CHILDREN, &body::path_watch("/a", true))
                .await
                .err,
            0
        );

        let out = four_letter(s.addr, "mntr").await;
        assert!(out.ends_with('\n'), "{out}");
        let kv = pairs(&out, '\t');
        assert_eq!(kv[0].0, "zk_version", "zk_version comes first: {out}");
        assert_eq!(kv[1], ("zk_server_state".into(), "standalone".into()));
        for (k, _) in &kv {
            assert!(
                k.starts_with("zk_") && !k.contains(' '),
                "bad key {k:?} in {out}"
            );
        }
        for key in [
            "zk_avg_latency",
            "zk_max_latency",
            "zk_min_latency",
            "zk_packets_received",
            "zk_packets_sent",
            "zk_num_alive_connections",
            "zk_outstanding_requests",
            "zk_znode_count",
            "zk_watch_count",
            "zk_ephemerals_count",
            "zk_approximate_data_size",
            "zk_open_file_descriptor_count",
            "zk_max_file_descriptor_count",
        ] {
            value(&kv, key);
        }
        let num = |k: &str| -> i64 {
            value(&kv, k)
                .parse()
                .unwrap_or_else(|_| panic!("{k} is not an integer: {out}"))
        };
        assert_eq!(num("zk_znode_count"), 7, "5 at start (root twice) + 2");
        assert_eq!(num("zk_ephemerals_count"), 1);
        assert_eq!(num("zk_watch_count"), 2, "one data and one child watch");
        assert!(num("zk_num_alive_connections") >= 1);
        assert!(num("zk_packets_received") >= 4);
        assert!(num("zk_open_file_descriptor_count") > 0);
        value(&kv, "zk_avg_latency")
            .parse::<f64>()
            .expect("avg latency is a number");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wchs_counts_data_watches() {
    let s = TestServer::start().await;
    within(30, async {
        assert_eq!(
            four_letter(s.addr, "wchs").await,
            "0 connections watching 0 paths\nTotal watches:0\n"
        );
        let mut a = Raw::session(s.addr).await;
        let mut b = Raw::session(s.addr).await;
        a.create("/x", b"").await;
        a.create("/y", b"").await;
        assert_eq!(
            a.call(op::GET_DATA, &body::path_watch("/x", true))
                .await
                .err,
            0
        );
        assert_eq!(
            a.call(op::EXISTS, &body::path_watch("/y", true)).await.err,
            0
        );
        assert_eq!(
            a.call(op::EXISTS, &body::path_watch("/not-yet", true))
                .await
                .err,
            err::NO_NODE
        );
        assert_eq!(
            b.call(op::GET_DATA, &body::path_watch("/x", true))
                .await
                .err,
            0
        );
        // ZooKeeper's wchs looks at the data-watch table only: child watches do not show.
        assert_eq!(
            b.call(op::GET_CHILDREN, &body::path_watch("/y", true))
                .await
                .err,
            0
        );
        assert_eq!(
            four_letter(s.addr, "wchs").await,
            "2 connections watching 3 paths\nTotal watches:4\n"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conf_lists_the_settings_in_zookeeper_order() {
    let s = TestServer::start().await;
    within(30, async {
        let conf = four_letter(s.addr, "conf").await;
        let kv = pairs(&conf, '=');
        let data_dir = s.cfg.data_dir.to_str().unwrap();
        for dir_key in ["dataDir", "dataLogDir"] {
            assert!(
                value(&kv, dir_key).starts_with(data_dir),
                "{dir_key}: {conf}"
            );
        }
        for size_key in ["dataDirSize", "dataLogSize"] {
            value(&kv, size_key)
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{size_key} is not a byte count: {conf}"));
        }
        let shown: Vec<(&str, &str)> = kv
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .map(|(k, v)| match k {
                "dataDir" | "dataLogDir" | "dataDirSize" | "dataLogSize" => (k, "*"),
                _ => (k, v),
            })
            .collect();
        let port = s.addr.port().to_string();
        assert_eq!(
            shown,
            vec![
                ("clientPort", port.as_str()),
                ("secureClientPort", "-1"),
                ("dataDir", "*"),
                ("dataDirSize", "*"),
                ("dataLogDir", "*"),
                ("dataLogSize", "*"),
                ("tickTime", "200"),
                ("maxClientCnxns", "60"),
                ("minSessionTimeout", "400"),
                ("maxSessionTimeout", "4000"),
                ("clientPortListenBacklog", "-1"),
                ("serverId", "0"),
            ],
            "clientPort is the port actually bound"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envi_lists_zookeepers_keys() {
    let s = TestServer::start().await;
    within(30, async {
        let envi = four_letter(s.addr, "envi").await;
        assert!(envi.starts_with("Environment:\n"), "{envi}");
        let kv = pairs(envi.trim_start_matches("Environment:\n"), '=');
        let version = value(&kv, "zookeeper.version");
        assert!(
            version.starts_with("3.") && version.contains(", built on "),
            "kazoo parses the version from here: {version}"
        );
        // Every key ZooKeeper prints, in its order (a value it cannot know is "<NA>").
        let zk_keys = [
            "zookeeper.version",
            "host.name",
            "java.version",
            "java.vendor",
            "java.home",
            "java.class.path",
            "java.library.path",
            "java.io.tmpdir",
            "java.compiler",
            "os.name",
            "os.arch",
            "os.version",
            "user.name",
            "user.home",
            "user.dir",
            "os.memory.free",
            "os.memory.max",
            "os.memory.total",
        ];
        let keys: Vec<&str> = kv
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| zk_keys.contains(k))
            .collect();
        assert_eq!(keys, zk_keys.to_vec(), "{envi}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirs_reports_sizes() {
    let s = TestServer::start().await;
    within(30, async {
        let dirs = four_letter(s.addr, "dirs").await;
        assert!(dirs.ends_with('\n'), "{dirs}");
        let kv = pairs(&dirs, ':');
        let keys: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["datadir_size", "logdir_size"], "{dirs}");
        for (_, v) in &kv {
            assert!(v.starts_with(' '), "{dirs}");
            v.trim().parse::<u64>().expect("sizes are byte counts");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mntr_keys_and_their_order_are_fixed() {
    let s = TestServer::start().await;
    within(30, async {
        let out = four_letter(s.addr, "mntr").await;
        let keys: Vec<String> = pairs(&out, '\t').into_iter().map(|(k, _)| k).collect();
        // Exporters and alert rules key on these names; a standalone server has no follower rows.
        let expected = [
            "zk_version",
            "zk_server_state",
            "zk_avg_latency",
            "zk_max_latency",
            "zk_min_latency",
            "zk_packets_received",
            "zk_packets_sent",
            "zk_num_alive_connections",
            "zk_outstanding_requests",
            "zk_uptime",
            "zk_znode_count",
            "zk_watch_count",
            "zk_watch_registrations",
            "zk_watched_paths_count",
            "zk_watching_sessions_count",
            "zk_watch_index_bytes",
            "zk_notifications_sent",
            "zk_event_journal_entries",
            "zk_ephemerals_count",
            "zk_approximate_data_size",
            "zk_global_sessions",
            "zk_local_sessions",
            "zk_open_file_descriptor_count",
            "zk_max_file_descriptor_count",
            "zk_last_proposed_zxid",
            "zk_raft_term",
            "zk_pending_syncs",
        ];
        assert_eq!(keys, expected, "{out}");
    })
    .await;
}

/// The `key=value` fields of a `cons` line, in order.
fn cons_fields(line: &str) -> Vec<(&str, &str)> {
    let inner = line
        .split_once("[1](")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a connection line: {line:?}"));
    inner
        .split(',')
        .map(|f| {
            f.split_once('=')
                .unwrap_or_else(|| panic!("{f:?} in {line:?}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cons_shows_each_session_in_full_and_crst_resets_it() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        let z = r.create("/a", b"").await;
        let prefix = format!(" /127.0.0.1:{}[1](", r.local_port());
        let line_of = |text: &str| {
            text.lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no line for our connection: {text}"))
                .to_string()
        };

        let cons = four_letter(s.addr, "cons").await;
        assert!(
            cons.ends_with(")\n\n"),
            "a blank line ends the list: {cons:?}"
        );
        let line = line_of(&cons);
        let fields = cons_fields(&line);
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "queued", "recved", "sent", "sid", "lop", "est", "to", "lzxid", "lresp", "llat",
                "minlat", "avglat", "maxlat"
            ],
            "{line}"
        );
        let field = |k: &str| fields.iter().find(|(f, _)| *f == k).unwrap().1;
        assert_eq!(field("sid"), format!("0x{:x}", r.session_id));
        assert_eq!(field("to"), r.timeout_ms.to_string());
        assert_eq!(field("lzxid"), format!("0x{z:x}"));
        assert_eq!(field("lop"), "NA");
        assert_eq!(field("lresp"), "0");
        assert_eq!(field("recved"), "2", "the handshake and the create");
        assert_eq!(field("sent"), "2");
        let est: u128 = field("est").parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(est <= now && now - est < 60_000, "est is epoch ms: {est}");

        assert_eq!(
            four_letter(s.addr, "crst").await,
            "Connection stats reset.\n"
        );
        let line = line_of(&four_letter(s.addr, "cons").await);
        let fields = cons_fields(&line);
        let field = |k: &str| fields.iter().find(|(f, _)| *f == k).unwrap().1;
        assert_eq!(
            (
                field("recved"),
                field("sent"),
                field("lzxid"),
                field("llat")
            ),
            ("0", "0", "0xffffffffffffffff", "0"),
            "{line}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srst_zeroes_the_server_counters() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        r.create("/a", b"").await;
        assert_eq!(four_letter(s.addr, "srst").await, "Server stats reset.\n");
        let out = four_letter(s.addr, "srvr").await;
        for line in [
            "\nLatency min/avg/max: 0/0.0/0\n",
            "\nReceived: 0\n",
            "\nSent: 0\n",
        ] {
            assert!(out.contains(line), "{line:?} in {out}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wchc_and_wchp_list_data_watches_by_session_and_by_path() {
    let s = TestServer::start().await;
    within(30, async {
        assert_eq!(four_letter(s.addr, "wchc").await, "\n");
        assert_eq!(four_letter(s.addr, "wchp").await, "\n");
        let mut a = Raw::session(s.addr).await;
        let mut b = Raw::session(s.addr).await;
        a.create("/x", b"").await;
        a.create("/y", b"").await;
        for path in ["/y", "/x"] {
            assert_eq!(
                a.call(op::GET_DATA, &body::path_watch(path, true))
                    .await
                    .err,
                0
            );
        }
        assert_eq!(
            b.call(op::GET_DATA, &body::path_watch("/x", true))
                .await
                .err,
            0
        );
        // A child watch is not in ZooKeeper's data-watch table, so neither word shows it.
        assert_eq!(
            b.call(op::GET_CHILDREN, &body::path_watch("/y", true))
                .await
                .err,
            0
        );
        let (lo, hi) = if a.session_id < b.session_id {
            (a.session_id, b.session_id)
        } else {
            (b.session_id, a.session_id)
        };
        let (ia, ib) = (a.session_id, b.session_id);
        assert_eq!(
            four_letter(s.addr, "wchp").await,
            format!("/x\n\t0x{lo:x}\n\t0x{hi:x}\n/y\n\t0x{ia:x}\n\n")
        );
        let a_block = format!("0x{ia:x}\n\t/x\n\t/y\n");
        let b_block = format!("0x{ib:x}\n\t/x\n");
        let expected = if ia < ib {
            format!("{a_block}{b_block}\n")
        } else {
            format!("{b_block}{a_block}\n")
        };
        assert_eq!(four_letter(s.addr, "wchc").await, expected);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_lists_sessions_ephemerals_and_connections() {
    let s = TestServer::start().await;
    within(30, async {
        let mut a = Raw::session(s.addr).await;
        let b = Raw::session(s.addr).await;
        for path in ["/e2", "/e1"] {
            let rep = a.call(op::CREATE, &body::create(path, b"", 1)).await;
            assert_eq!(rep.err, 0);
        }
        let out = four_letter(s.addr, "dump").await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..2],
            ["SessionTracker dump:", "Session Sets (2)/(2):"],
            "{out}"
        );
        let mut sessions = Vec::new();
        for pair in lines[2..6].chunks(2) {
            let ms = pair[0]
                .strip_prefix("1 expire in ")
                .and_then(|l| l.strip_suffix(" ms:"))
                .unwrap_or_else(|| panic!("{:?} in {out}", pair[0]));
            ms.parse::<u64>().expect("milliseconds");
            sessions.push(pair[1].to_string());
        }
        sessions.sort();
        let mut want = vec![
            format!("\t0x{:x}", a.session_id),
            format!("\t0x{:x}", b.session_id),
        ];
        want.sort();
        assert_eq!(sessions, want, "{out}");
        assert_eq!(
            lines[6..11],
            [
                "ephemeral nodes dump:",
                "Sessions with Ephemerals (1):",
                &format!("0x{:x}:", a.session_id),
                "\t/e1",
                "\t/e2",
            ],
            "{out}"
        );
        let mut conns = [
            (a.session_id, a.local_port()),
            (b.session_id, b.local_port()),
        ];
        conns.sort();
        let conn_lines: Vec<String> = conns
            .iter()
            .map(|(id, port)| format!("\tip: /127.0.0.1:{port} sessionId: 0x{id:x}"))
            .collect();
        assert_eq!(
            lines[11..],
            [
                "Connections dump:",
                "Connections Sets (2)/(2):",
                &conn_lines[0],
                &conn_lines[1],
            ],
            "{out}"
        );
        assert!(out.ends_with('\n'), "{out:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_mask_and_hash_answer_like_a_server_without_them() {
    let s = TestServer::start().await;
    within(30, async {
        assert_eq!(four_letter(s.addr, "gtmk").await, "0");
        assert_eq!(four_letter(s.addr, "stmk").await, "0");
        assert_eq!(four_letter(s.addr, "hash").await, "");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_outside_the_whitelist_are_refused() {
    let s = TestServer::start_with(|c| {
        c.four_letter_whitelist = FourLetterWhitelist::Only(vec!["srvr".into(), "ruok".into()]);
    })
    .await;
    within(30, async {
        assert_eq!(four_letter(s.addr, "ruok").await, "imok");
        assert!(
            four_letter(s.addr, "srvr")
                .await
                .starts_with("Zookeeper version: ")
        );
        for cmd in ["mntr", "stat", "conf", "wchs", "envi", "dump", "cons"] {
            assert_eq!(
                four_letter(s.addr, cmd).await,
                format!("{cmd} is not executed because it is not in the whitelist.\n")
            );
        }
    })
    .await;

    // The default whitelist is srvr only.
    let s =
        TestServer::start_with(|c| c.four_letter_whitelist = FourLetterWhitelist::default()).await;
    within(30, async {
        assert!(
            four_letter(s.addr, "srvr")
                .await
                .starts_with("Zookeeper version: ")
        );
        assert_eq!(
            four_letter(s.addr, "ruok").await,
            "ruok is not executed because it is not in the whitelist.\n"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcode_is_unimplemented_then_closed() {
    let s = TestServer::start().await;
    within(30, async {
        // (opcode, err of the reply, reply body length, connection closed after it)
        let mut got = Vec::new();
        for opcode in [999, 50, op::CHECK, 0] {
            let mut r = Raw::session(s.addr).await;
            let body = if opcode == op::CHECK {
                body::delete("/", -1) // check is only valid inside multi
            } else {
                Vec::new()
            };
            let x = r.send(opcode, &body).await;
            let rep = r.reply_for(x).await;
            // A connection left open would make expect_closed time out; ping to tell.
            r.send_with_xid(xid::PING, op::PING, &[]).await;
            let closed = r.expect_closed_or_ping().await;
            got.push((opcode, rep.err, rep.body.len(), closed));
        }
        assert_eq!(
            got,
            vec![
                (999, err::UNIMPLEMENTED, 0, true),
                (50, err::UNIMPLEMENTED, 0, true),
                (op::CHECK, err::UNIMPLEMENTED, 0, true),
                (0, err::UNIMPLEMENTED, 0, true),
            ],
            "(opcode, err, body length, closed)"
        );
        still_serving(s.addr).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_is_disabled_and_keeps_the_connection() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        let req = Enc::new().str("").str("").str("").i64(-1).done();
        let rep = r.call(op::RECONFIG, &req).await;
        assert_eq!(rep.err, err::RECONFIG_DISABLED);
        assert_eq!(r.ping().await.err, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_or_oversized_lengths_close_without_reply() {
    let s = TestServer::start().await;
    within(30, async {
        // In the handshake.
        for len in [-1i32, -100, 0x0010_0000, i32::MAX] {
            let mut r = Raw::tcp(s.addr).await;
            r.send_bytes(&len.to_be_bytes()).await;
            assert!(r.expect_closed().await.is_empty(), "length {len}");
        }
        // After the handshake, on a live session.
        for len in [-1i32, 0x0010_0000, 0x7fff_fff0] {
            let mut r = Raw::session(s.addr).await;
            r.send_bytes(&len.to_be_bytes()).await;
            assert!(r.expect_closed().await.is_empty(), "length {len}");
        }
        still_serving(s.addr).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_buffer_is_inclusive() {
    let s = TestServer::start_with(|c| c.max_buffer = 4096).await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        r.create("/a", b"").await;
        // setData frame: header 8 + path (4+2) + data (4+n) + version 4 = 22 + n.
        let exact = vec![7u8; 4096 - 22];
        let frame = Enc::new()
            .i32(1000)
            .i32(op::SET_DATA)
            .raw(&body::set_data("/a", &exact, -1))
            .done();
        assert_eq!(frame.len(), 4096);
        r.send_frame(&frame).await;
        let rep = r.reply_for(1000).await;
        assert_eq!(rep.err, 0, "a frame of exactly jute.maxbuffer is accepted");

        let over = vec![7u8; 4096 - 21];
        let frame = Enc::new()
            .i32(1001)
            .i32(op::SET_DATA)
            .raw(&body::set_data("/a", &over, -1))
            .done();
        r.send_frame(&frame).await;
        assert!(
            r.expect_closed().await.is_empty(),
            "one byte over: closed, no reply"
        );

        // The session survived the closed connection and the data is the accepted one.
        let mut again = Raw::tcp(s.addr).await;
        let mut req = ConnectReq::new_session(4000);
        req.session_id = r.session_id;
        req.passwd = r.passwd.clone();
        assert_eq!(
            again.handshake(&req).await.unwrap().session_id,
            r.session_id
        );
        let rep = again
            .call(op::GET_DATA, &body::path_watch("/a", false))
            .await;
        assert_eq!(rep.dec().buf().len(), 4096 - 22);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames() {
    let s = TestServer::start().await;
    within(30, async {
        // A ConnectRequest too short to decode: closed, no reply.
        let mut r = Raw::tcp(s.addr).await;
        r.send_frame(&[0, 0, 0, 0, 0]).await;
        assert!(r.expect_closed().await.is_empty());
        // A ConnectRequest whose password length runs past the frame.
        let mut r = Raw::tcp(s.addr).await;
        let bad = Enc::new().i32(0).i64(0).i32(4000).i64(0).i32(1000).done();
        r.send_frame(&bad).await;
        assert!(r.expect_closed().await.is_empty());
        // A length prefix announcing more than is sent, then EOF.
        let mut r = Raw::tcp(s.addr).await;
        r.send_bytes(&[0, 0, 0, 40, 1, 2, 3]).await;
        drop(r);

        // A truncated request header: closed.
        let mut r = Raw::session(s.addr).await;
        r.send_frame(&[0, 0, 0, 1]).await;
        assert!(r.expect_closed().await.is_empty());
        // An empty frame after the handshake: closed.
        let mut r = Raw::session(s.addr).await;
        r.send_frame(&[]).await;
        assert!(r.expect_closed().await.is_empty());

        // A request body that does not decode: MarshallingError, connection kept.
        let mut r = Raw::session(s.addr).await;
        let truncated = Enc::new().i32(100).raw(b"/ab").done();
        let rep = r.call(op::GET_DATA, &truncated).await;
        assert_eq!(rep.err, err::MARSHALLING_ERROR);
        assert!(rep.body.is_empty());
        let rep = r.call(op::CREATE, &Enc::new().str("/x").done()).await;
        assert_eq!(rep.err, err::MARSHALLING_ERROR);
        let rep = r.call(op::ADD_WATCH, &body::path_type("/x", 7)).await;
        assert_eq!(
            rep.err,
            err::MARSHALLING_ERROR,
            "addWatch with an unknown mode"
        );
        let rep = r.call(op::CHECK_WATCHES, &body::path_type("/x", 9)).await;
        assert_eq!(
            rep.err,
            err::MARSHALLING_ERROR,
            "checkWatches with an unknown type"
        );
        assert_eq!(r.ping().await.err, 0, "connection still usable");
        let rep = r.call(op::CREATE, &body::create("/fine", b"", 0)).await;
        assert_eq!(rep.err, 0);

        // Garbage that happens to look like a four-letter word's opposite: a random prefix.
        let mut r = Raw::tcp(s.addr).await;
        r.send_bytes(b"abcd").await;
        assert!(r.expect_closed().await.is_empty());

        still_serving(s.addr).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_without_the_read_only_byte_is_answered_in_kind() {
    let s = TestServer::start().await;
    within(30, async {
        let mut old = Raw::tcp(s.addr).await;
        let mut req = ConnectReq::new_session(4000);
        req.read_only = None;
        let resp = old.handshake(&req).await.expect("answered");
        assert_eq!(resp.frame_len, 36, "no readOnly byte back: {resp:?}");
        assert_eq!(resp.read_only, None);
        assert!(resp.timeout_ms > 0 && resp.session_id != 0);
        // The session works.
        let rep = old.call(op::CREATE, &body::create("/old", b"", 0)).await;
        assert_eq!(rep.err, 0);

        let mut new = Raw::tcp(s.addr).await;
        let mut req = ConnectReq::new_session(4000);
        req.read_only = Some(true);
        let resp = new.handshake(&req).await.expect("answered");
        assert_eq!(resp.frame_len, 37);
        assert_eq!(
            resp.read_only,
            Some(false),
            "a standalone server is never read-only"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_replies_keep_request_order() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        let mut push = |x: i32, opcode: i32, b: Vec<u8>| {
            let frame = Enc::new().i32(x).i32(opcode).raw(&b).done();
            batch.extend((frame.len() as i32).to_be_bytes());
            batch.extend(frame);
            expected.push(x);
        };
        push(1, op::CREATE, body::create("/p", b"v0", 0));
        push(2, op::GET_DATA, body::path_watch("/p", false));
        push(xid::PING, op::PING, vec![]);
        push(3, op::SET_DATA, body::set_data("/p", b"v1", -1));
        push(
            xid::SET_WATCHES,
            op::SET_WATCHES,
            body::set_watches(0, &[], &[], &[]),
        );
        push(4, op::GET_DATA, body::path_watch("/p", false));
        push(xid::AUTH, op::AUTH, body::auth("digest", b"u:p"));
        push(5, op::EXISTS, body::path_watch("/nope", false));
        push(6, op::SYNC, body::path("/p"));
        for i in 0..50 {
            push(
                100 + i,
                op::SET_DATA,
                body::set_data("/p", format!("n{i}").as_bytes(), -1),
            );
            push(200 + i, op::GET_DATA, body::path_watch("/p", false));
        }
        r.send_bytes(&batch).await;

        let mut got = Vec::new();
        let mut replies = Vec::new();
        while got.len() < expected.len() {
            match r.next_frame().await.expect("connection open") {
                Frame::Reply(rep) => {
                    got.push(rep.xid);
                    replies.push(rep);
                }
                Frame::Event(e) => panic!("no watches were set: {e:?}"),
            }
        }
        assert_eq!(got, expected, "replies must leave in request order");
        // A read behind the session's own write sees it.
        assert_eq!(replies[1].err, 0);
        assert_eq!(replies[1].dec().buf(), b"v0");
        assert_eq!(replies[5].dec().buf(), b"v1");
        assert_eq!(replies[7].err, err::NO_NODE);
        for i in 0..50usize {
            let read = &replies[9 + 2 * i + 1];
            assert_eq!(read.dec().buf(), format!("n{i}").as_bytes());
            let write = &replies[9 + 2 * i];
            assert!(read.zxid >= write.zxid);
        }
        // zxids never go backwards across replies.
        let zx: Vec<i64> = replies
            .iter()
            .filter(|r| r.xid != xid::AUTH)
            .map(|r| r.zxid)
            .collect();
        assert!(zx.windows(2).all(|w| w[0] <= w[1]), "{zx:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_reply_carries_the_last_zxid() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        let z = r.create("/z", b"").await;
        let p = r.ping().await;
        assert_eq!((p.xid, p.err, p.zxid), (xid::PING, 0, z));
        assert!(p.body.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_client_cnxns_limits_connections_per_ip() {
    let s = TestServer::start_with(|c| c.max_client_cnxns = 3).await;
    within(30, async {
        let a = Raw::session(s.addr).await;
        let _b = Raw::session(s.addr).await;
        let _c = Raw::session(s.addr).await;
        let mut d = Raw::tcp(s.addr).await;
        assert_eq!(
            d.handshake(&ConnectReq::new_session(4000)).await,
            None,
            "the fourth connection from one address is closed without an answer"
        );
        // Closing one makes room again.
        drop(a);
        eventually(Duration::from_secs(5), "a slot frees up", || async {
            let mut e = Raw::tcp(s.addr).await;
            e.handshake(&ConnectReq::new_session(4000)).await.is_some()
        })
        .await;
    })
    .await;
}

/// A length-prefixed getData of "/big" (no watch) with this xid.
fn get_big_frame(xid: i32) -> Vec<u8> {
    let frame = Enc::new()
        .i32(xid)
        .i32(op::GET_DATA)
        .raw(&body::path_watch("/big", false))
        .done();
    let mut bytes = (frame.len() as i32).to_be_bytes().to_vec();
    bytes.extend(frame);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gives_its_connection_up() {
    // One connection per address: the next one is accepted only once the server has really let
    // the non-reading client go, while that client still has not read a byte.
    let s = TestServer::start_with(|c| {
        c.max_outbound_bytes = 1 << 20;
        c.max_client_cnxns = 1;
    })
    .await;
    within(60, async {
        let mut r = Raw::session(s.addr).await;
        r.create("/big", &vec![1u8; 512 * 1024]).await;
        // One request at a time, so each reply is flushed on its own: the socket fills, the
        // writer task is left holding frames it cannot write, and the overflow comes while it
        // waits (not all at once in one batch of the core).
        for i in 0..200 {
            if !r.try_send_bytes(&get_big_frame(10 + i)).await {
                // The server has dropped us already.
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            // Refused connections are closed without an answer.
            if four_letter(s.addr, "ruok").await == "imok" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server still holds the connection of a client that stopped reading"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(r);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected() {
    let s = TestServer::start_with(|c| c.max_outbound_bytes = 1 << 20).await;
    within(60, async {
        let mut r = Raw::session(s.addr).await;
        r.create("/big", &vec![1u8; 512 * 1024]).await;
        // Ask for 200 copies (100 MB of replies) without reading any of them.
        let batch: Vec<u8> = (0..200).flat_map(|i| get_big_frame(10 + i)).collect();
        r.send_bytes(&batch).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // Now read: the server gave up on this connection long before 200 replies.
        let frames = r.expect_closed().await;
        assert!(
            frames.len() < 200,
            "the outbound queue was not bounded: all {} replies queued",
            frames.len()
        );
        still_serving(s.addr).await;
    })
    .await;
}
