//! One client connection: framing, the handshake, and the two halves that move bytes.
//!
//! The reader half reads length-prefixed frames (a length below zero or over `jute.maxbuffer`
//! closes the connection before anything is allocated), decodes them and hands them to the core
//! in arrival order. The writer half drains the connection's [`Outbox`] and writes everything that
//! is waiting with one vectored write. The first four bytes of a connection may instead be a
//! four-letter word, answered as text before the connection is closed (the core gives the
//! answer as typed data; the layout, and any reading of the file system, happen here).

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use watchkeeper_proto::{ConnectRequest, JuteReader, OpCode, Record, RequestHeader};

use crate::core::{ConnId, CoreMsg, Incoming};
use crate::fourlw;
use crate::frame_reader::{FrameError, FrameReader};
use crate::outbox::{CloseReason, MAX_IOV, Outbox, TryWrite, consume_written};
use crate::status;

/// What a connection task needs from the server.
#[derive(Clone)]
pub(crate) struct ConnContext {
    pub core: mpsc::Sender<CoreMsg>,
    pub max_buffer: usize,
    pub max_outbound_bytes: usize,
    pub handshake_timeout: Duration,
}

/// Why reading stopped; only for the log line.
#[derive(Debug, thiserror::Error)]
enum ReadStop {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("malformed {what}: {err}")]
    Malformed {
        what: &'static str,
        err: watchkeeper_proto::DecodeError,
    },
    #[error("no handshake within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("server closed the connection")]
    ServerClosed,
}

/// Serves one accepted socket until it closes.
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, conn: ConnId, ctx: ConnContext) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut rd = FrameReader::new(rd, ctx.max_buffer);

    let first = match tokio::time::timeout(ctx.handshake_timeout, rd.peek_prefix()).await {
        Ok(Ok(v)) => v,
        _ => return,
    };
    if let Some(cmd) = fourlw::command_from_prefix(first) {
        answer_four_letter(cmd, wr, &ctx).await;
        return;
    }

    let wr = Arc::new(wr);
    let socket: Arc<dyn TryWrite> = wr.clone();
    let outbox = Arc::new(Outbox::with_socket(ctx.max_outbound_bytes, Some(socket)));
    let writer = tokio::spawn(write_loop(wr, outbox.clone(), peer));
    let stop = read_loop(&mut rd, conn, peer, &ctx, &outbox).await;
    match &stop {
        ReadStop::Frame(FrameError::Eof) | ReadStop::ServerClosed => {
            tracing::debug!(%peer, conn, "connection closed: {stop}")
        }
        _ => tracing::info!(%peer, conn, "closing connection: {stop}"),
    }
    // Tell the core first so it stops queueing; then let the writer flush what is queued.
    let _ = ctx.core.send(CoreMsg::Disconnected { conn }).await;
    outbox.close();
    let _ = writer.await;
}

async fn read_loop(
    rd: &mut FrameReader<OwnedReadHalf>,
    conn: ConnId,
    peer: SocketAddr,
    ctx: &ConnContext,
    outbox: &Arc<Outbox>,
) -> ReadStop {
    let handshake = async {
        let frame = rd.next_frame().await?;
        // The trailing readOnly byte is optional; anything else left over is tolerated as old
        // clients do not send it and some send extra padding.
        let mut r = JuteReader::new(&frame);
        ConnectRequest::decode(&mut r).map_err(|err| ReadStop::Malformed {
            what: "connect request",
            err,
        })
    };
    let req = match tokio::time::timeout(ctx.handshake_timeout, handshake).await {
        Ok(Ok(req)) => req,
        Ok(Err(e)) => return e,
        Err(_) => return ReadStop::HandshakeTimeout(ctx.handshake_timeout),
    };
    let msg = CoreMsg::Connect {
        conn,
        peer,
        req,
        outbox: outbox.clone(),
    };
    if ctx.core.send(msg).await.is_err() {
        return ReadStop::ServerClosed;
    }

    // Registered once for the connection's life rather than once per frame.
    let server_closed = outbox.wait_closed();
    tokio::pin!(server_closed);
    loop {
        // Cancellation-safe: a frame partly read stays in the reader's buffer.
        let frame = tokio::select! {
            r = rd.next_frame() => match r {
                Ok(frame) => frame,
                Err(e) => return e.into(),
            },
            () = &mut server_closed => return ReadStop::ServerClosed,
        };
        let received = Instant::now();
        let mut r = JuteReader::new(&frame);
        let header = match RequestHeader::decode(&mut r) {
            Ok(h) => h,
            Err(err) => {
                return ReadStop::Malformed {
                    what: "request header",
                    err,
                };
            }
        };
        let body = frame.slice(frame.len() - r.remaining()..);
        let incoming = match OpCode::from_i32(header.op) {
            // Codes that are not client requests (notification, createSession, error) are
            // answered like unknown ones, as ZooKeeper's Request.isValid does.
            None | Some(OpCode::Notification | OpCode::CreateSession | OpCode::Error) => {
                Incoming::Unknown { op: header.op }
            }
            Some(op) => match crate::core::decode_request(op, &body) {
                Ok(req) => Incoming::Request(req),
                // ZooKeeper answers a body it cannot decode with MarshallingError and keeps
                // the connection.
                Err(err) => {
                    tracing::debug!(%peer, conn, op = ?op, %err, "malformed request body");
                    Incoming::Malformed
                }
            },
        };
        let msg = CoreMsg::Request {
            conn,
            xid: header.xid,
            incoming,
            received,
        };
        if ctx.core.send(msg).await.is_err() {
            return ReadStop::ServerClosed;
        }
    }
}

