//! Server settings: defaults, the command line's overrides, and ZooKeeper's own `zoo.cfg` format.
//!
//! Every setting has a bound; a malformed value is an error that names the file and line, so an
//! operator can fix it. Keys we do not know are logged and ignored, as ZooKeeper does, so an
//! existing `zoo.cfg` works unchanged. The ensemble keys (`server.N`, `myid`, the quorum
//! settings, Raft timing) are in [`ensemble`], one `server.N` line in [`server_line`].

pub mod ensemble;
pub mod server_line;

pub use ensemble::{Ensemble, RaftTiming};
pub use server_line::ServerLine;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a running server needs to know. Build with [`Config::default`] and adjust, or
/// parse a `zoo.cfg` with [`Config::from_zoo_cfg`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Address and port clients connect to. Port 0 picks a free port (tests).
    pub client_addr: SocketAddr,
    /// The write-ahead log and the snapshots live here, unless `data_log_dir` is set.
    pub data_dir: PathBuf,
    /// ZooKeeper's `dataLogDir`: when set, the write-ahead log and the snapshots beside it (one
    /// directory, so recovery finds both) live here instead of in `data_dir`.
    pub data_log_dir: Option<PathBuf>,
    /// The basic time unit; session timeouts are negotiated in multiples of it.
    pub tick_time: Duration,
    /// Session timeouts asked for are clamped to [min, max]. Defaults: 2 and 20 ticks.
    pub min_session_timeout: Option<Duration>,
    pub max_session_timeout: Option<Duration>,
    /// Concurrent connections allowed from one IP address; 0 means unlimited.
    pub max_client_cnxns: usize,
    /// Largest frame accepted from a client (`jute.maxbuffer`); a larger one closes the connection.
    pub max_buffer: usize,
    /// Four-letter words answered; the others get ZooKeeper's "not in the whitelist" reply.
    pub four_letter_whitelist: FourLetterWhitelist,
    /// TTL nodes (`createTTL`) are allowed only when this is on, as in ZooKeeper.
    pub extended_types_enabled: bool,
    /// How often empty containers and expired TTL nodes are looked for.
    pub container_check_interval: Duration,
    /// `super:<base64 sha1>` from `zookeeper.DigestAuthenticationProvider.superDigest`.
    pub super_digest: Option<String>,
    /// Log entries between snapshots.
    pub snap_count: u64,
    /// Snapshots kept on disk (`autopurge.snapRetainCount`).
    pub snap_retain_count: usize,
    /// Bytes queued for one connection before it is judged too slow and disconnected.
    pub max_outbound_bytes: usize,
    /// Watches one session may hold; `None` is unlimited, as in ZooKeeper.
    pub max_watches_per_session: Option<usize>,
    /// Recent watch events kept for exact catch-up of persistent watches after a reconnect;
    /// 0 turns catch-up off (ZooKeeper's behaviour).
    pub event_journal_size: usize,
    /// Whether `watchkeeper serve` exits (non-zero) when the write-ahead log fails. When not,
    /// the member stays up with no leader: it takes no writes, and serves read-only clients
    /// when read-only mode is enabled.
    pub exit_on_storage_failure: bool,
    /// This server's id as given by the caller (a `--my-id` flag); it takes precedence over
    /// `<dataDir>/myid`. The id is resolved while `zoo.cfg` is applied, so set this first (see
    /// [`Config::load_zoo_cfg`]). Ignored without server lines.
    pub my_id: Option<u64>,
    /// The replicated ensemble from the `server.N` lines; `None` runs standalone. A single
    /// line naming this server is still `Some`: whether that runs standalone is the caller's
    /// choice (`standaloneEnabled`).
    pub ensemble: Option<Ensemble>,
    /// Raft's heartbeat and election timeouts (`watchkeeper.raft.*`).
    pub raft_timing: RaftTiming,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 2181),
            data_dir: PathBuf::from("watchkeeper-data"),
            data_log_dir: None,
            tick_time: Duration::from_millis(2000),
            min_session_timeout: None,
            max_session_timeout: None,
            max_client_cnxns: 60,
            max_buffer: watchkeeper_proto::DEFAULT_MAX_BUFFER,
            four_letter_whitelist: FourLetterWhitelist::default(),
            extended_types_enabled: false,
            container_check_interval: Duration::from_secs(60),
            super_digest: None,
            snap_count: 100_000,
            snap_retain_count: 3,
            max_outbound_bytes: 64 << 20,
            max_watches_per_session: None,
            event_journal_size: 65_536,
            exit_on_storage_failure: true,
            my_id: None,
            ensemble: None,
            raft_timing: RaftTiming::default(),
        }
    }
}

