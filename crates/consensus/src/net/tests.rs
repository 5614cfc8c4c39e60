//! The transport end to end on loopback: `PeerNetwork`'s clients and `ForwardClient` against
//! `serve` with a fake `PeerService` that records what arrives and answers canned values, and
//! against hand-written peers where a misbehaving one is needed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use openraft::error::{Fatal, RPCError, RaftError, ReplicationClosed, StreamingError};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::{EntryPayload, Membership, RaftNetworkV2, Snapshot, StoredMembership};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::frame::{self, Frame, FrameReader, Kind};
use super::server::{ForwardCompletion, PeerService, ServeConfig, serve_with};
use super::wire::{Hello, PROTOCOL_VERSION, SnapshotBegin, SnapshotChunk};
use super::{ForwardClient, NetConfig, NetError, PeerNetwork, connect_bound};
use crate::types::{Entry, LogId, SnapshotMeta, Vote};
use crate::{
    ForwardRequest, ForwardResponse, NodeId, PeerNode, Proposal, SnapshotData, TypeConfig,
};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Generous: these tests share two cores with a compiler.
const LONG: Duration = Duration::from_secs(20);

fn option() -> RPCOption {
    RPCOption::new(LONG)
}

/// `PeerNetwork` is accepted by `Raft::new` together with a state machine whose snapshot data
/// is `SnapshotData` (the bound `Raft::new` puts on the factory's network).
#[test]
fn peer_network_fits_raft_new() {
    fn accepts<N>()
    where
        N: RaftNetworkFactory<TypeConfig>,
        N::Network: openraft::network::NetSnapshot<TypeConfig, SnapshotData = SnapshotData>,
    {
    }
    accepts::<PeerNetwork>();
}

// ---------------------------------------------------------------------------------------------
// The fake service.

#[derive(Debug)]
enum Event {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    Transfer(TransferLeaderRequest<TypeConfig>),
    Install(Vote, SnapshotMeta, Bytes),
    /// Admission of a forwarded proposal batch: (from, first seq).
    Admitted(NodeId, u64),
    /// A forward completion resolved (first seq).
    Completed(u64),
}

/// Where the fake writes down what happened; cloned into forward completions.
#[derive(Clone)]
struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    /// Counts events, so that a test can wait for some to have happened.
    count: watch::Sender<usize>,
}

impl Recorder {
    fn push(&self, e: Event) {
        self.events.lock().unwrap().push(e);
        self.count.send_modify(|n| *n += 1);
    }
}

struct Fake {
    id: NodeId,
    rec: Recorder,
    /// Completions of forwarded proposals wait for these, by seq, when present.
    gates: Mutex<HashMap<u64, oneshot::Receiver<()>>>,
    /// When set, the Raft methods fail as a stopped Raft does.
    stopped: AtomicBool,
}

impl Fake {
    fn new(id: NodeId) -> Arc<Fake> {
        Arc::new(Fake {
            id,
            rec: Recorder {
                events: Arc::new(Mutex::new(Vec::new())),
                count: watch::channel(0).0,
            },
            gates: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
        })
    }

    fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.rec.events.lock().unwrap())
    }

    fn event_count(&self) -> usize {
        *self.rec.count.borrow()
    }

    /// Waits until `n` events have happened in all.
    async fn wait_for_events(&self, n: usize) {
        let mut rx = self.rec.count.subscribe();
        tokio::time::timeout(LONG, rx.wait_for(|c| *c >= n))
            .await
            .expect("events in time")
            .unwrap();
    }

    /// A gate the completion of the proposal with `seq` waits for.
    fn gate(&self, seq: u64) -> oneshot::Sender<()> {
        let (tx, rx) = oneshot::channel();
        self.gates.lock().unwrap().insert(seq, rx);
        tx
    }

    fn failing<T>(&self) -> Option<Result<T, RaftError<TypeConfig>>> {
        self.stopped
            .load(Ordering::SeqCst)
            .then_some(Err(RaftError::Fatal(Fatal::Stopped)))
    }
}

/// The fake's canned pre-vote answer: a refusal with a higher vote, so that a test can tell it
/// from openraft's default (which grants without asking).
fn pre_vote_answer() -> VoteResponse<TypeConfig> {
    VoteResponse::new(Vote::new(9, 3), Some(LogId::new_term_index(8, 80)), false)
}

fn snapshot_answer() -> SnapshotResponse<TypeConfig> {
    SnapshotResponse::new(Vote::new_committed(4, 1))
}

impl PeerService for Fake {
    fn id(&self) -> NodeId {
        self.id
    }

