//! A lean pipelined ZooKeeper session for load generation.
//!
//! One [`Connection`] is one TCP connection and one session, owned by one task: the caller
//! decides exactly how many requests are in flight, when frames are flushed, and what happens
//! to every reply and notification. There are no background tasks and no channels between the
//! socket and the caller, so a latency is the time from encoding a request to reading the bytes
//! of its reply.
//!
//! Invariants:
//! - Replies arrive in request order (ZooKeeper's rule), so pending requests are a FIFO; a reply
//!   whose xid is not the oldest pending one is a protocol error.
//! - Pings are sent by [`Connection::recv_until`] when the connection has been idle for a third
//!   of the negotiated timeout, and their replies are swallowed.
//! - At most [`MAX_IN_FLIGHT`] requests are pending, and every wait has a deadline.
//! - `last_zxid` follows the Java client: the highest zxid of a reply other than a ping or a
//!   notification, which is what a resumed session sends as `lastZxidSeen` and setWatches as
//!   `relativeZxid`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use watchkeeper_proto::{
    ConnectRequest, ConnectResponse, DEFAULT_MAX_BUFFER, ErrorCode, FrameDecoder, JuteReader,
    OpCode, Record, ReplyHeader, Request, RequestHeader, SESSION_PASSWORD_LEN, WatcherEvent, xid,
};

use crate::BenchError;

/// The most requests one connection may have outstanding.
pub const MAX_IN_FLIGHT: usize = 1 << 16;

/// Room a connection's buffers start with. Small, because a fan-out holds ten thousand
/// connections at once and each one's event is a few dozen bytes; the read buffer grows when
/// more than that arrives at once.
const INITIAL_BUFFER: usize = 4 * 1024;

/// When less room than this is left, the read buffer grows (by its length, so doubling).
const MIN_READ_ROOM: usize = 1024;

/// A session's identity, enough to resume it on a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    pub id: i64,
    pub passwd: Vec<u8>,
}

/// How to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Requested session timeout; the server clamps it.
    pub session_timeout: Duration,
    /// Bound on TCP connect plus handshake.
    pub connect_timeout: Duration,
    /// Resume this session instead of creating one.
    pub resume: Option<SessionCredentials>,
    /// `lastZxidSeen` in the ConnectRequest (only meaningful with `resume`).
    pub last_zxid_seen: i64,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            session_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            resume: None,
            last_zxid_seen: 0,
        }
    }
}

/// What a session needs to come back after its connection is gone.
#[derive(Debug, Clone)]
pub struct Detached {
    pub credentials: SessionCredentials,
    pub last_zxid: i64,
}

/// A reply to one of the caller's requests.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The caller's tag given to [`Connection::send`].
    pub tag: u64,
    pub op: OpCode,
    pub zxid: i64,
    pub err: i32,
    /// When the request was encoded.
    pub sent: Instant,
    /// When the read that completed the reply returned.
    pub received: Instant,
    /// The body after the reply header, undecoded (empty for an error).
    pub body: Bytes,
}

impl Reply {
    pub fn latency(&self) -> Duration {
        self.received.saturating_duration_since(self.sent)
    }

    pub fn is_ok(&self) -> bool {
        self.err == ErrorCode::Ok.as_i32()
    }
}

/// A watch notification.
#[derive(Debug, Clone)]
pub struct Event {
    /// The zxid of the change that fired it; -1 for catch-up events and for servers (ZooKeeper
    /// 3.8) that do not fill it in.
    pub zxid: i64,
    pub event_type: i32,
    pub path: String,
    pub received: Instant,
}

/// Something read off a connection.
#[derive(Debug, Clone)]
pub enum Incoming {
    Reply(Reply),
    Event(Event),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    xid: i32,
    op: OpCode,
    tag: u64,
    sent: Instant,
    internal: bool,
}