async fn write_loop(wr: Arc<OwnedWriteHalf>, outbox: Arc<Outbox>, peer: SocketAddr) {
    let mut batch: Vec<Bytes> = Vec::new();
    let overflowed = || {
        tracing::warn!(%peer, "client is not reading its replies; outbound queue limit reached, disconnecting");
    };
    loop {
        match outbox.next_batch(&mut batch).await {
            Ok(()) => match write_all_vectored(&wr, &mut batch, &outbox).await {
                Ok(()) => {}
                Err(WriteStop::Overflow) => {
                    overflowed();
                    break;
                }
                Err(WriteStop::Stalled) => {
                    tracing::info!(%peer, "closing: the client did not read its last replies within {CLOSE_DRAIN_TIMEOUT:?}");
                    break;
                }
                Err(WriteStop::Io(e)) => {
                    tracing::debug!(%peer, error = %e, "write failed");
                    outbox.close();
                    break;
                }
            },
            Err(CloseReason::Overflow) => {
                overflowed();
                break;
            }
            Err(CloseReason::Server) => break,
        }
    }
    // The socket is shut when the last holder of the write half drops it (the outbox gives its
    // handle up on close).
}

/// Why the writer stopped before its frames were written.
enum WriteStop {
    Io(std::io::Error),
    /// The outbox overflowed while the writer waited for the client to read.
    Overflow,
    /// The connection was closed and the client read nothing for [`CLOSE_DRAIN_TIMEOUT`].
    Stalled,
}

/// How long the last frames of a closed connection (a closeSession reply, say) may wait for a
/// client that does not read them.
const CLOSE_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes every frame, as few vectored writes as the socket allows. Non-blocking writes on a
/// shared half: the core's flushes write directly between two batches.
async fn write_all_vectored(
    wr: &OwnedWriteHalf,
    frames: &mut Vec<Bytes>,
    outbox: &Outbox,
) -> Result<(), WriteStop> {
    let mut start = 0;
    while start < frames.len() {
        let end = (start + MAX_IOV).min(frames.len());
        let slices: Vec<IoSlice<'_>> = frames[start..end].iter().map(|b| IoSlice::new(b)).collect();
        wait_writable(wr, outbox).await?;
        let n = match wr.try_write_vectored(&slices) {
            Ok(0) => return Err(WriteStop::Io(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(WriteStop::Io(e)),
        };
        drop(slices);
        start += consume_written(&mut frames[start..], n);
    }
    frames.clear();
    Ok(())
}

/// Waits until the socket takes bytes again. A client that does not read must not hold the
/// writer (and with it the connection and its maxClientCnxns slot) forever: an overflow ends
/// the wait at once, a close bounds it by [`CLOSE_DRAIN_TIMEOUT`].
async fn wait_writable(wr: &OwnedWriteHalf, outbox: &Outbox) -> Result<(), WriteStop> {
    if outbox.closed().is_none() {
        tokio::select! {
            r = wr.writable() => return r.map_err(WriteStop::Io),
            () = outbox.wait_closed() => {}
        }
    }
    if outbox.closed() == Some(CloseReason::Overflow) {
        return Err(WriteStop::Overflow);
    }
    match tokio::time::timeout(CLOSE_DRAIN_TIMEOUT, wr.writable()).await {
        Ok(r) => r.map_err(WriteStop::Io),
        Err(_) => Err(WriteStop::Stalled),
    }
}

/// Asks the core for the word's report, completes it here with what the operating system
/// tells (on the blocking pool, not the core task), and writes it as ZooKeeper's text.
async fn answer_four_letter(cmd: &'static str, mut wr: OwnedWriteHalf, ctx: &ConnContext) {
    let (tx, rx) = oneshot::channel();
    if ctx
        .core
        .send(CoreMsg::FourLetter { cmd, reply: tx })
        .await
        .is_err()
    {
        return;
    }
    if let Ok(answer) = rx.await
        && let Some(report) = answer.complete().await
    {
        let _ = wr.write_all(status::text::render(&report).as_bytes()).await;
    }
    let _ = wr.shutdown().await;
}
