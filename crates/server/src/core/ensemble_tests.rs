//! The core's ensemble rules without sockets or Raft: proposals and committed entries are
//! handed to the core as values and its answers read from the connections' outboxes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use watchkeeper_consensus::Proposal;
use watchkeeper_consensus::node::{Event, Handle};
use watchkeeper_consensus::state_machine::{ApplyEvent, Committed, CommittedKind};
use watchkeeper_consensus::status::{Role, Status};
use watchkeeper_proto::{ConnectRequest, CreateMode, Request};
use watchkeeper_tree::{DataTree, Entry, Op};

use super::super::{CoreMsg, Incoming};
use super::Core;
use crate::config::Config;
use crate::outbox::Outbox;

struct Rig {
    core: Core,
    status: watch::Sender<Status>,
    next_index: u64,
}

fn peer() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
}

/// A clock that stands still (tests pass times explicitly) and counting "random" bytes.
struct Fixed {
    start: Instant,
    next: u8,
}

const WALL_MS: i64 = 1_700_000_000_000;

impl super::super::sources::Sources for Fixed {
    fn now(&self) -> Instant {
        self.start
    }

    fn wall_ms(&self) -> i64 {
        WALL_MS
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next;
            self.next = self.next.wrapping_add(1);
        }
    }
}

impl Rig {
    fn new() -> Rig {
        let (handle, status): (Handle, _) = Handle::detached_with_status(1);
        let sources = Box::new(Fixed {
            start: Instant::now(),
            next: 0,
        });
        let core = Core::with_sources(
            Arc::new(Config::default()),
            DataTree::new(),
            handle,
            0,
            sources,
        );
        Rig {
            core,
            status,
            next_index: 1,
        }
    }

    fn set_role(&self, role: Role) {
        self.status.send_modify(|s| {
            s.role = role;
            s.leader = matches!(role, Role::Leader | Role::Standalone)
                .then_some(1)
                .or(Some(2));
        });
    }

    /// A connection that asks for a new session.
    fn connect(&mut self, conn: u64) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::new(1 << 20));
        self.core.handle(CoreMsg::Connect {
            conn,
            peer: peer(),
            req: ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                timeout: 10_000,
                session_id: 0,
                passwd: vec![0; 16],
                read_only: None,
            },
            outbox: outbox.clone(),
        });
        outbox
    }

    fn request(&mut self, conn: u64, xid: i32, req: Request) {
        self.core.handle(CoreMsg::Request {
            conn,
            xid,
            incoming: Incoming::Request(req),
            received: Instant::now(),
        });
    }

    /// What the core proposed since the last call.
    fn proposed(&mut self) -> Vec<Proposal> {
        std::mem::take(&mut self.core.outgoing)
    }

    /// Commits proposals (ours or anyone's) at the next log indexes.
    fn commit(&mut self, proposals: Vec<Proposal>) {
        let entries = proposals
            .into_iter()
            .map(|p| {
                let index = self.next_index;
                self.next_index += 1;
                Committed {
                    index,
                    term: 1,
                    kind: CommittedKind::Proposal(p),
                }
            })
            .collect();
        let (done, _) = oneshot::channel();
        self.core
            .on_apply_event(ApplyEvent::Apply { entries, done });
    }

    fn session_of(&self, conn: u64) -> i64 {
        self.core.conns.get(&conn).map(|c| c.session).unwrap_or(0)
    }
}

fn frames(outbox: &Outbox) -> usize {
    outbox.queued_bytes()
}

fn create(path: &str) -> Request {
    Request::Create(watchkeeper_proto::CreateRequest {
        path: path.into(),
        data: Some(Vec::new()),
        acl: watchkeeper_proto::Acl::open_unsafe(),
        flags: CreateMode::Persistent.as_i32(),
    })
}

/// A session another member's process (incarnation 99) created.
const THEIR_SESSION: i64 = 0x0200_0000_0000_0001;
const THEIR_PROCESS: u64 = 99;

/// Another member's proposal of `op` by `session`.
fn foreign(session: i64, op: Op) -> Proposal {
    let entry = Entry {
        session,
        time: 0,
        auth: Vec::new(),
        op,
    };
    let mut bytes = Vec::new();
    entry.encode(&mut bytes);
    Proposal {
        origin: 2,
        incarnation: THEIR_PROCESS,
        seq: 1,
        entry: Bytes::from(bytes),
    }
}

fn their_session() -> Proposal {
    foreign(
        THEIR_SESSION,
        Op::CreateSession {
            timeout_ms: 10_000,
            password: vec![1; 16],
            owner: THEIR_PROCESS,
        },
    )
}

