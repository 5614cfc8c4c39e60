//! What only the operating system can tell about the server: directory sizes, open file
//! descriptors, memory, host and user names. Each read is a system call that may block (a
//! directory listing, a `/proc` file), and `/proc/self/fd` has one entry per connection.

use std::path::Path;

use super::report::{DirSizes, Environment, FdCounts, VERSION};

/// `envi`'s facts about this process and its host.
pub(crate) fn environment() -> Environment {
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

/// The sizes `dirs` reports.
pub(crate) fn dir_sizes(data_dir: &Path, log_dir: &Path) -> DirSizes {
    DirSizes {
        datadir_size: dir_size(data_dir),
        logdir_size: dir_size(log_dir),
    }
}

/// A directory as `conf` prints it: absolute, so it means the same from anywhere.
pub(crate) fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_owned())
        .display()
        .to_string()
}

/// Total size of the files directly in a directory (ours are flat); 0 if it cannot be read.
pub(crate) fn dir_size(p: &Path) -> u64 {
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
pub(crate) fn fd_counts() -> FdCounts {
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
