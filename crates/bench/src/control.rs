//! Killing and restarting ensemble members, for `failover` and `storm`.
//!
//! The workloads only see [`MemberControl`]: kill member i now, bring it back, tell its pid.
//! [`ProcessControl`] is the one the command line builds: SIGKILL by process id (a fixed pid
//! or a pid file read again at every use, so a restarted member's new pid is found), and a
//! shell command template to restart a member. Tests (and embedders) may pass their own, e.g.
//! members running in-process.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::BenchError;
use crate::args::PidSource;

/// Kills and restarts the members of one ensemble; members are numbered by their index in
/// the connect string (0-based here; `{id}` in commands is 1-based).
pub trait MemberControl: Send + Sync + fmt::Debug {
    /// Kills member `index` at once, as a crash would (SIGKILL). Returns once the kill was
    /// delivered; the caller takes the time after it returns as the moment of death.
    fn kill(&self, index: usize) -> BoxFuture<'_, Result<(), BenchError>>;
    /// Brings member `index` back; returns once it was started (it may still be joining).
    fn restart(&self, index: usize) -> BoxFuture<'_, Result<(), BenchError>>;
    /// Each member's current process id, where known (for CPU time).
    fn pids(&self) -> Vec<Option<u32>>;
}

/// Members that are local processes: pids (or pid files) and a restart command template.
#[derive(Debug)]
pub struct ProcessControl {
    members: Vec<String>,
    pids: Vec<PidSource>,
    restart_cmd: Option<String>,
    /// Members restarted by us: a fixed pid no longer names them.
    restarted: Mutex<Vec<bool>>,
}

/// How long a killed process may take to disappear before a restart gives up.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// How long a restart command may run.
const RESTART_WITHIN: Duration = Duration::from_secs(180);

impl ProcessControl {
    /// `members` are the connect string's addresses, `pids` one entry per member (or empty:
    /// then nothing can be killed), `restart_cmd` the template run by `sh -c`.
    pub fn new(
        members: Vec<String>,
        pids: Vec<PidSource>,
        restart_cmd: Option<String>,
    ) -> Result<ProcessControl, BenchError> {
        if !pids.is_empty() && pids.len() != members.len() {
            return Err(BenchError::Args(format!(
                "{} pids for {} members",
                pids.len(),
                members.len()
            )));
        }
        let n = members.len();
        Ok(ProcessControl {
            members,
            pids,
            restart_cmd,
            restarted: Mutex::new(vec![false; n]),
        })
    }

    /// Whether both a kill and a restart are possible.
    pub fn can_kill_and_restart(&self) -> bool {
        !self.pids.is_empty() && self.restart_cmd.is_some()
    }

    /// The member's pid now.
    pub fn pid(&self, index: usize) -> Result<u32, BenchError> {
        let source = self.pids.get(index).ok_or_else(|| {
            BenchError::Args(format!(
                "no pid for member {} (give --member-pids)",
                index + 1
            ))
        })?;
        let pid = match source {
            PidSource::Pid(p) => {
                let restarted = self
                    .restarted
                    .lock()
                    .map(|r| r.get(index).copied().unwrap_or(false))
                    .unwrap_or(false);
                if restarted {
                    return Err(BenchError::Args(format!(
                        "member {} was restarted, so pid {p} is stale: give a pid file instead",
                        index + 1
                    )));
                }
                *p
            }
            PidSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| BenchError::File {
                    path: path.clone(),
                    source,
                })?;
                text.trim().parse().map_err(|_| {
                    BenchError::Workload(format!(
                        "{} does not hold a pid: `{}`",
                        path.display(),
                        text.trim()
                    ))
                })?
            }
        };
        if pid <= 1 || pid == std::process::id() {
            return Err(BenchError::Workload(format!(
                "refusing to kill pid {pid} (member {})",
                index + 1
            )));
        }
        Ok(pid)
    }

    /// The restart command for member `index`, its placeholders filled in.
    pub fn restart_command(&self, index: usize) -> Option<String> {
        let template = self.restart_cmd.as_ref()?;
        let addr = self.members.get(index).map_or("", String::as_str);
        Some(expand(template, index + 1, addr))
    }
}

/// Replaces `{id}`, `{addr}`, `{host}` and `{port}` in a command template.
pub fn expand(template: &str, id: usize, addr: &str) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
    template
        .replace("{id}", &id.to_string())
        .replace("{addr}", addr)
        .replace("{host}", host)
        .replace("{port}", port)
}

/// Whether a process runs (a zombie counts as gone: it serves nothing).
pub fn process_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

