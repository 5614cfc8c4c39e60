//! [`Client`]: the handle every operation goes through.
//!
//! A call validates and chroots its paths, encodes its request, hands it to the session task
//! and decodes the reply itself. Idempotent reads (and `sync`, `addWatch`) are retried on
//! ConnectionLoss with backoff for at most one session timeout; writes never are, so a write
//! that fails with ConnectionLoss may or may not have been applied, as with ZooKeeper.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use futures::Stream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use watchkeeper_proto::{
    Acl, AddWatchMode, AddWatchRequest, ClientInfo, CreateMode, CreateRequest, CreateTtlRequest,
    DeleteRequest, ErrorCode, ExistsRequest, GetAclRequest, GetAllChildrenNumberRequest,
    GetChildren2Request, GetDataRequest, GetEphemeralsRequest, JuteReader, Record, Request,
    RequestHeader, Response, SetAclRequest, SetDataRequest, Stat, SyncRequest,
};

use crate::builder::ClientBuilder;
use crate::error::{Error, Result};
use crate::multi::{MultiBuilder, MultiReadBuilder};
use crate::path::{self, Chroot};
use crate::retry::retrying;
use crate::session::{
    self, Command, OneshotKind, Outgoing, Reply, SessionConfig, Shared, WatchRequest,
};
use crate::types::{CreateOptions, SessionState};
use crate::watch::{OneshotWatch, PersistentWatch};

/// A session id as the server assigned it.
pub type SessionId = i64;

/// A ZooKeeper-protocol client: one session, kept alive across connections.
///
/// Cheap to clone (all clones share the session); every method takes `&self`. The session is
/// closed by [`Client::close`] or when the last clone is dropped.
///
/// ```no_run
/// # async fn demo() -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::{Client, CreateOptions};
///
/// let client = Client::connect("127.0.0.1:2181").await?;
/// client.create("/greeting", b"hello", &CreateOptions::persistent()).await?;
/// let (data, stat) = client.get_data("/greeting").await?;
/// assert_eq!(data, b"hello");
/// client.set_data("/greeting", b"hi", Some(stat.version)).await?;
/// client.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    chroot: Chroot,
    in_flight: Semaphore,
    max_buffer: usize,
    watch_ids: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

impl Client {
    /// Connects with default settings. `connect_string` is `host:port[,host:port...][/chroot]`.
    pub async fn connect(connect_string: &str) -> Result<Client> {
        Client::builder(connect_string).connect().await
    }

    /// A builder for the other settings (session timeout, credentials, resuming a session...).
    pub fn builder(connect_string: &str) -> ClientBuilder {
        ClientBuilder::new(connect_string)
    }

    pub(crate) async fn start(
        cfg: SessionConfig,
        max_in_flight: usize,
        connect_timeout: Duration,
    ) -> Result<Client> {
        let chroot = cfg.chroot.clone();
        let max_buffer = cfg.max_buffer;
        let (shared, commands, ready) = session::spawn(cfg);
        let client = Client {
            inner: Arc::new(Inner {
                commands,
                shared,
                chroot,
                in_flight: Semaphore::new(max_in_flight),
                max_buffer,
                watch_ids: AtomicU64::new(1),
            }),
        };
        match tokio::time::timeout(connect_timeout, ready).await {
            Ok(Ok(Ok(()))) => Ok(client),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(client.inner.shared.terminal_error()),
            // Dropping `client` stops the task.
            Err(_) => Err(Error::Timeout),
        }
    }

    // ---- session ---------------------------------------------------------------------------

    /// The session id (0 before the first session).
    pub fn session_id(&self) -> SessionId {
        self.inner.shared.session().id
    }

    /// The session password, for resuming the session elsewhere with [`ClientBuilder::session`].
    pub fn session_password(&self) -> Vec<u8> {
        self.inner.shared.session().password
    }

    /// The timeout the server granted.
    pub fn session_timeout(&self) -> Duration {
        self.inner.shared.session().timeout
    }

    pub fn state(&self) -> SessionState {
        *self.inner.shared.state.borrow()
    }

