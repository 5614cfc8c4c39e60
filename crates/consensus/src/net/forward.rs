//! [`ForwardClient`]: a follower's or observer's one ordered connection to the leader, for the
//! client writes, session touches and read-index requests it forwards.
//!
//! Calls may be made concurrently and are pipelined: each is written as soon as its turn comes,
//! without waiting for the replies to earlier ones, and the replies, which the leader sends as
//! each request completes, are matched to their calls by request id.
//!
//! Invariants:
//! - Requests are written in the order of their calls (the order in which they take the
//!   client's lock, which is first come, first served), on one connection, and the leader admits
//!   the requests of one connection in the order it reads them. So the proposals of one member
//!   reach the log in the order it accepted them.
//! - When the connection breaks (i/o error, the leader closes it or refuses, a broken frame, or
//!   nothing heard for [`NetConfig::forward_idle`] while requests are outstanding), every call
//!   still waiting fails: [`NetError::OutcomeUnknown`] if its request had been handed to the
//!   socket (the leader may or may not have taken it), [`NetError::NotSent`] if not (it
//!   certainly was not applied). No call waits forever on a dead connection.
//! - The next call after a break makes a new connection; a broken one is never reused, so
//!   nothing is written after a request whose fate is unknown on the same stream. The leader
//!   serves one forward connection per member: the first request on the new connection stops
//!   the old one there before it is admitted, so no request of the old connection can be
//!   admitted after it (the basis of the barrier in the design, §3.8).
//! - A member keeps one `ForwardClient` per leader: two of them to the same leader would fence
//!   each other off in turn.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};

use super::frame::{self, FrameReader, Kind};
use super::{Conn, NetConfig, NetError, frame_error, refusal_reason};
use crate::{ForwardRequest, ForwardResponse, NodeId, PeerNode};

type Reply = oneshot::Sender<Result<ForwardResponse, NetError>>;

/// The forward connection to one leader; see the module docs.
pub struct ForwardClient {
    me: NodeId,
    leader: NodeId,
    node: PeerNode,
    bind_ip: IpAddr,
    config: NetConfig,
    /// The current connection. Held across connecting, so that calls made meanwhile queue up in
    /// order behind the one connecting.
    link: tokio::sync::Mutex<Option<Link>>,
}

impl ForwardClient {
    /// The client of member `me` for leader `leader`, reached at `node`'s quorum port with a
    /// socket bound to `bind_ip`. Connects at the first call.
    pub fn new(
        me: NodeId,
        leader: NodeId,
        node: PeerNode,
        bind_ip: IpAddr,
        config: NetConfig,
    ) -> Self {
        ForwardClient {
            me,
            leader,
            node,
            bind_ip,
            config,
            link: tokio::sync::Mutex::new(None),
        }
    }

    /// The leader this client talks to.
    pub fn leader(&self) -> NodeId {
        self.leader
    }

    /// Sends `req` to the leader and waits for its answer. Concurrent calls are written in the
    /// order they are made, and each gets its own answer whatever order they complete in.
    ///
    /// Dropping the returned future once the request is queued does not take the request back:
    /// it is still sent, and its outcome is then unknown to the caller.
    pub async fn call(&self, req: ForwardRequest) -> Result<ForwardResponse, NetError> {
        let (answer, peer) = {
            let mut link = self.link.lock().await;
            if link.as_ref().is_some_and(|l| l.shared.is_broken()) {
                *link = None;
            }
            let l = match &mut *link {
                Some(l) => l,
                None => link.insert(self.connect().await?),
            };
            let id = l.next_id;
            l.next_id += 1;
            let frame = frame::encode(Kind::Forward, id, &req).map_err(NetError::Encode)?;
            let (reply, answer) = oneshot::channel();
            if l.calls.send(Call { id, frame, reply }).is_err() {
                return Err(NetError::NotSent {
                    peer: l.shared.peer,
                    reason: l.shared.reason(),
                });
            }
            (answer, l.shared.peer)
        };
        // Every path of the link's tasks answers; a missing answer means they were torn down
        // (the runtime is shutting down), and then the request's fate is unknown.
        answer.await.unwrap_or_else(|_| {
            Err(NetError::OutcomeUnknown {
                peer,
                reason: "the connection's tasks ended without answering".into(),
            })
        })
    }

    async fn connect(&self) -> Result<Link, NetError> {
        let conn = Conn::open(
            self.bind_ip,
            &self.node.host,
            self.node.quorum_port,
            (self.me, self.leader),
            self.config.connect,
        )
        .await?;
        let (reader, writer, peer) = conn.into_parts();
        let (broken, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            peer,
            state: Mutex::new(State {
                pending: HashMap::new(),
                broken: None,
            }),
            broken,
        });
        let (calls, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(writer, queue, shared.clone()));
        tokio::spawn(read_loop(reader, shared.clone(), self.config.forward_idle));
        Ok(Link {
            calls,
            shared,
            next_id: 1,
        })
    }
}

/// One connection: the queue to its writer task, and what both its tasks share.
struct Link {
    calls: mpsc::UnboundedSender<Call>,
    shared: Arc<Shared>,
    next_id: u64,
}

struct Call {
    id: u64,
    frame: Bytes,
    reply: Reply,
}

struct Shared {
    peer: SocketAddr,
    state: Mutex<State>,
    /// Turns true once the connection is broken, to stop both tasks.
    broken: watch::Sender<bool>,
}

