//! The ensemble part of `zoo.cfg`: the members (`server.N` lines, see [`ServerLine`]), this
//! server's id (`<dataDir>/myid`), the quorum settings ZooKeeper users write beside them, and
//! Watchkeeper's own Raft timing.
//!
//! Parsing follows ZooKeeper 3.9's `QuorumPeerConfig`, so an existing ensemble's files work
//! unchanged. Where Watchkeeper cannot honour a setting yet (`|` multi-addresses, hierarchical
//! quorums, creating a dynamic config file) it is an error, not a silently different ensemble.
//! This module only describes the ensemble; turning it into Raft membership is the caller's.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::server_line::{MAX_SERVER_ID, ServerLine};
use super::{Config, ConfigError, split_entry};

/// The replicated ensemble this server belongs to, from the `server.N` lines and the quorum
/// settings beside them. Settings are stored as written; what they mean for Raft is decided by
/// whoever starts the consensus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensemble {
    /// This server's id: `Config::my_id` if set, else `<dataDir>/myid`.
    pub my_id: u64,
    /// Every member, sorted by id.
    pub servers: Vec<ServerLine>,
    /// `initLimit`: ticks a follower may take to connect to and sync with a leader (10).
    pub init_limit: u32,
    /// `syncLimit`: ticks a follower may fall behind the leader (5).
    pub sync_limit: u32,
    /// `standaloneEnabled` (true): ZooKeeper runs a lone participant standalone.
    pub standalone_enabled: bool,
    /// `reconfigEnabled` (false): whether the `reconfig` operation is allowed.
    pub reconfig_enabled: bool,
    /// `localSessionsEnabled` (false).
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled` (false).
    pub local_sessions_upgrading_enabled: bool,
    /// `readonlymode.enabled` (false): serve read-only clients while there is no leader.
    /// ZooKeeper takes it as a JVM property; here it is a key.
    pub read_only_mode_enabled: bool,
    /// `quorumListenOnAllIPs` (false): listen on the quorum and election ports on every
    /// address rather than only the line's host.
    pub quorum_listen_on_all_ips: bool,
    /// `dynamicConfigFile`, when the server lines came from one.
    pub dynamic_config_file: Option<PathBuf>,
    /// The file the server lines were read from, for messages.
    pub source: PathBuf,
}

impl Ensemble {
    /// ZooKeeper's defaults and no members yet.
    fn empty(source: &Path) -> Ensemble {
        Ensemble {
            my_id: 0,
            servers: Vec::new(),
            init_limit: 10,
            sync_limit: 5,
            standalone_enabled: true,
            reconfig_enabled: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            read_only_mode_enabled: false,
            quorum_listen_on_all_ips: false,
            dynamic_config_file: None,
            source: source.to_owned(),
        }
    }

    /// This server's own line.
    ///
    /// # Panics
    /// If `my_id` is not among `servers`; a loaded and validated config never is.
    pub fn me(&self) -> &ServerLine {
        self.server(self.my_id)
            .expect("Config::validate checks that my_id is among the server lines")
    }

    /// The line of server `id`.
    pub fn server(&self, id: u64) -> Option<&ServerLine> {
        self.servers.iter().find(|s| s.id == id)
    }

    /// The voting members.
    pub fn participants(&self) -> impl Iterator<Item = &ServerLine> {
        self.servers.iter().filter(|s| !s.observer)
    }

    /// The non-voting members.
    pub fn observers(&self) -> impl Iterator<Item = &ServerLine> {
        self.servers.iter().filter(|s| s.observer)
    }

    fn ids(&self) -> String {
        let ids: Vec<String> = self.servers.iter().map(|s| s.id.to_string()).collect();
        ids.join(", ")
    }

    /// Checks an ensemble however it was built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |why: String| ConfigError::Ensemble {
            path: self.source.clone(),
            why,
        };
        if self.servers.is_empty() {
            return Err(fail(
                "an ensemble needs at least one server line".to_owned(),
            ));
        }
        let mut ids: Vec<u64> = self.servers.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(fail(format!("server.{} is listed twice", w[0])));
        }
        if let Some(id) = ids.iter().find(|id| !(1..=MAX_SERVER_ID).contains(*id)) {
            return Err(fail(format!(
                "server id {id} is out of range 1..={MAX_SERVER_ID}"
            )));
        }
        if self.participants().next().is_none() {
            // ZooKeeper's rule: observers need someone to follow.
            return Err(fail(
                "every server line is an observer; at least one must be a participant".to_owned(),
            ));
        }
        if self.server(self.my_id).is_none() {
            return Err(fail(format!(
                "this server's id {} is not among the server lines ({})",
                self.my_id,
                self.ids()
            )));
        }
        if self.init_limit == 0 || self.sync_limit == 0 {
            return Err(fail(
                "initLimit and syncLimit must be at least 1 tick".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Raft's timing (`watchkeeper.raft.*` keys, in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    /// How often the leader sends heartbeats (`watchkeeper.raft.heartbeatMs`, 100).
    pub heartbeat: Duration,
    /// Shortest election timeout (`watchkeeper.raft.electionTimeoutMinMs`, 1000).
    pub election_min: Duration,
    /// Longest election timeout (`watchkeeper.raft.electionTimeoutMaxMs`, 2000).
    pub election_max: Duration,
}

impl Default for RaftTiming {
    /// Under a second, a loaded 2-core machine (CI building beside three servers) invites
    /// spurious elections.
    fn default() -> Self {
        RaftTiming {
            heartbeat: Duration::from_millis(100),
            election_min: Duration::from_millis(1000),
            election_max: Duration::from_millis(2000),
        }
    }
}

pub(super) const HEARTBEAT_KEY: &str = "watchkeeper.raft.heartbeatMs";
pub(super) const ELECTION_MIN_KEY: &str = "watchkeeper.raft.electionTimeoutMinMs";
pub(super) const ELECTION_MAX_KEY: &str = "watchkeeper.raft.electionTimeoutMaxMs";

impl RaftTiming {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key, why| Err(ConfigError::RaftTiming { key, why });
        let ms = |d: Duration| d.as_millis();
        let (hb, min, max) = (self.heartbeat, self.election_min, self.election_max);
        for (key, d) in [
            (HEARTBEAT_KEY, hb),
            (ELECTION_MIN_KEY, min),
            (ELECTION_MAX_KEY, max),
        ] {
            if d.is_zero() {
                return fail(key, "must be at least 1 millisecond".to_owned());
            }
        }
        if min >= max {
            return fail(
                ELECTION_MIN_KEY,
                format!(
                    "{} ms must be less than {ELECTION_MAX_KEY} ({} ms), so that timeouts are \
                     spread out and two servers rarely stand at once",
                    ms(min),
                    ms(max)
                ),
            );
        }
        if hb * 2 >= min {
            return fail(
                HEARTBEAT_KEY,
                format!(
                    "{} ms must be less than half of {ELECTION_MIN_KEY} ({} ms), so that a \
                     follower hears from a live leader at least twice before it stands",
                    ms(hb),
                    ms(min)
                ),
            );
        }
        Ok(())
    }
}

/// The ensemble keys of one `zoo.cfg` text, gathered while parsing and applied once the whole
/// text is read: `dataDir` (and so `myid`) may come after the server lines.
#[derive(Debug, Default)]
pub(super) struct EnsembleKeys {
    /// With their line numbers and values as written, in file order.
    servers: Vec<(usize, String, ServerLine)>,
    /// Line and "is an observer".
    pub(super) peer_type: Option<(usize, bool)>,
    pub(super) init_limit: Option<u32>,
    pub(super) sync_limit: Option<u32>,
    pub(super) standalone_enabled: Option<bool>,
    pub(super) reconfig_enabled: Option<bool>,
    pub(super) local_sessions_enabled: Option<bool>,
    pub(super) local_sessions_upgrading_enabled: Option<bool>,
    pub(super) read_only_mode_enabled: Option<bool>,
    pub(super) quorum_listen_on_all_ips: Option<bool>,
    pub(super) dynamic_config_file: Option<(usize, PathBuf)>,
}

/// A line's `clientPort` or `clientPortAddress`, with its line number.
pub(super) type Written<T> = Option<(usize, T)>;

impl EnsembleKeys {
    pub(super) fn add_server(
        &mut self,
        path: &Path,
        line: usize,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let bad = |why: String| ConfigError::BadServerLine {
            path: path.to_owned(),
            line,
            key: key.to_owned(),
            value: value.to_owned(),
            why,
        };
        let server = ServerLine::parse(key, value).map_err(bad)?;
        // ZooKeeper lets the last of a repeated key win; a repeated id is almost always a
        // copy-paste slip, so say so.
        if let Some((first, ..)) = self.servers.iter().find(|(.., s)| s.id == server.id) {
            return Err(bad(format!(
                "server.{} is already defined on line {first}; each id may appear once",
                server.id
            )));
        }
        self.servers.push((line, value.to_owned(), server));
        Ok(())
    }

    fn any_setting(&self) -> bool {
        self.peer_type.is_some()
            || self.init_limit.is_some()
            || self.sync_limit.is_some()
            || self.standalone_enabled.is_some()
            || self.reconfig_enabled.is_some()
            || self.local_sessions_enabled.is_some()
            || self.local_sessions_upgrading_enabled.is_some()
            || self.read_only_mode_enabled.is_some()
            || self.quorum_listen_on_all_ips.is_some()
    }

    /// Builds `cfg.ensemble` from these keys on top of an ensemble from an earlier text, then
    /// resolves this server's id and its client address.
    pub(super) fn finish(
        self,
        cfg: &mut Config,
        path: &Path,
        client_port: Written<u16>,
        client_address: Written<IpAddr>,
    ) -> Result<(), ConfigError> {
        let mut listed: Option<(PathBuf, Vec<ServerLine>)> = None;
        if let Some((line, file)) = &self.dynamic_config_file {
            if let Some((at, value, s)) = self.servers.first() {
                // ZooKeeper's rule: with a dynamic file, the members live only there.
                return Err(ConfigError::BadValue {
                    path: path.to_owned(),
                    line: *at,
                    key: format!("server.{}", s.id),
                    value: value.clone(),
                    why: format!(
                        "server lines must be in the dynamic config file {} since \
                         dynamicConfigFile is set on line {line}",
                        file.display()
                    ),
                });
            }
            listed = Some((file.clone(), read_dynamic_file(path, *line, file)?));
        } else if !self.servers.is_empty() {
            let servers = self.servers.iter().map(|(.., s)| s.clone()).collect();
            listed = Some((path.to_owned(), servers));
        }

        let mut ens = cfg
            .ensemble
            .clone()
            .unwrap_or_else(|| Ensemble::empty(path));
        if let Some((source, mut servers)) = listed {
            servers.sort_by_key(|s| s.id);
            ens.servers = servers;
            ens.source = source;
            ens.dynamic_config_file = self.dynamic_config_file.as_ref().map(|(_, f)| f.clone());
        }
        if ens.servers.is_empty() {
            if self.any_setting() {
                tracing::debug!(file = %path.display(), "standalone: ensemble settings ignored");
            }
            return Ok(());
        }
        set(&mut ens.init_limit, self.init_limit);
        set(&mut ens.sync_limit, self.sync_limit);
        let flags = [
            (&mut ens.standalone_enabled, self.standalone_enabled),
            (&mut ens.reconfig_enabled, self.reconfig_enabled),
            (&mut ens.local_sessions_enabled, self.local_sessions_enabled),
            (
                &mut ens.local_sessions_upgrading_enabled,
                self.local_sessions_upgrading_enabled,
            ),
            (&mut ens.read_only_mode_enabled, self.read_only_mode_enabled),
            (
                &mut ens.quorum_listen_on_all_ips,
                self.quorum_listen_on_all_ips,
            ),
        ];
        for (field, v) in flags {
            set(field, v);
        }

        let (my_id, from) = resolve_my_id(cfg, &ens)?;
        ens.my_id = my_id;
        let me = ens.me();
        if let Some((line, observer)) = self.peer_type
            && observer != me.observer
        {
            let role = |o: bool| if o { "an observer" } else { "a participant" };
            return Err(ConfigError::BadValue {
                path: path.to_owned(),
                line,
                key: "peerType".to_owned(),
                value: if observer { "observer" } else { "participant" }.to_owned(),
                why: format!(
                    "this server (id {my_id}, from {from}) is {} in its line server.{my_id} \
                     in {}; make peerType and the line agree",
                    role(me.observer),
                    ens.source.display()
                ),
            });
        }
        client_addr_from_line(cfg, &ens, path, client_port, client_address)?;
        cfg.ensemble = Some(ens);
        Ok(())
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// This server's id and where it came from: the caller's override, else `<dataDir>/myid`.
fn resolve_my_id(cfg: &Config, ens: &Ensemble) -> Result<(u64, String), ConfigError> {
    let ids = ens.ids();
    if let Some(id) = cfg.my_id {
        if ens.server(id).is_none() {
            return Err(ConfigError::Ensemble {
                path: ens.source.clone(),
                why: format!(
                    "this server's id {id}, given instead of a myid file, is not among the \
                     server lines ({ids}); give one of them"
                ),
            });
        }
        return Ok((id, "Config::my_id".to_owned()));
    }
    let file = cfg.data_dir.join("myid");
    let what_to_do = format!(
        "write this server's id (1..={MAX_SERVER_ID}, one of {ids}) into {}",
        file.display()
    );
    let fail = |why: String| ConfigError::MyId {
        path: file.clone(),
        why,
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(fail(format!(
                "missing; {} lists server lines, so this server needs its id: {what_to_do}",
                ens.source.display()
            )));
        }
        Err(e) => return Err(fail(format!("cannot be read ({e}); {what_to_do}"))),
    };
    let text = text.trim();
    let Ok(id) = text.parse::<u64>() else {
        return Err(fail(format!("`{text}` is not a server id; {what_to_do}")));
    };
    if ens.server(id).is_none() {
        return Err(fail(format!(
            "says {id}, which is not among the server lines of {} ({ids}); {what_to_do}",
            ens.source.display()
        )));
    }
    Ok((id, file.display().to_string()))
}

/// ZooKeeper 3.5+: this server's line may carry its client address, which then wins over the
/// defaults; a `clientPort` (or specific `clientPortAddress`) that says otherwise is an error.
fn client_addr_from_line(
    cfg: &mut Config,
    ens: &Ensemble,
    path: &Path,
    client_port: Written<u16>,
    client_address: Written<IpAddr>,
) -> Result<(), ConfigError> {
    let me = ens.me();
    if me.client_port == 0 {
        return Ok(());
    }
    let differs = |line, key: &str, value: String, what: String| ConfigError::BadValue {
        path: path.to_owned(),
        line,
        key: key.to_owned(),
        value,
        why: format!(
            "differs from the {what} in this server's line server.{} in {}; drop {key} or \
             make them agree",
            me.id,
            ens.source.display()
        ),
    };
    if let Some((line, port)) = client_port
        && port != me.client_port
    {
        let what = format!("client port {}", me.client_port);
        return Err(differs(line, "clientPort", port.to_string(), what));
    }
    // A line without a client host keeps the configured address (all addresses by default).
    let ip = if me.client_host.is_empty() {
        cfg.client_addr.ip()
    } else {
        resolve_host(&me.client_host, me.client_port).map_err(|why| ConfigError::Ensemble {
            path: ens.source.clone(),
            why: format!("server.{}: {why}", me.id),
        })?
    };
    if let Some((line, addr)) = client_address
        && !addr.is_unspecified()
        && !me.client_host.is_empty()
        && addr != ip
    {
        let what = format!("client host {} ({ip})", me.client_host);
        return Err(differs(line, "clientPortAddress", addr.to_string(), what));
    }
    cfg.client_addr = SocketAddr::new(ip, me.client_port);
    Ok(())
}

/// An IP address as written, else the host's first IPv4 address (Java's preference), else its
/// first address.
fn resolve_host(host: &str, port: u16) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve client host `{host}`: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| format!("client host `{host}` has no address"))
}

/// Reads the server lines of a `dynamicConfigFile`: `server.N` lines as in `zoo.cfg`, and a
/// `version=` line, which is ignored (Raft's log orders configurations instead).
fn read_dynamic_file(
    cfg_path: &Path,
    cfg_line: usize,
    file: &Path,
) -> Result<Vec<ServerLine>, ConfigError> {
    let dynamic_bad = |why: &str| ConfigError::BadValue {
        path: cfg_path.to_owned(),
        line: cfg_line,
        key: "dynamicConfigFile".to_owned(),
        value: file.display().to_string(),
        why: why.to_owned(),
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(dynamic_bad(
                "not supported yet: the file does not exist, and Watchkeeper does not create \
                 dynamic config files; create it with the server.N lines, or drop \
                 dynamicConfigFile and put the server.N lines in this file",
            ));
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: file.to_owned(),
                source,
            });
        }
    };
    let mut keys = EnsembleKeys::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let (key, value) = match split_entry(raw) {
            None => continue,
            Some(Ok(kv)) => kv,
            Some(Err(text)) => {
                return Err(ConfigError::Syntax {
                    path: file.to_owned(),
                    line,
                    text: text.to_owned(),
                });
            }
        };
        match key {
            k if k.starts_with("server.") => keys.add_server(file, line, key, value)?,
            "version" => {}
            k if is_hierarchical_key(k) => {
                return Err(ConfigError::BadValue {
                    path: file.to_owned(),
                    line,
                    key: key.to_owned(),
                    value: value.to_owned(),
                    why: HIERARCHICAL_UNSUPPORTED.to_owned(),
                });
            }
            _ => tracing::warn!(
                file = %file.display(), line, key,
                "not a dynamic config setting: ignored"
            ),
        }
    }
    if keys.servers.is_empty() {
        return Err(dynamic_bad("the file has no server.N lines"));
    }
    Ok(keys.servers.into_iter().map(|(.., s)| s).collect())
}

/// `group.N` and `weight.N` describe ZooKeeper's hierarchical quorums.
pub(super) fn is_hierarchical_key(key: &str) -> bool {
    key.starts_with("group.") || key.starts_with("weight.")
}

pub(super) const HIERARCHICAL_UNSUPPORTED: &str =
    "hierarchical quorums (group.N, weight.N) are not supported; a quorum is a majority";

#[cfg(test)]
mod tests;
