//! The sending side of Raft: openraft's network factory ([`PeerNetwork`]) and the network it
//! makes for each target ([`PeerClient`]).
//!
//! openraft makes one `PeerClient` per purpose and target: one for replication, one for
//! heartbeats ([`RaftNetworkFactory::new_heartbeat_client`]), one per snapshot transfer, and a
//! fresh one for every round of (pre-)votes and leadership transfer. Each holds its own
//! connections, made when first needed, and calls one RPC at a time on them (openraft's methods
//! take `&mut self`), so a connection never has more than one request in flight.
//!
//! Routing:
//! - AppendEntries and snapshots go to the target's quorum port, except from the heartbeat
//!   client, whose AppendEntries (heartbeats, and the lease probes for reads) go to the election
//!   port: they must not wait behind a large batch or a snapshot.
//! - Vote, pre-vote and transfer-leader go to the election port.
//!
//! Failures, in openraft's terms:
//! - the peer cannot be reached (connect refused or timed out, wrong member, protocol broken):
//!   `Unreachable`, and openraft pauses by [`RaftNetworkV2::backoff`] before the next try;
//! - an established connection failed or closed: `Network`, retried at once on a new one;
//! - no answer within the RPC's `soft_ttl`: `Timeout`.
//!
//! In every case the connection is dropped, and the next RPC makes a new one.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::{RPCTypes, RaftNetworkV2};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::frame::{self, Kind, MAX_FRAME_LEN, SNAPSHOT_CHUNK_LEN};
use super::wire::{RemoteResult, SnapshotBegin, SnapshotChunk};
use super::{Conn, NetConfig, NetError};
use crate::types::{LogId, Vote};
use crate::{NodeId, PeerNode, SnapshotData, TypeConfig};

/// openraft's network factory: makes a [`PeerClient`] per target and purpose.
#[derive(Clone, Debug)]
pub struct PeerNetwork {
    me: NodeId,
    bind_ip: IpAddr,
    config: Arc<NetConfig>,
}

impl PeerNetwork {
    /// The network of member `me`, whose outgoing sockets bind to `bind_ip` (its own `server.N`
    /// address) before connecting.
    pub fn new(me: NodeId, bind_ip: IpAddr, config: NetConfig) -> Self {
        PeerNetwork {
            me,
            bind_ip,
            config: Arc::new(config),
        }
    }

    fn client(&self, target: NodeId, node: &PeerNode, heartbeat: bool) -> PeerClient {
        if target == self.me {
            // openraft never asks for this; if it ever did, connecting to ourselves would make it
            // panic, so every RPC of this client fails instead (see `PeerClient::exchange`).
            tracing::error!(member = self.me, "asked for a network client to itself");
        }
        PeerClient {
            me: self.me,
            target,
            node: node.clone(),
            bind_ip: self.bind_ip,
            config: self.config.clone(),
            heartbeat,
            quorum: None,
            election: None,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerClient {
        self.client(target, node, false)
    }

    async fn new_heartbeat_client(&mut self, target: NodeId, node: &PeerNode) -> PeerClient {
        self.client(target, node, true)
    }

    // new_snapshot_client: the default (`new_client`) already gives the transfer a client, and so
    // a connection, of its own.
}

/// Which of the target's ports a connection goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    Quorum,
    Election,
}

/// The network to one target; see the module docs.
pub struct PeerClient {
    me: NodeId,
    target: NodeId,
    node: PeerNode,
    bind_ip: IpAddr,
    config: Arc<NetConfig>,
    /// Made by `new_heartbeat_client`: AppendEntries go to the election port.
    heartbeat: bool,
    quorum: Option<Conn>,
    election: Option<Conn>,
}

impl PeerClient {
    fn port(&self, port: Port) -> u16 {
        match port {
            Port::Quorum => self.node.quorum_port,
            Port::Election => self.node.election_port,
        }
    }

    fn slot(&mut self, port: Port) -> &mut Option<Conn> {
        match port {
            Port::Quorum => &mut self.quorum,
            Port::Election => &mut self.election,
        }
    }

