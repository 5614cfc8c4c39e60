//! A Watchkeeper ensemble of real `watchkeeper serve` processes on loopback, for fault tests:
//! each member has its own data directory, `zoo.cfg` with `server.N` lines and `myid`, and can
//! be killed (SIGKILL), stopped (SIGTERM), paused (SIGSTOP), resumed and restarted.
//!
//! Members listen on 127.0.0.1 with ports picked free at start. Every wait has a generous
//! deadline and fails the test with what it was waiting for; nothing asserts a time bound.

#![allow(dead_code)] // each scenario uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a member gets to start answering, and a cluster to elect a leader.
pub const READY_WITHIN: Duration = Duration::from_secs(60);

/// One member's ports.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
}

pub struct Member {
    pub id: u64,
    /// The member's own address: 127.0.0.1, or 127.0.0.(id+1) in a partitionable cluster.
    pub ip: [u8; 4],
    pub ports: Ports,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Member {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.ports.client))
    }

    fn host(&self) -> String {
        std::net::Ipv4Addr::from(self.ip).to_string()
    }

    /// This member's `server.N=` line (with the `server.N=` part).
    pub fn server_line(&self, observer: bool) -> String {
        let h = self.host();
        let kind = if observer { "observer" } else { "participant" };
        format!(
            "server.{}={h}:{}:{}:{kind};{h}:{}",
            self.id, self.ports.quorum, self.ports.election, self.ports.client
        )
    }

    /// Writes the member's data directory, myid and zoo.cfg.
    fn write_config(&self, servers: &str, observer: bool, extra: &[String]) {
        std::fs::create_dir_all(self.dir.join("data")).expect("member dir");
        std::fs::write(self.dir.join("data/myid"), format!("{}\n", self.id)).expect("myid");
        let mut cfg = format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=10\ndataDir={}\n4lw.commands.whitelist=*\nmaxClientCnxns=0\n{servers}",
            self.dir.join("data").display()
        );
        if observer {
            cfg.push_str("peerType=observer\n");
        }
        for line in extra {
            cfg.push_str(line);
            cfg.push('\n');
        }
        std::fs::write(self.dir.join("zoo.cfg"), cfg).expect("zoo.cfg");
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
        }
    }
}

pub struct Cluster {
    pub members: Vec<Member>,
    bin: PathBuf,
    /// The lines every member's zoo.cfg gets besides the ensemble's.
    extra: Vec<String>,
    // Last, so the directories outlive the processes.
    _dir: TempDir,
}