async fn kill_pid(pid: u32) -> Result<(), BenchError> {
    let out = tokio::process::Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .output()
        .await
        .map_err(|e| BenchError::Workload(format!("cannot run kill: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Workload(format!(
            "kill -KILL {pid} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl MemberControl for ProcessControl {
    fn kill(&self, index: usize) -> BoxFuture<'_, Result<(), BenchError>> {
        async move {
            let pid = self.pid(index)?;
            if !process_running(pid) {
                return Err(BenchError::Workload(format!(
                    "member {} (pid {pid}) is not running",
                    index + 1
                )));
            }
            kill_pid(pid).await
        }
        .boxed()
    }

    fn restart(&self, index: usize) -> BoxFuture<'_, Result<(), BenchError>> {
        async move {
            let cmd = self.restart_command(index).ok_or_else(|| {
                BenchError::Args("no --restart-cmd to bring a killed member back".into())
            })?;
            // The old process must be gone, or the command would find its ports busy.
            if let Ok(pid) = self.pid(index) {
                let until = Instant::now() + EXIT_WITHIN;
                while process_running(pid) && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            tracing::info!(member = index + 1, %cmd, "restarting a member");
            let run = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            let out = tokio::time::timeout(RESTART_WITHIN, run)
                .await
                .map_err(|_| {
                    BenchError::Workload(format!(
                        "the restart command `{cmd}` ran for more than {RESTART_WITHIN:?}"
                    ))
                })?
                .map_err(|e| BenchError::Workload(format!("cannot run `{cmd}`: {e}")))?;
            if !out.status.success() {
                let tail = |b: &[u8]| {
                    let t = String::from_utf8_lossy(b);
                    let lines: Vec<&str> = t.lines().collect();
                    lines[lines.len().saturating_sub(10)..].join("\n")
                };
                return Err(BenchError::Workload(format!(
                    "the restart command `{cmd}` failed ({}):\n{}\n{}",
                    out.status,
                    tail(&out.stdout),
                    tail(&out.stderr)
                )));
            }
            if let Ok(mut r) = self.restarted.lock()
                && let Some(x) = r.get_mut(index)
            {
                *x = true;
            }
            Ok(())
        }
        .boxed()
    }

    fn pids(&self) -> Vec<Option<u32>> {
        (0..self.members.len())
            .map(|i| self.pid(i).ok().filter(|p| process_running(*p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand() {
        assert_eq!(
            expand(
                "scripts/ensemble.sh member start {id} /tmp/e # {addr} {host} {port}",
                2,
                "127.0.0.1:21811"
            ),
            "scripts/ensemble.sh member start 2 /tmp/e # 127.0.0.1:21811 127.0.0.1 21811"
        );
    }

    #[test]
    fn pids_come_from_numbers_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.pid");
        std::fs::write(&file, "4242\n").unwrap();
        let c = ProcessControl::new(
            vec!["h:1".into(), "h:2".into()],
            vec![PidSource::Pid(777), PidSource::File(file.clone())],
            Some("true {id}".into()),
        )
        .unwrap();
        assert!(c.can_kill_and_restart());
        assert_eq!(c.pid(0).unwrap(), 777);
        assert_eq!(c.pid(1).unwrap(), 4242);
        std::fs::write(&file, "4243").unwrap();
        assert_eq!(c.pid(1).unwrap(), 4243, "a pid file is read again");
        std::fs::write(&file, "nonsense").unwrap();
        assert!(c.pid(1).is_err());
        assert!(c.pid(2).is_err());
        assert_eq!(c.restart_command(1).as_deref(), Some("true 2"));
        // Our own pid is never a member's.
        let me = ProcessControl::new(
            vec!["h:1".into()],
            vec![PidSource::Pid(std::process::id())],
            None,
        )
        .unwrap();
        assert!(me.pid(0).is_err());
        assert!(!me.can_kill_and_restart());
        assert!(ProcessControl::new(vec!["h:1".into()], vec![], None).is_ok());
        assert!(
            ProcessControl::new(
                vec!["h:1".into()],
                vec![PidSource::Pid(5), PidSource::Pid(6)],
                None
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn a_restarted_fixed_pid_is_stale_and_failures_are_reported() {
        let c = ProcessControl::new(
            vec!["h:1".into()],
            vec![PidSource::Pid(999_999)],
            Some("exit 0".into()),
        )
        .unwrap();
        assert!(!process_running(999_999));
        c.restart(0).await.unwrap();
        assert!(c.pid(0).is_err(), "stale after a restart");
        let failing = ProcessControl::new(
            vec!["h:1".into()],
            vec![PidSource::Pid(999_999)],
            Some("echo nope >&2; exit 3".into()),
        )
        .unwrap();
        let e = failing.restart(0).await.unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        assert!(failing.kill(0).await.is_err(), "not running");
        assert!(process_running(std::process::id()));
    }
}
