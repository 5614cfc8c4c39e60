//! Starting a member and talking to it: proposing, `sync`'s read index, session touches,
//! leadership hand-over, status.
//!
//! The server core never blocks on Raft. It hands work to [`Consensus`] through non-blocking
//! calls and hears back through [`Event`]s and [`ApplyEvent`]s:
//!
//! ```text
//! core ──propose/read_index/touch──▶ submitter task ──▶ local Raft (leader)
//!                                                   └─▶ forward connection ──▶ leader's Raft
//! core ◀──ApplyEvent (committed entries, snapshots)── state machine (every member)
//! core ◀──Event (rejected proposals, read indexes, touches at the leader)
//! ```
//!
//! Invariants:
//! - Proposals of one member reach the leader in the order the core proposed them: one task
//!   submits them, and a forward connection is processed in order by the leader.
//! - A proposal reported [`Event::Rejected`] was never appended (or was discarded from the log):
//!   it will never be applied. One whose fate is unknown (the forward connection broke) is
//!   reported [`Event::Unknown`]; it may still be applied, and the core must not wait for it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::MemberConfig;
use crate::error::ConsensusError;
use crate::log_store::{LogStore, Opened};
use crate::net::{ForwardClient, ForwardCompletion, NetConfig, PeerNetwork, PeerService};
use crate::state_machine::{ApplyEvent, StateMachine};
use crate::status::{Role, Status};
use crate::types::{
    ForwardRequest, ForwardResponse, NodeId, PeerNode, Proposal, SnapshotMeta, TypeConfig,
};

/// The Raft node of one member.
pub type Raft = openraft::Raft<TypeConfig, StateMachine>;

/// What the member tells the core besides applying entries.
#[derive(Debug)]
pub enum Event {
    /// These proposals of ours (by `seq`) will never be applied.
    Rejected(Vec<u64>),
    /// The fate of these proposals is unknown (the leader was lost with them in flight).
    Unknown(Vec<u64>),
    /// The leader's commit point for a `sync`, or why none could be had.
    ReadIndex {
        token: u64,
        index: Result<u64, String>,
    },
    /// At the leader: sessions another member heard from.
    Touch(Vec<(i64, u32)>),
    /// The outcome of a reconfig: the configuration version in force after it.
    Reconfigured {
        token: u64,
        result: Result<u64, crate::reconfig::ReconfigError>,
    },
}

/// A member opened from its data directory, not yet running. Its [`Handle`] can be given to
/// the core before [`Member::start`]: what the core submits meanwhile waits.
pub struct Member {
    cfg: MemberConfig,
    store: LogStore,
    snapshot: Option<(SnapshotMeta, Bytes)>,
    handle: Handle,
    submit_rx: mpsc::UnboundedReceiver<Submit>,
    status_tx: watch::Sender<Status>,
}

/// The state the core starts from: the newest snapshot's state bytes and its last index.
pub struct StartState {
    pub index: u64,
    pub state: Bytes,
}

impl Member {
    /// Opens the data directory: the log, the Raft state, the newest snapshot.
    pub fn open(cfg: MemberConfig) -> Result<(Member, Option<StartState>), ConsensusError> {
        if cfg.me().is_none() {
            return Err(ConsensusError::Config(format!(
                "this server's id {} is not among the configured members ({:?})",
                cfg.id,
                cfg.members.keys().collect::<Vec<_>>()
            )));
        }
        let Opened { store, snapshot } = LogStore::open(&cfg.data_dir, cfg.retain_snapshots)?;
        let start = snapshot.as_ref().map(|(meta, state)| StartState {
            index: meta.last_log_id.map_or(0, |l| l.index()),
            state: state.clone(),
        });
        let (submit, submit_rx) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(Status::starting(cfg.id));
        let handle = Handle {
            id: cfg.id,
            submit,
            status,
            leader_contact: Arc::new(Mutex::new(None)),
        };
        Ok((
            Member {
                cfg,
                store,
                snapshot,
                handle,
                submit_rx,
                status_tx,
            },
            start,
        ))
    }