/// One session over one TCP connection. See the module docs.
pub struct Connection {
    addr: SocketAddr,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: FrameDecoder,
    pending: VecDeque<Pending>,
    user_in_flight: usize,
    next_xid: i32,
    credentials: SessionCredentials,
    negotiated_timeout: Duration,
    ping_interval: Duration,
    last_zxid: i64,
    last_send: Instant,
    last_read: Instant,
    /// The timer bounding reads, kept across reads: re-arming a timer for every read would cost
    /// the load generator more than reading a small event does.
    read_timer: Pin<Box<tokio::time::Sleep>>,
    read_timer_at: Instant,
}

impl Connection {
    /// Connects and performs the handshake (creating or resuming a session).
    pub async fn connect(addr: SocketAddr, opts: &ConnectOptions) -> Result<Self, BenchError> {
        let deadline = Instant::now() + opts.connect_timeout;
        let stream = tokio::time::timeout_at(deadline.into(), TcpStream::connect(addr))
            .await
            .map_err(|_| BenchError::Timeout {
                addr,
                during: "connecting".into(),
            })?
            .map_err(|source| BenchError::Connect { addr, source })?;
        // Small requests must leave at once; latency is what is being measured.
        stream
            .set_nodelay(true)
            .map_err(|source| BenchError::Io { addr, source })?;
        let (reader, writer) = stream.into_split();
        let (session_id, passwd) = match &opts.resume {
            Some(c) => (c.id, c.passwd.clone()),
            None => (0, vec![0; SESSION_PASSWORD_LEN]),
        };
        let timeout_ms = i32::try_from(opts.session_timeout.as_millis()).unwrap_or(i32::MAX);
        let now = Instant::now();
        let mut conn = Connection {
            addr,
            reader,
            writer,
            rbuf: BytesMut::with_capacity(INITIAL_BUFFER),
            wbuf: BytesMut::with_capacity(INITIAL_BUFFER),
            decoder: FrameDecoder::new(DEFAULT_MAX_BUFFER),
            pending: VecDeque::new(),
            user_in_flight: 0,
            next_xid: 1,
            credentials: SessionCredentials {
                id: session_id,
                passwd: passwd.clone(),
            },
            negotiated_timeout: opts.session_timeout,
            ping_interval: opts.session_timeout / 3,
            last_zxid: opts.last_zxid_seen,
            last_send: now,
            last_read: now,
            read_timer: Box::pin(tokio::time::sleep_until(deadline.into())),
            read_timer_at: deadline,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: opts.last_zxid_seen,
            timeout: timeout_ms,
            session_id,
            passwd,
            read_only: Some(false),
        };
        conn.put_frame(|b| req.encode(b));
        conn.flush().await?;
        let frame = conn
            .read_frame(deadline, "waiting for the handshake")
            .await?;
        let resp = ConnectResponse::decode(&mut JuteReader::new(&frame))
            .map_err(|e| conn.protocol(format!("bad ConnectResponse: {e}")))?;
        if resp.timeout <= 0 || resp.session_id == 0 {
            return Err(BenchError::SessionExpired {
                addr,
                session: session_id,
            });
        }
        conn.credentials = SessionCredentials {
            id: resp.session_id,
            passwd: resp.passwd,
        };
        conn.negotiated_timeout = Duration::from_millis(resp.timeout as u64);
        conn.ping_interval = (conn.negotiated_timeout / 3).max(Duration::from_millis(100));
        Ok(conn)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn session_id(&self) -> i64 {
        self.credentials.id
    }

    pub fn negotiated_timeout(&self) -> Duration {
        self.negotiated_timeout
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The caller's requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.user_in_flight
    }

    /// Queues a request with the next xid; nothing is written until [`Connection::flush`].
    pub fn send(&mut self, req: &Request, tag: u64) -> Result<(), BenchError> {
        let xid = self.next_xid;
        // Positive xids only: the negative ones are reserved (ping, auth, setWatches, ...).
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        self.send_with_xid(xid, req, tag)
    }

    /// Queues a request with a reserved xid (setWatches uses -8, as the C client does).
    pub fn send_with_xid(&mut self, xid: i32, req: &Request, tag: u64) -> Result<(), BenchError> {
        self.push(xid, req, tag, false)
    }

    fn push(
        &mut self,
        xid: i32,
        req: &Request,
        tag: u64,
        internal: bool,
    ) -> Result<(), BenchError> {
        if self.pending.len() >= MAX_IN_FLIGHT {
            return Err(BenchError::Args(format!(
                "more than {MAX_IN_FLIGHT} requests in flight on one connection"
            )));
        }
        let op = req.op_code();
        let len = self.put_frame(|b| {
            RequestHeader::new(xid, op).encode(b);
            req.encode(b);
        });
        if len > DEFAULT_MAX_BUFFER {
            return Err(BenchError::Args(format!(
                "a {op:?} request of {len} bytes exceeds jute.maxbuffer ({DEFAULT_MAX_BUFFER})"
            )));
        }
        let now = Instant::now();
        self.pending.push_back(Pending {
            xid,
            op,
            tag,
            sent: now,
            internal,
        });
        if !internal {
            self.user_in_flight += 1;
        }
        self.last_send = now;
        Ok(())
    }

    /// Appends one length-prefixed frame to the write buffer; returns the payload length.
    fn put_frame(&mut self, body: impl FnOnce(&mut BytesMut)) -> usize {
        let start = self.wbuf.len();
        self.wbuf.put_i32(0);
        body(&mut self.wbuf);
        let len = self.wbuf.len() - start - 4;
        let prefix = i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes();
        self.wbuf[start..start + 4].copy_from_slice(&prefix);
        len
    }

    /// Writes everything queued, within the session timeout.
    pub async fn flush(&mut self) -> Result<(), BenchError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let addr = self.addr;
        // A server that stops reading for a whole session timeout has lost the session anyway.
        tokio::time::timeout(self.negotiated_timeout, self.writer.write_all(&self.wbuf))
            .await
            .map_err(|_| BenchError::Timeout {
                addr,
                during: "writing requests (the server stopped reading)".into(),
            })?
            .map_err(|source| BenchError::Io { addr, source })?;
        self.wbuf.clear();
        Ok(())
    }

