//! Client load for the fault scenarios: writers whose acknowledged writes are checked on every
//! member afterwards, and compare-and-set clients whose histories are checked for
//! linearizability.
//!
//! Every client has its own session on the whole ensemble (the client picks a member and moves
//! on failure). Every call has a deadline; a call without an answer is recorded as unknown.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zookeeper_client as zk;

use crate::linearizable::{Call, Op, Outcome, State};

pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Connects a session to `hosts`, retrying while the ensemble elects.
pub async fn connect(hosts: &str) -> zk::Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = zk::Client::connector()
            .with_session_timeout(SESSION_TIMEOUT)
            .connect(hosts)
            .await;
        match c {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("connect to {hosts}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot connect to {hosts}: {e}"),
        }
    }
}

/// What writers were told: each path's last acknowledged data, and paths whose last write has
/// no answer (either value may be there).
#[derive(Default, Debug)]
pub struct Ledger {
    pub acked: BTreeMap<String, u64>,
    pub doubt: BTreeMap<String, Vec<u64>>,
}

/// Writers that each own a few paths and overwrite them with increasing numbers until `stop`.
pub struct Writers {
    pub ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    pub async fn start(hosts: &str, prefix: &str, writers: usize) -> Writers {
        let setup = connect(hosts).await;
        let _ = setup.create(prefix, b"", &persistent()).await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let client = connect(hosts).await;
            let (ledger, stop) = (ledger.clone(), stop.clone());
            let prefix = prefix.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let path = format!("{prefix}/w{w}-{}", n % 5);
                    let data = n.to_string();
                    let r = tokio::time::timeout(CALL_TIMEOUT, async {
                        match client.set_data(&path, data.as_bytes(), None).await {
                            Err(zk::Error::NoNode) => client
                                .create(&path, data.as_bytes(), &persistent())
                                .await
                                .map(|_| ()),
                            other => other.map(|_| ()),
                        }
                    })
                    .await;
                    let ok = matches!(r, Ok(Ok(())));
                    {
                        let mut l = ledger.lock().unwrap();
                        if ok {
                            l.acked.insert(path.clone(), n);
                            l.doubt.remove(&path);
                        } else {
                            l.doubt.entry(path.clone()).or_default().push(n);
                        }
                    }
                    if !ok {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
        Writers {
            ledger,
            stop,
            tasks,
        }
    }

    /// Stops the writers and returns what they were told.
    pub async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        Arc::try_unwrap(self.ledger)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default()
    }

    pub fn acked_count(&self) -> usize {
        self.ledger.lock().unwrap().acked.len()
    }
}

/// Checks on one member (connected to it alone, after a sync) that every acknowledged write is
/// there with its data, or with a later doubtful one.
pub async fn verify_on(addr: &str, ledger: &Ledger) -> Result<usize, String> {
    let c = connect(addr).await;
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, &n) in &ledger.acked {
        c.sync(path)
            .await
            .map_err(|e| format!("sync on {addr}: {e}"))?;
        let got = match c.get_data(path).await {
            Ok((data, _)) => String::from_utf8_lossy(&data).parse::<u64>().ok(),
            Err(e) => {
                problems.push(format!("{path}: {e} (acked {n})"));
                continue;
            }
        };
        let allowed = |v: u64| {
            v == n
                || ledger
                    .doubt
                    .get(path)
                    .is_some_and(|d| d.iter().any(|x| *x == v && *x > n))
        };
        match got {
            Some(v) if allowed(v) => checked += 1,
            other => problems.push(format!("{path}: has {other:?}, acked {n}")),
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(format!(
            "member {addr}: {} problems: {problems:?}",
            problems.len()
        ))
    }
}

