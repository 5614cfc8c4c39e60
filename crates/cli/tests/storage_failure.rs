//! A data directory that fails under a running server: the server stops taking writes, says
//! why, and exits non-zero; every write it acknowledged is there when it restarts on the same
//! data. Two real failures: fdatasync returning EIO (injected into the unchanged binary by an
//! LD_PRELOAD shim compiled here) and a full disk (a small tmpfs that fills up).

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::{BIN, Server, tempdir, wait_timeout};
use zookeeper_client as zk;

/// Fails every fsync and fdatasync with EIO once the file named by WK_FAIL_SYNC_FLAG exists.
const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void) {
    const char *flag = getenv("WK_FAIL_SYNC_FLAG");
    return flag && access(flag, F_OK) == 0;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (failing()) { errno = EIO; return -1; }
    return real(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (failing()) { errno = EIO; return -1; }
    return real(fd);
}
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn client(addr: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(addr)
        .await
        .expect("connect")
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Writes `/w/nNNNN` (from `first` on) with `size` bytes each until one fails or `limit` are
/// acknowledged; returns the acknowledged names.
async fn write_until_failure(
    c: &zk::Client,
    first: usize,
    size: usize,
    limit: usize,
) -> Vec<String> {
    let _ = c.create("/w", b"", &open()).await;
    let data = vec![b'x'; size];
    let mut acked = Vec::new();
    for i in first..first + limit {
        let path = format!("/w/n{i:05}");
        let r =
            tokio::time::timeout(Duration::from_secs(30), c.create(&path, &data, &open())).await;
        match r {
            Ok(Ok(_)) => acked.push(path),
            _ => break,
        }
    }
    acked
}

/// Waits for the server to exit on its own and returns how.
fn exit_of(s: &mut Server) -> ExitStatus {
    wait_timeout(&mut s.child, Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "the server kept running after its storage failed:\n{}",
            s.stderr()
        )
    })
}

/// Every path in `acked` is on the server at `addr`.
fn assert_all_present(addr: &str, acked: &[String]) {
    runtime().block_on(async {
        let c = client(addr).await;
        for p in acked {
            assert!(
                c.check_stat(p).await.expect("stat").is_some(),
                "acknowledged write {p} lost"
            );
        }
    });
}

fn start_with_env(data: &Path, env: &[(&str, String)]) -> Server {
    Server::start_with(|port| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--client-address", "127.0.0.1", "--client-port"])
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(data)
            .args(["--four-letter-words", "*"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    })
}

#[test]
fn an_fsync_error_stops_the_server_and_loses_no_acknowledged_write() {
    let dir = tempdir();
    let src = dir.path().join("failsync.c");
    let lib = dir.path().join("libfailsync.so");
    std::fs::write(&src, SHIM).unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        eprintln!("SKIPPED: no C compiler (cc) to build the fsync-failing shim");
        return;
    }
    let flag = dir.path().join("fail-now");
    let data = dir.path().join("data");
    let mut s = start_with_env(
        &data,
        &[
            ("LD_PRELOAD", lib.display().to_string()),
            ("WK_FAIL_SYNC_FLAG", flag.display().to_string()),
        ],
    );
    let addr = s.addr();
    let (acked, after) = runtime().block_on(async {
        let c = client(&addr).await;
        let acked = write_until_failure(&c, 0, 100, 50).await;
        assert_eq!(acked.len(), 50, "writes before the failure");
        std::fs::write(&flag, b"").unwrap();
        let after = write_until_failure(&c, 50, 100, 50).await;
        (acked, after)
    });
    assert!(
        after.is_empty(),
        "{} writes acknowledged after fsync failed",
        after.len()
    );
    let status = exit_of(&mut s);
    assert!(!status.success(), "exited with {status}");
    let err = s.stderr();
    assert!(err.contains("write-ahead log failed"), "{err}");
    assert!(err.contains("fdatasync") || err.contains("fsync"), "{err}");
    drop(s);

    // Healthy again (no shim): everything acknowledged, before and after the flag, is there.
    let s = start_with_env(&data, &[]);
    assert_all_present(&s.addr(), &acked);
}

#[test]
fn a_full_disk_stops_the_server_and_loses_no_acknowledged_write() {
    let dir = tempdir();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    // Room for the first 64 MiB log segment and a little more, not for the second.
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=80m", "tmpfs"])
        .arg(&small)
        .status();
    if !matches!(mounted, Ok(s) if s.success()) {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);
    let data = small.join("data");
    let mut s = start_with_env(&data, &[]);
    let addr = s.addr();
    let started = Instant::now();
    let acked = runtime().block_on(async {
        let c = client(&addr).await;
        write_until_failure(&c, 0, 512 << 10, 1000).await
    });
    assert!(
        acked.len() > 10 && acked.len() < 1000,
        "{} writes acknowledged on an 80 MiB disk",
        acked.len()
    );
    let status = exit_of(&mut s);
    assert!(!status.success(), "exited with {status}");
    let err = s.stderr();
    assert!(err.contains("write-ahead log failed"), "{err}");
    eprintln!(
        "{} writes of 512 KiB acknowledged before the disk filled ({:?})",
        acked.len(),
        started.elapsed()
    );
    drop(s);

    // The same data on a disk with room: every acknowledged write is there.
    let copy = dir.path().join("copy");
    let copied = Command::new("cp").arg("-a").arg(&data).arg(&copy).status();
    assert!(matches!(copied, Ok(s) if s.success()));
    let s = start_with_env(&copy, &[]);
    assert_all_present(&s.addr(), &acked);
}
