//! The core: the one task that owns the tree, the watch index and the sessions.
//!
//! Every client request reaches the core in arrival order through one channel. Reads run here at
//! once against the tree; writes become proposals, identified by this member's id, its
//! incarnation and a sequence number, that go to Raft (`watchkeeper-consensus`); every member
//! applies the committed log here in log order (zxid = the Raft log index), and the member that
//! proposed an entry finds its waiter by the proposal's sequence number and replies. A
//! standalone server is an ensemble of one: the same path. Because one task does all of this,
//! the ordering rules of the design hold by construction:
//!
//! 1. Replies leave a connection in request order: a session's requests queue behind its own
//!    in-flight writes (see [`session::Queued`]), and every frame for a connection goes through
//!    its single [`Outbox`].
//! 2. Notifications caused by the entry at zxid Z are pushed to every watcher's outbox while that
//!    entry is applied, before any later reply can be produced.
//! 3. A session's read behind its own write runs only after that write is applied.
//! 4. A notification's header carries the zxid of the entry that fired it.
//!
//! The core never waits on a client or on Raft: outboxes are non-blocking and bounded, and
//! proposals are handed to the consensus handle without waiting. It works in batches (up to
//! [`MAX_BATCH`] messages, or one batch of committed entries, or a timer tick); proposals made
//! by a batch are submitted together and frames are staged in outboxes and flushed when the
//! batch ends, one write per connection.
//!
//! Leader-only duties (session expiry, container and TTL reaping) run only where the member
//! leads; other members forward the sessions they hear from to the leader (ZooKeeper's learner
//! pings), and a new leader restarts every session's deadline.

mod apply;
mod auth;
mod dispatch;
mod ensemble;
mod journal;
mod read;
mod reconfig;
mod reply;
mod report;
mod session;
mod sources;
mod stats;
mod watch_ops;
mod write;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use watchkeeper_consensus::Proposal;
use watchkeeper_consensus::node::{Event, Handle};
use watchkeeper_consensus::state_machine::ApplyEvent;
use watchkeeper_proto::{ConnectRequest, Id, Request};
use watchkeeper_tree::{DataTree, Entry};
use watchkeeper_watch::WatchIndex;

use crate::config::Config;
use crate::outbox::{Outbox, Staged};

pub(crate) use dispatch::decode_request;
pub(crate) use session::Session;
pub(crate) use stats::Stats;

/// Identifies one accepted connection for the server's lifetime.
pub(crate) type ConnId = u64;

/// A decoded request, or one whose opcode we do not know (answered Unimplemented, then closed).
#[derive(Debug)]
pub(crate) enum Incoming {
    Request(Request),
    Unknown {
        op: i32,
    },
    /// A known opcode whose body did not decode: answered MarshallingError.
    Malformed,
}

/// Messages from connection tasks to the core.
pub(crate) enum CoreMsg {
    Connect {
        conn: ConnId,
        peer: SocketAddr,
        req: ConnectRequest,
        outbox: Arc<Outbox>,
    },
    Request {
        conn: ConnId,
        xid: i32,
        incoming: Incoming,
        received: Instant,
    },
    Disconnected {
        conn: ConnId,
    },
    /// A four-letter word: answered with typed data, laid out as text by the connection.
    FourLetter {
        cmd: &'static str,
        reply: oneshot::Sender<crate::status::Answer>,
    },
}

/// A live connection as the core sees it.
pub(crate) struct Conn {
    pub peer: SocketAddr,
    pub outbox: Arc<Outbox>,
    /// The session this connection serves once the handshake is done.
    pub session: i64,
    /// Identities proven on this connection (`ip:<addr>` from the start, then `auth` packets).
    pub auth: Vec<Id>,
    pub established: Instant,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub last_zxid: i64,
    pub last_op: &'static str,
    pub last_latency_ms: u64,
}

impl Conn {
    /// Stages a frame in this connection's outbox, noting in `flush_due` that the outbox needs
    /// a flush when the batch ends.
    pub fn stage(&mut self, frame: bytes::Bytes, flush_due: &mut Vec<Arc<Outbox>>) {
        self.packets_sent += 1;
        match self.outbox.stage(frame) {
            Staged::FlushDue => flush_due.push(self.outbox.clone()),
            Staged::Behind => {}
            // Overflowed or closed: the connection task will report Disconnected.
            Staged::Dropped => {}
        }
    }

