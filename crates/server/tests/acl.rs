//! ACLs against a real server: world, digest with addauth, the `auth` scheme, ip, NoAuth on
//! reads and writes, InvalidACL, getACL (with digest masking), setACL with aversion, the super
//! digest, whoAmI, auth failure, and events dropped for sessions that may not read the node.

mod common;

use common::jute::{Enc, body, err, op, xid};
use common::raw::{NODE_DATA_CHANGED, Raw, ev, kinds};
use common::{
    ALICE, ALICE_DIGEST, BOB, BOB_DIGEST, SUPER, SUPER_DIGEST, TestServer, persistent, within,
};
use zookeeper_client as zk;

fn acl(perms: zk::Permission, scheme: &str, id: &str) -> zk::Acl {
    zk::Acl::new(perms, zk::AuthId::new(scheme, id))
}

fn triples(acls: &[zk::Acl]) -> Vec<(zk::Permission, String, String)> {
    let mut v: Vec<_> = acls
        .iter()
        .map(|a| (a.permission(), a.scheme().to_string(), a.id().to_string()))
        .collect();
    v.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    v
}

async fn authed(s: &TestServer, cred: &str) -> zk::Client {
    s.connect(common::connector().with_auth("digest", cred.as_bytes()))
        .await
}

async fn raw_auth(r: &mut Raw, scheme: &str, data: &[u8]) -> i32 {
    r.send_with_xid(xid::AUTH, op::AUTH, &body::auth(scheme, data))
        .await;
    let rep = r.reply_for(xid::AUTH).await;
    rep.err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_read_only_node_refuses_writes() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let ro = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_read());
        c.create("/ro", b"data", &ro).await.unwrap();
        assert_eq!(c.get_data("/ro").await.unwrap().0, b"data");
        assert_eq!(c.list_children("/ro").await.unwrap(), Vec::<String>::new());
        assert_eq!(
            c.set_data("/ro", b"x", None).await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(
            c.create("/ro/kid", b"", &persistent()).await.unwrap_err(),
            zk::Error::NoAuth,
            "creating a child needs CREATE on the parent"
        );
        assert_eq!(
            c.set_acl("/ro", &[acl(zk::Permission::ALL, "world", "anyone")], None)
                .await
                .unwrap_err(),
            zk::Error::NoAuth,
            "setACL needs ADMIN"
        );
        // Deleting needs DELETE on the parent, not on the node: "/" is open, so this works.
        c.delete("/ro", None).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_needs_delete_permission_on_the_parent() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let no_delete = [acl(
            zk::Permission::READ | zk::Permission::CREATE | zk::Permission::WRITE,
            "world",
            "anyone",
        )];
        c.create(
            "/nd",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&no_delete)),
        )
        .await
        .unwrap();
        c.create("/nd/kid", b"", &persistent()).await.unwrap();
        assert_eq!(
            c.delete("/nd/kid", None).await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert!(c.check_stat("/nd/kid").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_needs_the_matching_addauth() {
    let s = TestServer::start().await;
    within(30, async {
        let alice = authed(&s, ALICE).await;
        let only_alice = [acl(zk::Permission::ALL, "digest", ALICE_DIGEST)];
        alice
            .create(
                "/d",
                b"secret",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        assert_eq!(alice.get_data("/d").await.unwrap().0, b"secret");

        let anon = s.client().await;
        assert_eq!(anon.get_data("/d").await.unwrap_err(), zk::Error::NoAuth);
        assert_eq!(
            anon.list_children("/d").await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(
            anon.set_data("/d", b"x", None).await.unwrap_err(),
            zk::Error::NoAuth
        );
        // exists needs READ too when the node exists.
        assert_eq!(anon.check_stat("/d").await.unwrap_err(), zk::Error::NoAuth);

        // A wrong password still "succeeds" as auth (digest never fails) but does not match.
        let wrong = authed(&s, "alice:wrong").await;
        assert_eq!(wrong.get_data("/d").await.unwrap_err(), zk::Error::NoAuth);
        let bob = authed(&s, BOB).await;
        assert_eq!(bob.get_data("/d").await.unwrap_err(), zk::Error::NoAuth);

        // addauth on a live session takes effect for later requests.
        anon.auth("digest", ALICE.as_bytes()).await.unwrap();
        assert_eq!(anon.get_data("/d").await.unwrap().0, b"secret");
        anon.set_data("/d", b"changed", None).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_scheme_expands_to_the_sessions_authenticated_ids() {
    let s = TestServer::start().await;
    within(30, async {
        let anon = s.client().await;
        let creator = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
        assert_eq!(
            anon.create("/c", b"", &creator).await.unwrap_err(),
            zk::Error::InvalidAcl,
            "auth scheme without any authenticated id (ip does not count)"
        );

        let both = s
            .connect(
                common::connector()
                    .with_auth("digest", ALICE.as_bytes())
                    .with_auth("digest", BOB.as_bytes()),
            )
            .await;
        both.create("/c", b"", &creator).await.unwrap();
        let (acls, stat) = both.get_acl("/c").await.unwrap();
        assert_eq!(
            triples(&acls),
            vec![
                (zk::Permission::ALL, "digest".into(), ALICE_DIGEST.into()),
                (zk::Permission::ALL, "digest".into(), BOB_DIGEST.into()),
            ]
        );
        assert_eq!(stat.aversion, 0);
        let bob = authed(&s, BOB).await;
        bob.get_data("/c").await.unwrap();
        assert_eq!(anon.get_data("/c").await.unwrap_err(), zk::Error::NoAuth);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_acl_matches_the_client_address() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let exact = [acl(zk::Permission::ALL, "ip", "127.0.0.1")];
        let net = [acl(zk::Permission::ALL, "ip", "127.0.0.0/8")];
        let other = [acl(zk::Permission::ALL, "ip", "10.0.0.0/8")];
        for (path, list) in [("/ip1", &exact), ("/ip2", &net), ("/ip3", &other)] {
            let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(list));
            c.create(path, path.as_bytes(), &opts).await.unwrap();
        }
        assert_eq!(c.get_data("/ip1").await.unwrap().0, b"/ip1");
        assert_eq!(c.get_data("/ip2").await.unwrap().0, b"/ip2");
        assert_eq!(c.get_data("/ip3").await.unwrap_err(), zk::Error::NoAuth);

        // whoAmI reports the ip identity every connection has.
        let users = c.list_auth_users().await.unwrap();
        assert_eq!(users.len(), 1, "{users:?}");
        assert_eq!((users[0].scheme(), users[0].user()), ("ip", "127.0.0.1"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_acls_are_rejected() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        for bad in [
            acl(zk::Permission::ALL, "world", "foo"),
            acl(zk::Permission::ALL, "bogus", "x"),
            acl(zk::Permission::ALL, "digest", "no-colon"),
            acl(zk::Permission::ALL, "ip", "not.an.ip"),
            acl(zk::Permission::ALL, "ip", "127.0.0.1/99"),
        ] {
            let list = [bad.clone()];
            let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&list));
            assert_eq!(
                c.create("/bad", b"", &opts).await.unwrap_err(),
                zk::Error::InvalidAcl,
                "{bad:?}"
            );
        }
        c.create("/n", b"", &persistent()).await.unwrap();
        assert_eq!(
            c.set_acl("/n", &[acl(zk::Permission::ALL, "world", "foo")], None)
                .await
                .unwrap_err(),
            zk::Error::InvalidAcl
        );

        // An empty ACL list cannot be sent through the library; raw it is.
        let mut r = Raw::session(s.addr).await;
        let rep = r
            .call(op::CREATE, &body::create_acl("/empty", b"", &[], 0))
            .await;
        assert_eq!(rep.err, err::INVALID_ACL);
        let rep = r
            .call(op::SET_ACL, &Enc::new().str("/n").acl(&[]).i32(-1).done())
            .await;
        assert_eq!(rep.err, err::INVALID_ACL);
        assert!(c.check_stat("/bad").await.unwrap().is_none());
        assert!(c.check_stat("/empty").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_acl_needs_read_or_admin_and_masks_digests_without_admin() {
    let s = TestServer::start().await;
    within(30, async {
        let alice = authed(&s, ALICE).await;
        let mixed = [
            acl(zk::Permission::ALL, "digest", ALICE_DIGEST),
            acl(zk::Permission::READ, "world", "anyone"),
        ];
        alice
            .create(
                "/m",
                b"",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&mixed)),
            )
            .await
            .unwrap();
        let (full, _) = alice.get_acl("/m").await.unwrap();
        assert_eq!(
            triples(&full),
            vec![
                (zk::Permission::ALL, "digest".into(), ALICE_DIGEST.into()),
                (zk::Permission::READ, "world".into(), "anyone".into()),
            ]
        );
        let anon = s.client().await;
        let (masked, _) = anon.get_acl("/m").await.unwrap();
        assert_eq!(
            triples(&masked),
            vec![
                (zk::Permission::ALL, "digest".into(), "alice:x".into()),
                (zk::Permission::READ, "world".into(), "anyone".into()),
            ],
            "without ADMIN the digest hash is masked"
        );

        let only_alice = [acl(zk::Permission::ALL, "digest", ALICE_DIGEST)];
        alice
            .create(
                "/p",
                b"",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        assert_eq!(anon.get_acl("/p").await.unwrap_err(), zk::Error::NoAuth);

        // ADMIN alone is enough to read the ACL.
        let admin_only = [acl(zk::Permission::ADMIN, "world", "anyone")];
        alice
            .create(
                "/a",
                b"",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&admin_only)),
            )
            .await
            .unwrap();
        let (got, _) = anon.get_acl("/a").await.unwrap();
        assert_eq!(
            triples(&got),
            vec![(zk::Permission::ADMIN, "world".into(), "anyone".into())]
        );
        assert_eq!(anon.get_data("/a").await.unwrap_err(), zk::Error::NoAuth);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_acl_checks_aversion() {
    let s = TestServer::start().await;
    within(30, async {
        let c = s.client().await;
        let (created, _) = c.create("/v", b"", &persistent()).await.unwrap();
        let read_write = [acl(
            zk::Permission::READ | zk::Permission::WRITE | zk::Permission::ADMIN,
            "world",
            "anyone",
        )];
        let st = c.set_acl("/v", &read_write, Some(0)).await.unwrap();
        assert_eq!(st.aversion, 1);
        assert_eq!(st.version, 0, "setACL leaves the data version alone");
        assert_eq!(st.mzxid, created.mzxid, "setACL does not change mzxid");
        assert_eq!(
            c.set_acl("/v", &read_write, Some(0)).await.unwrap_err(),
            zk::Error::BadVersion
        );
        let st = c.set_acl("/v", &read_write, None).await.unwrap();
        assert_eq!(st.aversion, 2);
        let (acls, stat) = c.get_acl("/v").await.unwrap();
        assert_eq!(stat.aversion, 2);
        assert_eq!(
            triples(&acls),
            vec![(
                zk::Permission::READ | zk::Permission::WRITE | zk::Permission::ADMIN,
                "world".into(),
                "anyone".into()
            )]
        );
        // The new ACL is in force: no CREATE any more.
        assert_eq!(
            c.create("/v/kid", b"", &persistent()).await.unwrap_err(),
            zk::Error::NoAuth
        );
        assert_eq!(
            c.set_acl("/missing", &read_write, None).await.unwrap_err(),
            zk::Error::NoNode
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_digest_bypasses_every_acl() {
    let s = TestServer::start_with(|c| c.super_digest = Some(SUPER_DIGEST.to_string())).await;
    within(30, async {
        let alice = authed(&s, ALICE).await;
        let only_alice = [acl(zk::Permission::ALL, "digest", ALICE_DIGEST)];
        alice
            .create(
                "/locked",
                b"mine",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&only_alice)),
            )
            .await
            .unwrap();
        let nothing = [acl(zk::Permission::NONE, "world", "anyone")];
        alice
            .create(
                "/void",
                b"",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&nothing)),
            )
            .await
            .unwrap();

        let root = authed(&s, SUPER).await;
        assert_eq!(root.get_data("/locked").await.unwrap().0, b"mine");
        root.set_data("/locked", b"super was here", None)
            .await
            .unwrap();
        let (acls, _) = root.get_acl("/locked").await.unwrap();
        assert_eq!(acls[0].id(), ALICE_DIGEST, "super has ADMIN: no masking");
        root.create("/void/kid", b"", &persistent()).await.unwrap();
        root.delete("/void/kid", None).await.unwrap();
        root.set_acl(
            "/void",
            &[acl(zk::Permission::ALL, "world", "anyone")],
            None,
        )
        .await
        .unwrap();

        let users = root.list_auth_users().await.unwrap();
        let mut got: Vec<_> = users
            .iter()
            .map(|u| (u.scheme().to_string(), u.user().to_string()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("digest".to_string(), "super".to_string()),
                ("ip".to_string(), "127.0.0.1".to_string()),
                ("super".to_string(), "".to_string()),
            ]
        );

        // Someone else with a wrong super password is nobody special.
        let fake = authed(&s, "super:nope").await;
        assert_eq!(
            fake.get_data("/locked").await.unwrap_err(),
            zk::Error::NoAuth
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_am_i_lists_digest_users() {
    let s = TestServer::start().await;
    within(30, async {
        let alice = authed(&s, ALICE).await;
        let mut got: Vec<_> = alice
            .list_auth_users()
            .await
            .unwrap()
            .iter()
            .map(|u| (u.scheme().to_string(), u.user().to_string()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("digest".to_string(), "alice".to_string()),
                ("ip".to_string(), "127.0.0.1".to_string()),
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_auth_scheme_fails_and_closes_the_connection_but_not_the_session() {
    let s = TestServer::start().await;
    within(30, async {
        let mut r = Raw::session(s.addr).await;
        assert_eq!(raw_auth(&mut r, "digest", ALICE.as_bytes()).await, 0);
        r.send_with_xid(xid::AUTH, op::AUTH, &body::auth("bogus", b"x"))
            .await;
        let rep = r.reply_for(xid::AUTH).await;
        assert_eq!(rep.err, err::AUTH_FAILED);
        assert!(rep.body.is_empty());
        let after = r.expect_closed().await;
        assert!(
            after.is_empty(),
            "nothing after the AuthFailed reply: {after:?}"
        );

        // The session itself lives on.
        let mut again = Raw::tcp(s.addr).await;
        let mut req = common::raw::ConnectReq::new_session(30_000);
        req.session_id = r.session_id;
        req.passwd = r.passwd.clone();
        let resp = again.handshake(&req).await.expect("resume answered");
        assert_eq!(resp.session_id, r.session_id);
        assert!(resp.timeout_ms > 0);

        // Through the library: AuthFailed.
        let c = s.client().await;
        assert_eq!(
            c.auth("bogus", b"x").await.unwrap_err(),
            zk::Error::AuthFailed
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_dropped_for_sessions_without_read() {
    let s = TestServer::start().await;
    within(30, async {
        let mut owner = Raw::session(s.addr).await;
        assert_eq!(raw_auth(&mut owner, "digest", ALICE.as_bytes()).await, 0);
        let mut reader = Raw::session(s.addr).await; // no auth
        let mut alice2 = Raw::session(s.addr).await;
        assert_eq!(raw_auth(&mut alice2, "digest", ALICE.as_bytes()).await, 0);

        owner.create("/s", b"0").await;
        for w in [&mut reader, &mut alice2] {
            let rep = w.call(op::GET_DATA, &body::path_watch("/s", true)).await;
            assert_eq!(rep.err, 0);
            let rep = w.call(op::ADD_WATCH, &body::path_type("/s", 0)).await;
            assert_eq!(rep.err, 0);
        }
        // Lock the node to alice, then change it.
        let lock = Enc::new()
            .str("/s")
            .acl(&[(31, "digest", ALICE_DIGEST)])
            .i32(-1)
            .done();
        assert_eq!(owner.call(op::SET_ACL, &lock).await.err, 0);
        let z = owner.set("/s", b"1").await;

        let seen = alice2.drain_events().await;
        assert_eq!(kinds(&seen), vec![ev(NODE_DATA_CHANGED, "/s")]);
        assert_eq!(seen[0].zxid, z);
        assert!(
            reader.drain_events().await.is_empty(),
            "a session without READ on the node gets no event"
        );

        // Unlock: the persistent watch still works; the one-shot was used up silently.
        let unlock = Enc::new()
            .str("/s")
            .acl(&[(31, "world", "anyone")])
            .i32(-1)
            .done();
        assert_eq!(owner.call(op::SET_ACL, &unlock).await.err, 0);
        owner.set("/s", b"2").await;
        assert_eq!(
            kinds(&reader.drain_events().await),
            vec![ev(NODE_DATA_CHANGED, "/s")]
        );
        let check = reader
            .call(op::CHECK_WATCHES, &body::path_type("/s", 2))
            .await;
        assert_eq!(
            check.err,
            err::NO_WATCHER,
            "the dropped one-shot watch was consumed"
        );
    })
    .await;
}