struct State {
    /// Calls whose requests were handed to the socket, by request id.
    pending: HashMap<u64, Pending>,
    /// Why the connection broke, once it has.
    broken: Option<String>,
}

struct Pending {
    reply: Reply,
    sent_at: Instant,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves the map consistent (each operation is one
        // insert or remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_broken(&self) -> bool {
        self.state().broken.is_some()
    }

    fn reason(&self) -> String {
        self.state()
            .broken
            .clone()
            .unwrap_or_else(|| "the connection closed".into())
    }

    /// Records a call about to be written; hands the reply back if the connection is already
    /// broken. Done under the same lock as [`Self::break_link`]'s sweep, so a call is either
    /// swept (and answered) by it or refused here, never left waiting.
    fn register(&self, id: u64, reply: Reply) -> Result<(), Reply> {
        let mut st = self.state();
        if st.broken.is_some() {
            return Err(reply);
        }
        st.pending.insert(
            id,
            Pending {
                reply,
                sent_at: Instant::now(),
            },
        );
        Ok(())
    }

    fn take(&self, id: u64) -> Option<Reply> {
        self.state().pending.remove(&id).map(|p| p.reply)
    }

    /// Whether a request has waited `idle` or longer.
    fn stalled(&self, idle: Duration) -> Option<usize> {
        let st = self.state();
        let oldest = st.pending.values().map(|p| p.sent_at).min()?;
        (oldest.elapsed() >= idle).then_some(st.pending.len())
    }

    /// Marks the connection broken (the first reason wins), fails every outstanding call, and
    /// stops both tasks.
    fn break_link(&self, reason: String) {
        let pending = {
            let mut st = self.state();
            if st.broken.is_some() {
                return;
            }
            st.broken = Some(reason.clone());
            std::mem::take(&mut st.pending)
        };
        if !pending.is_empty() {
            tracing::warn!(
                peer = %self.peer,
                outstanding = pending.len(),
                "forward connection broke: {reason}"
            );
        } else {
            tracing::debug!(peer = %self.peer, "forward connection closed: {reason}");
        }
        for (_, p) in pending {
            let _ = p.reply.send(Err(NetError::OutcomeUnknown {
                peer: self.peer,
                reason: reason.clone(),
            }));
        }
        self.broken.send_replace(true);
    }
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Call>,
    shared: Arc<Shared>,
) {
    let mut broken = shared.broken.subscribe();
    loop {
        let call = tokio::select! {
            biased;
            _ = broken.wait_for(|b| *b) => break,
            call = queue.recv() => match call {
                Some(call) => call,
                None => {
                    shared.break_link("the forward client was dropped".into());
                    break;
                }
            },
        };
        // Registered before it is written, so that a quick reply finds it.
        if let Err(reply) = shared.register(call.id, call.reply) {
            let _ = reply.send(Err(NetError::NotSent {
                peer: shared.peer,
                reason: shared.reason(),
            }));
            break;
        }
        tokio::select! {
            biased;
            // The reader found the connection dead: a write may never finish, so give it up.
            _ = broken.wait_for(|b| *b) => break,
            written = writer.write_all(&call.frame) => {
                if let Err(e) = written {
                    shared.break_link(format!("writing failed: {e}"));
                    break;
                }
            }
        }
    }
    // What is still queued was never written.
    queue.close();
    let reason = shared.reason();
    while let Ok(call) = queue.try_recv() {
        let _ = call.reply.send(Err(NetError::NotSent {
            peer: shared.peer,
            reason: reason.clone(),
        }));
    }
}

async fn read_loop(mut reader: FrameReader<OwnedReadHalf>, shared: Arc<Shared>, idle: Duration) {
    let mut broken = shared.broken.subscribe();
    let peer = shared.peer;
    loop {
        // Wakes at least every `idle` to see whether a request has waited too long; reading is
        // cancel-safe, so a wake loses nothing.
        let read = tokio::select! {
            biased;
            _ = broken.wait_for(|b| *b) => return,
            read = tokio::time::timeout(idle, reader.next_frame()) => read,
        };
        let frame = match read {
            Err(_) => {
                if let Some(n) = shared.stalled(idle) {
                    shared.break_link(format!(
                        "the leader sent nothing for {idle:?} with {n} requests outstanding"
                    ));
                    return;
                }
                continue;
            }
            Ok(Err(e)) => {
                shared.break_link(frame_error(peer, e).to_string());
                return;
            }
            Ok(Ok(frame)) => frame,
        };
        match frame.kind {
            Kind::Reply => match frame.decode::<ForwardResponse>() {
                Ok(resp) => match shared.take(frame.id) {
                    // The caller may have stopped waiting; nothing to do then.
                    Some(reply) => {
                        let _ = reply.send(Ok(resp));
                    }
                    None => {
                        shared.break_link(format!(
                            "a reply to request {}, which is not outstanding",
                            frame.id
                        ));
                        return;
                    }
                },
                Err(e) => {
                    shared.break_link(format!("an undecodable reply: {e}"));
                    return;
                }
            },
            Kind::Refused => {
                shared.break_link(format!("the leader refused: {}", refusal_reason(&frame)));
                return;
            }
            kind => {
                shared.break_link(format!("a {kind} frame, which a leader does not send"));
                return;
            }
        }
    }
}
