//! What only the operating system can tell about the server: directory sizes, open file
//! descriptors, memory, host and user names. Each read is a system call that may block (a
//! directory listing, a `/proc` file), and `/proc/self/fd` has one entry per connection, so
//! none of this runs on the core task: the core hands over a [`HostWork`] with its part of the
//! report, and [`HostWork::complete`] runs on tokio's blocking pool.

use std::path::{Path, PathBuf};

use super::report::*;

/// A report the core has filled as far as its own state goes, and what is left to read.
#[derive(Debug)]
pub(crate) enum HostWork {
    /// `conf`: the data directories are made absolute and measured here.
    Conf {
        server: ServerConf,
        ensemble: Option<Membership>,
        data_dir: PathBuf,
        log_dir: PathBuf,
    },
    /// `dirs`.
    Dirs { data_dir: PathBuf, log_dir: PathBuf },
    /// `mntr`: the descriptor counts are read here.
    Monitor {
        server: ServerMetrics,
        ensemble: EnsembleMetrics,
    },
    /// `envi`: all of it is about the process and its host.
    Environment,
}

impl HostWork {
    /// Reads what is missing and returns the complete report. Blocks on the file system.
    pub(crate) fn complete(self) -> Report {
        match self {
            HostWork::Conf {
                server,
                ensemble,
                data_dir,
                log_dir,
            } => Report::Conf(Conf {
                server,
                dirs: DataDirs {
                    data_dir: absolute(&data_dir),
                    data_dir_size: dir_size(&data_dir),
                    data_log_dir: absolute(&log_dir),
                    data_log_size: dir_size(&log_dir),
                },
                ensemble,
            }),
            HostWork::Dirs { data_dir, log_dir } => Report::Dirs(DirSizes {
                datadir_size: dir_size(&data_dir),
                logdir_size: dir_size(&log_dir),
            }),
            HostWork::Monitor { server, ensemble } => Report::Monitor(Box::new(Monitor {
                server,
                fds: fd_counts(),
                ensemble,
            })),
            HostWork::Environment => Report::Environment(environment()),
        }
    }
}

/// `envi`'s facts about this process and its host.
fn environment() -> Environment {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let env = |k: &str| std::env::var(k).ok();
    let (resident_mb, physical_mb) = memory_mb();
    Environment {
        zookeeper_version: VERSION,
        host_name: read("/proc/sys/kernel/hostname"),
        tmp_dir: std::env::temp_dir().display().to_string(),
        os_name: std::env::consts::OS,
        os_arch: std::env::consts::ARCH,
        os_version: read("/proc/sys/kernel/osrelease"),
        user_name: env("USER"),
        user_home: env("HOME"),
        user_dir: std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string()),
        resident_mb,
        physical_mb,
    }
}

/// (resident set of this process, physical memory) in MiB, from /proc.
fn memory_mb() -> (u64, u64) {
    let kb = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    (
        kb(&status, "VmRSS:") / 1024,
        kb(&meminfo, "MemTotal:") / 1024,
    )
}

/// A directory as `conf` prints it: absolute, so it means the same from anywhere.
fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_owned())
        .display()
        .to_string()
}

/// Total size of the files directly in a directory (ours are flat); 0 if it cannot be read.
fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// This process's open descriptors and their soft limit; 0 where /proc cannot be read.
fn fd_counts() -> FdCounts {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|rd| rd.count() as u64)
        .unwrap_or(0);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    FdCounts { open, max }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_size_counts_the_files_directly_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("b"), [0u8; 5]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join("c"), [0u8; 100]).unwrap();
        assert_eq!(dir_size(dir.path()), 15);
        assert_eq!(dir_size(&dir.path().join("missing")), 0);
    }

    #[test]
    fn conf_paths_are_absolute() {
        let shown = absolute(Path::new("relative/dir"));
        assert!(Path::new(&shown).is_absolute(), "{shown}");
        assert!(shown.ends_with("relative/dir"), "{shown}");
    }

    #[test]
    fn dirs_and_conf_are_measured_from_the_paths_the_core_gave() {
        let data = tempfile::tempdir().unwrap();
        let log = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("snapshot"), [0u8; 7]).unwrap();
        std::fs::write(log.path().join("log.1"), [0u8; 3]).unwrap();
        let dirs = HostWork::Dirs {
            data_dir: data.path().into(),
            log_dir: log.path().into(),
        };
        assert_eq!(
            dirs.complete(),
            Report::Dirs(DirSizes {
                datadir_size: 7,
                logdir_size: 3
            })
        );
        let server = ServerConf {
            client_port: 2181,
            secure_client_port: -1,
            tick_time: 2000,
            max_client_cnxns: 60,
            min_session_timeout: 4000,
            max_session_timeout: 40000,
            client_port_listen_backlog: -1,
            server_id: 0,
        };
        let conf = HostWork::Conf {
            server: server.clone(),
            ensemble: None,
            data_dir: data.path().into(),
            log_dir: log.path().into(),
        };
        let Report::Conf(c) = conf.complete() else {
            panic!("conf answers a Conf")
        };
        assert_eq!(c.server, server);
        assert_eq!(c.dirs.data_dir, absolute(data.path()));
        assert_eq!((c.dirs.data_dir_size, c.dirs.data_log_size), (7, 3));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_gives_descriptors_and_memory() {
        let fds = fd_counts();
        assert!(fds.open > 0 && fds.max >= fds.open, "{fds:?}");
        let (resident, physical) = memory_mb();
        assert!(
            physical > 0 && resident <= physical,
            "{resident} of {physical}"
        );
    }
}