fn foreign_create(session: i64, path: &str) -> Proposal {
    let op = Op::create(
        path,
        Some(Vec::new()),
        watchkeeper_proto::Acl::open_unsafe(),
        CreateMode::Persistent,
    );
    foreign(session, op)
}

#[test]
fn a_write_is_answered_when_its_own_proposal_is_applied_and_others_are_only_applied() {
    let mut r = Rig::new();
    let out = r.connect(1);
    let handshake = r.proposed();
    assert_eq!(handshake.len(), 1, "the new session is a proposal");
    // Its time and password come from the core's sources (the incarnation took bytes 0..8).
    let entry = Entry::decode(&handshake[0].entry).unwrap();
    assert_eq!(entry.time, WALL_MS);
    assert!(matches!(entry.op, Op::CreateSession { ref password, .. } if password[0] == 8));
    assert_eq!(frames(&out), 0, "no answer before it is applied");
    r.commit(handshake);
    let answered = frames(&out);
    assert!(answered > 0, "the handshake is answered at apply");

    r.request(1, 1, create("/mine"));
    let write = r.proposed();
    assert_eq!(write.len(), 1);
    // Another member's session and write, applied first: the tree changes, nobody here is
    // answered, and every member now knows that session.
    r.commit(vec![
        their_session(),
        foreign_create(THEIR_SESSION, "/theirs"),
    ]);
    assert!(r.core.tree.node("/theirs").is_some());
    assert!(r.core.sessions.contains_key(&THEIR_SESSION));
    assert_eq!(
        frames(&out),
        answered,
        "a foreign proposal answers nobody here"
    );
    // A write of our session that another server proposed (the client left it) is refused.
    let session = r.session_of(1);
    r.commit(vec![foreign_create(session, "/moved")]);
    assert!(
        r.core.tree.node("/moved").is_none(),
        "SessionMoved: it changes nothing"
    );
    // Then ours: answered, at its own zxid.
    r.commit(write);
    assert!(r.core.tree.node("/mine").is_some());
    assert!(frames(&out) > answered);
    assert!(r.core.pending.is_empty());
}

#[test]
fn a_refused_proposal_closes_its_connection_and_keeps_the_session() {
    let mut r = Rig::new();
    let out = r.connect(1);
    let handshake = r.proposed();
    r.commit(handshake);
    r.request(1, 1, create("/x"));
    let write = r.proposed();
    let session = r.session_of(1);
    r.core.on_event(Event::Rejected(vec![write[0].seq]));
    assert!(
        out.closed().is_some(),
        "the client gets ConnectionLoss and retries"
    );
    assert!(r.core.pending.is_empty());
    assert!(
        r.core.sessions.contains_key(&session),
        "the session survives"
    );
    assert!(r.core.tree.node("/x").is_none());
}

#[test]
fn sync_on_a_follower_waits_until_the_leaders_read_index_is_applied() {
    let mut r = Rig::new();
    let out = r.connect(1);
    let handshake = r.proposed();
    r.commit(handshake);
    r.set_role(Role::Follower);
    let before = frames(&out);
    r.request(
        1,
        7,
        Request::Sync(watchkeeper_proto::SyncRequest { path: "/".into() }),
    );
    r.request(
        1,
        8,
        Request::Exists(watchkeeper_proto::ExistsRequest {
            path: "/late".into(),
            watch: false,
        }),
    );
    assert_eq!(
        frames(&out),
        before,
        "nothing answered before the leader's commit point is known"
    );
    let token = *r
        .core
        .syncs
        .keys()
        .next()
        .expect("a sync waits for its read index");
    let target = r.next_index + 1;
    r.core.on_event(Event::ReadIndex {
        token,
        index: Ok(target),
    });
    assert_eq!(frames(&out), before, "nor before this member applied it");
    r.commit(vec![
        their_session(),
        foreign_create(THEIR_SESSION, "/late"),
    ]);
    assert!(
        frames(&out) > before,
        "the sync and the read behind it are answered"
    );
    assert!(r.core.syncs.is_empty());
}

#[test]
fn a_member_that_becomes_leader_restarts_every_deadline_and_only_a_leader_expires() {
    let mut r = Rig::new();
    r.connect(1);
    let handshake = r.proposed();
    r.commit(handshake);
    let session = r.session_of(1);
    r.set_role(Role::Follower);
    let later = Instant::now() + Duration::from_secs(3600);
    r.core.tick(later);
    assert!(r.proposed().is_empty(), "a follower expires nothing");
    // Becoming leader an hour later: the deadline starts afresh instead of expiring.
    r.set_role(Role::Leader);
    r.core.tick(later);
    assert!(r.proposed().is_empty(), "nothing expires at the hand-over");
    let deadline = r.core.sessions[&session].deadline;
    assert!(deadline > later);
    // Once the deadline passes on the leader, it proposes the expiry.
    r.core.tick(deadline + Duration::from_millis(1));
    let expiry = r.proposed();
    assert_eq!(expiry.len(), 1);
    let entry = Entry::decode(&expiry[0].entry).unwrap();
    assert_eq!(entry.op, Op::ExpireSession);
}

