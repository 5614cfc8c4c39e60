//! A scripted server speaking the wire protocol, for what a real server will not do on demand:
//! answer out of order, refuse a resumed session at a chosen moment, claim to be read-only,
//! and show exactly what the client sends after a reconnect.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use watchkeeper_client::{
    Client, CreateOptions, Error, EventType, KeeperState, SessionState, Stat,
};
use watchkeeper_proto::frame::{
    header_only_frame, notification_frame, record_frame, response_frame,
};
use watchkeeper_proto::{
    ConnectRequest, ConnectResponse, FrameDecoder, GetDataResponse, JuteReader, OpCode, Record,
    ReplyHeader, Request, RequestHeader, Response, WatcherEvent, xid,
};

use crate::common::within;

const SESSION: i64 = 0x4242;
const PASSWORD: [u8; 16] = [7; 16];

struct Fake {
    listener: TcpListener,
}

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl Fake {
    async fn start() -> Fake {
        Fake {
            listener: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        }
    }

    fn connect_string(&self) -> String {
        self.listener.local_addr().expect("addr").to_string()
    }

    /// Accepts a connection, reads its ConnectRequest and answers with `response`.
    async fn accept(&self, response: ConnectResponse) -> (Conn, ConnectRequest) {
        let (stream, _) = within(10, self.listener.accept()).await.expect("accept");
        let mut conn = Conn {
            stream,
            buf: BytesMut::new(),
            decoder: FrameDecoder::default(),
        };
        let frame = conn.frame().await.expect("connect request");
        let request = ConnectRequest::decode_exact(&frame).expect("a ConnectRequest");
        conn.send(record_frame(&response)).await;
        (conn, request)
    }
}

fn session(read_only: bool) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        timeout: 3000,
        session_id: SESSION,
        passwd: PASSWORD.to_vec(),
        read_only: Some(read_only),
    }
}

