//! The peer transport: plain TCP between members, length-prefixed postcard frames, no gRPC.
//!
//! Parts:
//! - [`frame`]: the framing (`u32 length | u8 kind | u64 request id | payload`) and a reader that
//!   refuses bad frames without panicking or allocating for what has not arrived.
//! - `wire`: the payloads that are not openraft's own (hello, snapshot header and chunks).
//! - [`client`]: [`PeerNetwork`], openraft's network factory, and [`PeerClient`], its
//!   per-target network.
//! - [`server`]: [`serve`], which answers peers on the quorum and election ports by calling a
//!   [`PeerService`] (the node's Raft, and its forward handling when it leads).
//! - [`forward`]: [`ForwardClient`], one ordered, pipelined connection to the leader for write
//!   forwarding.
//!
//! Which port carries what, as in ZooKeeper:
//! - the **quorum port**: log replication (AppendEntries with entries), snapshots, forwarding;
//! - the **election port**: votes, pre-votes, leadership transfer, and the leader's heartbeats,
//!   so that elections and the leader lease never queue behind bulk replication.
//!
//! Invariants:
//! - Every connection starts with a hello naming the caller and the member it means to reach;
//!   a server refuses a hello meant for someone else, and nobody connects to itself.
//! - Every outgoing socket is bound to this member's own address before it connects, so that a
//!   firewall rule on that address cuts every path out of the member (per-address partitions).
//! - On one connection, requests are answered in the order they arrive; only forwarded
//!   requests' completions may come back out of order, matched by request id.
//! - A snapshot reaches the service only whole: every chunk's CRC, the total length and the
//!   total CRC are checked first.
//! - Nothing a peer sends panics this member: a bad frame closes that connection, with the
//!   reason logged.

pub mod client;
pub mod forward;
pub mod frame;
pub mod server;
mod wire;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

pub use client::{PeerClient, PeerNetwork};
pub use forward::ForwardClient;
pub use frame::{FrameError, Kind};
pub use server::{ForwardCompletion, PeerService, ServeConfig, serve, serve_with};

use crate::NodeId;
use frame::{Frame, FrameReader};
use wire::Hello;

/// Timeouts and retry pacing of the outgoing side ([`PeerNetwork`], [`ForwardClient`]).
///
/// Ordinary Raft RPCs take their deadline from openraft (`RPCOption::soft_ttl`), not from here.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Most a connection attempt may take (also bounded by the RPC's own deadline). A peer
    /// behind a partition that drops packets answers nothing, so this is what ends the attempt.
    pub connect: Duration,
    /// Most one snapshot chunk (1 MiB) may take to be written and acknowledged. openraft's
    /// `install_snapshot_timeout` is meant for a whole transfer and is far too short for a large
    /// one, so it is not used.
    pub snapshot_chunk: Duration,
    /// Most the receiver may take to install a complete snapshot and answer.
    pub snapshot_install: Duration,
    /// A forward connection with requests outstanding and nothing heard from the leader for
    /// this long is taken for dead (detected within twice this).
    pub forward_idle: Duration,
    /// First pause openraft takes before retrying an unreachable peer.
    pub backoff_min: Duration,
    /// The pause doubles on every further failure, up to this.
    pub backoff_max: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            connect: Duration::from_secs(1),
            snapshot_chunk: Duration::from_secs(30),
            snapshot_install: Duration::from_secs(120),
            forward_idle: Duration::from_secs(15),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
        }
    }
}