    async fn append_entries(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RaftError<TypeConfig>> {
        if let Some(e) = self.failing() {
            return e;
        }
        self.rec.push(Event::Append(rpc));
        Ok(AppendEntriesResponse::Success)
    }

    async fn vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>> {
        if let Some(e) = self.failing() {
            return e;
        }
        let resp = VoteResponse::new(rpc.vote, rpc.last_log_id, true);
        self.rec.push(Event::Vote(rpc));
        Ok(resp)
    }

    async fn pre_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>> {
        if let Some(e) = self.failing() {
            return e;
        }
        self.rec.push(Event::PreVote(rpc));
        Ok(pre_vote_answer())
    }

    async fn install_full_snapshot(
        &self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
    ) -> Result<SnapshotResponse<TypeConfig>, Fatal<TypeConfig>> {
        self.rec
            .push(Event::Install(vote, snapshot.meta, snapshot.snapshot.0));
        Ok(snapshot_answer())
    }

    async fn transfer_leader(
        &self,
        req: TransferLeaderRequest<TypeConfig>,
    ) -> Result<TransferLeaderResponse<TypeConfig>, Fatal<TypeConfig>> {
        self.rec.push(Event::Transfer(req));
        Ok(Ok(()))
    }

    async fn forward(&self, from: NodeId, req: ForwardRequest) -> ForwardCompletion {
        let seq = match &req {
            ForwardRequest::Propose(ps) => ps.first().map_or(u64::MAX, |p| p.seq),
            _ => u64::MAX,
        };
        self.rec.push(Event::Admitted(from, seq));
        let gate = self.gates.lock().unwrap().remove(&seq);
        let rec = self.rec.clone();
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            rec.push(Event::Completed(seq));
            ForwardResponse::Proposed {
                rejected: vec![seq],
            }
        }
        .boxed()
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A server running `serve_with` on two fresh loopback ports.
struct Server {
    quorum: SocketAddr,
    election: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(service: Arc<Fake>) -> Server {
        Server::start_with(service, ServeConfig::default()).await
    }

    async fn start_with(service: Arc<Fake>, config: ServeConfig) -> Server {
        let q = TcpListener::bind((LOCAL, 0)).await.unwrap();
        let e = TcpListener::bind((LOCAL, 0)).await.unwrap();
        Server::run(service, config, q, e)
    }

    /// Listening on the ports another server had.
    async fn restart(service: Arc<Fake>, quorum: SocketAddr, election: SocketAddr) -> Server {
        let q = TcpListener::bind(quorum).await.unwrap();
        let e = TcpListener::bind(election).await.unwrap();
        Server::run(service, ServeConfig::default(), q, e)
    }

    fn run(service: Arc<Fake>, config: ServeConfig, q: TcpListener, e: TcpListener) -> Server {
        let (quorum, election) = (q.local_addr().unwrap(), e.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(serve_with(config, q, e, service, rx));
        Server {
            quorum,
            election,
            stop,
            task,
        }
    }

    fn node(&self) -> PeerNode {
        PeerNode {
            host: "127.0.0.1".into(),
            quorum_port: self.quorum.port(),
            election_port: self.election.port(),
            ..PeerNode::default()
        }
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(LONG, self.task)
            .await
            .expect("server stops in time")
            .unwrap();
    }
}

/// A loopback port nothing listens on (bound, then released).
async fn closed_port() -> u16 {
    let l = TcpListener::bind((LOCAL, 0)).await.unwrap();
    l.local_addr().unwrap().port()
}

fn vote_request() -> VoteRequest<TypeConfig> {
    VoteRequest::new(Vote::new(3, 1), Some(LogId::new_term_index(2, 20)))
}

fn entry(index: u64) -> Entry {
    Entry {
        log_id: LogId::new_term_index(2, index),
        payload: EntryPayload::Normal(Proposal {
            origin: 1,
            incarnation: 7,
            seq: index,
            entry: Bytes::from(format!("entry {index}")),
        }),
    }
}

fn append_request() -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(LogId::new_term_index(2, 10)),
        entries: vec![entry(11), entry(12)],
        leader_commit: Some(LogId::new_term_index(2, 10)),
    }
}

fn heartbeat() -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(LogId::new_term_index(2, 12)),
        entries: vec![],
        leader_commit: Some(LogId::new_term_index(2, 12)),
    }
}

fn network() -> PeerNetwork {
    PeerNetwork::new(1, LOCAL, NetConfig::default())
}