/// Which four-letter words are answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterWhitelist {
    All,
    Only(Vec<String>),
}

impl Default for FourLetterWhitelist {
    /// ZooKeeper 3.9 answers only `srvr` unless `4lw.commands.whitelist` says otherwise.
    fn default() -> Self {
        FourLetterWhitelist::Only(vec!["srvr".to_string()])
    }
}

impl FourLetterWhitelist {
    pub fn allows(&self, cmd: &str) -> bool {
        match self {
            FourLetterWhitelist::All => true,
            FourLetterWhitelist::Only(list) => list.iter().any(|c| c == cmd),
        }
    }

    fn parse(value: &str) -> Self {
        let words: Vec<String> = value
            .split(',')
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        if words.iter().any(|w| w == "*") {
            FourLetterWhitelist::All
        } else {
            let mut words = words;
            // ZooKeeper always answers srvr, whatever the list says.
            if !words.iter().any(|w| w == "srvr") {
                words.push("srvr".to_string());
            }
            FourLetterWhitelist::Only(words)
        }
    }
}

/// A `zoo.cfg` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: `{key}` has a bad value `{value}`: {why}")]
    BadValue {
        path: PathBuf,
        line: usize,
        key: String,
        value: String,
        why: String,
    },
    #[error("{path}:{line}: expected `key=value`, found `{text}`")]
    Syntax {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error(
        "{path}:{line}: `{key}={value}`: {why}; a server line must look like {form}",
        form = server_line::SERVER_LINE_FORM
    )]
    BadServerLine {
        path: PathBuf,
        line: usize,
        key: String,
        value: String,
        why: String,
    },
    /// This server's id could not be found: `path` is the `myid` file.
    #[error("{path}: {why}")]
    MyId { path: PathBuf, why: String },
    /// The server lines as a whole do not make an ensemble: `path` is where they came from.
    #[error("{path}: {why}")]
    Ensemble { path: PathBuf, why: String },
    #[error("`{key}`: {why}")]
    RaftTiming { key: &'static str, why: String },
    #[error(
        "minSessionTimeout ({min:?}) is larger than maxSessionTimeout ({max:?}); lower the first or raise the second"
    )]
    TimeoutRange { min: Duration, max: Duration },
}

impl Config {
    /// The negotiated session timeout for a requested one, clamped as ZooKeeper does.
    pub fn negotiate_timeout(&self, requested_ms: i32) -> i32 {
        let min = self.min_session_timeout().as_millis() as i64;
        let max = self.max_session_timeout().as_millis() as i64;
        (requested_ms as i64).clamp(min, max.max(min)) as i32
    }

    pub fn min_session_timeout(&self) -> Duration {
        self.min_session_timeout.unwrap_or(self.tick_time * 2)
    }

    pub fn max_session_timeout(&self) -> Duration {
        self.max_session_timeout.unwrap_or(self.tick_time * 20)
    }

    /// Where the write-ahead log lives.
    pub fn log_dir(&self) -> &Path {
        self.data_log_dir.as_deref().unwrap_or(&self.data_dir)
    }

    /// Reads a ZooKeeper `zoo.cfg`, starting from the defaults.
    pub fn from_zoo_cfg(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        cfg.load_zoo_cfg(path)?;
        Ok(cfg)
    }

    /// Reads a ZooKeeper `zoo.cfg` on top of `self`: set [`Config::my_id`] first to override
    /// `<dataDir>/myid`.
    pub fn load_zoo_cfg(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.apply_zoo_cfg(path, &text)
    }