/// Compare-and-set clients on `keys` registers; each records its calls.
pub struct CasClients {
    pub histories: Arc<Mutex<BTreeMap<String, Vec<Call>>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Calls per register kept (the checker takes at most 64).
const CALLS_PER_KEY: usize = 40;

impl CasClients {
    pub async fn start(
        hosts: &str,
        prefix: &str,
        keys: usize,
        clients: usize,
        seed: u64,
    ) -> CasClients {
        let setup = connect(hosts).await;
        let _ = setup.create(prefix, b"", &persistent()).await;
        for k in 0..keys {
            let _ = setup
                .create(&format!("{prefix}/k{k}"), b"0", &persistent())
                .await;
        }
        let histories = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let client = connect(hosts).await;
            let (histories, stop) = (histories.clone(), stop.clone());
            let prefix = prefix.to_owned();
            let mut rng = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(c as u64 + 1);
            tasks.push(tokio::spawn(async move {
                let mut next_value = (c as u64 + 1) * 1_000_000;
                let mut known_version = 0i32;
                while !stop.load(Ordering::Relaxed) {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let key = format!("{prefix}/k{}", (rng >> 33) as usize % keys);
                    let full = histories
                        .lock()
                        .unwrap()
                        .get(&key)
                        .is_some_and(|h: &Vec<Call>| h.len() >= CALLS_PER_KEY);
                    if full {
                        let all_full = {
                            let h = histories.lock().unwrap();
                            h.len() == keys && h.values().all(|h| h.len() >= CALLS_PER_KEY)
                        };
                        if all_full {
                            break;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    let read = (rng >> 40).is_multiple_of(2);
                    let invoked = Instant::now();
                    let (op, outcome) = if read {
                        let r = tokio::time::timeout(CALL_TIMEOUT, async {
                            client.sync(&key).await?;
                            client.get_data(&key).await
                        })
                        .await;
                        let outcome = match r {
                            Ok(Ok((data, stat))) => {
                                known_version = stat.version;
                                Outcome::Saw(State {
                                    value: String::from_utf8_lossy(&data)
                                        .parse()
                                        .unwrap_or(u64::MAX),
                                    version: stat.version,
                                })
                            }
                            _ => Outcome::Unknown,
                        };
                        (Op::Read, outcome)
                    } else {
                        next_value += 1;
                        let expected = known_version;
                        let r = tokio::time::timeout(
                            CALL_TIMEOUT,
                            client.set_data(
                                &key,
                                next_value.to_string().as_bytes(),
                                Some(expected),
                            ),
                        )
                        .await;
                        let outcome = match r {
                            Ok(Ok(stat)) => {
                                known_version = stat.version;
                                Outcome::Written(stat.version)
                            }
                            Ok(Err(zk::Error::BadVersion)) => Outcome::BadVersion,
                            _ => Outcome::Unknown,
                        };
                        (
                            Op::Cas {
                                value: next_value,
                                expected,
                            },
                            outcome,
                        )
                    };
                    let returned = (outcome != Outcome::Unknown).then(Instant::now);
                    histories
                        .lock()
                        .unwrap()
                        .entry(key)
                        .or_default()
                        .push(Call {
                            client: c,
                            op,
                            invoked,
                            returned,
                            outcome,
                        });
                    if returned.is_none() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
        CasClients {
            histories,
            stop,
            tasks,
        }
    }

    /// Stops the clients and checks every register's history.
    pub async fn stop_and_check(self) -> Result<usize, String> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        let histories = self.histories.lock().unwrap();
        let mut calls = 0;
        for (key, h) in histories.iter() {
            calls += h.len();
            crate::linearizable::check(
                State {
                    value: 0,
                    version: 0,
                },
                h,
            )
            .map_err(|e| format!("{key}: {e}"))?;
        }
        Ok(calls)
    }
}

/// The scenarios' usual load: a few writers and compare-and-set clients under one name.
pub struct Load {
    writers: Writers,
    cas: CasClients,
}

impl Load {
    pub async fn start(hosts: &str, name: &str, seed: u64) -> Load {
        Load {
            writers: Writers::start(hosts, &format!("/{name}"), 3).await,
            cas: CasClients::start(hosts, &format!("/lin-{name}"), 3, 4, seed).await,
        }
    }

    /// Stops the load, checks the compare-and-set histories for linearizability and every
    /// acknowledged write on every running member; returns what the writers were told.
    pub async fn finish(self, c: &crate::cluster::Cluster) -> Ledger {
        let ledger = self.writers.stop().await;
        assert!(
            !ledger.acked.is_empty(),
            "the writers got no write acknowledged"
        );
        let calls = self
            .cas
            .stop_and_check()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{calls} compare-and-set calls linearizable");
        crate::verify_everywhere(c, &ledger).await;
        ledger
    }
}