fn propose(seq: u64) -> ForwardRequest {
    ForwardRequest::Propose(vec![Proposal {
        origin: 2,
        incarnation: 1,
        seq,
        entry: Bytes::from_static(b"write"),
    }])
}

fn snapshot_meta() -> SnapshotMeta {
    let membership = Membership::new_with_defaults(vec![[1u64, 2, 3].into_iter().collect()], []);
    SnapshotMeta {
        last_log_id: Some(LogId::new_term_index(3, 4000)),
        last_membership: StoredMembership::new(Some(LogId::new_term_index(1, 1)), membership),
    }
}

/// Deterministic bytes that no chunking mistake could reproduce by accident.
fn pattern(len: usize) -> Bytes {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// A hand-driven peer connection, for sending what the real clients never would.
struct Raw {
    reader: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        Raw {
            reader: FrameReader::new(r),
            writer: w,
        }
    }

    fn from_stream(s: TcpStream) -> Raw {
        let (r, w) = s.into_split();
        Raw {
            reader: FrameReader::new(r),
            writer: w,
        }
    }

    async fn hello(addr: SocketAddr, from: NodeId, to: NodeId) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.send(
            Kind::Hello,
            0,
            &Hello {
                version: PROTOCOL_VERSION,
                from,
                to,
            },
        )
        .await;
        raw
    }

    async fn send<T: serde::Serialize>(&mut self, kind: Kind, id: u64, value: &T) {
        let f = frame::encode(kind, id, value).unwrap();
        self.writer.write_all(&f).await.unwrap();
    }

    async fn next(&mut self) -> Result<Frame, frame::FrameError> {
        tokio::time::timeout(LONG, self.reader.next_frame())
            .await
            .expect("a frame in time")
    }

    /// Expects a refusal and then the end of the connection, and closes it (as a real peer
    /// does; the server waits for that); returns the reason.
    async fn refused(mut self) -> String {
        let f = self.next().await.unwrap();
        assert_eq!(f.kind, Kind::Refused, "{f:?}");
        let reason: String = f.decode().unwrap();
        assert!(matches!(self.next().await, Err(frame::FrameError::Eof)));
        reason
    }
}