    /// Applies the settings of a `zoo.cfg` text on top of `self`.
    ///
    /// Server lines in `text` replace the ensemble's members. An ensemble from an earlier call
    /// is kept, its settings overridden by those in `text`, and this server's id resolved
    /// again, so that a later call can carry the command line's overrides.
    pub fn apply_zoo_cfg(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let mut port: Option<(usize, u16)> = None;
        let mut addr: Option<(usize, IpAddr)> = None;
        let mut ens = ensemble::EnsembleKeys::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let (key, value) = match split_entry(raw) {
                None => continue,
                Some(Ok(kv)) => kv,
                Some(Err(text)) => {
                    return Err(ConfigError::Syntax {
                        path: path.to_owned(),
                        line,
                        text: text.to_owned(),
                    });
                }
            };
            let bad = |why: &str| ConfigError::BadValue {
                path: path.to_owned(),
                line,
                key: key.to_owned(),
                value: value.to_owned(),
                why: why.to_owned(),
            };
            let num = |max: u64| -> Result<u64, ConfigError> {
                let n: u64 = value
                    .parse()
                    .map_err(|_| bad("expected a whole non-negative number"))?;
                if n > max {
                    return Err(bad(&format!("must be at most {max}")));
                }
                Ok(n)
            };
            let flag = || -> Result<bool, ConfigError> {
                match value.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => Ok(true),
                    "false" | "no" | "0" => Ok(false),
                    _ => Err(bad("expected true or false")),
                }
            };
            let ticks = || -> Result<u32, ConfigError> {
                match num(1_000_000)? {
                    0 => Err(bad("must be at least 1 tick")),
                    n => Ok(n as u32),
                }
            };
            let millis = || -> Result<Duration, ConfigError> {
                match num(3_600_000)? {
                    0 => Err(bad("must be at least 1 millisecond")),
                    n => Ok(Duration::from_millis(n)),
                }
            };
            match key {
                "clientPort" => port = Some((line, num(u16::MAX as u64)? as u16)),
                "clientPortAddress" => {
                    let ip = value.parse().map_err(|_| bad("expected an IP address"))?;
                    addr = Some((line, ip));
                }
                k if k.starts_with("server.") => ens.add_server(path, line, key, value)?,
                k if ensemble::is_hierarchical_key(k) => {
                    return Err(bad(ensemble::HIERARCHICAL_UNSUPPORTED));
                }
                "peerType" => {
                    let observer = match value.to_ascii_lowercase().as_str() {
                        "participant" => false,
                        "observer" => true,
                        _ => return Err(bad("expected participant or observer")),
                    };
                    ens.peer_type = Some((line, observer));
                }
                "initLimit" => ens.init_limit = Some(ticks()?),
                "syncLimit" => ens.sync_limit = Some(ticks()?),
                "standaloneEnabled" => ens.standalone_enabled = Some(flag()?),
                "reconfigEnabled" => ens.reconfig_enabled = Some(flag()?),
                "localSessionsEnabled" => ens.local_sessions_enabled = Some(flag()?),
                "localSessionsUpgradingEnabled" => {
                    ens.local_sessions_upgrading_enabled = Some(flag()?)
                }
                "readonlymode.enabled" => ens.read_only_mode_enabled = Some(flag()?),
                "quorumListenOnAllIPs" => ens.quorum_listen_on_all_ips = Some(flag()?),
                "dynamicConfigFile" => {
                    if value.is_empty() {
                        return Err(bad("expected the path of a file"));
                    }
                    ens.dynamic_config_file = Some((line, PathBuf::from(value)));
                }
                "electionAlg" => {
                    // ZooKeeper 3.9 has only fast leader election left; Watchkeeper elects
                    // with Raft, which stands in for it.
                    if value != "3" {
                        return Err(bad("only 3 (fast leader election) is supported"));
                    }
                }
                ensemble::HEARTBEAT_KEY => self.raft_timing.heartbeat = millis()?,
                ensemble::ELECTION_MIN_KEY => self.raft_timing.election_min = millis()?,
                ensemble::ELECTION_MAX_KEY => self.raft_timing.election_max = millis()?,
                "dataDir" => self.data_dir = PathBuf::from(value),
                "dataLogDir" => self.data_log_dir = Some(PathBuf::from(value)),
                "tickTime" => {
                    let ms = num(3_600_000)?;
                    if ms == 0 {
                        return Err(bad("must be at least 1 millisecond"));
                    }
                    self.tick_time = Duration::from_millis(ms);
                }
                "minSessionTimeout" => {
                    self.min_session_timeout = Some(Duration::from_millis(num(86_400_000)?))
                }
                "maxSessionTimeout" => {
                    self.max_session_timeout = Some(Duration::from_millis(num(86_400_000)?))
                }
                "maxClientCnxns" => self.max_client_cnxns = num(1_000_000)? as usize,
                "jute.maxbuffer" => {
                    let n = num(256 << 20)? as usize;
                    if n < 1024 {
                        return Err(bad("must be at least 1024 bytes"));
                    }
                    self.max_buffer = n;
                }
                "4lw.commands.whitelist" => {
                    self.four_letter_whitelist = FourLetterWhitelist::parse(value)
                }
                "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                    self.extended_types_enabled = flag()?
                }
                "znode.container.checkIntervalMs" => {
                    let ms = num(86_400_000)?;
                    if ms == 0 {
                        return Err(bad("must be at least 1 millisecond"));
                    }
                    self.container_check_interval = Duration::from_millis(ms);
                }
                "zookeeper.DigestAuthenticationProvider.superDigest" | "superDigest" => {
                    if !value.starts_with("super:") || value.len() <= "super:".len() {
                        return Err(bad("expected super:<base64 sha1 digest>"));
                    }
                    self.super_digest = Some(value.to_owned());
                }
                "snapCount" => {
                    let n = num(100_000_000)?;
                    if n < 2 {
                        return Err(bad("must be at least 2"));
                    }
                    self.snap_count = n;
                }
                "autopurge.snapRetainCount" => {
                    self.snap_retain_count = (num(1000)? as usize).max(1);
                }
                "watchkeeper.maxWatchesPerSession" => {
                    let n = num(u32::MAX as u64)? as usize;
                    self.max_watches_per_session = (n > 0).then_some(n);
                }
                "watchkeeper.exitOnStorageFailure" => self.exit_on_storage_failure = flag()?,
                "watchkeeper.eventJournalSize" => {
                    self.event_journal_size = num(16_000_000)? as usize;
                }
                "watchkeeper.maxOutboundBytes" => {
                    let n = num(1 << 34)? as usize;
                    if n < 1 << 16 {
                        return Err(bad("must be at least 65536"));
                    }
                    self.max_outbound_bytes = n;
                }
                _ => tracing::warn!(file = %path.display(), line, key, "unknown setting ignored"),
            }
        }
        if port.is_some() || addr.is_some() {
            self.client_addr = SocketAddr::new(
                addr.map_or(self.client_addr.ip(), |(_, ip)| ip),
                port.map_or(self.client_addr.port(), |(_, p)| p),
            );
        }
        // After the whole text: dataDir, and so myid, may come after the server lines.
        ens.finish(self, path, port, addr)?;
        self.validate()
    }

    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (min, max) = (self.min_session_timeout(), self.max_session_timeout());
        if min > max {
            return Err(ConfigError::TimeoutRange { min, max });
        }
        self.raft_timing.validate()?;
        if let Some(ensemble) = &self.ensemble {
            ensemble.validate()?;
        }
        Ok(())
    }
}