    /// Sends a notification now when nothing else is staged for this connection in this batch
    /// (so a fan-out's first watchers hear before its last are reached); behind staged frames it
    /// waits for their flush, keeping the order.
    pub fn send_now(&mut self, frame: bytes::Bytes) {
        self.packets_sent += 1;
        if self.outbox.stage(frame) == Staged::FlushDue {
            self.outbox.flush();
        }
    }
}

/// Who waits for an entry to be applied.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReplyTo {
    /// A client's write: reply on `conn` if it is still the one that asked.
    Client {
        conn: ConnId,
        xid: i32,
        op: watchkeeper_proto::OpCode,
        received: Instant,
    },
    /// A new session's handshake: answered once its creation is applied.
    Handshake { conn: ConnId, read_only_byte: bool },
    /// The attach of a session that moved here, answered already: if the attach fails (the
    /// session was closed meanwhile, or the entry was lost), the connection is closed and the
    /// client finds out on its next handshake.
    Attach { conn: ConnId },
    /// Server-internal (expiry, container reaping): nobody to answer.
    Nobody,
}

/// An entry this member proposed and has not applied yet.
pub(crate) struct Pending {
    /// Kept so that applying our own proposal needs no decoding.
    pub entry: Entry,
    pub reply: ReplyTo,
    /// For a multi: the opcode of each sub-op (create and create2 answer differently).
    pub sub_ops: Vec<watchkeeper_proto::OpCode>,
}

/// Most messages from connections handled in one batch before the replies it produced are
/// flushed: enough that pipelined requests leave in one write, few enough that a batch's first
/// reply does not wait long for its last.
const MAX_BATCH: usize = 64;

/// Most proposed-but-unapplied entries; past this the core stops taking new requests, which
/// pushes back on the connections (their sends wait) and so on the clients.
const MAX_PENDING: usize = 20_000;

pub(crate) struct Core {
    pub cfg: Arc<Config>,
    pub tree: DataTree,
    pub watches: WatchIndex,
    pub conns: HashMap<ConnId, Conn>,
    pub sessions: HashMap<i64, Session>,
    /// Our proposals not yet applied, by sequence number.
    pub pending: HashMap<u64, Pending>,
    pub next_seq: u64,
    /// Fresh at every start, so proposals of an earlier run of this member are never taken for
    /// ours.
    pub incarnation: u64,
    /// Proposals made during the current batch, submitted when it ends.
    pub outgoing: Vec<Proposal>,
    pub consensus: Handle,
    /// Whether this member ran the leader's duties at the last tick.
    pub leading: bool,
    /// Sessions heard from since the last touch sent to the leader (non-leaders only).
    pub touched: HashSet<i64>,
    /// `sync`s waiting for the leader's read index, by token: the session they belong to.
    pub syncs: HashMap<u64, i64>,
    pub next_sync_token: u64,
    /// False while this member of an ensemble has lost its leader or quorum: its clients are
    /// closed and new ones refused, so they move to a member that can serve them.
    pub serving: bool,
    /// Since when this member has been without leader or quorum.
    pub cut_off_since: Option<Instant>,
    pub stats: Stats,
    pub started: Instant,
    pub next_session_id: i64,
    /// Set when Raft stopped: no write can be acknowledged any more.
    pub log_failed: bool,
    /// Recent events, for exact catch-up of persistent watches after a reconnect.
    pub journal: journal::Journal,
    /// Outboxes that frames were staged in during the current batch.
    pub flush_due: Vec<Arc<Outbox>>,
    /// Clocks and randomness.
    pub sources: Box<dyn sources::Sources>,
}

impl Core {
    pub(crate) fn new(cfg: Arc<Config>, tree: DataTree, consensus: Handle, now_ms: i64) -> Core {
        Core::with_sources(
            cfg,
            tree,
            consensus,
            now_ms,
            Box::new(sources::SystemSources),
        )
    }