    /// The connection to `port`: the idle one if there is one, else a new one. The caller owns
    /// it until it puts it back with [`Self::put_back`] after a completed exchange.
    async fn take_conn(&mut self, port: Port, limit: Duration) -> Result<Conn, NetError> {
        if let Some(conn) = self.slot(port).take() {
            return Ok(conn);
        }
        Conn::open(
            self.bind_ip,
            &self.node.host,
            self.port(port),
            (self.me, self.target),
            limit.min(self.config.connect),
        )
        .await
    }

    fn put_back(&mut self, port: Port, conn: Conn) {
        *self.slot(port) = Some(conn);
    }

    /// One request and reply on `port` within `ttl`, connection included.
    async fn exchange<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        port: Port,
        kind: Kind,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, NetError> {
        if self.target == self.me {
            return Err(NetError::SelfConnect(self.me));
        }
        let started = Instant::now();
        let mut conn = self.take_conn(port, ttl).await?;
        let left = ttl.saturating_sub(started.elapsed());
        let peer = conn.peer();
        let reply =
            match tokio::time::timeout(left, conn.call::<_, RemoteResult<Resp>>(kind, req)).await {
                Ok(reply) => reply?,
                Err(_) => {
                    return Err(NetError::Timeout {
                        peer,
                        what: kind,
                        after: ttl,
                    });
                }
            };
        self.put_back(port, conn);
        reply.map_err(|reason| NetError::Remote {
            peer,
            what: kind,
            reason,
        })
    }

    /// `e` in openraft's terms (see the module docs).
    fn rpc_error(&self, e: NetError, action: RPCTypes) -> RPCError<TypeConfig> {
        tracing::debug!(from = self.me, to = self.target, %action, "peer rpc failed: {e}");
        match e {
            NetError::Timeout { after, .. } => RPCError::Timeout(Timeout {
                action,
                id: self.me,
                target: self.target,
                timeout: after,
            }),
            e if e.is_unreachable() => RPCError::Unreachable(Unreachable::new(&e)),
            e => RPCError::Network(NetworkError::new(&e)),
        }
    }

    /// Sends `snapshot`: header, then 1 MiB chunks each acknowledged, then the install's answer.
    async fn send_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
    ) -> Result<SnapshotResponse<TypeConfig>, NetError> {
        if self.target == self.me {
            return Err(NetError::SelfConnect(self.me));
        }
        let data: Bytes = snapshot.snapshot.0;
        let total_len = data.len() as u64;
        let begin = SnapshotBegin {
            vote,
            meta: snapshot.meta,
            total_len,
            crc: crc32c::crc32c(&data),
        };
        let chunk_limit = self.config.snapshot_chunk;
        let install_limit = self.config.snapshot_install;
        let mut conn = self.take_conn(Port::Quorum, self.config.connect).await?;
        let peer = conn.peer();

        let id = conn.next_id();
        let frame = frame::encode(Kind::SnapshotBegin, id, &begin).map_err(NetError::Encode)?;
        with_limit(peer, Kind::SnapshotBegin, chunk_limit, conn.send(&frame)).await?;
        if total_len == 0 {
            // Nothing follows the header: its reply is the install's.
            let reply: RemoteResult<SnapshotResponse<TypeConfig>> =
                with_limit(peer, Kind::SnapshotBegin, install_limit, conn.reply(id)).await?;
            return self.finish_snapshot(conn, peer, reply);
        }
        let acked: u64 = with_limit(peer, Kind::SnapshotBegin, chunk_limit, conn.reply(id)).await?;
        check_ack(peer, acked, 0)?;

        // Not empty here, so the loop ends with the last chunk's answer.
        let mut offset = 0usize;
        loop {
            let end = (offset + SNAPSHOT_CHUNK_LEN).min(data.len());
            let piece = data.slice(offset..end);
            let chunk = SnapshotChunk {
                offset: offset as u64,
                crc: crc32c::crc32c(&piece),
                data: piece,
            };
            let id = conn.next_id();
            let frame = frame::encode(Kind::SnapshotChunk, id, &chunk).map_err(NetError::Encode)?;
            with_limit(peer, Kind::SnapshotChunk, chunk_limit, conn.send(&frame)).await?;
            if end == data.len() {
                let reply: RemoteResult<SnapshotResponse<TypeConfig>> =
                    with_limit(peer, Kind::SnapshotChunk, install_limit, conn.reply(id)).await?;
                return self.finish_snapshot(conn, peer, reply);
            }
            let acked: u64 =
                with_limit(peer, Kind::SnapshotChunk, chunk_limit, conn.reply(id)).await?;
            check_ack(peer, acked, end as u64)?;
            offset = end;
        }
    }