#[test]
fn touches_from_a_follower_name_the_sessions_heard_from() {
    let mut r = Rig::new();
    r.connect(1);
    let handshake = r.proposed();
    r.commit(handshake);
    r.set_role(Role::Follower);
    r.core.tick(Instant::now());
    r.request(1, -2, Request::Ping);
    assert!(r.core.touched.contains(&r.session_of(1)));
    r.core.tick(Instant::now());
    assert!(r.core.touched.is_empty(), "sent to the leader at the tick");
}

/// A connection that resumes another member's session (THEIR_SESSION, password 1s).
fn resume_theirs(r: &mut Rig, conn: u64) -> Arc<Outbox> {
    resume_theirs_seen(r, conn, 0)
}

/// The same, from a client that has seen `last_zxid_seen`.
fn resume_theirs_seen(r: &mut Rig, conn: u64, last_zxid_seen: i64) -> Arc<Outbox> {
    let outbox = Arc::new(Outbox::new(1 << 20));
    r.core.handle(CoreMsg::Connect {
        conn,
        peer: peer(),
        req: ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            timeout: 10_000,
            session_id: THEIR_SESSION,
            passwd: vec![1; 16],
            read_only: None,
        },
        outbox: outbox.clone(),
    });
    outbox
}

#[test]
fn a_moved_session_is_answered_at_once_and_its_writes_follow_the_attach() {
    let mut r = Rig::new();
    r.commit(vec![their_session()]);
    let out = resume_theirs(&mut r, 1);
    assert!(frames(&out) > 0, "answered without waiting for the attach");
    let attach = r.proposed();
    assert_eq!(attach.len(), 1);
    assert!(matches!(
        Entry::decode(&attach[0].entry).unwrap().op,
        Op::AttachSession { .. }
    ));
    // A read runs at once; a write is proposed behind the attach.
    let answered = frames(&out);
    r.request(
        1,
        1,
        Request::Exists(watchkeeper_proto::ExistsRequest {
            path: "/".into(),
            watch: false,
        }),
    );
    assert!(frames(&out) > answered, "reads wait for nothing");
    r.request(1, 2, create("/after"));
    let write = r.proposed();
    assert_eq!(write.len(), 1);
    assert!(
        write[0].seq > attach[0].seq,
        "the write is proposed after the attach"
    );
    let before = frames(&out);
    r.commit(attach);
    r.commit(write);
    assert!(
        r.core.tree.node("/after").is_some(),
        "owned here once attached"
    );
    assert!(frames(&out) > before);
    assert!(out.closed().is_none());
}

#[test]
fn a_moved_session_whose_attach_fails_loses_its_connection() {
    // Expired meanwhile: the expiry drops the connection, and the attach after it fails and
    // brings nothing back.
    let mut r = Rig::new();
    r.commit(vec![their_session()]);
    let out = resume_theirs(&mut r, 1);
    let attach = r.proposed();
    r.commit(vec![foreign(THEIR_SESSION, Op::ExpireSession)]);
    r.commit(attach);
    assert!(
        out.closed().is_some(),
        "the client learns on its next handshake"
    );
    assert!(r.core.tree.session(THEIR_SESSION).is_none());
    assert!(!r.core.sessions.contains_key(&THEIR_SESSION));

    // Lost: the attach is refused; the session stays for the client's next try.
    let mut r = Rig::new();
    r.commit(vec![their_session()]);
    let out = resume_theirs(&mut r, 1);
    let attach = r.proposed();
    r.core.on_event(Event::Rejected(vec![attach[0].seq]));
    assert!(out.closed().is_some());
    assert!(r.core.sessions.contains_key(&THEIR_SESSION));
    assert!(r.core.sessions[&THEIR_SESSION].conn.is_none());
}

#[test]
fn a_client_that_has_seen_more_than_this_member_is_refused() {
    let mut r = Rig::new();
    r.commit(vec![their_session()]);
    let applied = r.core.tree.last_zxid();
    let out = resume_theirs_seen(&mut r, 1, applied + 1);
    assert!(out.closed().is_some(), "it must try another member");
    assert_eq!(frames(&out), 0, "with no answer");
    assert!(r.proposed().is_empty(), "and nothing attached");
    let out = resume_theirs_seen(&mut r, 2, applied);
    assert!(out.closed().is_none());
    assert!(frames(&out) > 0, "a client level with it is served");
}
