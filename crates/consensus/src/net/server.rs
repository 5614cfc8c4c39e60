//! The receiving side: [`serve`] accepts peers on the quorum and election ports and answers
//! them by calling a [`PeerService`] (the node's Raft, and its forward handling).
//!
//! Each connection has its own task, which reads frames in order and:
//! - answers a Raft RPC before reading the next frame, so replies leave in request order and
//!   openraft's per-connection ordering assumptions hold;
//! - receives a snapshot into memory, checking each chunk's CRC as it arrives and the total
//!   length and CRC at the end, and only then hands it to
//!   [`PeerService::install_full_snapshot`]: openraft never sees a partial or damaged snapshot;
//! - passes a forwarded request to [`PeerService::forward`] and awaits its *admission* before
//!   reading the next frame, so one member's proposals are admitted in the order it sent them;
//!   the *completion* runs in its own task and its reply goes out whenever it is ready, carrying
//!   the request's id.
//!
//! Replies are written by a writer task per connection, fed through a bounded queue, so a slow
//! completion never holds up a Raft reply and a reader never writes concurrently with another.
//!
//! At most one connection per member carries forwards (the fence, see `Fences`): the first
//! forward on a member's new connection stops its older one and waits until that one has
//! stopped reading, so nothing sent on the old connection is admitted after anything sent on the
//! new one.
//!
//! A connection that breaks the protocol (bad frame, undecodable payload, a hello meant for
//! another member, a damaged snapshot) gets a `Refused` frame with the reason, which is also
//! logged, and is closed.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use openraft::Snapshot;
use openraft::error::{Fatal, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::frame::{self, Frame, FrameError, FrameReader, Kind};
use super::wire::{self, Hello, RemoteResult, SnapshotBegin, SnapshotChunk};
use crate::types::Vote;
use crate::{ForwardRequest, ForwardResponse, NodeId, SnapshotData, TypeConfig};

/// The completion of a forwarded request, once admitted: resolves to the leader's answer.
pub type ForwardCompletion = BoxFuture<'static, ForwardResponse>;

/// What the transport calls for the requests peers send. The Raft methods mirror
/// `openraft::Raft`'s methods of the same names (the node's implementation just calls them).
pub trait PeerService: Send + Sync + 'static {
    /// This member's id: a hello meant for another id is refused.
    fn id(&self) -> NodeId;

    fn append_entries(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> impl Future<Output = Result<AppendEntriesResponse<TypeConfig>, RaftError<TypeConfig>>> + Send;

    fn vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> impl Future<Output = Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>>> + Send;

    fn pre_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> impl Future<Output = Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>>> + Send;

    /// Called only with a complete snapshot whose length and checksums were verified.
    fn install_full_snapshot(
        &self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
    ) -> impl Future<Output = Result<SnapshotResponse<TypeConfig>, Fatal<TypeConfig>>> + Send;

    /// `openraft::Raft::handle_transfer_leader`.
    fn transfer_leader(
        &self,
        req: TransferLeaderRequest<TypeConfig>,
    ) -> impl Future<Output = Result<TransferLeaderResponse<TypeConfig>, Fatal<TypeConfig>>> + Send;

    /// Admits a request forwarded by member `from`. The returned future is admission: the
    /// connection reads its next frame only when it resolves, so requests from one member are
    /// admitted in the order they were sent (for proposals: handed to the log in that order).
    /// The [`ForwardCompletion`] it resolves to is awaited in a task of its own and may finish
    /// in any order.
    fn forward(
        &self,
        from: NodeId,
        req: ForwardRequest,
    ) -> impl Future<Output = ForwardCompletion> + Send;

    /// Member `from` closed (or broke) a connection it had opened to this member: when a
    /// member's process dies, every connection it made ends at once, long before its silence
    /// would show.
    fn peer_closed(&self, from: NodeId) {
        let _ = from;
    }
}

/// Limits of the receiving side.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The largest snapshot accepted. It is received into memory before it is installed.
    pub max_snapshot_len: u64,
    /// Most a new connection may take to send its hello.
    pub hello_timeout: Duration,
    /// Most the sender may pause between the frames of a snapshot before the transfer (and its
    /// connection) is given up.
    pub snapshot_idle_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_snapshot_len: 4 << 30,
            hello_timeout: Duration::from_secs(10),
            snapshot_idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Frames queued for one connection's writer. Enough that a burst of completions does not
/// stall the reader; bounded so a peer that stops reading holds a bounded amount.
const OUTBOX_FRAMES: usize = 1024;

/// [`serve_with`] with the default [`ServeConfig`].
pub async fn serve<S: PeerService>(
    quorum: TcpListener,
    election: TcpListener,
    service: Arc<S>,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(ServeConfig::default(), quorum, election, service, shutdown).await
}

/// Accepts peers on both listeners until `shutdown` turns true (or its sender is dropped), then
/// closes every connection and returns once their tasks have ended. Forward completions that are
/// still running finish on their own; their replies are dropped.
pub async fn serve_with<S: PeerService>(
    config: ServeConfig,
    quorum: TcpListener,
    election: TcpListener,
    service: Arc<S>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let fences = Arc::new(Fences::default());
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = signalled(&mut shutdown) => break,
            r = quorum.accept() => r,
            r = election.accept() => r,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                conns.spawn(connection(
                    stream,
                    peer,
                    service.clone(),
                    config.clone(),
                    fences.clone(),
                    shutdown.clone(),
                ));
            }
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin on the error.
                tracing::warn!("accepting a peer connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    while conns.join_next().await.is_some() {}
}

/// Resolves when `shutdown` is true or can no longer change.
async fn signalled(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// How a connection ended.
enum End {
    /// The peer closed it, or we are shutting down.
    Quiet,
    /// It failed (i/o); nothing to tell the peer.
    Broken(String),
    /// The peer broke the protocol: tell it why, then close.
    Refuse(String),
}

impl End {
    fn read(e: FrameError) -> End {
        match e {
            FrameError::Eof => End::Quiet,
            FrameError::Io(e) => End::Broken(e.to_string()),
            FrameError::Truncated { .. } => End::Broken(e.to_string()),
            e => End::Refuse(e.to_string()),
        }
    }
}

/// What the reader hands the writer.
enum Out {
    Frame(Bytes),
    /// The last frame (or none), then close.
    Close(Option<Bytes>),
}

/// Most a closing connection may take to send its last frames (and, after a refusal, to let
/// the peer see it): a peer that stopped reading must not hold up shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

async fn connection<S: PeerService>(
    stream: TcpStream,
    peer: SocketAddr,
    service: Arc<S>,
    config: Arc<ServeConfig>,
    fences: Arc<Fences>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    let (read, write) = stream.into_split();
    let (out, outbox) = mpsc::channel(OUTBOX_FRAMES);
    let mut writer = tokio::spawn(write_loop(write, outbox));
    let mut conn = ServerConn {
        reader: FrameReader::new(read),
        out: out.clone(),
        from: 0,
        service,
        config,
        fences,
        fence: None,
    };
    let (end, by_peer) = tokio::select! {
        end = conn.run() => (end, true),
        _ = signalled(&mut shutdown) => (End::Quiet, false),
    };
    let from = conn.from;
    if by_peer && from != 0 && !matches!(end, End::Refuse(_)) {
        conn.service.peer_closed(from);
    }
    let (last, refused) = match end {
        End::Quiet => (None, false),
        End::Broken(reason) => {
            tracing::info!(%peer, from, "peer connection failed: {reason}");
            (None, false)
        }
        End::Refuse(reason) => {
            tracing::warn!(%peer, from, "closing peer connection: {reason}");
            (frame::encode(Kind::Refused, 0, &reason).ok(), true)
        }
    };
    if let Some(fence) = conn.fence.take() {
        conn.fences.release(from, fence);
    }
    let ServerConn { reader, .. } = conn;
    let closing = async {
        // The writer sends what is queued, then the last frame, then stops; completions still
        // running find the queue closed and drop their replies.
        if out.send(Out::Close(last)).await.is_ok() {
            let _ = (&mut writer).await;
        }
        if refused {
            // Closing with unread bytes would reset the connection, and a reset can destroy the
            // refusal before the peer reads it: read until the peer, having seen it, closes
            // (or we shut down).
            tokio::select! {
                _ = discard_until_eof(reader.into_inner()) => {}
                _ = signalled(&mut shutdown) => {}
            }
        }
    };
    if tokio::time::timeout(CLOSE_GRACE, closing).await.is_err() {
        writer.abort();
    }
}

async fn discard_until_eof(mut read: OwnedReadHalf) {
    let mut scratch = vec![0u8; 16 * 1024];
    while let Ok(n) = read.read(&mut scratch).await {
        if n == 0 {
            break;
        }
    }
}

async fn write_loop(mut write: OwnedWriteHalf, mut outbox: mpsc::Receiver<Out>) {
    while let Some(out) = outbox.recv().await {
        let (frame, last) = match out {
            Out::Frame(f) => (Some(f), false),
            Out::Close(f) => (f, true),
        };
        if let Some(frame) = frame
            && let Err(e) = write.write_all(&frame).await
        {
            tracing::debug!("writing to a peer failed: {e}");
            return;
        }
        if last {
            let _ = write.shutdown().await;
            return;
        }
    }
}

/// The fence of forward connections: at most one per member is served. When a member opens a
/// new one (it saw the old one break), the old one is stopped, and the new one admits nothing
/// until the old one's reader has ended. So nothing the member sent on the old connection can
/// be admitted after what it sends on the new one, which is what lets it judge the fate of its
/// old requests from the first request of the new connection (the barrier of §3.8).
#[derive(Default)]
struct Fences {
    by_member: std::sync::Mutex<HashMap<NodeId, Fence>>,
    next_generation: AtomicU64,
}

/// The registration of the member's current forward connection.
struct Fence {
    generation: u64,
    /// Tells the connection to stop reading.
    stop: oneshot::Sender<()>,
    /// Completes (with an error) when the connection's reader is gone.
    ended: oneshot::Receiver<()>,
}

/// A connection's side of its fence.
struct Fenced {
    generation: u64,
    stop: oneshot::Receiver<()>,
    /// Dropped when the connection's reader is gone.
    _alive: oneshot::Sender<()>,
}

impl Fences {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Fence>> {
        // Each operation is one insert or remove: a poisoned map is still consistent.
        self.by_member.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the calling connection member `from`'s forward connection, once the previous one
    /// (if any) has stopped.
    async fn claim(&self, from: NodeId) -> Fenced {
        let (stop_tx, stop) = oneshot::channel();
        let (alive, ended) = oneshot::channel();
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let previous = self.lock().insert(
            from,
            Fence {
                generation,
                stop: stop_tx,
                ended,
            },
        );
        if let Some(previous) = previous {
            tracing::info!(from, "a newer forward connection replaces the previous one");
            let _ = previous.stop.send(());
            let _ = previous.ended.await;
        }
        Fenced {
            generation,
            stop,
            _alive: alive,
        }
    }

    /// Forgets `fence` unless a newer connection of the member has replaced it already.
    fn release(&self, from: NodeId, fence: Fenced) {
        let mut map = self.lock();
        if map
            .get(&from)
            .is_some_and(|f| f.generation == fence.generation)
        {
            map.remove(&from);
        }
    }
}

struct ServerConn<S> {
    reader: FrameReader<OwnedReadHalf>,
    out: mpsc::Sender<Out>,
    /// The caller, from its hello (0 until then).
    from: NodeId,
    service: Arc<S>,
    config: Arc<ServeConfig>,
    fences: Arc<Fences>,
    /// Set once the connection carries forwards (see [`Fences`]).
    fence: Option<Fenced>,
}

impl<S: PeerService> ServerConn<S> {
    async fn run(&mut self) -> End {
        if let Err(end) = self.hello().await {
            return end;
        }
        loop {
            let next = match &mut self.fence {
                Some(fence) => tokio::select! {
                    biased;
                    _ = &mut fence.stop => {
                        return End::Refuse(format!(
                            "member {} opened a newer forward connection",
                            self.from
                        ));
                    }
                    next = self.reader.next_frame() => next,
                },
                None => self.reader.next_frame().await,
            };
            let frame = match next {
                Ok(f) => f,
                Err(e) => return End::read(e),
            };
            if let Err(end) = self.handle(frame).await {
                return end;
            }
        }
    }

    async fn hello(&mut self) -> Result<(), End> {
        let frame = tokio::time::timeout(self.config.hello_timeout, self.reader.next_frame())
            .await
            .map_err(|_| End::Refuse(format!("no hello within {:?}", self.config.hello_timeout)))?
            .map_err(End::read)?;
        if frame.kind != Kind::Hello {
            return Err(End::Refuse(format!(
                "the first frame is a {}, not a hello",
                frame.kind
            )));
        }
        let hello: Hello = decode(&frame)?;
        let me = self.service.id();
        if hello.version != wire::PROTOCOL_VERSION {
            return Err(End::Refuse(format!(
                "protocol version {} is not {}",
                hello.version,
                wire::PROTOCOL_VERSION
            )));
        }
        if hello.to != me {
            return Err(End::Refuse(format!(
                "this is member {me}, not {} (member {} has a wrong address for it)",
                hello.to, hello.from
            )));
        }
        if hello.from == me {
            return Err(End::Refuse(format!("member {me} connected to itself")));
        }
        self.from = hello.from;
        Ok(())
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), End> {
        match frame.kind {
            Kind::AppendEntries => {
                let rpc = decode(&frame)?;
                let r = self.service.append_entries(rpc).await;
                self.reply(frame.id, &remote(r)).await
            }
            Kind::Vote => {
                let rpc = decode(&frame)?;
                let r = self.service.vote(rpc).await;
                self.reply(frame.id, &remote(r)).await
            }
            Kind::PreVote => {
                let rpc = decode(&frame)?;
                let r = self.service.pre_vote(rpc).await;
                self.reply(frame.id, &remote(r)).await
            }
            Kind::TransferLeader => {
                let req = decode(&frame)?;
                let r = self.service.transfer_leader(req).await;
                self.reply(frame.id, &remote(r)).await
            }
            Kind::SnapshotBegin => self.receive_snapshot(frame).await,
            Kind::Forward => {
                let req: ForwardRequest = decode(&frame)?;
                if self.fence.is_none() {
                    self.fence = Some(self.fences.claim(self.from).await);
                }
                let completion = self.service.forward(self.from, req).await;
                let out = self.out.clone();
                let id = frame.id;
                tokio::spawn(async move {
                    let resp = completion.await;
                    match frame::encode(Kind::Reply, id, &resp) {
                        // A closed queue means the connection is gone: nobody to tell.
                        Ok(f) => {
                            let _ = out.send(Out::Frame(f)).await;
                        }
                        Err(e) => tracing::error!("cannot encode a forward reply: {e}"),
                    }
                });
                Ok(())
            }
            Kind::SnapshotChunk => Err(End::Refuse("a snapshot chunk without a header".into())),
            Kind::Hello => Err(End::Refuse("a second hello".into())),
            Kind::Reply | Kind::Refused => Err(End::Refuse(format!(
                "a {} frame, which only a server sends",
                frame.kind
            ))),
        }
    }

    async fn reply<T: Serialize>(&self, id: u64, value: &T) -> Result<(), End> {
        let f = frame::encode(Kind::Reply, id, value)
            .map_err(|e| End::Broken(format!("cannot encode a reply: {e}")))?;
        self.out
            .send(Out::Frame(f))
            .await
            .map_err(|_| End::Broken("the writer stopped".into()))
    }

    /// Receives the snapshot `begin` announces (see the module docs), installs it, answers.
    async fn receive_snapshot(&mut self, begin: Frame) -> Result<(), End> {
        let header: SnapshotBegin = decode(&begin)?;
        let total = header.total_len;
        if total > self.config.max_snapshot_len {
            return Err(End::Refuse(format!(
                "a snapshot of {total} bytes is over the {} byte limit",
                self.config.max_snapshot_len
            )));
        }
        // Grows with the chunks that arrive, not with what the header claims.
        let mut data: Vec<u8> = Vec::new();
        let mut last_id = begin.id;
        if total > 0 {
            self.reply(begin.id, &0u64).await?;
        }
        while (data.len() as u64) < total {
            let idle = self.config.snapshot_idle_timeout;
            let frame = tokio::time::timeout(idle, self.reader.next_frame())
                .await
                .map_err(|_| {
                    End::Refuse(format!(
                        "no snapshot chunk for {idle:?} ({} of {total} bytes received)",
                        data.len()
                    ))
                })?
                .map_err(End::read)?;
            if frame.kind != Kind::SnapshotChunk {
                return Err(End::Refuse(format!(
                    "a {} frame in the middle of a snapshot",
                    frame.kind
                )));
            }
            let chunk: SnapshotChunk = decode(&frame)?;
            let have = data.len() as u64;
            if chunk.offset != have {
                return Err(End::Refuse(format!(
                    "a snapshot chunk at offset {} where {have} was next",
                    chunk.offset
                )));
            }
            if chunk.data.len() as u64 > total - have {
                return Err(End::Refuse(format!(
                    "snapshot chunks add up to more than the announced {total} bytes"
                )));
            }
            let crc = crc32c::crc32c(&chunk.data);
            if crc != chunk.crc {
                return Err(End::Refuse(format!(
                    "snapshot chunk at offset {have} is damaged: CRC32C {crc:#010x}, expected {:#010x}",
                    chunk.crc
                )));
            }
            if chunk.data.is_empty() {
                return Err(End::Refuse("an empty snapshot chunk".into()));
            }
            data.extend_from_slice(&chunk.data);
            last_id = frame.id;
            if (data.len() as u64) < total {
                self.reply(frame.id, &(data.len() as u64)).await?;
            }
        }
        let crc = crc32c::crc32c(&data);
        if crc != header.crc {
            return Err(End::Refuse(format!(
                "the snapshot of {total} bytes is damaged: CRC32C {crc:#010x}, expected {:#010x}",
                header.crc
            )));
        }
        data.shrink_to_fit();
        let snapshot = Snapshot {
            meta: header.meta,
            snapshot: SnapshotData(Bytes::from(data)),
        };
        let r = self
            .service
            .install_full_snapshot(header.vote, snapshot)
            .await;
        self.reply(last_id, &remote(r)).await
    }
}

fn decode<T: serde::de::DeserializeOwned>(frame: &Frame) -> Result<T, End> {
    frame.decode().map_err(|e| End::Refuse(e.to_string()))
}

/// A Raft method's result as it travels: the error as text (it means the member's Raft has
/// stopped or its storage failed; the caller can only back off).
fn remote<T, E: std::fmt::Display>(r: Result<T, E>) -> RemoteResult<T> {
    r.map_err(|e| e.to_string())
}
