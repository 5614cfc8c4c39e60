//! Speaking ZooKeeper's wire protocol by hand, for what a client library cannot express:
//! four-letter words, malformed and oversized frames, unknown opcodes, the handshake without
//! its readOnly byte, setWatches with catch-up, pipelined requests and exact reply/event order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::jute::{Dec, Enc, event, op, xid};

/// How long a raw read waits before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A ConnectRequest as the tests want to send it.
#[derive(Debug, Clone)]
pub struct ConnectReq {
    pub last_zxid: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` leaves the trailing readOnly byte out, as old clients do.
    pub read_only: Option<bool>,
}

impl ConnectReq {
    pub fn new_session(timeout_ms: i32) -> ConnectReq {
        ConnectReq {
            last_zxid: 0,
            timeout_ms,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new()
            .i32(0)
            .i64(self.last_zxid)
            .i32(self.timeout_ms)
            .i64(self.session_id)
            .buf(&self.passwd);
        if let Some(ro) = self.read_only {
            e = e.bool(ro);
        }
        e.done()
    }
}

/// The server's ConnectResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResp {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` when the frame ended before the readOnly byte.
    pub read_only: Option<bool>,
    /// The frame length as sent (36 without the readOnly byte, 37 with it).
    pub frame_len: usize,
}

/// A reply to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn dec(&self) -> Dec<'_> {
        Dec::new(&self.body)
    }
}

/// A watch notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub zxid: i64,
    pub kind: i32,
    pub state: i32,
    pub path: String,
}

/// Something that arrived on a connection.
#[derive(Debug, Clone)]
pub enum Frame {
    Event(Event),
    Reply(Reply),
}

/// A raw connection, optionally with an established session.
pub struct Raw {
    stream: TcpStream,
    next_xid: i32,
    /// Notifications read while waiting for replies, oldest first.
    pub events: VecDeque<Event>,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
}

