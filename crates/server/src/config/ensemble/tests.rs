//! The ensemble keys through `Config::apply_zoo_cfg`, with a temporary data directory for `myid`.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    let mut c = Config::default();
    c.apply_zoo_cfg(Path::new("zoo.cfg"), text)?;
    Ok(c)
}

/// A data directory holding `myid` (when given) and a `zoo.cfg` text that points at it.
fn data_dir(myid: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(id) = myid {
        std::fs::write(dir.path().join("myid"), id).unwrap();
    }
    dir
}

fn with_dir(dir: &tempfile::TempDir, text: &str) -> String {
    text.replace("DATA", &dir.path().display().to_string())
}

const THREE: &str = "server.1=localhost:2888:3888:participant\n\
                     server.2=localhost:2889:3889:participant\n\
                     server.3=localhost:2890:3890:participant\n";

#[test]
fn the_kazoo_harness_form_makes_an_ensemble_with_data_dir_after_the_server_lines() {
    let dir = data_dir(Some("2\n"));
    let text = with_dir(
        &dir,
        &format!("tickTime=2000\n{THREE}clientPort=20002\ndataDir=DATA\n"),
    );
    let c = parse(&text).unwrap();
    let e = c.ensemble.as_ref().unwrap();
    assert_eq!(e.my_id, 2);
    assert_eq!(
        e.servers.iter().map(|s| s.id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(e.me().quorum_port, 2889);
    assert_eq!(e.me().client_port, 0);
    assert_eq!(e.source, Path::new("zoo.cfg"));
    assert_eq!(c.client_addr.port(), 20002);
    assert_eq!(e.participants().count(), 3);
}

#[test]
fn server_lines_are_sorted_by_id() {
    let dir = data_dir(Some("3"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\nserver.3=c:1:2\nserver.1=a:1:2\nserver.2=b:1:2:observer\n",
    );
    let e = parse(&text).unwrap().ensemble.unwrap();
    assert_eq!(
        e.servers.iter().map(|s| s.id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(e.observers().map(|s| s.id).collect::<Vec<_>>(), [2]);
    assert_eq!(e.me().host, "c");
}

#[test]
fn the_client_port_comes_from_this_servers_line_when_client_port_is_not_set() {
    let dir = data_dir(Some("1"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\nserver.1=127.0.0.1:2888:3888:participant;127.0.0.2:2191\n\
         server.2=127.0.0.1:2889:3889:participant;2192\n",
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.client_addr, "127.0.0.2:2191".parse().unwrap());
    let e = c.ensemble.unwrap();
    assert_eq!(e.servers[1].client_host, "");
    assert_eq!(e.servers[1].client_port, 2192);
}

#[test]
fn a_line_with_only_a_client_port_keeps_client_port_address() {
    let dir = data_dir(Some("1"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\nclientPortAddress=127.0.0.1\nserver.1=zk1:2888:3888;2191\n",
    );
    assert_eq!(
        parse(&text).unwrap().client_addr,
        "127.0.0.1:2191".parse().unwrap()
    );
}

#[test]
fn a_client_host_name_is_resolved() {
    let dir = data_dir(Some("1"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\nserver.1=zk1:2888:3888;localhost:2191\n",
    );
    let addr = parse(&text).unwrap().client_addr;
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(addr.port(), 2191);
}

#[test]
fn a_client_port_key_that_disagrees_with_this_servers_line_is_an_error() {
    let dir = data_dir(Some("1"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\nclientPort=2181\nserver.1=zk1:2888:3888;2191\n",
    );
    let msg = parse(&text).unwrap_err().to_string();
    assert!(
        msg.starts_with("zoo.cfg:2: `clientPort` has a bad value `2181`"),
        "{msg}"
    );
    assert!(
        msg.contains("client port 2191 in this server's line server.1"),
        "{msg}"
    );
    // Agreeing is fine, and a wildcard clientPortAddress never disagrees.
    let text = with_dir(
        &dir,
        "dataDir=DATA\nclientPort=2191\nclientPortAddress=0.0.0.0\n\
         server.1=zk1:2888:3888;127.0.0.1:2191\n",
    );
    assert_eq!(
        parse(&text).unwrap().client_addr,
        "127.0.0.1:2191".parse().unwrap()
    );
    let text = with_dir(
        &dir,
        "dataDir=DATA\nclientPortAddress=127.0.0.3\nserver.1=zk1:2888:3888;127.0.0.1:2191\n",
    );
    let msg = parse(&text).unwrap_err().to_string();
    assert!(msg.starts_with("zoo.cfg:2: `clientPortAddress`"), "{msg}");
}

#[test]
fn observer_and_ipv6_lines_are_read() {
    let dir = data_dir(Some("4"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\npeerType=observer\nserver.1=[::1]:2888:3888\n\
         server.4=[::1]:2891:3891:observer;[::1]:2184\n",
    );
    let c = parse(&text).unwrap();
    let me = c.ensemble.as_ref().unwrap().me();
    assert!(me.observer);
    assert_eq!(me.host, "::1");
    assert_eq!(c.client_addr, "[::1]:2184".parse().unwrap());
}

#[test]
fn a_bad_server_line_names_the_file_the_line_and_the_expected_form() {
    let msg = parse("tickTime=2000\nserver.1=zk1:2888\n")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("zoo.cfg:2: `server.1=zk1:2888`: the election port is missing"),
        "{msg}"
    );
    assert!(
        msg.contains("must look like server.N=host:quorumPort:electionPort"),
        "{msg}"
    );
    let msg = parse("\nserver.1=zk1:2888:x\n").unwrap_err().to_string();
    assert!(
        msg.starts_with("zoo.cfg:2:") && msg.contains("`x` is not a port"),
        "{msg}"
    );
    let msg = parse("server.300=zk1:2888:3888\n").unwrap_err().to_string();
    assert!(
        msg.starts_with("zoo.cfg:1:") && msg.contains("out of range"),
        "{msg}"
    );
    let msg = parse("server.1=a:1:2|b:1:2\n").unwrap_err().to_string();
    assert!(
        msg.starts_with("zoo.cfg:1:") && msg.contains("not supported yet"),
        "{msg}"
    );
}

#[test]
fn a_duplicate_server_id_names_both_lines() {
    let msg = parse("server.1=a:1:2\nserver.2=b:1:2\nserver.1=c:1:2\n")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("zoo.cfg:3: `server.1=c:1:2`"), "{msg}");
    assert!(msg.contains("already defined on line 1"), "{msg}");
}

#[test]
fn a_missing_myid_says_which_file_and_what_to_write() {
    let dir = data_dir(None);
    let msg = parse(&with_dir(&dir, &format!("dataDir=DATA\n{THREE}")))
        .unwrap_err()
        .to_string();
    let file = dir.path().join("myid").display().to_string();
    assert!(msg.starts_with(&format!("{file}: missing")), "{msg}");
    assert!(
        msg.contains(&format!(
            "write this server's id (1..=255, one of 1, 2, 3) into {file}"
        )),
        "{msg}"
    );
}

#[test]
fn an_unparsable_myid_is_an_error() {
    let dir = data_dir(Some("two\n"));
    let msg = parse(&with_dir(&dir, &format!("dataDir=DATA\n{THREE}")))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("myid: `two` is not a server id"), "{msg}");
    assert!(msg.contains("one of 1, 2, 3"), "{msg}");
}

#[test]
fn a_myid_not_among_the_server_lines_is_an_error() {
    let dir = data_dir(Some(" 7 "));
    let msg = parse(&with_dir(&dir, &format!("dataDir=DATA\n{THREE}")))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("myid: says 7, which is not among the server lines of zoo.cfg (1, 2, 3)"),
        "{msg}"
    );
}

#[test]
fn the_my_id_override_takes_precedence_over_the_file() {
    let dir = data_dir(Some("1"));
    let text = with_dir(&dir, &format!("dataDir=DATA\n{THREE}"));
    let mut c = Config {
        my_id: Some(3),
        ..Config::default()
    };
    c.apply_zoo_cfg(Path::new("zoo.cfg"), &text).unwrap();
    assert_eq!(c.ensemble.as_ref().unwrap().my_id, 3);
    // No myid file is needed with the override; an unknown id is still an error.
    let empty = data_dir(None);
    let mut c = Config {
        my_id: Some(9),
        ..Config::default()
    };
    let msg = c
        .apply_zoo_cfg(
            Path::new("zoo.cfg"),
            &with_dir(&empty, &format!("dataDir=DATA\n{THREE}")),
        )
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("zoo.cfg: this server's id 9"), "{msg}");
}

#[test]
fn a_later_apply_keeps_the_ensemble_and_resolves_the_id_again() {
    let dir = data_dir(Some("1"));
    let mut c = parse(&with_dir(&dir, &format!("dataDir=DATA\n{THREE}"))).unwrap();
    c.my_id = Some(2);
    c.apply_zoo_cfg(
        Path::new("<command line>"),
        "tickTime=500\nreconfigEnabled=true\n",
    )
    .unwrap();
    let e = c.ensemble.unwrap();
    assert_eq!((e.my_id, e.servers.len(), e.reconfig_enabled), (2, 3, true));
    assert_eq!(e.source, Path::new("zoo.cfg"));
}

#[test]
fn peer_type_must_agree_with_this_servers_line() {
    let dir = data_dir(Some("1"));
    let text = with_dir(&dir, &format!("dataDir=DATA\n{THREE}peerType=observer\n"));
    let msg = parse(&text).unwrap_err().to_string();
    assert!(
        msg.starts_with("zoo.cfg:5: `peerType` has a bad value `observer`"),
        "{msg}"
    );
    assert!(
        msg.contains("is a participant in its line server.1"),
        "{msg}"
    );
    let text = with_dir(
        &dir,
        &format!("dataDir=DATA\n{THREE}peerType=participant\n"),
    );
    parse(&text).unwrap();
    assert!(parse("peerType=voter\n").is_err());
}

#[test]
fn no_server_lines_means_standalone_whatever_myid_says() {
    let dir = data_dir(Some("1"));
    let c = parse(&with_dir(
        &dir,
        "dataDir=DATA\ninitLimit=20\npeerType=observer\n",
    ))
    .unwrap();
    assert!(c.ensemble.is_none());
}

#[test]
fn a_single_line_naming_this_server_is_an_ensemble_of_one() {
    let dir = data_dir(Some("1"));
    let c = parse(&with_dir(
        &dir,
        "dataDir=DATA\nserver.1=localhost:2888:3888\n",
    ))
    .unwrap();
    let e = c.ensemble.unwrap();
    assert_eq!((e.servers.len(), e.my_id), (1, 1));
    assert!(e.standalone_enabled);
}

#[test]
fn observers_without_participants_are_an_error() {
    let dir = data_dir(Some("1"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\nserver.1=localhost:2888:3888:observer\n",
    );
    let msg = parse(&text).unwrap_err().to_string();
    assert!(msg.contains("at least one must be a participant"), "{msg}");
}

#[test]
fn ensemble_settings_are_stored_with_zookeepers_defaults() {
    let dir = data_dir(Some("1"));
    let defaults = parse(&with_dir(&dir, &format!("dataDir=DATA\n{THREE}"))).unwrap();
    let e = defaults.ensemble.unwrap();
    assert_eq!((e.init_limit, e.sync_limit), (10, 5));
    assert!(e.standalone_enabled && !e.reconfig_enabled && !e.read_only_mode_enabled);
    assert!(!e.local_sessions_enabled && !e.local_sessions_upgrading_enabled);
    assert!(!e.quorum_listen_on_all_ips && e.dynamic_config_file.is_none());

    let text = with_dir(
        &dir,
        &format!(
            "initLimit=20\nsyncLimit=7\nstandaloneEnabled=false\nreconfigEnabled=true\n\
             localSessionsEnabled=true\nlocalSessionsUpgradingEnabled=true\n\
             readonlymode.enabled=true\nquorumListenOnAllIPs=true\nelectionAlg=3\n\
             dataDir=DATA\n{THREE}"
        ),
    );
    let e = parse(&text).unwrap().ensemble.unwrap();
    assert_eq!((e.init_limit, e.sync_limit), (20, 7));
    assert!(!e.standalone_enabled && e.reconfig_enabled && e.read_only_mode_enabled);
    assert!(e.local_sessions_enabled && e.local_sessions_upgrading_enabled);
    assert!(e.quorum_listen_on_all_ips);
}

#[test]
fn bad_ensemble_settings_name_the_line() {
    for (text, key) in [
        ("initLimit=0\n", "initLimit"),
        ("syncLimit=x\n", "syncLimit"),
        ("reconfigEnabled=maybe\n", "reconfigEnabled"),
        ("electionAlg=0\n", "electionAlg"),
        ("dynamicConfigFile=\n", "dynamicConfigFile"),
        ("group.1=1:2:3\n", "group.1"),
        ("weight.1=1\n", "weight.1"),
    ] {
        let msg = parse(&format!("tickTime=2000\n{text}"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(&format!("zoo.cfg:2: `{key}`")),
            "{text}: {msg}"
        );
    }
}

#[test]
fn raft_timing_has_defaults_and_keys() {
    assert_eq!(parse("").unwrap().raft_timing, RaftTiming::default());
    let c = parse(
        "watchkeeper.raft.heartbeatMs=50\nwatchkeeper.raft.electionTimeoutMinMs=300\n\
         watchkeeper.raft.electionTimeoutMaxMs=600\n",
    )
    .unwrap();
    assert_eq!(c.raft_timing.heartbeat, Duration::from_millis(50));
    assert_eq!(c.raft_timing.election_min, Duration::from_millis(300));
    assert_eq!(c.raft_timing.election_max, Duration::from_millis(600));
}

#[test]
fn raft_timing_is_validated_naming_the_key() {
    let msg = parse("watchkeeper.raft.heartbeatMs=0\n")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("zoo.cfg:1: `watchkeeper.raft.heartbeatMs`"),
        "{msg}"
    );
    let msg = parse("watchkeeper.raft.electionTimeoutMaxMs=900\n")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("`watchkeeper.raft.electionTimeoutMinMs`: 1000 ms must be less than"),
        "{msg}"
    );
    let msg = parse("watchkeeper.raft.heartbeatMs=500\n")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("`watchkeeper.raft.heartbeatMs`: 500 ms must be less than half"),
        "{msg}"
    );
}

#[test]
fn a_dynamic_config_file_that_does_not_exist_is_not_supported_yet() {
    let dir = data_dir(Some("1"));
    let text = with_dir(
        &dir,
        "dataDir=DATA\ndynamicConfigFile=DATA/zoo.cfg.dynamic\n",
    );
    let msg = parse(&text).unwrap_err().to_string();
    assert!(msg.starts_with("zoo.cfg:2: `dynamicConfigFile`"), "{msg}");
    assert!(msg.contains("not supported yet"), "{msg}");
}

#[test]
fn a_dynamic_config_file_that_exists_supplies_the_server_lines() {
    let dir = data_dir(Some("2"));
    let dynamic = dir.path().join("zoo.cfg.dynamic.100000000");
    std::fs::write(&dynamic, format!("{THREE}version=100000000\n")).unwrap();
    let text = with_dir(
        &dir,
        "dataDir=DATA\ndynamicConfigFile=DATA/zoo.cfg.dynamic.100000000\n",
    );
    let e = parse(&text).unwrap().ensemble.unwrap();
    assert_eq!((e.my_id, e.servers.len()), (2, 3));
    assert_eq!(e.source, dynamic);
    assert_eq!(e.dynamic_config_file.as_deref(), Some(dynamic.as_path()));

    // Its errors name the dynamic file and its line.
    std::fs::write(&dynamic, "server.1=a:1:2\nserver.2=a:1\n").unwrap();
    let msg = parse(&text).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}:2: `server.2=a:1`", dynamic.display())),
        "{msg}"
    );
}

#[test]
fn server_lines_beside_a_dynamic_config_file_are_an_error() {
    let dir = data_dir(Some("1"));
    std::fs::write(dir.path().join("dyn"), THREE).unwrap();
    let text = with_dir(
        &dir,
        &format!("dataDir=DATA\n{THREE}dynamicConfigFile=DATA/dyn\n"),
    );
    let msg = parse(&text).unwrap_err().to_string();
    assert!(
        msg.starts_with("zoo.cfg:2: `server.1` has a bad value `localhost:2888:3888:participant`"),
        "{msg}"
    );
    assert!(msg.contains("must be in the dynamic config file"), "{msg}");
}

#[test]
fn raft_timing_defaults_are_valid() {
    RaftTiming::default().validate().unwrap();
}

#[test]
fn raft_timing_errors_name_the_key() {
    let ms = Duration::from_millis;
    let t = |hb, min, max| RaftTiming {
        heartbeat: ms(hb),
        election_min: ms(min),
        election_max: ms(max),
    };
    for (timing, key) in [
        (t(0, 1000, 2000), HEARTBEAT_KEY),
        (t(100, 0, 2000), ELECTION_MIN_KEY),
        (t(100, 1000, 0), ELECTION_MAX_KEY),
        (t(100, 2000, 2000), ELECTION_MIN_KEY),
        (t(100, 3000, 2000), ELECTION_MIN_KEY),
        (t(500, 1000, 2000), HEARTBEAT_KEY),
    ] {
        let msg = timing.validate().unwrap_err().to_string();
        assert!(msg.starts_with(&format!("`{key}`")), "{timing:?}: {msg}");
    }
    t(499, 1000, 1001).validate().unwrap();
}