    /// The next reply or notification, or `None` once `deadline` passes. Pings the server
    /// when the connection has been quiet for a third of the session timeout.
    ///
    /// Not cancellation-safe (a ping may be half written): call it with a deadline instead of
    /// racing it against something else.
    pub async fn recv_until(&mut self, deadline: Instant) -> Result<Option<Incoming>, BenchError> {
        loop {
            if let Some(incoming) = self.next_buffered()? {
                return Ok(Some(incoming));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let ping_at = self.ping_due();
            if now >= ping_at {
                self.ping().await?;
                continue;
            }
            self.read_some(deadline.min(ping_at)).await?;
        }
    }

    /// The next reply or notification, waiting as long as it takes. Sends no pings (see
    /// [`Connection::ping_due`]), so unlike [`Connection::recv_until`] it is cancellation-safe:
    /// a caller may race it against its own timers and stop signal.
    pub async fn recv(&mut self) -> Result<Incoming, BenchError> {
        loop {
            if let Some(incoming) = self.next_buffered()? {
                return Ok(incoming);
            }
            self.reserve_read_room();
            let read = self.reader.read_buf(&mut self.rbuf).await;
            self.account_read(read)?;
        }
    }

    /// The next reply or notification already in the receive buffer (pings' replies are
    /// swallowed on the way).
    fn next_buffered(&mut self) -> Result<Option<Incoming>, BenchError> {
        while let Some(frame) = self.decode_frame()? {
            if let Some(incoming) = self.handle(frame)? {
                return Ok(Some(incoming));
            }
        }
        Ok(None)
    }

    /// Notes what a read into the receive buffer returned.
    fn account_read(&mut self, read: std::io::Result<usize>) -> Result<(), BenchError> {
        match read {
            Ok(0) => Err(BenchError::Closed { addr: self.addr }),
            Ok(_) => {
                self.last_read = Instant::now();
                Ok(())
            }
            Err(source) => Err(BenchError::Io {
                addr: self.addr,
                source,
            }),
        }
    }

    /// When the connection, quiet since its last request, must ping to keep its session.
    pub fn ping_due(&self) -> Instant {
        self.last_send + self.ping_interval
    }

    /// Sends a ping now; its reply is swallowed by whichever receive reads it.
    pub async fn ping(&mut self) -> Result<(), BenchError> {
        self.push(xid::PING, &Request::Ping, 0, true)?;
        self.flush().await
    }

    fn reserve_read_room(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() < MIN_READ_ROOM {
            self.rbuf.reserve(self.rbuf.len().max(INITIAL_BUFFER));
        }
    }

    /// Asks the server to close the session and waits (until `deadline`) for its answer.
    pub async fn close(mut self, deadline: Instant) -> Result<(), BenchError> {
        self.send(&Request::CloseSession, u64::MAX)?;
        self.flush().await?;
        loop {
            match self.recv_until(deadline).await {
                Ok(Some(Incoming::Reply(r))) if r.op == OpCode::CloseSession => return Ok(()),
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(BenchError::Timeout {
                        addr: self.addr,
                        during: "closing the session".into(),
                    });
                }
                // The server may close the socket right after (or instead of) answering.
                Err(BenchError::Closed { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops the TCP connection without closing the session, as a network failure would.
    pub fn detach(self) -> Detached {
        Detached {
            credentials: self.credentials.clone(),
            last_zxid: self.last_zxid,
        }
    }

    fn decode_frame(&mut self) -> Result<Option<Bytes>, BenchError> {
        self.decoder
            .decode(&mut self.rbuf)
            .map_err(|e| self.protocol(e.to_string()))
    }

    /// Reads whatever is available into the receive buffer, waiting until `until` at most.
    async fn read_some(&mut self, until: Instant) -> Result<(), BenchError> {
        self.reserve_read_room();
        if self.read_timer_at != until {
            self.read_timer.as_mut().reset(until.into());
            self.read_timer_at = until;
        }
        let read = tokio::select! {
            biased;
            read = self.reader.read_buf(&mut self.rbuf) => read,
            () = self.read_timer.as_mut() => return Ok(()),
        };
        self.account_read(read)
    }

    async fn read_frame(&mut self, deadline: Instant, during: &str) -> Result<Bytes, BenchError> {
        loop {
            if let Some(frame) = self.decode_frame()? {
                return Ok(frame);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout {
                    addr: self.addr,
                    during: during.into(),
                });
            }
            self.read_some(deadline).await?;
        }
    }

    fn handle(&mut self, frame: Bytes) -> Result<Option<Incoming>, BenchError> {
        let mut r = JuteReader::new(&frame);
        let header = ReplyHeader::decode(&mut r)
            .map_err(|e| self.protocol(format!("bad reply header: {e}")))?;
        let body = frame.slice(r.position()..);
        if header.xid == xid::NOTIFICATION {
            let event = WatcherEvent::decode(&mut JuteReader::new(&body))
                .map_err(|e| self.protocol(format!("bad notification: {e}")))?;
            return Ok(Some(Incoming::Event(Event {
                zxid: header.zxid,
                event_type: event.event_type,
                path: event.path,
                received: self.last_read,
            })));
        }
        let Some(p) = self.pending.pop_front() else {
            return Err(self.protocol(format!("reply with xid {} to no request", header.xid)));
        };
        if p.xid != header.xid {
            return Err(self.protocol(format!(
                "reply xid {} out of order: expected {} ({:?})",
                header.xid, p.xid, p.op
            )));
        }
        if p.internal {
            return Ok(None);
        }
        self.user_in_flight -= 1;
        if header.zxid > self.last_zxid {
            self.last_zxid = header.zxid;
        }
        Ok(Some(Incoming::Reply(Reply {
            tag: p.tag,
            op: p.op,
            zxid: header.zxid,
            err: header.err,
            sent: p.sent,
            received: self.last_read,
            body,
        })))
    }

    fn protocol(&self, detail: String) -> BenchError {
        BenchError::Protocol {
            addr: self.addr,
            detail,
        }
    }
}