    /// The handle the core uses; valid before and after [`Member::start`].
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Starts Raft and, in an ensemble, the peer listeners. `core` receives committed entries
    /// (starting with those after the snapshot that were committed before a restart), `events`
    /// everything else. Returns once the entries known committed at start are applied.
    pub async fn start(
        self,
        core: mpsc::Sender<ApplyEvent>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Consensus, ConsensusError> {
        let Member {
            cfg,
            mut store,
            snapshot,
            handle,
            submit_rx,
            status_tx,
        } = self;
        use openraft::storage::{RaftLogReader, RaftLogStorage};
        let raft_cfg = Arc::new(cfg.raft_config().map_err(ConsensusError::Config)?);
        let me = cfg.me().cloned().unwrap_or_default();
        let bind_ip: IpAddr = me.host.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let committed = store.read_committed().await.ok().flatten();
        let pristine = store.read_vote().await.ok().flatten().is_none()
            && store
                .get_log_state()
                .await
                .map(|s| s.last_log_id.is_none())
                .unwrap_or(false);
        // The log's newest membership, or else the snapshot's, is this member's ensemble.
        let membership = store
            .last_membership()
            .or_else(|| snapshot.as_ref().map(|(m, _)| m.last_membership.clone()));
        if let Some(m) = &membership {
            check_membership(m, &cfg)?;
        }
        let sm = StateMachine::new(core, cfg.data_dir.clone(), cfg.retain_snapshots, snapshot);
        let network = PeerNetwork::new(cfg.id, bind_ip, NetConfig::default());
        let raft = Raft::new(cfg.id, raft_cfg, network, store, sm)
            .await
            .map_err(|e| ConsensusError::Fatal(e.to_string()))?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let leader_contact = handle.leader_contact.clone();
        let mut tasks = Vec::new();
        if !cfg.is_standalone() {
            let quorum = bind(&me.host, me.quorum_port).await?;
            let election = bind(&me.host, me.election_port).await?;
            let service = Arc::new(Service {
                raft: raft.clone(),
                events: events.clone(),
                leader_contact: leader_contact.clone(),
                leader_gone: Arc::new(Mutex::new(None)),
                heartbeat: cfg.timing.heartbeat,
            });
            tasks.push(tokio::spawn(crate::net::serve(
                quorum,
                election,
                service,
                shutdown_rx.clone(),
            )));
        }
        if pristine && !me.observer {
            let voters: BTreeMap<NodeId, PeerNode> = cfg
                .members
                .iter()
                .filter(|(_, n)| !n.observer)
                .map(|(id, n)| (*id, n.clone()))
                .collect();
            // Every pristine voter initializes with the same voters, which openraft allows. An
            // observer waits for the leader to add it.
            if let Err(e) = raft.initialize(voters).await {
                tracing::debug!(error = %e, "initialize");
            }
        }
        let observers: BTreeMap<NodeId, PeerNode> = cfg
            .members
            .iter()
            .filter(|(_, n)| n.observer)
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        if !observers.is_empty() {
            tasks.push(tokio::spawn(add_configured_observers(
                raft.clone(),
                observers,
                handle.status.clone(),
                shutdown_rx.clone(),
            )));
        }
        if let Some(c) = committed {
            // Reads must not see a state older than what this member acknowledged before.
            let _ = raft
                .wait(Some(Duration::from_secs(60)))
                .applied_index_at_least(Some(c.index()), "recovery")
                .await;
        }

        let standalone = cfg.is_standalone();
        let status_rx = handle.status.clone();
        tasks.push(tokio::spawn(publish_status(
            raft.clone(),
            status_tx,
            standalone,
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(
            Submitter {
                raft: raft.clone(),
                id: cfg.id,
                bind_ip,
                events,
                clients: Arc::default(),
                leader_wait: cfg.timing.election_max * 2,
            }
            .run(submit_rx, status_rx.clone()),
        ));
        if standalone {
            // An ensemble of one need not wait out an election timeout: it is its own quorum.
            let _ = raft.trigger().elect(false).await;
            let mut status = handle.status.clone();
            let led = tokio::time::timeout(
                Duration::from_secs(30),
                status.wait_for(|s| s.role == Role::Standalone),
            )
            .await;
            if !matches!(led, Ok(Ok(_))) {
                return Err(ConsensusError::Fatal(
                    "a standalone server did not become its own leader within 30 s".into(),
                ));
            }
        }
        Ok(Consensus {
            raft,
            handle,
            shutdown,
            tasks,
        })
    }
}

/// A member that was part of an ensemble before must find itself in the membership its log
/// holds: otherwise the data directory is another ensemble's (or another member's). After the
/// first start the log's membership is authoritative; configured lines that disagree only warn.
fn check_membership(
    stored: &crate::types::StoredMembership,
    cfg: &MemberConfig,
) -> Result<(), ConsensusError> {
    let members = crate::state_machine::Members::of(stored);
    let known: Vec<NodeId> = members
        .voters
        .iter()
        .chain(&members.observers)
        .map(|(id, _)| *id)
        .collect();
    if known.is_empty() {
        return Ok(());
    }
    if !known.contains(&cfg.id) {
        return Err(ConsensusError::Config(format!(
            "the data directory {} belongs to an ensemble of members {known:?}, which does not \
             include this server's id {}: point dataDir at this member's own directory, or \
             start from an empty one",
            cfg.data_dir.display(),
            cfg.id
        )));
    }
    let configured: Vec<NodeId> = cfg.members.keys().copied().collect();
    let mut sorted = known.clone();
    sorted.sort_unstable();
    if sorted != configured {
        tracing::warn!(
            log = ?sorted,
            configured = ?configured,
            "the configured server lines differ from the membership in the log; the log's is used"
        );
    }
    Ok(())
}

/// In a new ensemble, its first leader adds the configured observers (Raft learners: they get
/// the log and never vote), all in one membership entry, since `initialize` takes voters only.
/// Once the membership differs from the bootstrap one (version 0), the log's membership is the
/// ensemble's and configured lines add no one: a reconfig may have removed an observer on
/// purpose.
async fn add_configured_observers(
    raft: Raft,
    observers: BTreeMap<NodeId, PeerNode>,
    mut status: watch::Receiver<Status>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let missing: BTreeMap<NodeId, PeerNode> = {
            let s = status.borrow_and_update();
            if s.role == Role::Leader && s.members.version == 0 {
                observers
                    .iter()
                    .filter(|(id, _)| s.members.node(**id).is_none())
                    .map(|(id, n)| (*id, n.clone()))
                    .collect()
            } else {
                BTreeMap::new()
            }
        };
        if !missing.is_empty() {
            let ids: Vec<NodeId> = missing.keys().copied().collect();
            match raft
                .change_membership(openraft::ChangeMembers::AddNodes(missing), false)
                .await
            {
                Ok(_) => tracing::info!(observers = ?ids, "added the configured observers"),
                Err(e) => {
                    // Not leader any more, or a change in progress: try again on the next
                    // status change or shortly.
                    tracing::debug!(error = %e, "adding the configured observers");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        tokio::select! {
            changed = status.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

async fn bind(host: &str, port: u16) -> Result<tokio::net::TcpListener, ConsensusError> {
    let addr = format!("{host}:{port}");
    tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ConsensusError::Bind { addr, source })
}

/// Keeps the published [`Status`] in step with openraft's metrics.
async fn publish_status(
    raft: Raft,
    tx: watch::Sender<Status>,
    standalone: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    use openraft::async_runtime::watch::WatchReceiver;
    let mut metrics = raft.metrics();
    loop {
        let status = Status::from_metrics(&metrics.borrow_and_update().clone(), standalone);
        tx.send_replace(status);
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => break,
        }
    }
}

enum Submit {
    Propose(Vec<Proposal>),
    ReadIndex(u64),
    Touch(Vec<(i64, u32)>),
    Reconfig(u64, crate::reconfig::ReconfigRequest),
}

/// What the core holds: non-blocking submission and the member's status. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    id: NodeId,
    submit: mpsc::UnboundedSender<Submit>,
    status: watch::Receiver<Status>,
    leader_contact: Arc<Mutex<Option<Instant>>>,
}

impl Handle {
    /// A handle of no running member, with the status of a standalone server: what is
    /// submitted through it is dropped. For unit tests of code that holds a handle but whose
    /// tests apply entries themselves.
    pub fn detached(id: NodeId) -> Handle {
        Handle::detached_with_status(id).0
    }

    /// [`Handle::detached`], with the sender of its status, so a test can play role changes.
    pub fn detached_with_status(id: NodeId) -> (Handle, watch::Sender<Status>) {
        let (submit, _) = mpsc::unbounded_channel();
        let mut status = Status::starting(id);
        status.role = Role::Standalone;
        status.leader = Some(id);
        let (tx, status) = watch::channel(status);
        let handle = Handle {
            id,
            submit,
            status,
            leader_contact: Arc::new(Mutex::new(None)),
        };
        (handle, tx)
    }

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Proposes entries, in order. Never blocks; the outcome arrives as an apply or an
    /// [`Event`].
    pub fn propose(&self, batch: Vec<Proposal>) {
        if !batch.is_empty() {
            let _ = self.submit.send(Submit::Propose(batch));
        }
    }

    /// Asks for the leader's commit point; answered by [`Event::ReadIndex`] with `token`.
    pub fn read_index(&self, token: u64) {
        let _ = self.submit.send(Submit::ReadIndex(token));
    }

    /// Tells the leader these sessions are alive (from a non-leader).
    pub fn touch(&self, sessions: Vec<(i64, u32)>) {
        if !sessions.is_empty() {
            let _ = self.submit.send(Submit::Touch(sessions));
        }
    }

    /// Asks the leader for a membership change; answered by [`Event::Reconfigured`] with
    /// `token`.
    pub fn reconfig(&self, token: u64, req: crate::reconfig::ReconfigRequest) {
        let _ = self.submit.send(Submit::Reconfig(token, req));
    }

    /// The member's status as last published.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// The member's role as last published (without copying the rest of the status).
    pub fn role(&self) -> Role {
        self.status.borrow().role
    }

    /// A receiver of the member's status, for waiting on changes.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// When this member last heard from a leader (stamped by the transport).
    pub fn last_leader_contact(&self) -> Option<Instant> {
        *self
            .leader_contact
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// A running member.
pub struct Consensus {
    raft: Raft,
    handle: Handle,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Consensus {
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// If this member leads an ensemble, hands leadership to the most up-to-date voter and waits
    /// (at most `within`) until another member leads. Returns whether it did.
    pub async fn hand_over_leadership(&self, within: Duration) -> bool {
        let status = self.handle.status();
        if status.role != Role::Leader {
            return false;
        }
        let voters: Vec<NodeId> = status.members.voters.iter().map(|(id, _)| *id).collect();
        let Some(best) = status
            .followers
            .iter()
            .filter(|f| voters.contains(&f.id))
            .max_by_key(|f| f.matched)
            .map(|f| f.id)
        else {
            return false;
        };
        if self.raft.trigger().transfer_leader(best).await.is_err() {
            return false;
        }
        let me = self.handle.id;
        self.raft
            .wait(Some(within))
            .metrics(
                |m| m.current_leader.is_some_and(|l| l != me),
                "leadership handed over",
            )
            .await
            .is_ok()
    }

    /// Stops Raft and the peer listeners.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.raft.shutdown().await;
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Most proposals merged into one submission (the core holds at most 20,000 unapplied).
const MAX_FORWARD_BATCH: usize = 8192;

/// Submits the core's work to the leader, wherever it is.
struct Submitter {
    raft: Raft,
    id: NodeId,
    bind_ip: IpAddr,
    events: mpsc::UnboundedSender<Event>,
    /// One forward client per leader, shared with the tasks that call it (two clients to one
    /// leader would fence each other off).
    clients: Arc<Mutex<HashMap<NodeId, Arc<ForwardClient>>>>,
    /// How long work waits for a leader before it is refused.
    leader_wait: Duration,
}

impl Submitter {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Submit>,
        status: watch::Receiver<Status>,
    ) {
        let mut held: std::collections::VecDeque<Submit> = std::collections::VecDeque::new();
        loop {
            let work = match held.pop_front() {
                Some(w) => w,
                None => match rx.recv().await {
                    Some(w) => w,
                    None => break,
                },
            };
            let leader = self.leader(status.clone()).await;
            match work {
                Submit::Propose(mut batch) => {
                    // Everything proposed while the last batch was on its way goes in one: a
                    // forwarded batch is answered only once applied, so this is what carries a
                    // heavy load (group commit across the network). Order is kept: proposals
                    // are only ever appended behind earlier ones.
                    while batch.len() < MAX_FORWARD_BATCH {
                        match rx.try_recv() {
                            Ok(Submit::Propose(more)) => batch.extend(more),
                            Ok(other) => held.push_back(other),
                            Err(_) => break,
                        }
                    }
                    self.propose(leader, batch).await
                }
                Submit::ReadIndex(token) => self.read_index(leader, token),
                Submit::Reconfig(token, req) => self.reconfig(status.clone(), token, req),
                Submit::Touch(sessions) => {
                    if let Some((id, node)) = leader
                        && id != self.id
                    {
                        let client = self.client(id, &node);
                        tokio::spawn(async move {
                            let _ = client.call(ForwardRequest::Touch(sessions)).await;
                        });
                    }
                }
            }
        }
    }

    /// The current leader, waiting up to `leader_wait` for one.
    async fn leader(&self, status: watch::Receiver<Status>) -> Option<(NodeId, PeerNode)> {
        Submitter::wait_for_leader(status, self.leader_wait).await
    }

    async fn wait_for_leader(
        mut status: watch::Receiver<Status>,
        leader_wait: Duration,
    ) -> Option<(NodeId, PeerNode)> {
        let found = tokio::time::timeout(leader_wait, async {
            loop {
                {
                    let s = status.borrow_and_update();
                    if let Some(l) = s.leader
                        && !matches!(s.role, Role::Looking | Role::Stopped)
                    {
                        return Some((l, s.members.node(l).cloned().unwrap_or_default()));
                    }
                }
                if status.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        found.ok().flatten()
    }

    fn client(&mut self, id: NodeId, node: &PeerNode) -> Arc<ForwardClient> {
        shared_client(&self.clients, self.id, self.bind_ip, id, node)
    }

    async fn propose(&mut self, leader: Option<(NodeId, PeerNode)>, batch: Vec<Proposal>) {
        let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
        match leader {
            None => {
                let _ = self.events.send(Event::Rejected(seqs));
            }
            Some((id, _)) if id == self.id => {
                let completion = submit_local(&self.raft, batch).await;
                let events = self.events.clone();
                tokio::spawn(async move {
                    if let ForwardResponse::Proposed { rejected } = completion.await
                        && !rejected.is_empty()
                    {
                        let _ = events.send(Event::Rejected(rejected));
                    }
                });
            }
            Some((id, node)) => {
                let client = self.client(id, &node);
                // One batch in flight per member keeps the order; the next batch gathers
                // whatever arrives meanwhile.
                match client.call(ForwardRequest::Propose(batch)).await {
                    Ok(ForwardResponse::Proposed { rejected }) => {
                        if !rejected.is_empty() {
                            let _ = self.events.send(Event::Rejected(rejected));
                        }
                    }
                    Ok(other) => {
                        tracing::warn!(
                            ?other,
                            "the leader answered a proposal with something else"
                        );
                        let _ = self.events.send(Event::Unknown(seqs));
                    }
                    Err(e) => {
                        tracing::info!(leader = id, error = %e, "forwarding to the leader failed");
                        lock(&self.clients).remove(&id);
                        let _ = self.events.send(Event::Unknown(seqs));
                    }
                }
            }
        }
    }

    /// Sends a reconfig to the leader, again (at most a few times) when the leader changes
    /// under it, as when the change removes the leader.
    fn reconfig(
        &mut self,
        status: watch::Receiver<Status>,
        token: u64,
        req: crate::reconfig::ReconfigRequest,
    ) {
        use crate::reconfig::ReconfigError;
        const ATTEMPTS: usize = 3;
        let raft = self.raft.clone();
        let me = self.id;
        let bind_ip = self.bind_ip;
        let clients = self.clients.clone();
        let events = self.events.clone();
        let leader_wait = self.leader_wait;
        tokio::spawn(async move {
            let mut result = Err(ReconfigError::NotLeader);
            for _ in 0..ATTEMPTS {
                let leader = Submitter::wait_for_leader(status.clone(), leader_wait).await;
                result = match leader {
                    None => Err(ReconfigError::NotLeader),
                    Some((id, _)) if id == me => crate::reconfig::execute(&raft, req.clone()).await,
                    Some((id, node)) => {
                        // The member's one forward connection: calls on it are pipelined, so a
                        // reconfig that takes seconds holds up no write behind it.
                        let client = shared_client(&clients, me, bind_ip, id, &node);
                        match client.call(ForwardRequest::Reconfig(req.clone())).await {
                            Ok(ForwardResponse::Reconfigured(r)) => r,
                            Ok(other) => Err(ReconfigError::Failed(format!(
                                "unexpected answer {other:?}"
                            ))),
                            Err(e) => Err(ReconfigError::Failed(e.to_string())),
                        }
                    }
                };
                if result != Err(ReconfigError::NotLeader) {
                    break;
                }
                // Let the new leader settle before trying it.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let _ = events.send(Event::Reconfigured { token, result });
        });
    }

    fn read_index(&mut self, leader: Option<(NodeId, PeerNode)>, token: u64) {
        let events = self.events.clone();
        match leader {
            None => {
                let _ = events.send(Event::ReadIndex {
                    token,
                    index: Err("no leader".into()),
                });
            }
            Some((id, _)) if id == self.id => {
                let raft = self.raft.clone();
                tokio::spawn(async move {
                    let index = local_read_index(&raft).await;
                    let _ = events.send(Event::ReadIndex { token, index });
                });
            }
            Some((id, node)) => {
                let client = self.client(id, &node);
                tokio::spawn(async move {
                    let index = match client.call(ForwardRequest::ReadIndex).await {
                        Ok(ForwardResponse::ReadIndex(r)) => r,
                        Ok(other) => Err(format!("unexpected answer {other:?}")),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = events.send(Event::ReadIndex { token, index });
                });
            }
        }
    }
}

/// The forward client of member `me` for leader `id`, made at first use.
fn shared_client(
    clients: &Mutex<HashMap<NodeId, Arc<ForwardClient>>>,
    me: NodeId,
    bind_ip: IpAddr,
    id: NodeId,
    node: &PeerNode,
) -> Arc<ForwardClient> {
    lock(clients)
        .entry(id)
        .or_insert_with(|| {
            Arc::new(ForwardClient::new(
                me,
                id,
                node.clone(),
                bind_ip,
                NetConfig::default(),
            ))
        })
        .clone()
}

/// Takes proposals into the local Raft (which must lead): the returned future resolves once
/// every one is applied or refused, with the refused ones' `seq`s.
async fn submit_local(raft: &Raft, batch: Vec<Proposal>) -> ForwardCompletion {
    let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
    match raft.client_write_many(batch).await {
        Err(e) => {
            tracing::warn!(error = %e, "Raft refused proposals");
            Box::pin(async move { ForwardResponse::Proposed { rejected: seqs } })
        }
        Ok(mut results) => Box::pin(async move {
            let mut rejected = Vec::new();
            let mut i = 0;
            while let Some(r) = results.next().await {
                if !matches!(r, Ok(Ok(_)))
                    && let Some(seq) = seqs.get(i)
                {
                    rejected.push(*seq);
                }
                i += 1;
            }
            // Results that never came (Raft stopped) are refusals too.
            rejected.extend(seqs.iter().skip(i));
            ForwardResponse::Proposed { rejected }
        }),
    }
}

async fn local_read_index(raft: &Raft) -> Result<u64, String> {
    raft.ensure_linearizable(openraft::raft::ReadPolicy::ReadIndex)
        .await
        .map(|r| r.index())
        .map_err(|e| e.to_string())
}

/// Answers peers: Raft's RPCs go to the local Raft, forwarded work is done here as the leader.
struct Service {
    raft: Raft,
    events: mpsc::UnboundedSender<Event>,
    leader_contact: Arc<Mutex<Option<Instant>>>,
    /// The leader whose connections all ended, and when: see [`Service::peer_closed`].
    leader_gone: Arc<Mutex<Option<(NodeId, Instant)>>>,
    heartbeat: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Service {
    fn stamp_leader_contact(&self) {
        *lock(&self.leader_contact) = Some(Instant::now());
        *lock(&self.leader_gone) = None;
    }

    /// Whether this member votes (an observer never campaigns).
    fn is_voter(&self) -> bool {
        use openraft::async_runtime::watch::WatchReceiver;
        let me = *self.raft.node_id();
        self.raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == me)
    }

    fn current_leader(&self) -> Option<NodeId> {
        use openraft::async_runtime::watch::WatchReceiver;
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Whether this member saw its leader's process go: a connection from it ended and nothing
    /// was heard from it since, for two heartbeats at least (a leader that merely re-made a
    /// connection would have sent them).
    fn leader_known_gone(&self) -> bool {
        let gone = *lock(&self.leader_gone);
        let contact = *lock(&self.leader_contact);
        match gone {
            Some((leader, at)) => {
                self.current_leader() == Some(leader)
                    && contact.is_none_or(|c| c <= at)
                    && at.elapsed() >= self.heartbeat * 2
            }
            None => false,
        }
    }
}

type RpcResult<T> = Result<T, openraft::error::RaftError<TypeConfig>>;

impl PeerService for Service {
    fn id(&self) -> NodeId {
        self.raft.node_id().to_owned()
    }

    async fn append_entries(
        &self,
        rpc: openraft::raft::AppendEntriesRequest<TypeConfig>,
    ) -> RpcResult<openraft::raft::AppendEntriesResponse<TypeConfig>> {
        let r = self.raft.append_entries(rpc).await;
        use openraft::raft::AppendEntriesResponse as R;
        if matches!(r, Ok(R::Success | R::PartialSuccess(_) | R::Conflict)) {
            // A leader this member accepts is in touch (heartbeats arrive as append_entries;
            // a conflict is a leader catching this member up).
            self.stamp_leader_contact();
        }
        r
    }

    async fn vote(
        &self,
        mut rpc: openraft::raft::VoteRequest<TypeConfig>,
    ) -> RpcResult<openraft::raft::VoteResponse<TypeConfig>> {
        if !rpc.leadership_transfer && self.leader_known_gone() {
            // The leader's lease keeps this member from voting until it has been silent for
            // the longest election timeout; a leader whose process is gone (its connections
            // all ended, nothing heard since) needs no waiting out. Safe for us: no read relies
            // on the lease (sync uses ReadIndex, which asks a quorum), and a leader that was not
            // gone after all merely steps down for a newer term.
            tracing::info!(candidate = ?rpc.vote, "voting without waiting out the lease of a leader that is gone");
            rpc.leadership_transfer = true;
        }
        self.raft.vote(rpc).await
    }

    async fn pre_vote(
        &self,
        rpc: openraft::raft::VoteRequest<TypeConfig>,
    ) -> RpcResult<openraft::raft::VoteResponse<TypeConfig>> {
        self.raft.pre_vote(rpc).await
    }

    async fn install_full_snapshot(
        &self,
        vote: crate::types::Vote,
        snapshot: crate::types::Snapshot,
    ) -> Result<openraft::raft::SnapshotResponse<TypeConfig>, openraft::error::Fatal<TypeConfig>>
    {
        let r = self.raft.install_full_snapshot(vote, snapshot).await;
        if r.is_ok() {
            self.stamp_leader_contact();
        }
        r
    }

    async fn transfer_leader(
        &self,
        req: openraft::raft::TransferLeaderRequest<TypeConfig>,
    ) -> Result<
        openraft::raft::TransferLeaderResponse<TypeConfig>,
        openraft::error::Fatal<TypeConfig>,
    > {
        self.raft.handle_transfer_leader(req).await
    }

    fn peer_closed(&self, from: NodeId) {
        if self.current_leader() != Some(from) || self.raft.is_leader() || !self.is_voter() {
            return;
        }
        let closed_at = Instant::now();
        lock(&self.leader_gone).get_or_insert((from, closed_at));
        let raft = self.raft.clone();
        let contact = self.leader_contact.clone();
        // A leader that merely re-made a connection keeps sending heartbeats: wait two of them.
        // Members wait different times, so the first to campaign usually wins alone.
        let me = *self.raft.node_id();
        let wait = self.heartbeat * 2 + self.heartbeat * (me % 4) as u32;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let silent = lock(&contact).is_none_or(|c| c <= closed_at);
            let still_following = {
                use openraft::async_runtime::watch::WatchReceiver;
                raft.metrics().borrow_watched().current_leader == Some(from)
            };
            if !silent || !still_following || raft.is_leader() {
                return;
            }
            tracing::info!(
                leader = from,
                "a connection from the leader ended and it went silent: electing now"
            );
            let _ = raft.trigger().elect(false).await;
        });
    }

    async fn forward(&self, from: NodeId, req: ForwardRequest) -> ForwardCompletion {
        match req {
            ForwardRequest::Propose(batch) => {
                if !self.raft.is_leader() {
                    let rejected = batch.iter().map(|p| p.seq).collect();
                    return Box::pin(async move { ForwardResponse::Proposed { rejected } });
                }
                submit_local(&self.raft, batch).await
            }
            ForwardRequest::ReadIndex => {
                let raft = self.raft.clone();
                Box::pin(async move { ForwardResponse::ReadIndex(local_read_index(&raft).await) })
            }
            ForwardRequest::Touch(sessions) => {
                tracing::trace!(from, sessions = sessions.len(), "touches");
                let _ = self.events.send(Event::Touch(sessions));
                Box::pin(async { ForwardResponse::Touched })
            }
            ForwardRequest::Reconfig(req) => {
                let raft = self.raft.clone();
                Box::pin(async move {
                    ForwardResponse::Reconfigured(crate::reconfig::execute(&raft, req).await)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(observer: bool) -> PeerNode {
        PeerNode {
            host: "127.0.0.1".into(),
            quorum_port: 1,
            election_port: 2,
            observer,
            ..PeerNode::default()
        }
    }

    #[test]
    fn an_observer_opens_like_a_voter() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = MemberConfig::standalone(dir.path().to_path_buf());
        cfg.id = 3;
        cfg.members = [(1, node(false)), (2, node(false)), (3, node(true))].into();
        assert!(Member::open(cfg).is_ok());
    }

    #[test]
    fn a_member_not_among_the_members_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = MemberConfig::standalone(dir.path().to_path_buf());
        cfg.id = 9;
        assert!(matches!(Member::open(cfg), Err(ConsensusError::Config(_))));
    }
}