    /// The current state, then every change; ends after a final state. A slow consumer sees
    /// the latest state rather than every intermediate one.
    pub fn state_changes(&self) -> impl Stream<Item = SessionState> + Send + Unpin + 'static {
        let rx = self.inner.shared.state.subscribe();
        Box::pin(futures::stream::unfold(
            (rx, true, false),
            |(mut rx, first, done)| async move {
                if done || (!first && rx.changed().await.is_err()) {
                    return None;
                }
                let state = *rx.borrow_and_update();
                Some((state, (rx, false, state.is_terminal())))
            },
        ))
    }

    /// The state channel itself, for recipes that wait on it.
    pub(crate) fn state_watch(&self) -> tokio::sync::watch::Receiver<SessionState> {
        self.inner.shared.state.subscribe()
    }

    /// The chroot every path is relative to, if any.
    pub fn chroot(&self) -> Option<&str> {
        self.inner.chroot.root()
    }

    /// Closes the session: the server deletes its ephemerals and every watch ends with
    /// `Closed`. Other clones of this client fail with [`Error::Closed`] afterwards. If the
    /// client is disconnected at the time, it stops at once and the server expires the session
    /// after its timeout.
    pub async fn close(self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Close { reply: tx })
            .is_err()
        {
            return Ok(());
        }
        let limit = self.session_timeout() + Duration::from_secs(1);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Ok(()),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Adds credentials to the session (and to every later connection of it). A rejected
    /// scheme or credential ends the session with [`SessionState::AuthFailed`], as in ZooKeeper.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::AddAuth {
            scheme: scheme.to_owned(),
            auth: auth.to_vec(),
            reply: tx,
        };
        self.inner
            .commands
            .send(cmd)
            .map_err(|_| self.inner.shared.terminal_error())?;
        rx.await
            .unwrap_or_else(|_| Err(self.inner.shared.terminal_error()))
    }

    /// Who the server thinks this session is: one entry per identity (scheme and user).
    pub async fn who_am_i(&self) -> Result<Vec<ClientInfo>> {
        retrying!(self, async {
            match self.call(&Request::WhoAmI, None).await? {
                Response::WhoAmI(w) => Ok(w.client_info),
                other => Err(unexpected(&other)),
            }
        })
    }

    // ---- writes ----------------------------------------------------------------------------

    /// Creates a node; returns its actual path (with the sequence suffix for sequential modes)
    /// and its stat.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        opts: &CreateOptions,
    ) -> Result<(String, Stat)> {
        let request = self.create_request(path, data, opts)?;
        match self.call(&request, None).await? {
            Response::Create2(c) => Ok((self.inner.chroot.strip(&c.path), c.stat)),
            other => Err(unexpected(&other)),
        }
    }

    /// The request a create with these options sends (create2, createContainer or createTTL).
    pub(crate) fn create_request(
        &self,
        path: &str,
        data: &[u8],
        opts: &CreateOptions,
    ) -> Result<Request> {
        let server_path = self
            .inner
            .chroot
            .to_server(path, opts.mode.is_sequential())?;
        let flags = opts.mode.as_i32();
        if opts.mode.is_ttl() {
            let ttl = opts
                .ttl
                .ok_or_else(|| Error::BadArguments(format!("{:?} needs a ttl", opts.mode)))?;
            let ttl = i64::try_from(ttl.as_millis())
                .map_err(|_| Error::BadArguments("ttl too large".into()))?;
            return Ok(Request::CreateTtl(CreateTtlRequest {
                path: server_path,
                data: Some(data.to_vec()),
                acl: opts.acl.clone(),
                flags,
                ttl,
            }));
        }
        if opts.ttl.is_some() {
            return Err(Error::BadArguments(format!(
                "a ttl is only for TTL modes, not {:?}",
                opts.mode
            )));
        }
        let body = CreateRequest {
            path: server_path,
            data: Some(data.to_vec()),
            acl: opts.acl.clone(),
            flags,
        };
        Ok(if opts.mode == CreateMode::Container {
            Request::CreateContainer(body)
        } else {
            Request::Create2(body)
        })
    }

    /// Deletes a node; `version` (if given) must match its data version.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let request = Request::Delete(DeleteRequest {
            path: self.server_path(path)?,
            version: version.unwrap_or(-1),
        });
        self.call(&request, None).await.map(|_| ())
    }

    /// Replaces a node's data; `version` (if given) must match. Returns the new stat.
    pub async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        let request = Request::SetData(SetDataRequest {
            path: self.server_path(path)?,
            data: Some(data.to_vec()),
            version: version.unwrap_or(-1),
        });
        match self.call(&request, None).await? {
            Response::SetData(s) => Ok(s.stat),
            other => Err(unexpected(&other)),
        }
    }

    /// Replaces a node's ACL; `version` (if given) must match its ACL version (`aversion`).
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: Option<i32>) -> Result<Stat> {
        let request = Request::SetAcl(SetAclRequest {
            path: self.server_path(path)?,
            acl: acl.to_vec(),
            version: version.unwrap_or(-1),
        });
        match self.call(&request, None).await? {
            Response::SetAcl(s) => Ok(s.stat),
            other => Err(unexpected(&other)),
        }
    }

    /// Several writes applied atomically: all or none. See [`MultiBuilder`].
    pub fn multi(&self) -> MultiBuilder<'_> {
        MultiBuilder::new(self)
    }

    // ---- reads -----------------------------------------------------------------------------

    /// The node's stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        let request = Request::Exists(ExistsRequest {
            path: self.server_path(path)?,
            watch: false,
        });
        retrying!(self, async {
            match self.call(&request, None).await {
                Ok(Response::Exists(e)) => Ok(Some(e.stat)),
                Ok(other) => Err(unexpected(&other)),
                Err(Error::Server(ErrorCode::NoNode)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Like [`exists`](Self::exists), and leaves a watch that fires when the node is created,
    /// changed or deleted — whether or not it exists now.
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, OneshotWatch)> {
        let server_path = self.server_path(path)?;
        let request = Request::Exists(ExistsRequest {
            path: server_path.clone(),
            watch: true,
        });
        retrying!(self, async {
            let (tx, watch) = OneshotWatch::channel();
            let reg = WatchRequest::Oneshot {
                kind: OneshotKind::Exists,
                path: server_path.clone(),
                tx,
            };
            match self.call(&request, Some(reg)).await {
                Ok(Response::Exists(e)) => Ok((Some(e.stat), watch)),
                Ok(other) => Err(unexpected(&other)),
                Err(Error::Server(ErrorCode::NoNode)) => Ok((None, watch)),
                Err(e) => Err(e),
            }
        })
    }

    /// The node's data (empty for null data) and stat.
    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        let request = Request::GetData(GetDataRequest {
            path: self.server_path(path)?,
            watch: false,
        });
        retrying!(self, async {
            match self.call(&request, None).await? {
                Response::GetData(g) => Ok((g.data.unwrap_or_default(), g.stat)),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// Like [`get_data`](Self::get_data), and leaves a watch that fires when the node's data
    /// changes or it is deleted. A missing node fails with NoNode and leaves no watch.
    pub async fn get_data_watch(&self, path: &str) -> Result<(Vec<u8>, Stat, OneshotWatch)> {
        let server_path = self.server_path(path)?;
        let request = Request::GetData(GetDataRequest {
            path: server_path.clone(),
            watch: true,
        });
        retrying!(self, async {
            let (tx, watch) = OneshotWatch::channel();
            let reg = WatchRequest::Oneshot {
                kind: OneshotKind::Data,
                path: server_path.clone(),
                tx,
            };
            match self.call(&request, Some(reg)).await? {
                Response::GetData(g) => Ok((g.data.unwrap_or_default(), g.stat, watch)),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// The names of the node's children (in no particular order) and the node's stat.
    pub async fn get_children(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        let request = Request::GetChildren2(GetChildren2Request {
            path: self.server_path(path)?,
            watch: false,
        });
        retrying!(self, async {
            match self.call(&request, None).await? {
                Response::GetChildren2(g) => Ok((g.children, g.stat)),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// Like [`get_children`](Self::get_children), and leaves a watch that fires when a child is
    /// created or deleted, or the node itself is deleted.
    pub async fn get_children_watch(
        &self,
        path: &str,
    ) -> Result<(Vec<String>, Stat, OneshotWatch)> {
        let server_path = self.server_path(path)?;
        let request = Request::GetChildren2(GetChildren2Request {
            path: server_path.clone(),
            watch: true,
        });
        retrying!(self, async {
            let (tx, watch) = OneshotWatch::channel();
            let reg = WatchRequest::Oneshot {
                kind: OneshotKind::Child,
                path: server_path.clone(),
                tx,
            };
            match self.call(&request, Some(reg)).await? {
                Response::GetChildren2(g) => Ok((g.children, g.stat, watch)),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// The node's ACL and stat.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let request = Request::GetAcl(GetAclRequest {
            path: self.server_path(path)?,
        });
        retrying!(self, async {
            match self.call(&request, None).await? {
                Response::GetAcl(g) => Ok((g.acl, g.stat)),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// How many descendants the node has (all levels, not counting itself).
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let request = Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
            path: self.server_path(path)?,
        });
        retrying!(self, async {
            match self.call(&request, None).await? {
                Response::GetAllChildrenNumber(n) => Ok(n.total_number),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// This session's ephemeral nodes whose path starts with `prefix` (a plain string prefix:
    /// `/a` also matches `/ab`). `/` lists them all.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        path::validate(prefix, false)?;
        let request = Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: self.inner.chroot.prefix(prefix),
        });
        let chroot = &self.inner.chroot;
        retrying!(self, async {
            match self.call(&request, None).await? {
                Response::GetEphemerals(e) => Ok(e
                    .ephemerals
                    .iter()
                    .filter(|p| chroot.root().is_none() || chroot.strip(p) != **p)
                    .map(|p| chroot.strip(p))
                    .collect()),
                other => Err(unexpected(&other)),
            }
        })
    }

    /// Waits until the server this client is connected to has caught up with the leader (a
    /// no-op on a single server, but also a barrier: replies to earlier requests come first).
    pub async fn sync(&self, path: &str) -> Result<()> {
        let request = Request::Sync(SyncRequest {
            path: self.server_path(path)?,
        });
        retrying!(self, async { self.call(&request, None).await.map(|_| ()) })
    }

    /// Several reads answered together, each independently. See [`MultiReadBuilder`].
    pub fn multi_read(&self) -> MultiReadBuilder<'_> {
        MultiReadBuilder::new(self)
    }

    // ---- persistent watches ----------------------------------------------------------------

    /// Adds a persistent (`AddWatchMode::Persistent`: data and child changes of `path`) or
    /// persistent-recursive (`PersistentRecursive`: created, deleted and data-changed events of
    /// `path` and everything below it) watch. The watch stays until the returned stream is
    /// dropped. Needs ZooKeeper 3.6 or later (older servers answer Unimplemented).
    ///
    /// ```no_run
    /// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
    /// use watchkeeper_client::AddWatchMode;
    ///
    /// let mut events = client.add_watch("/config", AddWatchMode::PersistentRecursive).await?;
    /// while let Some(event) = events.next_event().await {
    ///     println!("{:?} {}", event.event_type, event.path);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<PersistentWatch> {
        let server_path = self.server_path(path)?;
        let request = Request::AddWatch(AddWatchRequest {
            path: server_path.clone(),
            mode: mode.as_i32(),
        });
        retrying!(self, async {
            let id = self.inner.watch_ids.fetch_add(1, Ordering::Relaxed);
            let (sink, watch) =
                PersistentWatch::channel(id, path.to_owned(), mode, self.inner.commands.clone());
            let reg = WatchRequest::Persistent {
                id,
                path: server_path.clone(),
                recursive: mode == AddWatchMode::PersistentRecursive,
                sink,
            };
            // The body (an ErrorResponse) carries nothing the header did not.
            let reply = self.submit(&request, Some(reg)).await?;
            check(&reply)?;
            Ok(watch)
        })
    }

    // ---- conveniences ----------------------------------------------------------------------

    /// Creates `path` and any missing ancestors as empty persistent nodes; existing ones are
    /// left alone.
    pub async fn ensure_path(&self, path: &str) -> Result<()> {
        path::validate(path, false)?;
        if path == "/" {
            return Ok(());
        }
        if self.exists(path).await?.is_some() {
            return Ok(());
        }
        let mut prefix = String::new();
        for segment in path[1..].split('/') {
            prefix.push('/');
            prefix.push_str(segment);
            match self
                .create(&prefix, &[], &CreateOptions::persistent())
                .await
            {
                Ok(_) | Err(Error::Server(ErrorCode::NodeExists)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes `path` and everything below it (children first). Nodes that vanish meanwhile
    /// are fine; nodes created below it meanwhile make it retry, a bounded number of times.
    pub async fn delete_recursive(&self, path: &str) -> Result<()> {
        path::validate(path, false)?;
        let mut last = Error::Server(ErrorCode::NotEmpty);
        for _ in 0..16 {
            let mut order = Vec::new();
            let mut stack = vec![path.to_owned()];
            while let Some(p) = stack.pop() {
                match self.get_children(&p).await {
                    Ok((children, _)) => {
                        stack.extend(children.iter().map(|c| path::join(&p, c)));
                        order.push(p);
                    }
                    Err(Error::Server(ErrorCode::NoNode)) => {}
                    Err(e) => return Err(e),
                }
            }
            let mut retry = false;
            for p in order.iter().rev() {
                match self.delete(p, None).await {
                    Ok(()) | Err(Error::Server(ErrorCode::NoNode)) => {}
                    Err(e @ Error::Server(ErrorCode::NotEmpty)) => {
                        last = e;
                        retry = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !retry {
                return Ok(());
            }
        }
        Err(last)
    }

    // ---- plumbing --------------------------------------------------------------------------

    pub(crate) fn server_path(&self, path: &str) -> Result<String> {
        self.inner.chroot.to_server(path, false)
    }

    pub(crate) fn strip(&self, server_path: &str) -> String {
        self.inner.chroot.strip(server_path)
    }

    /// Sends one request and waits for its raw reply.
    pub(crate) async fn submit(
        &self,
        request: &Request,
        watch: Option<WatchRequest>,
    ) -> Result<Reply> {
        let frame = self.encode(request)?;
        let _slot = self
            .inner
            .in_flight
            .acquire()
            .await
            .map_err(|_| Error::Closed)?;
        let (tx, rx) = oneshot::channel();
        let out = Outgoing {
            frame,
            watch,
            reply: tx,
            queued_at: Instant::now(),
        };
        self.inner
            .commands
            .send(Command::Request(Box::new(out)))
            .map_err(|_| self.inner.shared.terminal_error())?;
        rx.await
            .unwrap_or_else(|_| Err(self.inner.shared.terminal_error()))
    }

    /// Sends one request and decodes a successful reply's body.
    pub(crate) async fn call(
        &self,
        request: &Request,
        watch: Option<WatchRequest>,
    ) -> Result<Response> {
        let op = request.op_code();
        let reply = self.submit(request, watch).await?;
        check(&reply)?;
        Response::decode(op, &mut JuteReader::new(&reply.body)).map_err(Error::from)
    }

    /// Encodes a request frame with a placeholder xid, refusing one the server would reject.
    fn encode(&self, request: &Request) -> Result<BytesMut> {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i32(0);
        RequestHeader::new(0, request.op_code()).encode(&mut buf);
        request.encode(&mut buf);
        let len = buf.len() - 4;
        if len > self.inner.max_buffer {
            return Err(Error::BadArguments(format!(
                "request of {len} bytes is larger than jute.maxbuffer ({})",
                self.inner.max_buffer
            )));
        }
        let len =
            i32::try_from(len).map_err(|_| Error::BadArguments("request too large".into()))?;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        Ok(buf)
    }
}

/// The error a non-zero reply header carries.
fn check(reply: &Reply) -> Result<()> {
    if reply.err == 0 {
        Ok(())
    } else {
        Err(Error::from_wire(reply.err))
    }
}

pub(crate) fn unexpected(_: &Response) -> Error {
    Error::Protocol("the reply's body does not answer the request".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: T) {}

    /// Every public future can be spawned on a multi-threaded runtime (checked at compile time;
    /// never run).
    #[allow(dead_code, unused_must_use)]
    fn every_future_is_send(c: Client, opts: CreateOptions) {
        send(Client::connect(""));
        send(Client::builder("").connect());
        send(c.create("/", b"", &opts));
        send(c.delete("/", None));
        send(c.exists("/"));
        send(c.exists_watch("/"));
        send(c.get_data("/"));
        send(c.get_data_watch("/"));
        send(c.set_data("/", b"", None));
        send(c.get_children("/"));
        send(c.get_children_watch("/"));
        send(c.get_acl("/"));
        send(c.set_acl("/", &[], None));
        send(c.get_all_children_number("/"));
        send(c.get_ephemerals("/"));
        send(c.sync("/"));
        send(c.add_auth("", b""));
        send(c.who_am_i());
        send(c.add_watch("/", AddWatchMode::Persistent));
        send(c.multi().check("/", None).commit());
        send(c.multi_read().get_data("/").commit());
        send(c.ensure_path("/"));
        send(c.delete_recursive("/"));
        send(c.clone().close());
    }

    #[test]
    fn clients_and_watches_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Client>();
        send_sync::<Error>();
        send::<OneshotWatch>(OneshotWatch::channel().1);
    }
}