    /// [`Core::new`] with the clocks and randomness given.
    pub(crate) fn with_sources(
        cfg: Arc<Config>,
        tree: DataTree,
        consensus: Handle,
        now_ms: i64,
        mut sources: Box<dyn sources::Sources>,
    ) -> Core {
        let journal = journal::Journal::new(cfg.event_journal_size, tree.last_zxid());
        let mut sessions = HashMap::new();
        let started = sources.now();
        let mut incarnation = [0u8; 8];
        sources.fill_random(&mut incarnation);
        // Sessions survive a restart; their timers start afresh.
        for (id, info) in tree.sessions() {
            sessions.insert(id, Session::restored(info.timeout_ms, started));
        }
        Core {
            cfg,
            tree,
            watches: WatchIndex::new(),
            conns: HashMap::new(),
            sessions,
            pending: HashMap::new(),
            next_seq: 1,
            incarnation: u64::from_le_bytes(incarnation),
            outgoing: Vec::new(),
            next_session_id: session::initial_session_id(consensus.id(), now_ms),
            consensus,
            leading: false,
            touched: HashSet::new(),
            syncs: HashMap::new(),
            next_sync_token: 1,
            serving: true,
            cut_off_since: None,
            stats: Stats::default(),
            started,
            log_failed: false,
            journal,
            flush_due: Vec::new(),
            sources,
        }
    }

    /// Runs until `shutdown` flips to true or every connection sender is gone.
    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<CoreMsg>,
        mut applies: mpsc::Receiver<ApplyEvent>,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let tick_every = self.cfg.tick_time.min(Duration::from_millis(100));
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reap = tokio::time::interval(self.cfg.container_check_interval);
        reap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                ev = applies.recv() => match ev {
                    Some(ev) => self.on_apply_event(ev),
                    None => {
                        tracing::error!("stopping: Raft stopped, so no write can be applied");
                        self.log_failed = true;
                        self.close_all_connections();
                        break;
                    }
                },
                Some(ev) = events.recv() => self.on_event(ev),
                n = rx.recv_many(&mut batch, MAX_BATCH), if self.pending.len() < MAX_PENDING => {
                    if n == 0 {
                        break;
                    }
                    for msg in batch.drain(..) {
                        self.handle(msg);
                    }
                }
                _ = tick.tick() => self.tick(self.now()),
                _ = reap.tick() => if self.leading { self.reap_containers() },
            }
            // The batch is done: its proposals go to Raft together, and what it produced for
            // clients leaves now, one write per connection.
            self.submit_proposals();
            self.flush_outboxes();
        }
        self.flush_outboxes();
        self.close_all_connections();
    }

    fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect {
                conn,
                peer,
                req,
                outbox,
            } => self.connect(conn, peer, req, outbox),
            CoreMsg::Request {
                conn,
                xid,
                incoming,
                received,
            } => self.request(conn, xid, incoming, received),
            CoreMsg::Disconnected { conn } => self.disconnected(conn),
            CoreMsg::FourLetter { cmd, reply } => {
                let _ = reply.send(self.four_letter(cmd));
            }
        }
    }

    /// Proposes an entry; returns its sequence number, by which its apply is recognised.
    pub(crate) fn propose(&mut self, entry: Entry, reply: ReplyTo) -> u64 {
        self.propose_with(entry, reply, Vec::new())
    }

    /// [`Core::propose`] for a multi, remembering its sub-ops' opcodes.
    pub(crate) fn propose_with(
        &mut self,
        entry: Entry,
        reply: ReplyTo,
        sub_ops: Vec<watchkeeper_proto::OpCode>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut bytes = Vec::new();
        entry.encode(&mut bytes);
        self.outgoing.push(Proposal {
            origin: self.consensus.id(),
            incarnation: self.incarnation,
            seq,
            entry: bytes.into(),
        });
        self.pending.insert(
            seq,
            Pending {
                entry,
                reply,
                sub_ops,
            },
        );
        seq
    }

    /// Hands the batch's proposals to Raft, in the order they were made.
    fn submit_proposals(&mut self) {
        if !self.outgoing.is_empty() {
            self.consensus.propose(std::mem::take(&mut self.outgoing));
        }
    }

    fn close_all_connections(&mut self) {
        for c in self.conns.values() {
            c.outbox.close();
        }
    }

    /// Milliseconds since the Unix epoch, for entry time stamps.
    pub(crate) fn now_ms() -> i64 {
        sources::wall_clock_ms()
    }

    /// The monotonic clock, from the core's [`sources::Sources`].
    pub(crate) fn now(&self) -> Instant {
        self.sources.now()
    }

    /// Milliseconds since the Unix epoch, for entry time stamps.
    pub(crate) fn wall_ms(&self) -> i64 {
        self.sources.wall_ms()
    }
}
