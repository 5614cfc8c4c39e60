//! [`ClientBuilder`]: every connection setting, then [`ClientBuilder::connect`].

use std::time::Duration;

use crate::client::Client;
use crate::connect_string::ConnectString;
use crate::error::{Error, Result};
use crate::session::SessionConfig;

/// Default session timeout asked of the server (which clamps it to its own bounds).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time [`ClientBuilder::connect`] waits for the first session.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default largest frame accepted from a server: ZooKeeper's `jute.maxbuffer` default.
pub const DEFAULT_MAX_BUFFER: usize = watchkeeper_proto::DEFAULT_MAX_BUFFER;
/// Default limit on requests awaiting a reply at once; more wait for a free slot.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;

/// Settings for a new client. Start with [`Client::builder`].
///
/// ```no_run
/// # async fn demo() -> watchkeeper_client::Result<()> {
/// use std::time::Duration;
/// use watchkeeper_client::Client;
///
/// let client = Client::builder("zk1:2181,zk2:2181/my-app")
///     .session_timeout(Duration::from_secs(10))
///     .auth("digest", b"alice:secret")
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until connect() is awaited"]
pub struct ClientBuilder {
    connect_string: String,
    session_timeout: Duration,
    connect_timeout: Duration,
    auth: Vec<(String, Vec<u8>)>,
    resume: Option<(i64, Vec<u8>)>,
    read_only: bool,
    max_buffer: usize,
    max_in_flight: usize,
}

impl ClientBuilder {
    pub(crate) fn new(connect_string: &str) -> ClientBuilder {
        ClientBuilder {
            connect_string: connect_string.to_owned(),
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            auth: Vec::new(),
            resume: None,
            read_only: false,
            max_buffer: DEFAULT_MAX_BUFFER,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// The session timeout to ask for; the server clamps it (ZooKeeper: 2 to 20 ticks).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long [`connect`](Self::connect) waits for the first session before failing with
    /// [`Error::Timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Credentials sent on every connection before anything else (e.g. `"digest"`,
    /// `b"user:password"`). May be given several times.
    pub fn auth(mut self, scheme: &str, auth: &[u8]) -> Self {
        self.auth.push((scheme.to_owned(), auth.to_vec()));
        self
    }

    /// Resumes an existing session instead of creating one (from another client's
    /// [`Client::session_id`] and [`Client::session_password`]).
    pub fn session(mut self, id: i64, password: Vec<u8>) -> Self {
        self.resume = Some((id, password));
        self
    }

    /// Accept read-only servers (a partitioned ensemble member) when no other is reachable.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Largest frame accepted from the server and sent to it (jute.maxbuffer).
    pub fn max_buffer(mut self, bytes: usize) -> Self {
        self.max_buffer = bytes;
        self
    }

    /// Most requests awaiting replies at once (further calls wait for a slot).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Connects and waits for the session. Fails with `Timeout` if no server gives one within
    /// the connect timeout, and `SessionExpired` when resuming a session that is gone.
    pub async fn connect(self) -> Result<Client> {
        let parsed = ConnectString::parse(&self.connect_string)?;
        if self.session_timeout.is_zero() {
            return Err(Error::BadArguments(
                "session timeout must be positive".into(),
            ));
        }
        let cfg = SessionConfig {
            hosts: parsed.hosts,
            chroot: parsed.chroot,
            session_timeout: self.session_timeout,
            read_only: self.read_only,
            auth: self.auth,
            resume: self.resume,
            max_buffer: self.max_buffer,
        };
        Client::start(cfg, self.max_in_flight, self.connect_timeout).await
    }
}