/// One line of a properties-style file: `None` for a blank or a comment, else the trimmed key
/// and value, or the text that is neither.
fn split_entry(raw: &str) -> Option<Result<(&str, &str), &str>> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
        return None;
    }
    Some(match trimmed.split_once(['=', ':']) {
        Some((key, value)) => Ok((key.trim(), value.trim())),
        None => Err(trimmed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        c.apply_zoo_cfg(Path::new("zoo.cfg"), text)?;
        Ok(c)
    }

    #[test]
    fn reads_zookeeper_settings() {
        let c = parse(
            "# comment\ntickTime=500\nclientPort=2999\nclientPortAddress=127.0.0.1\n\
             dataDir=/tmp/d\ndataLogDir=/tmp/l\nmaxClientCnxns=5\njute.maxbuffer=4096\n\
             4lw.commands.whitelist=ruok, mntr\nextendedTypesEnabled=true\n\
             znode.container.checkIntervalMs=100\nsomethingElse=1\n",
        )
        .unwrap();
        assert_eq!(c.tick_time, Duration::from_millis(500));
        assert_eq!(c.client_addr, "127.0.0.1:2999".parse().unwrap());
        assert_eq!(c.log_dir(), Path::new("/tmp/l"));
        assert_eq!(c.max_client_cnxns, 5);
        assert_eq!(c.max_buffer, 4096);
        assert!(c.four_letter_whitelist.allows("mntr"));
        assert!(!c.four_letter_whitelist.allows("dump"));
        assert!(c.extended_types_enabled);
        assert_eq!(c.container_check_interval, Duration::from_millis(100));
        assert_eq!(c.min_session_timeout(), Duration::from_millis(1000));
        assert_eq!(c.max_session_timeout(), Duration::from_millis(10_000));
    }

    #[test]
    fn bad_value_names_the_line() {
        let err = parse("tickTime=2000\nclientPort=abc\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("zoo.cfg:2"), "{msg}");
        assert!(msg.contains("clientPort"), "{msg}");
    }

    #[test]
    fn timeouts_are_clamped() {
        let c = parse("tickTime=1000\n").unwrap();
        assert_eq!(c.negotiate_timeout(100), 2000);
        assert_eq!(c.negotiate_timeout(5000), 5000);
        assert_eq!(c.negotiate_timeout(1_000_000), 20_000);
        assert!(parse("minSessionTimeout=9000\nmaxSessionTimeout=100\n").is_err());
    }

    #[test]
    fn star_allows_every_word() {
        let c = parse("4lw.commands.whitelist=*\n").unwrap();
        assert!(c.four_letter_whitelist.allows("dump"));
    }
}