impl Raw {
    /// A TCP connection with nothing sent yet.
    pub async fn tcp(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).ok();
        Raw {
            stream,
            next_xid: 1,
            events: VecDeque::new(),
            session_id: 0,
            passwd: Vec::new(),
            timeout_ms: 0,
        }
    }

    /// A new session with the given timeout; panics unless the server accepts it.
    pub async fn session_with_timeout(addr: SocketAddr, timeout_ms: i32) -> Raw {
        let mut raw = Raw::tcp(addr).await;
        let resp = raw
            .handshake(&ConnectReq::new_session(timeout_ms))
            .await
            .expect("the server must answer a new-session handshake");
        assert_ne!(resp.session_id, 0, "new session got id 0: {resp:?}");
        assert!(resp.timeout_ms > 0, "new session got timeout 0: {resp:?}");
        raw.session_id = resp.session_id;
        raw.passwd = resp.passwd;
        raw.timeout_ms = resp.timeout_ms;
        raw
    }

    /// A new session that will not time out during a test (the server clamps to its maximum).
    pub async fn session(addr: SocketAddr) -> Raw {
        Raw::session_with_timeout(addr, 30_000).await
    }

    /// Sends a ConnectRequest and reads the answer; `None` if the server closed without one.
    pub async fn handshake(&mut self, req: &ConnectReq) -> Option<ConnectResp> {
        self.send_frame(&req.encode()).await;
        let frame = self.read_frame_or_eof().await?;
        let mut d = Dec::new(&frame);
        let protocol_version = d.i32();
        let timeout_ms = d.i32();
        let session_id = d.i64();
        let passwd = d.buf();
        let read_only = match d.remaining() {
            0 => None,
            1 => Some(d.bool()),
            n => panic!("ConnectResponse has {n} unexpected trailing bytes"),
        };
        Some(ConnectResp {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
            frame_len: frame.len(),
        })
    }

    /// The client-side port of this connection (how the server's connection lists name it).
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("local addr").port()
    }

    /// Writes bytes exactly as given (no length prefix added).
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to server");
    }

    /// Like [`Raw::send_bytes`], but reports whether the server still took them (it may have
    /// closed the connection).
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Writes one length-prefixed frame.
    pub async fn send_frame(&mut self, payload: &[u8]) {
        let mut b = (payload.len() as i32).to_be_bytes().to_vec();
        b.extend_from_slice(payload);
        self.send_bytes(&b).await;
    }

    /// Sends a request with an explicit xid.
    pub async fn send_with_xid(&mut self, xid: i32, opcode: i32, body: &[u8]) {
        let frame = Enc::new().i32(xid).i32(opcode).raw(body).done();
        self.send_frame(&frame).await;
    }

    /// Sends a request with the next ordinary xid and returns that xid.
    pub async fn send(&mut self, opcode: i32, body: &[u8]) -> i32 {
        let x = self.next_xid;
        self.next_xid += 1;
        self.send_with_xid(x, opcode, body).await;
        x
    }

    /// Reads one frame; `None` on a clean close or a reset. Panics after [`READ_TIMEOUT`].
    pub async fn read_frame_or_eof(&mut self) -> Option<Vec<u8>> {
        let read = async {
            let mut len = [0u8; 4];
            if self.stream.read_exact(&mut len).await.is_err() {
                return None;
            }
            let len = i32::from_be_bytes(len);
            assert!(
                (0..=16 << 20).contains(&len),
                "server sent frame length {len}"
            );
            let mut buf = vec![0u8; len as usize];
            self.stream.read_exact(&mut buf).await.ok()?;
            Some(buf)
        };
        tokio::time::timeout(READ_TIMEOUT, read)
            .await
            .expect("timed out waiting for the server")
    }

    /// Reads and classifies one frame; `None` when the connection closed.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        let f = self.read_frame_or_eof().await?;
        let mut d = Dec::new(&f);
        let xid_ = d.i32();
        let zxid = d.i64();
        let err = d.i32();
        if xid_ == xid::NOTIFICATION {
            assert_eq!(err, 0, "notification with err {err}");
            let kind = d.i32();
            let state = d.i32();
            let path = d.str();
            return Some(Frame::Event(Event {
                zxid,
                kind,
                state,
                path,
            }));
        }
        let body = f[16..].to_vec();
        Some(Frame::Reply(Reply {
            xid: xid_,
            zxid,
            err,
            body,
        }))
    }

    /// Reads until the reply with `xid`, keeping notifications in [`Raw::events`]. Any other
    /// reply first is an ordering violation.
    pub async fn reply_for(&mut self, want: i32) -> Reply {
        loop {
            match self.next_frame().await {
                None => panic!("connection closed while waiting for the reply to xid {want}"),
                Some(Frame::Event(e)) => self.events.push_back(e),
                Some(Frame::Reply(r)) => {
                    assert_eq!(r.xid, want, "reply out of order: {r:?}");
                    return r;
                }
            }
        }
    }

    /// Sends a request and waits for its reply.
    pub async fn call(&mut self, opcode: i32, body: &[u8]) -> Reply {
        let x = self.send(opcode, body).await;
        self.reply_for(x).await
    }

    /// A ping round trip: everything the server queued before it has been read afterwards.
    pub async fn ping(&mut self) -> Reply {
        self.send_with_xid(xid::PING, op::PING, &[]).await;
        self.reply_for(xid::PING).await
    }

    /// The next notification (queued or read).
    pub async fn next_event(&mut self) -> Event {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        match self.next_frame().await {
            None => panic!("connection closed while waiting for a notification"),
            Some(Frame::Event(e)) => e,
            Some(Frame::Reply(r)) => panic!("expected a notification, got reply {r:?}"),
        }
    }

    /// Every notification that arrives before a ping round trip completes: the server queues a
    /// change's notifications before any later reply, so this is exactly what is pending.
    pub async fn drain_events(&mut self) -> Vec<Event> {
        self.ping().await;
        self.events.drain(..).collect()
    }

    /// Asserts that the server closes the connection (within [`READ_TIMEOUT`]); returns what it
    /// sent first.
    pub async fn expect_closed(&mut self) -> Vec<Frame> {
        let mut seen = Vec::new();
        while let Some(f) = self.next_frame().await {
            seen.push(f);
            assert!(
                seen.len() < 10_000,
                "server keeps sending instead of closing"
            );
        }
        seen
    }

    /// After a ping was sent: true if the server closes the connection (without answering
    /// the ping), false if the ping is answered.
    pub async fn expect_closed_or_ping(&mut self) -> bool {
        loop {
            match self.next_frame().await {
                None => return true,
                Some(Frame::Reply(r)) if r.xid == xid::PING => return false,
                Some(_) => {}
            }
        }
    }

    /// Reads everything until the server closes, as text (four-letter words).
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        tokio::time::timeout(READ_TIMEOUT, self.stream.read_to_end(&mut out))
            .await
            .expect("server did not close after answering")
            .ok();
        out
    }

    /// Creates a persistent node with open ACL; panics unless it succeeds. Returns the zxid.
    pub async fn create(&mut self, path: &str, data: &[u8]) -> i64 {
        let r = self
            .call(op::CREATE, &super::jute::body::create(path, data, 0))
            .await;
        assert_eq!(r.err, 0, "create {path} failed: {r:?}");
        r.zxid
    }

    /// setData with any version; panics unless it succeeds. Returns the zxid.
    pub async fn set(&mut self, path: &str, data: &[u8]) -> i64 {
        let r = self
            .call(op::SET_DATA, &super::jute::body::set_data(path, data, -1))
            .await;
        assert_eq!(r.err, 0, "setData {path} failed: {r:?}");
        r.zxid
    }
}

/// Sends a four-letter word on a fresh connection and returns the whole answer as text; the
/// server must close the connection after answering.
pub async fn four_letter(addr: SocketAddr, cmd: &str) -> String {
    assert_eq!(cmd.len(), 4);
    let mut raw = Raw::tcp(addr).await;
    raw.send_bytes(cmd.as_bytes()).await;
    String::from_utf8(raw.read_to_end().await).expect("four-letter answers are text")
}

/// A short name for an event, for readable assertions.
pub fn ev(kind: i32, path: &str) -> (i32, String) {
    (kind, path.to_string())
}

/// The (type, path) pairs of events, in order.
pub fn kinds(events: &[Event]) -> Vec<(i32, String)> {
    events.iter().map(|e| (e.kind, e.path.clone())).collect()
}

#[allow(unused_imports)] // not every test file needs every event type
pub use event::{NODE_CHILDREN_CHANGED, NODE_CREATED, NODE_DATA_CHANGED, NODE_DELETED};