/// Ports for members, below the kernel's ephemeral range (32768 on): a port the kernel hands
/// out for `bind(0)` could be taken by another test between a member's kill and its restart,
/// but these are only ever handed out here, each once per process (and checked free).
fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 23_000;
    const SPAN: u32 = 9_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Processes running at once start at different places.
    let offset = std::process::id().wrapping_mul(7919) % SPAN;
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(k < SPAN, "out of test ports");
        let port = (FIRST + (offset + k) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

impl Cluster {
    /// Writes the configuration of an `n`-member ensemble and starts every member.
    /// `extra` lines go into every member's zoo.cfg.
    pub fn start(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_on(n, 0, extra, false)
    }

    /// `voters` participants and then `observers` observers (`:observer`, `peerType=observer`).
    pub fn start_with_observers(voters: usize, observers: usize, extra: &[&str]) -> Cluster {
        Cluster::start_on(voters + observers, observers, extra, false)
    }

    /// As [`Cluster::start`], each member on an address of its own (127.0.0.2, .3, …), so that
    /// [`Cluster::partition`] can cut the links between members; clients come from 127.0.0.1
    /// and reach every member.
    pub fn start_partitionable(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_on(n, 0, extra, true)
    }

    /// The last `observers` of the `n` members are observers.
    fn start_on(n: usize, observers: usize, extra: &[&str], own_ips: bool) -> Cluster {
        let is_observer = |id: u64| id as usize > n - observers;
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(3 * n);
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                id: i as u64 + 1,
                ip: if own_ips {
                    [127, 0, 0, i as u8 + 2]
                } else {
                    [127, 0, 0, 1]
                },
                ports: Ports {
                    client: ports[3 * i],
                    quorum: ports[3 * i + 1],
                    election: ports[3 * i + 2],
                },
                dir: dir.path().join(format!("m{}", i + 1)),
                child: None,
            })
            .collect();
        let servers: String = members
            .iter()
            .map(|m| format!("{}\n", m.server_line(is_observer(m.id))))
            .collect();
        let extra: Vec<String> = extra.iter().map(|l| l.to_string()).collect();
        for m in &members {
            m.write_config(&servers, is_observer(m.id), &extra);
        }
        let mut c = Cluster {
            members,
            bin: PathBuf::from(env!("CARGO_BIN_EXE_watchkeeper")),
            extra,
            _dir: dir,
        };
        for i in 0..n {
            c.spawn(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "member {} already runs", m.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.dir.join("server.log"))
            .expect("log file");
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg("--config")
            .arg(m.dir.join("zoo.cfg"))
            .env("RUST_LOG", "info")
            // A start-up error is one line, not a backtrace.
            .env("RUST_BACKTRACE", "0")
            .env("TOKIO_WORKER_THREADS", "2")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start watchkeeper serve");
        m.child = Some(child);
    }

    /// Starts a new process as an observer that is not in the ensemble yet (its zoo.cfg lists
    /// the members and itself), for a reconfig to add; returns its index.
    pub fn add_observer_process(&mut self) -> usize {
        let ports = free_ports(3);
        let id = self.members.iter().map(|m| m.id).max().unwrap_or(0) + 1;
        let base = self.members[0]
            .dir
            .parent()
            .expect("cluster dir")
            .to_path_buf();
        let m = Member {
            id,
            ip: [127, 0, 0, 1],
            ports: Ports {
                client: ports[0],
                quorum: ports[1],
                election: ports[2],
            },
            dir: base.join(format!("m{id}")),
            child: None,
        };
        let mut servers: String = self
            .members
            .iter()
            .map(|o| {
                let observer = std::fs::read_to_string(o.dir.join("zoo.cfg"))
                    .is_ok_and(|c| c.contains("peerType=observer"));
                format!("{}\n", o.server_line(observer))
            })
            .collect();
        servers.push_str(&format!("{}\n", m.server_line(true)));
        m.write_config(&servers, true, &self.extra);
        self.members.push(m);
        let i = self.members.len() - 1;
        self.spawn(i);
        i
    }

    /// SIGKILL: the member dies at once, as in a crash.
    pub fn kill(&mut self, i: usize) {
        let m = &mut self.members[i];
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit (a leader hands over leadership first).
    pub fn stop(&mut self, i: usize) {
        let m = &mut self.members[i];
        m.signal("-TERM");
        if let Some(mut c) = m.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn pause(&self, i: usize) {
        self.members[i].signal("-STOP");
    }

    pub fn resume(&self, i: usize) {
        self.members[i].signal("-CONT");
    }

    /// Starts a stopped or killed member again on its data directory.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    /// The connect string of every member.
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(|m| m.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A member's `srvr` answer's Mode, or None when it does not answer.
    pub fn mode(&self, i: usize) -> Option<String> {
        let text = four_letter(self.members[i].addr(), "srvr")?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_owned)
    }

    /// Waits until exactly one running member says it leads and every other running member
    /// follows; returns the leader's index.
    pub fn wait_for_leader(&self) -> usize {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let modes: Vec<(usize, Option<String>)> = (0..self.members.len())
                .filter(|&i| self.members[i].is_running())
                .map(|i| (i, self.mode(i)))
                .collect();
            let leaders: Vec<usize> = modes
                .iter()
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(i, _)| *i)
                .collect();
            let settled = modes
                .iter()
                .all(|(_, m)| matches!(m.as_deref(), Some("leader" | "follower" | "observer")));
            if leaders.len() == 1 && settled {
                return leaders[0];
            }
            assert!(
                Instant::now() < deadline,
                "no settled leader within {READY_WITHIN:?}: modes {modes:?}\n{}",
                self.logs_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until member `i` reports itself leader or follower (it has rejoined).
    pub fn wait_member_ready(&self, i: usize) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if matches!(
                self.mode(i).as_deref(),
                Some("leader" | "follower" | "observer")
            ) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "member {} not ready within {READY_WITHIN:?}\n{}",
                self.members[i].id,
                self.logs_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The end of every member's log, for failure messages.
    pub fn logs_tail(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            let text = std::fs::read_to_string(m.dir.join("server.log")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(
                std::env::var("WK_LOG_LINES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(30),
            );
            for l in lines[..from]
                .iter()
                .filter(|l| l.starts_with("Error:") || l.contains("panicked at"))
            {
                out.push_str(&format!("---- member {} said earlier: {l}\n", m.id));
            }
            out.push_str(&format!("---- member {} log (last lines)\n", m.id));
            for l in &lines[from..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn data_dir(&self, i: usize) -> &Path {
        &self.members[i].dir
    }
}

/// Whether this process may change the firewall: only inside a network namespace of its own
/// (the CI runs the partition scenarios under `ip netns exec`, setting `WK_PARTITIONS=1`), so
/// that rules never touch the machine's own traffic.
pub fn partitions_allowed() -> bool {
    let allowed = std::env::var("WK_PARTITIONS").is_ok_and(|v| v == "1");
    if !allowed {
        eprintln!(
            "skipped: partition scenarios run only in a private network namespace with nftables \
             (WK_PARTITIONS=1; see crates/cli/tests/ensemble/run-partitions.sh)"
        );
    }
    allowed
}

fn nft(args: &str) {
    let status = Command::new("nft")
        .args(args.split(' '))
        .status()
        .expect("run nft (apt-get install nftables)");
    assert!(status.success(), "nft {args} failed");
}

impl Cluster {
    /// Cuts every link between members of different groups (by index), both ways; clients on
    /// 127.0.0.1 still reach every member.
    pub fn partition(&self, groups: &[&[usize]]) {
        self.heal();
        nft("add table inet wkpart");
        nft("add chain inet wkpart out { type filter hook output priority 0 ; }");
        for (g, group) in groups.iter().enumerate() {
            for other in &groups[g + 1..] {
                for &a in *group {
                    for &b in *other {
                        let (ha, hb) = (self.members[a].host(), self.members[b].host());
                        nft(&format!(
                            "add rule inet wkpart out ip saddr {ha} ip daddr {hb} drop"
                        ));
                        nft(&format!(
                            "add rule inet wkpart out ip saddr {hb} ip daddr {ha} drop"
                        ));
                    }
                }
            }
        }
        eprintln!("partitioned: {groups:?}");
    }

    /// Removes every partition.
    pub fn heal(&self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", "wkpart"])
            .stderr(Stdio::null())
            .status();
    }

    /// A member's `mntr` value for `key`.
    pub fn mntr(&self, i: usize, key: &str) -> Option<String> {
        let text = four_letter(self.members[i].addr(), "mntr")?;
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k == format!("zk_{key}")).then(|| v.to_owned())
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.members.iter().any(|m| m.ip != [127, 0, 0, 1]) {
            self.heal();
        }
        for i in 0..self.members.len() {
            self.resume(i);
            self.kill(i);
        }
    }
}

/// Sends a four-letter word and reads the whole answer; None when the member does not answer.
pub fn four_letter(addr: SocketAddr, word: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
}