/// What went wrong talking to a peer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("member {0} must not connect to itself")]
    SelfConnect(NodeId),
    #[error("cannot resolve {target}: {source}")]
    Resolve { target: String, source: io::Error },
    #[error(
        "{target} has no address of the family of {bind_ip} (the address outgoing sockets bind to)"
    )]
    NoAddress { target: String, bind_ip: IpAddr },
    #[error("cannot bind an outgoing socket to {bind_ip}: {source}")]
    Bind { bind_ip: IpAddr, source: io::Error },
    #[error("cannot connect to {peer} from {bind_ip}: {source}")]
    Connect {
        peer: SocketAddr,
        bind_ip: IpAddr,
        source: io::Error,
    },
    #[error("connecting to {target} timed out after {after:?}")]
    ConnectTimeout { target: String, after: Duration },
    #[error("{peer} did not answer the {what} within {after:?}")]
    Timeout {
        peer: SocketAddr,
        what: Kind,
        after: Duration,
    },
    #[error("connection to {peer} failed: {source}")]
    Io { peer: SocketAddr, source: io::Error },
    #[error("{peer} closed the connection")]
    Closed { peer: SocketAddr },
    #[error("{peer} broke the protocol: {source}")]
    Protocol {
        peer: SocketAddr,
        source: FrameError,
    },
    #[error("{peer} sent a {kind} frame with id {id} where the reply to request {want} was due")]
    Unexpected {
        peer: SocketAddr,
        kind: Kind,
        id: u64,
        want: u64,
    },
    #[error("{peer} refused: {reason}")]
    Refused { peer: SocketAddr, reason: String },
    #[error("{peer} could not handle the {what}: {reason}")]
    Remote {
        peer: SocketAddr,
        what: Kind,
        reason: String,
    },
    #[error("cannot send: {0}")]
    Encode(FrameError),
    #[error("{peer} acknowledged {got} snapshot bytes where {want} had been sent")]
    SnapshotAck {
        peer: SocketAddr,
        got: u64,
        want: u64,
    },
    #[error(
        "the connection to {peer} broke while the request was outstanding, so its outcome is unknown: {reason}"
    )]
    OutcomeUnknown { peer: SocketAddr, reason: String },
    #[error(
        "the connection to {peer} broke before the request was sent, so it was not applied: {reason}"
    )]
    NotSent { peer: SocketAddr, reason: String },
}

impl NetError {
    /// Whether the peer could not be reached at all (or will not talk to us), as opposed to a
    /// connection that failed in use. openraft backs off on the first and retries the second at
    /// once (a fresh connection then usually works, e.g. after the peer restarted).
    pub fn is_unreachable(&self) -> bool {
        match self {
            NetError::SelfConnect(_)
            | NetError::Resolve { .. }
            | NetError::NoAddress { .. }
            | NetError::Bind { .. }
            | NetError::Connect { .. }
            | NetError::ConnectTimeout { .. }
            | NetError::Refused { .. }
            | NetError::Remote { .. }
            | NetError::Encode(_)
            | NetError::Protocol { .. }
            | NetError::Unexpected { .. }
            | NetError::SnapshotAck { .. } => true,
            NetError::Timeout { .. }
            | NetError::Io { .. }
            | NetError::Closed { .. }
            | NetError::OutcomeUnknown { .. }
            | NetError::NotSent { .. } => false,
        }
    }
}

/// A TCP connection to `host:port`, its socket bound to `bind_ip` first (port 0: any), within
/// `limit`. Prefers the target's addresses of `bind_ip`'s family (a socket bound to an IPv4
/// address cannot reach an IPv6 one); an unspecified `bind_ip` takes any.
pub async fn connect_bound(
    bind_ip: IpAddr,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<TcpStream, NetError> {
    let target = format!("{host}:{port}");
    let attempt = async {
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| NetError::Resolve {
                target: target.clone(),
                source,
            })?;
        let mut addrs: Vec<SocketAddr> = addrs.collect();
        if !bind_ip.is_unspecified() {
            addrs.retain(|a| a.is_ipv4() == bind_ip.is_ipv4());
        }
        let Some(&peer) = addrs.first() else {
            return Err(NetError::NoAddress {
                target: target.clone(),
                bind_ip,
            });
        };
        let socket = if peer.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|source| NetError::Bind { bind_ip, source })?;
        let bind_ip = if bind_ip.is_unspecified() && bind_ip.is_ipv4() != peer.is_ipv4() {
            // Unspecified of the other family: bind to the unspecified address of this one.
            match peer {
                SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
                SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
            }
        } else {
            bind_ip
        };
        socket
            .bind(SocketAddr::new(bind_ip, 0))
            .map_err(|source| NetError::Bind { bind_ip, source })?;
        let stream = socket
            .connect(peer)
            .await
            .map_err(|source| NetError::Connect {
                peer,
                bind_ip,
                source,
            })?;
        // Raft RPCs are small and latency-bound: do not let Nagle hold them back.
        stream
            .set_nodelay(true)
            .map_err(|source| NetError::Io { peer, source })?;
        Ok(stream)
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(NetError::ConnectTimeout {
            target,
            after: limit,
        }),
    }
}