fn assert_unreachable<T: std::fmt::Debug>(r: Result<T, RPCError<TypeConfig>>, says: &str) {
    match r {
        Err(RPCError::Unreachable(e)) => {
            assert!(e.to_string().contains(says), "{e} should say {says:?}")
        }
        other => panic!("expected Unreachable saying {says:?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Raft RPCs through PeerNetwork.

#[tokio::test]
async fn append_entries_vote_pre_vote_and_transfer_leader_round_trip() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    let mut client = network().new_client(2, &server.node()).await;

    let sent = append_request();
    let resp = client.append_entries(sent.clone(), option()).await.unwrap();
    assert_eq!(resp, AppendEntriesResponse::Success);

    let resp = client.vote(vote_request(), option()).await.unwrap();
    assert_eq!(
        resp,
        VoteResponse::new(vote_request().vote, vote_request().last_log_id, true)
    );

    // Answered by the peer, not granted by openraft's default.
    let resp = client.pre_vote(vote_request(), option()).await.unwrap();
    assert_eq!(resp, pre_vote_answer());

    let transfer = TransferLeaderRequest::new(
        Vote::new_committed(2, 1),
        2,
        Some(LogId::new_term_index(2, 12)),
    );
    let resp = client
        .transfer_leader(transfer.clone(), option())
        .await
        .unwrap();
    assert_eq!(resp, Ok(()));

    let events = fake.take_events();
    assert_eq!(events.len(), 4, "{events:?}");
    match &events[0] {
        Event::Append(got) => {
            assert_eq!(got.vote, sent.vote);
            assert_eq!(got.prev_log_id, sent.prev_log_id);
            assert_eq!(got.entries, sent.entries);
            assert_eq!(got.leader_commit, sent.leader_commit);
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(&events[1], Event::Vote(v) if *v == vote_request()));
    assert!(matches!(&events[2], Event::PreVote(v) if *v == vote_request()));
    assert!(matches!(&events[3], Event::Transfer(t) if *t == transfer));
    server.stop().await;
}

#[tokio::test]
async fn heartbeats_go_to_the_election_port_and_replication_to_the_quorum_port() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    // The node's quorum port leads nowhere: only what goes to the election port arrives.
    let node = PeerNode {
        quorum_port: closed_port().await,
        ..server.node()
    };
    let mut net = network();

    let mut heartbeats = net.new_heartbeat_client(2, &node).await;
    let resp = heartbeats
        .append_entries(heartbeat(), option())
        .await
        .unwrap();
    assert_eq!(resp, AppendEntriesResponse::Success);
    assert!(matches!(&fake.take_events()[..], [Event::Append(a)] if a.entries.is_empty()));

    let mut replication = net.new_client(2, &node).await;
    let r = replication.append_entries(append_request(), option()).await;
    assert_unreachable(r, "cannot connect");
    // Votes of the same client go to the election port, which works.
    replication.vote(vote_request(), option()).await.unwrap();
    assert!(matches!(&fake.take_events()[..], [Event::Vote(_)]));
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_cannot_be_reached_is_unreachable_and_backed_off_from() {
    let node = PeerNode {
        host: "127.0.0.1".into(),
        quorum_port: closed_port().await,
        election_port: closed_port().await,
        ..PeerNode::default()
    };
    let mut client = network().new_client(2, &node).await;
    assert_unreachable(
        client.vote(vote_request(), option()).await,
        "cannot connect",
    );
    assert_unreachable(
        client.append_entries(heartbeat(), option()).await,
        "cannot connect",
    );
    let pauses: Vec<_> = client.backoff().expect("a backoff").take(3).collect();
    assert!(
        pauses[0] > Duration::ZERO && pauses[0] < pauses[1],
        "{pauses:?}"
    );
}

#[tokio::test]
async fn a_member_never_connects_to_itself() {
    let fake = Fake::new(1);
    let server = Server::start(fake.clone()).await;
    let mut client = network().new_client(1, &server.node()).await;
    assert_unreachable(client.vote(vote_request(), option()).await, "itself");
    let r = client
        .full_snapshot(
            Vote::new_committed(2, 1),
            Snapshot {
                meta: snapshot_meta(),
                snapshot: SnapshotData(Bytes::from_static(b"x")),
            },
            futures::future::pending(),
            option(),
        )
        .await;
    assert!(matches!(r, Err(StreamingError::Unreachable(_))), "{r:?}");
    assert_eq!(fake.event_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_server_refuses_a_hello_meant_for_another_member() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    // Member 1 believes member 3 lives at member 2's address.
    let mut client = network().new_client(3, &server.node()).await;
    assert_unreachable(client.vote(vote_request(), option()).await, "not 3");
    assert_eq!(fake.event_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_stopped_raft_on_the_peer_is_unreachable() {
    let fake = Fake::new(2);
    fake.stopped.store(true, Ordering::SeqCst);
    let server = Server::start(fake.clone()).await;
    let mut client = network().new_client(2, &server.node()).await;
    assert_unreachable(client.vote(vote_request(), option()).await, "raft stopped");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_the_peer_closed_fails_once_and_is_then_made_anew() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    let (quorum, election) = (server.quorum, server.election);
    let mut client = network().new_client(2, &server.node()).await;
    client.vote(vote_request(), option()).await.unwrap();

    // The peer restarts: its connections close, and it listens again on the same ports.
    server.stop().await;
    let server = Server::restart(fake.clone(), quorum, election).await;
    // The client still holds the dead connection: the first RPC finds it closed (a network
    // error, which openraft retries at once); the next one connects afresh.
    let r = client.vote(vote_request(), option()).await;
    assert!(matches!(r, Err(RPCError::Network(_))), "{r:?}");
    client.vote(vote_request(), option()).await.unwrap();
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Snapshots.

#[tokio::test]
async fn a_multi_chunk_snapshot_arrives_byte_identical() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    let mut client = network().new_snapshot_client(2, &server.node()).await;
    let data = pattern(3 * (1 << 20) + (1 << 19));
    let vote = Vote::new_committed(3, 1);
    let resp = client
        .full_snapshot(
            vote,
            Snapshot {
                meta: snapshot_meta(),
                snapshot: SnapshotData(data.clone()),
            },
            futures::future::pending(),
            // openraft's default install_snapshot_timeout: the transfer must not be held to it.
            RPCOption::new(Duration::from_millis(200)),
        )
        .await
        .unwrap();
    assert_eq!(resp, snapshot_answer());
    match &fake.take_events()[..] {
        [Event::Install(v, meta, got)] => {
            assert_eq!(*v, vote);
            assert_eq!(*meta, snapshot_meta());
            assert_eq!(got.len(), data.len());
            assert!(*got == data, "the bytes differ");
        }
        e => panic!("{e:?}"),
    }

    // An empty snapshot is a header alone, and the connection is reused.
    client
        .full_snapshot(
            vote,
            Snapshot {
                meta: snapshot_meta(),
                snapshot: SnapshotData(Bytes::new()),
            },
            futures::future::pending(),
            option(),
        )
        .await
        .unwrap();
    assert!(matches!(&fake.take_events()[..], [Event::Install(_, _, b)] if b.is_empty()));
    server.stop().await;
}

#[tokio::test]
async fn a_cancelled_snapshot_transfer_ends_and_installs_nothing() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    let mut client = network().new_snapshot_client(2, &server.node()).await;
    let r = client
        .full_snapshot(
            Vote::new_committed(3, 1),
            Snapshot {
                meta: snapshot_meta(),
                snapshot: SnapshotData(pattern(3 << 20)),
            },
            futures::future::ready(ReplicationClosed::new("leader stepped down")),
            option(),
        )
        .await;
    assert!(matches!(r, Err(StreamingError::Closed(_))), "{r:?}");
    server.stop().await;
    assert_eq!(fake.event_count(), 0);
}

#[tokio::test]
async fn a_snapshot_transfer_cancelled_midway_closes_its_connection() {
    let listener = TcpListener::bind((LOCAL, 0)).await.unwrap();
    let node = PeerNode {
        host: "127.0.0.1".into(),
        quorum_port: listener.local_addr().unwrap().port(),
        ..PeerNode::default()
    };
    let mut client = network().new_snapshot_client(2, &node).await;
    let (cancel, cancelled) = oneshot::channel::<()>();
    let transfer = tokio::spawn(async move {
        let cancelled = async move {
            let _ = cancelled.await;
            ReplicationClosed::new("leader stepped down")
        };
        let snapshot = Snapshot {
            meta: snapshot_meta(),
            snapshot: SnapshotData(pattern(3 << 20)),
        };
        client
            .full_snapshot(Vote::new_committed(3, 1), snapshot, cancelled, option())
            .await
    });
    // A receiver by hand: takes the header and the first chunk, and acknowledges neither
    // before the leader gives up.
    let (stream, _) = listener.accept().await.unwrap();
    let mut raw = Raw::from_stream(stream);
    assert_eq!(raw.next().await.unwrap().kind, Kind::Hello);
    let header = raw.next().await.unwrap();
    let header_fields: SnapshotBegin = header.decode().unwrap();
    assert_eq!(header_fields.total_len, 3 << 20);
    raw.send(Kind::Reply, header.id, &0u64).await;
    let first = raw.next().await.unwrap();
    let first: SnapshotChunk = first.decode().unwrap();
    assert_eq!((first.offset, first.data.len()), (0, 1 << 20));
    cancel.send(()).unwrap();
    let r = tokio::time::timeout(LONG, transfer).await.unwrap().unwrap();
    assert!(matches!(r, Err(StreamingError::Closed(_))), "{r:?}");
    assert!(matches!(raw.next().await, Err(frame::FrameError::Eof)));
}

fn begin(data: &[u8], crc: u32) -> SnapshotBegin {
    SnapshotBegin {
        vote: Vote::new_committed(3, 1),
        meta: snapshot_meta(),
        total_len: data.len() as u64,
        crc,
    }
}

fn chunk(data: &Bytes, offset: usize, len: usize) -> SnapshotChunk {
    let piece = data.slice(offset..offset + len);
    SnapshotChunk {
        offset: offset as u64,
        crc: crc32c::crc32c(&piece),
        data: piece,
    }
}

#[tokio::test]
async fn a_damaged_snapshot_chunk_is_refused_and_nothing_is_installed() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    let data = pattern(2000);
    let mut raw = Raw::hello(server.quorum, 1, 2).await;
    raw.send(Kind::SnapshotBegin, 1, &begin(&data, crc32c::crc32c(&data)))
        .await;
    assert_eq!(raw.next().await.unwrap().decode::<u64>().unwrap(), 0);
    raw.send(Kind::SnapshotChunk, 2, &chunk(&data, 0, 1000))
        .await;
    assert_eq!(raw.next().await.unwrap().decode::<u64>().unwrap(), 1000);
    let mut bad = chunk(&data, 1000, 1000);
    let mut flipped = bad.data.to_vec();
    flipped[17] ^= 1;
    bad.data = flipped.into();
    raw.send(Kind::SnapshotChunk, 3, &bad).await;
    let reason = raw.refused().await;
    assert!(reason.contains("damaged"), "{reason}");
    server.stop().await;
    assert_eq!(fake.event_count(), 0);
}

#[tokio::test]
async fn a_snapshot_whose_whole_does_not_match_its_crc_is_refused() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;
    let data = pattern(2000);
    let mut raw = Raw::hello(server.quorum, 1, 2).await;
    raw.send(
        Kind::SnapshotBegin,
        1,
        &begin(&data, crc32c::crc32c(&data) ^ 1),
    )
    .await;
    raw.next().await.unwrap();
    raw.send(Kind::SnapshotChunk, 2, &chunk(&data, 0, 2000))
        .await;
    let reason = raw.refused().await;
    assert!(
        reason.contains("snapshot of 2000 bytes is damaged"),
        "{reason}"
    );
    server.stop().await;
    assert_eq!(fake.event_count(), 0);
}

#[tokio::test]
async fn snapshots_over_the_limit_and_chunks_out_of_place_are_refused() {
    let fake = Fake::new(2);
    let config = ServeConfig {
        max_snapshot_len: 1000,
        ..ServeConfig::default()
    };
    let server = Server::start_with(fake.clone(), config).await;
    let data = pattern(2000);

    let mut raw = Raw::hello(server.quorum, 1, 2).await;
    raw.send(Kind::SnapshotBegin, 1, &begin(&data, crc32c::crc32c(&data)))
        .await;
    assert!(raw.refused().await.contains("over the 1000 byte limit"));

    let small = data.slice(..800);
    let mut raw = Raw::hello(server.quorum, 1, 2).await;
    raw.send(
        Kind::SnapshotBegin,
        1,
        &begin(&small, crc32c::crc32c(&small)),
    )
    .await;
    raw.next().await.unwrap();
    raw.send(Kind::SnapshotChunk, 2, &chunk(&small, 400, 400))
        .await;
    assert!(raw.refused().await.contains("offset 400 where 0 was next"));

    let mut raw = Raw::hello(server.quorum, 1, 2).await;
    raw.send(Kind::SnapshotChunk, 1, &chunk(&small, 0, 400))
        .await;
    assert!(raw.refused().await.contains("without a header"));
    server.stop().await;
    assert_eq!(fake.event_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Bad frames to the server.

#[tokio::test]
async fn a_server_refuses_bad_frames_and_keeps_serving_others() {
    let fake = Fake::new(2);
    let server = Server::start(fake.clone()).await;

    // No hello first.
    let mut raw = Raw::connect(server.election).await;
    raw.send(Kind::Vote, 1, &vote_request()).await;
    assert!(raw.refused().await.contains("not a hello"));

    // An unknown kind.
    let mut raw = Raw::hello(server.election, 1, 2).await;
    let mut bytes = frame::encode(Kind::Vote, 1, &vote_request())
        .unwrap()
        .to_vec();
    bytes[4] = 0x42;
    raw.writer.write_all(&bytes).await.unwrap();
    assert!(raw.refused().await.contains("unknown frame kind 0x42"));

    // A length over the limit.
    let mut raw = Raw::hello(server.election, 1, 2).await;
    let mut bytes = ((frame::MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&[Kind::Vote as u8, 0, 0, 0, 0, 0, 0, 0, 1]);
    raw.writer.write_all(&bytes).await.unwrap();
    assert!(raw.refused().await.contains("frame length"));

    // A payload that is not what its kind says.
    let mut raw = Raw::hello(server.election, 1, 2).await;
    raw.send(Kind::Vote, 1, &"not a vote request").await;
    assert!(raw.refused().await.contains("undecodable"));

    // Another protocol version.
    let mut raw = Raw::connect(server.election).await;
    let hello = Hello {
        version: PROTOCOL_VERSION + 1,
        from: 1,
        to: 2,
    };
    raw.send(Kind::Hello, 0, &hello).await;
    assert!(raw.refused().await.contains("protocol version"));

    assert_eq!(fake.event_count(), 0);
    let mut client = network().new_client(2, &server.node()).await;
    client.vote(vote_request(), option()).await.unwrap();
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Forwarding.

fn forward_client(node: PeerNode, config: NetConfig) -> ForwardClient {
    ForwardClient::new(2, 1, node, LOCAL, config)
}

fn rejected(r: Result<ForwardResponse, NetError>) -> Vec<u64> {
    match r {
        Ok(ForwardResponse::Proposed { rejected }) => rejected,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn many_concurrent_forwards_complete_and_are_admitted_in_call_order() {
    let fake = Fake::new(1);
    let server = Server::start(fake.clone()).await;
    let client = forward_client(server.node(), NetConfig::default());
    const N: u64 = 300;
    // join_all polls the calls in order, and each takes the client's (fair) lock in the order
    // it is first polled: that is the call order.
    let results = futures::future::join_all((0..N).map(|seq| client.call(propose(seq)))).await;
    for (seq, r) in results.into_iter().enumerate() {
        assert_eq!(rejected(r), vec![seq as u64]);
    }
    let admitted: Vec<_> = fake
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Admitted(from, seq) => Some((from, seq)),
            _ => None,
        })
        .collect();
    assert_eq!(admitted, (0..N).map(|seq| (2, seq)).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn forwards_completing_out_of_order_get_their_own_answers() {
    let fake = Fake::new(1);
    let server = Server::start(fake.clone()).await;
    let client = Arc::new(forward_client(server.node(), NetConfig::default()));
    let gates: Vec<_> = (0..5).map(|seq| fake.gate(seq)).collect();
    let calls = {
        let client = client.clone();
        tokio::spawn(async move {
            futures::future::join_all((0..5).map(|seq| client.call(propose(seq)))).await
        })
    };
    // All five admitted (in order) and waiting at their gates.
    fake.wait_for_events(5).await;
    // Complete them last first, each only after the one before has completed.
    for gate in gates.into_iter().rev() {
        let before = fake.event_count();
        gate.send(()).unwrap();
        fake.wait_for_events(before + 1).await;
    }
    let results = tokio::time::timeout(LONG, calls).await.unwrap().unwrap();
    for (seq, r) in results.into_iter().enumerate() {
        assert_eq!(rejected(r), vec![seq as u64]);
    }
    let order: Vec<_> = fake
        .take_events()
        .into_iter()
        .map(|e| match e {
            Event::Admitted(_, s) => format!("a{s}"),
            Event::Completed(s) => format!("c{s}"),
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(
        order,
        ["a0", "a1", "a2", "a3", "a4", "c4", "c3", "c2", "c1", "c0"]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_newer_forward_connection_of_a_member_stops_its_older_one_first() {
    let fake = Fake::new(1);
    let server = Server::start(fake.clone()).await;
    let old = Arc::new(forward_client(server.node(), NetConfig::default()));
    let gate = fake.gate(0);
    let old_call = {
        let old = old.clone();
        tokio::spawn(async move { old.call(propose(0)).await })
    };
    fake.wait_for_events(1).await;

    // Another member's forward connection is its own business.
    let other = ForwardClient::new(3, 1, server.node(), LOCAL, NetConfig::default());
    assert_eq!(rejected(other.call(propose(10)).await), vec![10]);

    // Member 2 again, on a new connection (it believes the old one broke).
    let new = forward_client(server.node(), NetConfig::default());
    assert_eq!(rejected(new.call(propose(1)).await), vec![1]);
    match tokio::time::timeout(LONG, old_call).await.unwrap().unwrap() {
        Err(NetError::OutcomeUnknown { reason, .. }) => {
            assert!(reason.contains("newer forward connection"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    gate.send(()).unwrap();
    fake.wait_for_events(6).await;
    let events: Vec<_> = fake
        .take_events()
        .into_iter()
        .map(|e| match e {
            Event::Admitted(from, s) => format!("a{from}/{s}"),
            Event::Completed(s) => format!("c{s}"),
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(events, ["a2/0", "a3/10", "c10", "a2/1", "c1", "c0"]);
    server.stop().await;
}

/// A leader by hand: accepts one connection, checks the hello, reads `n` forwards.
async fn accept_forwards(listener: &TcpListener, n: usize) -> (Raw, Vec<Frame>) {
    let (stream, _) = tokio::time::timeout(LONG, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut raw = Raw::from_stream(stream);
    let hello: Hello = raw.next().await.unwrap().decode().unwrap();
    assert_eq!((hello.from, hello.to), (2, 1));
    let mut frames = Vec::new();
    for _ in 0..n {
        let f = raw.next().await.unwrap();
        assert_eq!(f.kind, Kind::Forward);
        frames.push(f);
    }
    (raw, frames)
}

#[tokio::test]
async fn outstanding_forwards_fail_when_the_leader_drops_the_connection_and_the_next_call_reconnects()
 {
    let listener = TcpListener::bind((LOCAL, 0)).await.unwrap();
    let node = PeerNode {
        host: "127.0.0.1".into(),
        quorum_port: listener.local_addr().unwrap().port(),
        ..PeerNode::default()
    };
    let client = Arc::new(forward_client(node, NetConfig::default()));
    let calls = {
        let client = client.clone();
        tokio::spawn(async move {
            futures::future::join_all((0..3).map(|seq| client.call(propose(seq)))).await
        })
    };
    let (mut raw, frames) = accept_forwards(&listener, 3).await;
    // Answer the middle one, then drop the connection with the others outstanding.
    raw.send(
        Kind::Reply,
        frames[1].id,
        &ForwardResponse::Proposed { rejected: vec![] },
    )
    .await;
    // The reply is in before the connection closes: the client reads in order.
    drop(raw);
    let results = tokio::time::timeout(LONG, calls).await.unwrap().unwrap();
    let mut results = results.into_iter();
    let first = results.next().unwrap();
    assert!(
        matches!(&first, Err(NetError::OutcomeUnknown { .. })),
        "{first:?}"
    );
    assert!(
        first
            .unwrap_err()
            .to_string()
            .contains("outcome is unknown")
    );
    assert!(matches!(
        results.next().unwrap(),
        Ok(ForwardResponse::Proposed { .. })
    ));
    assert!(matches!(
        results.next().unwrap(),
        Err(NetError::OutcomeUnknown { .. })
    ));

    // The next call makes a new connection.
    let next = {
        let client = client.clone();
        tokio::spawn(async move { client.call(ForwardRequest::ReadIndex).await })
    };
    let (mut raw, frames) = accept_forwards(&listener, 1).await;
    assert!(matches!(
        frames[0].decode::<ForwardRequest>().unwrap(),
        ForwardRequest::ReadIndex
    ));
    raw.send(
        Kind::Reply,
        frames[0].id,
        &ForwardResponse::ReadIndex(Ok(42)),
    )
    .await;
    let r = tokio::time::timeout(LONG, next).await.unwrap().unwrap();
    assert!(matches!(r, Ok(ForwardResponse::ReadIndex(Ok(42)))), "{r:?}");
}

#[tokio::test]
async fn a_silent_leader_fails_outstanding_forwards() {
    let listener = TcpListener::bind((LOCAL, 0)).await.unwrap();
    let node = PeerNode {
        host: "127.0.0.1".into(),
        quorum_port: listener.local_addr().unwrap().port(),
        ..PeerNode::default()
    };
    let config = NetConfig {
        forward_idle: Duration::from_millis(200),
        ..NetConfig::default()
    };
    let client = Arc::new(forward_client(node, config));
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.call(ForwardRequest::Touch(vec![(5, 3000)])).await })
    };
    // Reads the request and never answers, keeping the connection open.
    let (_raw, _frames) = accept_forwards(&listener, 1).await;
    let r = tokio::time::timeout(LONG, call).await.unwrap().unwrap();
    match r {
        Err(NetError::OutcomeUnknown { reason, .. }) => {
            assert!(reason.contains("sent nothing"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_leader_that_cannot_be_reached_fails_the_call() {
    let node = PeerNode {
        host: "127.0.0.1".into(),
        quorum_port: closed_port().await,
        ..PeerNode::default()
    };
    let client = forward_client(node, NetConfig::default());
    let r = client.call(ForwardRequest::ReadIndex).await;
    assert!(matches!(r, Err(NetError::Connect { .. })), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Bound outgoing sockets.

/// 127.0.0.2 where the loopback answers on all of 127/8 (Linux), else 127.0.0.1.
fn other_loopback() -> IpAddr {
    let two = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    match std::net::TcpListener::bind((two, 0)) {
        Ok(_) => two,
        Err(_) => LOCAL,
    }
}

#[tokio::test]
async fn outgoing_sockets_are_bound_to_the_given_ip() {
    let ip = other_loopback();
    let listener = TcpListener::bind((LOCAL, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let stream = connect_bound(ip, "127.0.0.1", port, LONG).await.unwrap();
    assert_eq!(stream.local_addr().unwrap().ip(), ip);
    let (_, seen) = listener.accept().await.unwrap();
    assert_eq!(seen.ip(), ip);

    // The Raft client's sockets.
    let node = PeerNode {
        host: "127.0.0.1".into(),
        quorum_port: port,
        election_port: port,
        ..PeerNode::default()
    };
    let mut client = PeerNetwork::new(1, ip, NetConfig::default())
        .new_client(2, &node)
        .await;
    let rpc = tokio::spawn(async move { client.vote(vote_request(), option()).await });
    let (_conn, seen) = listener.accept().await.unwrap();
    assert_eq!(seen.ip(), ip);
    rpc.abort();

    // The forward client's.
    let client = Arc::new(ForwardClient::new(2, 1, node, ip, NetConfig::default()));
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.call(ForwardRequest::ReadIndex).await })
    };
    let (_conn, seen) = listener.accept().await.unwrap();
    assert_eq!(seen.ip(), ip);
    call.abort();
}
