//! Every operation against a real server: results, stats, error codes, chroot handling.

use std::time::Duration;

use watchkeeper_client::{
    Acl, Client, CreateMode, CreateOptions, Error, ErrorCode, Id, MultiReadResult, MultiResult,
    SessionState, perms,
};

use crate::common::{Env, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_update_delete() {
    let env = Env::start().await;
    within(20, async {
        let c = env.client().await;
        assert_eq!(c.state(), SessionState::Connected);
        assert!(c.session_id() != 0);
        assert_eq!(c.session_password().len(), 16);
        assert!(c.session_timeout() > Duration::ZERO);

        let (path, stat) = c
            .create("/a", b"one", &CreateOptions::persistent())
            .await
            .unwrap();
        assert_eq!(path, "/a");
        assert_eq!(
            (stat.version, stat.data_length, stat.ephemeral_owner),
            (0, 3, 0)
        );
        assert_eq!(
            c.create("/a", b"", &CreateOptions::persistent()).await,
            Err(Error::Server(ErrorCode::NodeExists))
        );
        let (data, got) = c.get_data("/a").await.unwrap();
        assert_eq!((data.as_slice(), got), (&b"one"[..], stat));
        assert_eq!(c.exists("/a").await.unwrap(), Some(stat));
        assert_eq!(c.exists("/missing").await.unwrap(), None);
        assert_eq!(
            c.get_data("/missing").await,
            Err(Error::Server(ErrorCode::NoNode))
        );

        let s1 = c.set_data("/a", b"two", Some(0)).await.unwrap();
        assert_eq!(s1.version, 1);
        assert!(s1.mzxid > stat.mzxid);
        assert_eq!(
            c.set_data("/a", b"x", Some(0)).await,
            Err(Error::Server(ErrorCode::BadVersion))
        );
        let s2 = c.set_data("/a", b"", None).await.unwrap();
        assert_eq!((s2.version, s2.data_length), (2, 0));
        assert_eq!(c.get_data("/a").await.unwrap().0, b"");

        c.create("/a/b", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        c.create("/a/c", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let (mut children, parent) = c.get_children("/a").await.unwrap();
        children.sort();
        assert_eq!(children, ["b", "c"]);
        assert_eq!((parent.num_children, parent.cversion), (2, 2));
        assert_eq!(c.get_all_children_number("/a").await.unwrap(), 2);
        assert_eq!(
            c.delete("/a", None).await,
            Err(Error::Server(ErrorCode::NotEmpty))
        );
        assert_eq!(
            c.delete("/a/b", Some(7)).await,
            Err(Error::Server(ErrorCode::BadVersion))
        );
        c.delete("/a/b", Some(0)).await.unwrap();
        c.delete_recursive("/a").await.unwrap();
        assert_eq!(c.exists("/a").await.unwrap(), None);
        assert_eq!(
            c.delete("/a", None).await,
            Err(Error::Server(ErrorCode::NoNode))
        );
        c.sync("/").await.unwrap();
        c.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_sequence_ephemerals_and_chroot() {
    let env = Env::start().await;
    within(20, async {
        let c = env.client().await;
        let admin = env.admin().await;
        c.ensure_path("/q/deep/er").await.unwrap();
        c.ensure_path("/q/deep/er").await.unwrap();
        let (p1, _) = c
            .create("/q/item-", b"1", &CreateOptions::persistent_sequential())
            .await
            .unwrap();
        let (p2, _) = c
            .create("/q/", b"2", &CreateOptions::persistent_sequential())
            .await
            .unwrap();
        assert_eq!(p1, "/q/item-0000000001");
        assert_eq!(p2, "/q/0000000002");

        let (e, stat) = c
            .create("/q/e-", b"", &CreateOptions::ephemeral_sequential())
            .await
            .unwrap();
        assert!(e.starts_with("/q/e-"));
        assert_eq!(stat.ephemeral_owner, c.session_id());
        assert_eq!(
            c.create("/q/e-0000000003/child", b"", &CreateOptions::persistent())
                .await,
            Err(Error::Server(ErrorCode::NoChildrenForEphemerals))
        );
        c.create("/eph", b"", &CreateOptions::ephemeral())
            .await
            .unwrap();
        let mut mine = c.get_ephemerals("/").await.unwrap();
        mine.sort();
        assert_eq!(mine, vec!["/eph".to_owned(), e.clone()]);
        assert_eq!(c.get_ephemerals("/q").await.unwrap(), vec![e.clone()]);

        // The chroot is invisible to the client and real on the server.
        let real = format!("{}{}", env.root(), e);
        assert!(admin.exists(&real).await.unwrap().is_some());
        assert_eq!(c.chroot(), Some(env.root()));

        let (cont, _) = c
            .create("/cont", b"", &CreateOptions::container())
            .await
            .unwrap();
        assert_eq!(cont, "/cont");
        let ttl = c
            .create(
                "/ttl",
                b"",
                &CreateOptions::persistent_with_ttl(Duration::from_secs(60)),
            )
            .await;
        assert_eq!(ttl.map(|r| r.0), Ok("/ttl".to_owned()));
        assert!(matches!(
            c.create(
                "/bad",
                b"",
                &CreateOptions::persistent().with_ttl(Duration::from_secs(1))
            )
            .await,
            Err(Error::BadArguments(_))
        ));
        assert!(matches!(
            c.create(
                "/bad",
                b"",
                &CreateOptions::new(CreateMode::PersistentWithTtl)
            )
            .await,
            Err(Error::BadArguments(_))
        ));

        // Ephemerals go with the session.
        c.close().await.unwrap();
        assert_eq!(admin.exists(&real).await.unwrap(), None);
        assert_eq!(
            admin.exists(&format!("{}/eph", env.root())).await.unwrap(),
            None
        );
        admin.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_refused_without_a_round_trip() {
    let env = Env::start().await;
    within(20, async {
        let c = Client::builder(&env.connect_string()).max_buffer(4096).connect().await.unwrap();
        for p in ["", "a", "/a/", "/a//b", "/a/./b", "/a\0"] {
            assert!(matches!(c.get_data(p).await, Err(Error::BadArguments(_))), "{p:?}");
            assert!(matches!(c.delete(p, None).await, Err(Error::BadArguments(_))), "{p:?}");
        }
        let big = vec![7u8; 5000];
        assert!(matches!(
            c.create("/big", &big, &CreateOptions::persistent()).await,
            Err(Error::BadArguments(_))
        ));
        // The connection was not harmed.
        assert_eq!(c.state(), SessionState::Connected);
        c.create("/small", b"ok", &CreateOptions::persistent()).await.unwrap();
        assert!(matches!(
            c.multi().create("/x", b"", &CreateOptions::persistent()).delete("bad", None).commit().await,
            Err(Error::BadArguments(m)) if m.contains("op #1")
        ));
        assert!(matches!(Client::connect("").await, Err(Error::BadArguments(_))));
        assert!(matches!(Client::connect("h:1/bad/").await, Err(Error::BadArguments(_))));
        c.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_is_atomic_and_names_the_failing_op() {
    let env = Env::start().await;
    within(20, async {
        let c = env.client().await;
        let results = c
            .multi()
            .create("/m", b"", &CreateOptions::persistent())
            .create("/m/s-", b"x", &CreateOptions::persistent_sequential())
            .set_data("/m", b"new", Some(0))
            .check("/m", Some(1))
            .commit()
            .await
            .unwrap();
        assert_eq!(results.len(), 4);
        assert!(matches!(&results[0], MultiResult::Create { path, .. } if path == "/m"));
        assert!(matches!(&results[1], MultiResult::Create { path, .. } if path == "/m/s-0000000000"));
        assert!(matches!(&results[2], MultiResult::SetData { stat } if stat.version == 1));
        assert_eq!(results[3], MultiResult::Check);

        let failed = c
            .multi()
            .create("/m/new", b"", &CreateOptions::persistent())
            .delete("/m/missing", None)
            .set_data("/m", b"never", None)
            .commit()
            .await;
        assert_eq!(failed, Err(Error::MultiFailed { index: 1, code: ErrorCode::NoNode }));
        assert_eq!(failed.unwrap_err().code(), Some(ErrorCode::NoNode));
        assert_eq!(c.exists("/m/new").await.unwrap(), None, "nothing applied");
        assert_eq!(c.get_data("/m").await.unwrap().0, b"new");
        assert_eq!(c.multi().commit().await, Ok(vec![]));

        let reads = c
            .multi_read()
            .get_data("/m")
            .get_children("/m")
            .get_data("/nope")
            .commit()
            .await
            .unwrap();
        assert!(matches!(&reads[0], MultiReadResult::Data { data, stat } if data == b"new" && stat.version == 1));
        assert_eq!(reads[1], MultiReadResult::Children { children: vec!["s-0000000000".into()] });
        assert_eq!(reads[2], MultiReadResult::Error(ErrorCode::NoNode));
        c.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_and_authentication() {
    let env = Env::start().await;
    within(20, async {
        let alice = env
            .builder()
            .auth("digest", b"alice:secret")
            .connect()
            .await
            .unwrap();
        let other = env.client().await;
        let only_alice = vec![Acl::new(perms::ALL, Id::new("auth", ""))];
        alice
            .create(
                "/private",
                b"s",
                &CreateOptions::persistent().with_acl(only_alice),
            )
            .await
            .unwrap();
        let (acl, stat) = alice.get_acl("/private").await.unwrap();
        assert_eq!(acl.len(), 1);
        assert_eq!(acl[0].id.scheme, "digest");
        assert!(acl[0].id.id.starts_with("alice:"));
        assert_eq!(stat.aversion, 0);
        assert_eq!(
            other.get_data("/private").await,
            Err(Error::Server(ErrorCode::NoAuth))
        );
        other.add_auth("digest", b"alice:secret").await.unwrap();
        assert_eq!(other.get_data("/private").await.unwrap().0, b"s");

        let me = alice.who_am_i().await.unwrap();
        assert!(
            me.iter()
                .any(|i| i.auth_scheme == "digest" && i.user == "alice"),
            "{me:?}"
        );

        let open = Acl::open_unsafe();
        let s = alice.set_acl("/private", &open, Some(0)).await.unwrap();
        assert_eq!(s.aversion, 1);
        assert_eq!(
            alice.set_acl("/private", &open, Some(0)).await,
            Err(Error::Server(ErrorCode::BadVersion))
        );
        assert_eq!(
            alice
                .create("/x", b"", &CreateOptions::persistent().with_acl(vec![]))
                .await,
            Err(Error::Server(ErrorCode::InvalidAcl))
        );

        // An unknown scheme ends the session, as in ZooKeeper.
        assert_eq!(
            other.add_auth("no-such-scheme", b"x").await,
            Err(Error::AuthFailed)
        );
        assert_eq!(other.state(), SessionState::AuthFailed);
        assert_eq!(other.get_data("/private").await, Err(Error::AuthFailed));
        alice.close().await.unwrap();
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_from_many_tasks() {
    let env = Env::start().await;
    within(30, async {
        let c = env.client().await;
        c.create("/p", b"", &CreateOptions::persistent())
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    let path = format!("/p/n-{t}-{i}");
                    c.create(&path, path.as_bytes(), &CreateOptions::persistent())
                        .await
                        .unwrap();
                    assert_eq!(c.get_data(&path).await.unwrap().0, path.as_bytes());
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(c.get_children("/p").await.unwrap().0.len(), 400);
        // Closing one clone closes the session for all.
        let clone = c.clone();
        c.close().await.unwrap();
        assert_eq!(clone.get_data("/p").await, Err(Error::Closed));
        assert_eq!(clone.state(), SessionState::Closed);
    })
    .await;
    env.finish().await;
}