/// One established, greeted connection used for one exchange at a time.
///
/// Its owner takes it out of its slot for an exchange and puts it back only when the exchange
/// completed: a connection whose exchange failed, timed out or was cancelled midway is dropped
/// (closed), never reused with a reply still due or a request half written.
pub(crate) struct Conn {
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    next_id: u64,
}

impl Conn {
    /// Connects (see [`connect_bound`]) and sends the hello. The server answers a hello only by
    /// refusing it, so a refusal shows up as the reply to the first request.
    pub(crate) async fn open(
        bind_ip: IpAddr,
        host: &str,
        port: u16,
        hello: (NodeId, NodeId),
        limit: Duration,
    ) -> Result<Conn, NetError> {
        let (from, to) = hello;
        if from == to {
            return Err(NetError::SelfConnect(from));
        }
        let stream = connect_bound(bind_ip, host, port, limit).await?;
        let peer = stream.peer_addr().map_err(|source| NetError::Io {
            peer: SocketAddr::new(bind_ip, 0),
            source,
        })?;
        let (reader, writer) = stream.into_split();
        let mut conn = Conn {
            reader: FrameReader::new(reader),
            writer,
            peer,
            next_id: 1,
        };
        let hello = Hello {
            version: wire::PROTOCOL_VERSION,
            from,
            to,
        };
        let frame = frame::encode(Kind::Hello, 0, &hello).map_err(NetError::Encode)?;
        conn.send(&frame).await?;
        Ok(conn)
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) async fn send(&mut self, frame: &[u8]) -> Result<(), NetError> {
        self.writer
            .write_all(frame)
            .await
            .map_err(|source| NetError::Io {
                peer: self.peer,
                source,
            })
    }

    /// The reply to request `id`, decoded as a `T`.
    pub(crate) async fn reply<T: DeserializeOwned>(&mut self, id: u64) -> Result<T, NetError> {
        let frame = self
            .reader
            .next_frame()
            .await
            .map_err(|e| frame_error(self.peer, e))?;
        decode_reply(self.peer, &frame, id)
    }

    /// One request and its reply.
    pub(crate) async fn call<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &mut self,
        kind: Kind,
        req: &Req,
    ) -> Result<Resp, NetError> {
        let id = self.next_id();
        let frame = frame::encode(kind, id, req).map_err(NetError::Encode)?;
        self.send(&frame).await?;
        self.reply(id).await
    }

    pub(crate) fn into_parts(self) -> (FrameReader<OwnedReadHalf>, OwnedWriteHalf, SocketAddr) {
        (self.reader, self.writer, self.peer)
    }
}

/// A reader's failure as seen by the side that expected a reply.
pub(crate) fn frame_error(peer: SocketAddr, e: FrameError) -> NetError {
    match e {
        FrameError::Eof | FrameError::Truncated { .. } => NetError::Closed { peer },
        FrameError::Io(source) => NetError::Io { peer, source },
        source => NetError::Protocol { peer, source },
    }
}

/// `frame` as the reply to request `id`: a refusal becomes [`NetError::Refused`], anything
/// else unexpected a protocol error.
pub(crate) fn decode_reply<T: DeserializeOwned>(
    peer: SocketAddr,
    frame: &Frame,
    id: u64,
) -> Result<T, NetError> {
    match frame.kind {
        Kind::Reply if frame.id == id => frame
            .decode()
            .map_err(|source| NetError::Protocol { peer, source }),
        Kind::Refused => Err(NetError::Refused {
            peer,
            reason: refusal_reason(frame),
        }),
        kind => Err(NetError::Unexpected {
            peer,
            kind,
            id: frame.id,
            want: id,
        }),
    }
}

pub(crate) fn refusal_reason(frame: &Frame) -> String {
    frame
        .decode::<String>()
        .unwrap_or_else(|e| format!("(undecodable reason: {e})"))
}