impl Conn {
    async fn frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(f) = self.decoder.decode(&mut self.buf).expect("framing") {
                return Some(f);
            }
            if within(10, self.stream.read_buf(&mut self.buf)).await.ok()? == 0 {
                return None;
            }
        }
    }

    /// The next request that is not a ping.
    async fn request(&mut self) -> Option<(RequestHeader, Request)> {
        loop {
            let frame = self.frame().await?;
            let mut r = JuteReader::new(&frame);
            let header = RequestHeader::decode(&mut r).expect("request header");
            let op = header.op_code().expect("known opcode");
            let body = Request::decode(op, &mut r).expect("request body");
            if op != OpCode::Ping {
                return Some((header, body));
            }
            self.send(header_only_frame(&ReplyHeader {
                xid: xid::PING,
                zxid: 0,
                err: 0,
            }))
            .await;
        }
    }

    async fn send(&mut self, frame: Bytes) {
        let _ = self.stream.write_all(&frame).await;
    }

    async fn reply(&mut self, xid: i32, zxid: i64, body: &Response) {
        let header = ReplyHeader { xid, zxid, err: 0 };
        self.send(response_frame(&header, body)).await;
    }

    async fn get_data_reply(&mut self, xid: i32, zxid: i64, data: &[u8]) {
        let body = Response::GetData(GetDataResponse {
            data: Some(data.to_vec()),
            stat: Stat {
                mzxid: zxid,
                ..Stat::default()
            },
        });
        self.reply(xid, zxid, &body).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_order_reply_drops_the_connection_and_the_read_is_retried() {
    let fake = Fake::start().await;
    let addr = fake.connect_string();
    let client = tokio::spawn(async move {
        let c = Client::connect(&addr).await.unwrap();
        let got = c.get_data("/x").await;
        (c, got)
    });
    let (mut first, req) = fake.accept(session(false)).await;
    assert_eq!((req.session_id, req.last_zxid_seen), (0, 0));
    assert_eq!(req.passwd, vec![0; 16]);
    let (h, body) = first.request().await.unwrap();
    assert!(matches!(body, Request::GetData(ref g) if g.path == "/x" && !g.watch));
    // Answer a request that was never sent.
    first.get_data_reply(h.xid + 100, 5, b"wrong").await;

    // The client gives up on this connection, resumes the session on a new one and asks again.
    let (mut second, req) = fake.accept(session(false)).await;
    assert_eq!(req.session_id, SESSION);
    assert_eq!(req.passwd, PASSWORD.to_vec());
    assert_eq!(first.frame().await, None, "the first connection was closed");
    let (h2, body) = second.request().await.unwrap();
    assert!(matches!(body, Request::GetData(ref g) if g.path == "/x"));
    assert!(h2.xid > h.xid, "xids keep growing across connections");
    second.get_data_reply(h2.xid, 9, b"right").await;
    let (c, got) = within(10, client).await.unwrap();
    assert_eq!(got.unwrap().0, b"right");

    // The highest zxid seen travels with the next resume.
    drop(second);
    let (_third, req) = fake.accept(session(false)).await;
    assert_eq!(req.last_zxid_seen, 9);
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_flight_is_failed_not_resent_and_reconnects_restore_auth_then_watches() {
    let fake = Fake::start().await;
    let addr = fake.connect_string();
    let (c, mut conn) = {
        let connecting = tokio::spawn(async move {
            Client::builder(&addr)
                .auth("digest", b"u:p")
                .connect()
                .await
        });
        let (mut conn, _) = fake.accept(session(false)).await;
        // Credentials come first, and connect() waits for their answer.
        let (h, body) = conn.request().await.unwrap();
        assert_eq!(h.xid, xid::AUTH);
        assert!(matches!(body, Request::Auth(ref a) if a.scheme == "digest" && a.auth == b"u:p"));
        conn.send(header_only_frame(&ReplyHeader {
            xid: xid::AUTH,
            zxid: 0,
            err: 0,
        }))
        .await;
        (within(10, connecting).await.unwrap().unwrap(), conn)
    };
    assert_eq!(c.session_id(), SESSION);

    // A data watch, then a write that never gets its answer.
    let reader = c.clone();
    let watching = tokio::spawn(async move { reader.get_data_watch("/w").await });
    let (h, _) = conn.request().await.unwrap();
    conn.get_data_reply(h.xid, 12, b"v").await;
    let (_, _, watch) = within(10, watching).await.unwrap().unwrap();
    let writer = c.clone();
    let write = tokio::spawn(async move {
        writer
            .create("/new", b"", &CreateOptions::persistent())
            .await
    });
    let (_, body) = conn.request().await.unwrap();
    assert!(matches!(body, Request::Create2(_)));
    drop(conn);
    assert_eq!(within(10, write).await.unwrap(), Err(Error::ConnectionLoss));

    // On the new connection: auth, then the watch (relative to the last zxid), and no create.
    let (mut conn, req) = fake.accept(session(false)).await;
    assert_eq!(req.last_zxid_seen, 12);
    let (h, body) = conn.request().await.unwrap();
    assert_eq!(h.xid, xid::AUTH);
    assert!(matches!(body, Request::Auth(_)));
    conn.send(header_only_frame(&ReplyHeader {
        xid: xid::AUTH,
        zxid: 0,
        err: 0,
    }))
    .await;
    let (h, body) = conn.request().await.unwrap();
    let Request::SetWatches(sw) = body else {
        panic!("expected setWatches, got {body:?}");
    };
    assert_eq!(
        (sw.relative_zxid, sw.data_watches.clone()),
        (12, vec!["/w".to_owned()])
    );
    // Catch-up event, then the setWatches reply.
    let event = WatcherEvent::new(EventType::NodeDataChanged, KeeperState::SyncConnected, "/w");
    conn.send(notification_frame(-1, &event)).await;
    conn.send(header_only_frame(&ReplyHeader {
        xid: h.xid,
        zxid: 13,
        err: 0,
    }))
    .await;
    let e = within(10, watch).await;
    assert_eq!((e.event_type, e.zxid), (EventType::NodeDataChanged, -1));
    let checker = c.clone();
    let exists = tokio::spawn(async move { checker.exists("/new").await });
    let (h, body) = conn.request().await.unwrap();
    assert!(
        matches!(body, Request::Exists(_)),
        "the failed create was not re-sent: {body:?}"
    );
    conn.send(header_only_frame(&ReplyHeader {
        xid: h.xid,
        zxid: 13,
        err: -101,
    }))
    .await;
    assert_eq!(within(10, exists).await.unwrap(), Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_answers_read_only_expired_and_rejected_credentials() {
    let fake = Fake::start().await;
    let addr = fake.connect_string();
    let connecting = tokio::spawn({
        let addr = addr.clone();
        async move { Client::builder(&addr).read_only(true).connect().await }
    });
    let (conn, req) = fake.accept(session(true)).await;
    assert_eq!(req.read_only, Some(true));
    let c = within(10, connecting).await.unwrap().unwrap();
    assert_eq!(c.state(), SessionState::ConnectedReadOnly);

    // The server forgets the session: the next handshake says so.
    drop(conn);
    let (_conn, req) = fake.accept(ConnectResponse::expired(0, Some(false))).await;
    assert_eq!(req.session_id, SESSION);
    let mut states = c.state_changes();
    let mut last = None;
    while let Some(s) = within(10, futures::StreamExt::next(&mut states)).await {
        last = Some(s);
    }
    assert_eq!(
        last,
        Some(SessionState::Expired),
        "the stream ends after a final state"
    );
    assert_eq!(c.get_data("/").await, Err(Error::SessionExpired));

    // Rejected credentials fail connect() itself.
    let connecting =
        tokio::spawn(async move { Client::builder(&addr).auth("nope", b"x").connect().await });
    let (mut conn, _) = fake.accept(session(false)).await;
    let (h, _) = conn.request().await.unwrap();
    conn.send(header_only_frame(&ReplyHeader {
        xid: h.xid,
        zxid: 0,
        err: -115,
    }))
    .await;
    assert_eq!(
        within(10, connecting).await.unwrap().err(),
        Some(Error::AuthFailed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_from_the_server_drops_the_connection() {
    let fake = Fake::start().await;
    let addr = fake.connect_string();
    let connecting =
        tokio::spawn(async move { Client::builder(&addr).max_buffer(1024).connect().await });
    let (mut conn, _) = fake.accept(session(false)).await;
    let c = within(10, connecting).await.unwrap().unwrap();
    let reader = c.clone();
    let read = tokio::spawn(async move { reader.get_data("/big").await });
    let (h, _) = conn.request().await.unwrap();
    conn.get_data_reply(h.xid, 3, &[0; 4096]).await;
    // The client hangs up and comes back for the retry.
    let (mut again, _) = fake.accept(session(false)).await;
    assert_eq!(conn.frame().await, None);
    let (h, _) = again.request().await.unwrap();
    again.get_data_reply(h.xid, 4, b"small").await;
    assert_eq!(within(10, read).await.unwrap().unwrap().0, b"small");
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watches_are_removed_with_any_on_servers_without_persistent_types() {
    use watchkeeper_client::AddWatchMode;
    use watchkeeper_proto::{ErrorResponse, WatcherType};

    let fake = Fake::start().await;
    let addr = fake.connect_string();
    let connecting = tokio::spawn(async move { Client::connect(&addr).await });
    let (mut conn, _) = fake.accept(session(false)).await;
    let c = within(10, connecting).await.unwrap().unwrap();

    let adder = c.clone();
    let adding = tokio::spawn(async move { adder.add_watch("/p", AddWatchMode::Persistent).await });
    let (h, body) = conn.request().await.unwrap();
    assert!(matches!(body, Request::AddWatch(ref a) if a.path == "/p" && a.mode == 0));
    conn.reply(h.xid, 2, &Response::AddWatch(ErrorResponse { err: 0 }))
        .await;
    let watch = within(10, adding).await.unwrap().unwrap();
    drop(watch);
    let (h, body) = conn.request().await.unwrap();
    let Request::RemoveWatches(r) = body else {
        panic!("expected removeWatches, got {body:?}");
    };
    assert_eq!(
        (r.path.as_str(), r.watcher_type),
        ("/p", WatcherType::Persistent.as_i32())
    );
    // ZooKeeper 3.8 does not know watcher type 4.
    conn.send(header_only_frame(&ReplyHeader {
        xid: h.xid,
        zxid: 2,
        err: -5,
    }))
    .await;
    let (h, body) = conn.request().await.unwrap();
    let Request::RemoveWatches(r) = body else {
        panic!("expected removeWatches, got {body:?}");
    };
    assert_eq!(
        (r.path.as_str(), r.watcher_type),
        ("/p", WatcherType::Any.as_i32())
    );
    conn.send(header_only_frame(&ReplyHeader {
        xid: h.xid,
        zxid: 2,
        err: 0,
    }))
    .await;

    // With a one-shot watch on the same path, Any would take that too: nothing is sent.
    let adder = c.clone();
    let adding = tokio::spawn(async move {
        let w = adder.add_watch("/q", AddWatchMode::Persistent).await;
        let e = adder.exists_watch("/q").await;
        (w, e)
    });
    let (h, _) = conn.request().await.unwrap();
    conn.reply(h.xid, 2, &Response::AddWatch(ErrorResponse { err: 0 }))
        .await;
    let (h, body) = conn.request().await.unwrap();
    assert!(matches!(body, Request::Exists(_)));
    conn.send(header_only_frame(&ReplyHeader {
        xid: h.xid,
        zxid: 2,
        err: -101,
    }))
    .await;
    let (watch, exists) = within(10, adding).await.unwrap();
    let (_, _oneshot) = exists.unwrap();
    drop(watch.unwrap());
    let syncer = c.clone();
    let syncing = tokio::spawn(async move { syncer.sync("/").await });
    let (h, body) = conn.request().await.unwrap();
    assert!(
        matches!(body, Request::Sync(_)),
        "no removeWatches: {body:?}"
    );
    conn.reply(
        h.xid,
        2,
        &Response::Sync(watchkeeper_proto::SyncResponse { path: "/".into() }),
    )
    .await;
    within(10, syncing).await.unwrap().unwrap();
}