    fn finish_snapshot(
        &mut self,
        conn: Conn,
        peer: std::net::SocketAddr,
        reply: RemoteResult<SnapshotResponse<TypeConfig>>,
    ) -> Result<SnapshotResponse<TypeConfig>, NetError> {
        self.put_back(Port::Quorum, conn);
        reply.map_err(|reason| NetError::Remote {
            peer,
            what: Kind::SnapshotBegin,
            reason,
        })
    }
}

async fn with_limit<T>(
    peer: std::net::SocketAddr,
    what: Kind,
    limit: Duration,
    f: impl Future<Output = Result<T, NetError>>,
) -> Result<T, NetError> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or(Err(NetError::Timeout {
            peer,
            what,
            after: limit,
        }))
}

fn check_ack(peer: std::net::SocketAddr, got: u64, want: u64) -> Result<(), NetError> {
    if got == want {
        Ok(())
    } else {
        Err(NetError::SnapshotAck { peer, got, want })
    }
}

/// `rpc` cut down to the longest prefix of its entries that fits in one frame, and the log id of
/// the last entry kept if any had to go. openraft allows sending a prefix and answering
/// `PartialSuccess` for it; without this, a batch over the frame limit could never be sent.
/// `None` when not even one entry fits (the entry itself is over the limit).
fn fit_append_entries(
    mut rpc: AppendEntriesRequest<TypeConfig>,
    limit: usize,
) -> Result<(AppendEntriesRequest<TypeConfig>, Option<LogId>), NetError> {
    let whole = frame::encoded_len(Kind::AppendEntries, &rpc).map_err(NetError::Encode)?;
    if whole <= limit {
        return Ok((rpc, None));
    }
    let entries = std::mem::take(&mut rpc.entries);
    let empty = frame::encoded_len(Kind::AppendEntries, &rpc).map_err(NetError::Encode)?;
    // The entries' count is a varint of up to 10 bytes; the empty request counted one.
    let mut used = empty + 9;
    let mut keep = 0;
    for entry in &entries {
        let n = postcard::experimental::serialized_size(entry).map_err(|source| {
            NetError::Encode(frame::FrameError::Encode {
                kind: Kind::AppendEntries,
                source,
            })
        })?;
        if used + n > limit {
            break;
        }
        used += n;
        keep += 1;
    }
    if keep == 0 {
        return Err(NetError::Encode(frame::FrameError::TooLarge {
            kind: Kind::AppendEntries,
            len: whole,
        }));
    }
    let mut entries = entries;
    entries.truncate(keep);
    let last = entries.last().map(|e| e.log_id);
    rpc.entries = entries;
    Ok((rpc, last))
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let port = if self.heartbeat {
            Port::Election
        } else {
            Port::Quorum
        };
        let (rpc, cut_after) = fit_append_entries(rpc, MAX_FRAME_LEN + frame::LEN_LEN)
            .map_err(|e| self.rpc_error(e, RPCTypes::AppendEntries))?;
        let resp: AppendEntriesResponse<TypeConfig> = self
            .exchange(port, Kind::AppendEntries, &rpc, option.soft_ttl())
            .await
            .map_err(|e| self.rpc_error(e, RPCTypes::AppendEntries))?;
        Ok(match (resp, cut_after) {
            // Only the prefix was sent, so only the prefix was accepted.
            (AppendEntriesResponse::Success, Some(last)) => {
                AppendEntriesResponse::PartialSuccess(Some(last))
            }
            (resp, _) => resp,
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.exchange(Port::Election, Kind::Vote, &rpc, option.soft_ttl())
            .await
            .map_err(|e| self.rpc_error(e, RPCTypes::Vote))
    }

    /// Really asks the target: the default would grant without asking, which makes pre-vote
    /// useless (an isolated member would "win" its pre-votes and disrupt the term on return).
    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.exchange(Port::Election, Kind::PreVote, &rpc, option.soft_ttl())
            .await
            .map_err(|e| self.rpc_error(e, RPCTypes::Vote))
    }

    /// Streams the snapshot with a deadline per chunk, not `option`'s: openraft passes
    /// `install_snapshot_timeout` there (200 ms by default), which a multi-megabyte transfer
    /// cannot meet. Ends as soon as `cancel` fires; dropping the half-sent transfer closes its
    /// connection, and the receiver then discards what it got.
    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let me = self.me;
        let target = self.target;
        let result = tokio::select! {
            biased;
            closed = cancel => return Err(StreamingError::Closed(closed)),
            r = self.send_snapshot(vote, snapshot) => r,
        };
        result.map_err(|e| {
            tracing::info!(from = me, to = target, "snapshot transfer failed: {e}");
            StreamingError::from(self.rpc_error(e, RPCTypes::InstallSnapshot))
        })
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.exchange(
            Port::Election,
            Kind::TransferLeader,
            &req,
            option.soft_ttl(),
        )
        .await
        .map_err(|e| self.rpc_error(e, RPCTypes::TransferLeader))
    }

    /// Doubling pauses from `backoff_min` to `backoff_max`: quick to retry a peer that just
    /// restarted, without hammering one that is down or cut off.
    fn backoff(&self) -> Option<Backoff> {
        Some(Backoff::new(backoff_series(
            self.config.backoff_min,
            self.config.backoff_max,
        )))
    }
}

