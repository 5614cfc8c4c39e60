//! Helpers for tests that run the built `watchkeeper` binary: a server process on a free port
//! with its own data directory, and one-shot `watchkeeper cli` invocations against it.

#![allow(dead_code)] // each test file uses its own subset

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_watchkeeper");

/// How long a server gets to start accepting.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A `watchkeeper serve` process; killed on drop unless stopped.
pub struct Server {
    pub port: u16,
    pub child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts a server on a free port with `data_dir`.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(|port| {
            let mut cmd = Command::new(BIN);
            cmd.args(["serve", "--client-address", "127.0.0.1", "--client-port"])
                .arg(port.to_string())
                .arg("--data-dir")
                .arg(data_dir);
            cmd
        })
    }

    /// Starts a server built by `command(port)`, retrying with another port when the chosen
    /// one was taken between choosing and binding.
    pub fn start_with(mut command: impl FnMut(u16) -> Command) -> Server {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = command(port);
            let mut child = cmd
                .env("WATCHKEEPER_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn watchkeeper serve");
            let stderr = capture(child.stderr.take().expect("stderr piped"));
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Some(status) = child.try_wait().expect("try_wait") {
                    last_err = format!("exited with {status}: {}", stderr.lock().unwrap());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Ours, not another test's that took the port: we are still alive.
                    std::thread::sleep(Duration::from_millis(50));
                    if child.try_wait().expect("try_wait").is_none() {
                        return Server {
                            port,
                            child,
                            stderr,
                        };
                    }
                    continue;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!(
                        "server did not accept within {START_TIMEOUT:?}: {}",
                        stderr.lock().unwrap()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start a server: {last_err}");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs `watchkeeper cli --server <this> ARGS`.
    pub fn cli(&self, args: &[&str]) -> Run {
        cli(&self.addr(), args)
    }

    /// Like [`Self::cli`], insisting on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.cli(args);
        assert_eq!(r.code, Some(0), "{args:?} failed: {}", r.stderr);
        r.stdout
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` (e.g. "TERM") and waits for the process to end.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        send_signal(self.child.id(), signal);
        wait_timeout(&mut self.child, Duration::from_secs(30)).expect("server did not stop")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of one cli run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn cli(server: &str, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(["cli", "--server", server, "--connect-timeout-secs", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run watchkeeper cli");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Drains a pipe into a shared string (so the child never blocks on a full pipe).
pub fn capture(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// Waits until `text` holds `needle`, or panics after `timeout`.
pub fn wait_for(text: &Arc<Mutex<String>>, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !text.lock().unwrap().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "`{needle}` did not appear within {timeout:?}; got: {}",
            text.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_string()
}