fn backoff_series(min: Duration, max: Duration) -> impl Iterator<Item = Duration> + Send {
    let min = min.min(max);
    std::iter::successors(Some(min), move |d| Some((*d * 2).min(max)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Proposal;
    use openraft::EntryPayload;

    fn entry(index: u64, size: usize) -> crate::types::Entry {
        crate::types::Entry {
            log_id: LogId::new_term_index(1, index),
            payload: EntryPayload::Normal(Proposal {
                origin: 1,
                incarnation: 1,
                seq: index,
                entry: Bytes::from(vec![1u8; size]),
            }),
        }
    }

    fn request(entries: Vec<crate::types::Entry>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            entries,
            leader_commit: None,
        }
    }

    #[test]
    fn a_batch_that_fits_is_sent_whole() {
        let rpc = request((1..=5).map(|i| entry(i, 1000)).collect());
        let (rpc, cut) = fit_append_entries(rpc, 1 << 20).unwrap();
        assert_eq!(rpc.entries.len(), 5);
        assert_eq!(cut, None);
    }

    #[test]
    fn a_batch_over_the_limit_is_cut_to_the_prefix_that_fits() {
        let rpc = request((1..=10).map(|i| entry(i, 1000)).collect());
        let (rpc, cut) = fit_append_entries(rpc, 3500).unwrap();
        assert_eq!(rpc.entries.len(), 3);
        assert_eq!(cut, Some(LogId::new_term_index(1, 3)));
        assert!(frame::encoded_len(Kind::AppendEntries, &rpc).unwrap() <= 3500);
    }

    #[test]
    fn an_entry_alone_over_the_limit_cannot_be_sent() {
        let rpc = request(vec![entry(1, 5000)]);
        assert!(matches!(
            fit_append_entries(rpc, 3500),
            Err(NetError::Encode(frame::FrameError::TooLarge { .. }))
        ));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let got: Vec<_> = backoff_series(Duration::from_millis(50), Duration::from_millis(300))
            .take(5)
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(got, vec![ms(50), ms(100), ms(200), ms(300), ms(300)]);
    }
}
