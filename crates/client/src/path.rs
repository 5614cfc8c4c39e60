//! Client-side path rules and the chroot.
//!
//! Paths are checked before anything is sent, as ZooKeeper's own client does (its
//! `PathUtils.validatePath`), so an invalid path is a [`Error::BadArguments`] rather than a
//! round trip. With a chroot, every path is prefixed on the way out and stripped from every
//! path that comes back (created paths, event paths, ephemerals, sync), so callers only ever see
//! paths relative to the chroot.

use crate::error::{Error, Result};

/// Checks an absolute znode path. `sequential` allows the trailing `/` a sequential create may
/// end with (the server appends the counter).
pub fn validate(path: &str, sequential: bool) -> Result<()> {
    if sequential {
        // The server appends a 10-digit counter; validate as if it were there.
        return watchkeeper_proto::path::check(&format!("{path}1")).map_err(|why| bad(path, why));
    }
    watchkeeper_proto::path::check(path).map_err(|why| bad(path, why))
}

fn bad(path: &str, why: &str) -> Error {
    Error::BadArguments(format!("invalid path {path:?}: {why}"))
}

/// A chroot: the server-side path every client path is relative to. Empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chroot(String);

impl Chroot {
    /// A chroot of `root`, which must be a valid absolute path; `/` means none.
    pub fn new(root: &str) -> Result<Chroot> {
        validate(root, false)?;
        if root == "/" {
            Ok(Chroot(String::new()))
        } else {
            Ok(Chroot(root.to_owned()))
        }
    }

    /// The chroot path, or `None` when there is none.
    pub fn root(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }

    /// Validates a client path and turns it into the server's path.
    pub fn to_server(&self, path: &str, sequential: bool) -> Result<String> {
        validate(path, sequential)?;
        Ok(self.prefix(path))
    }

    /// Prefixes without validating (for prefixes of getEphemerals, which need not be paths).
    pub fn prefix(&self, path: &str) -> String {
        if self.0.is_empty() {
            path.to_owned()
        } else if path == "/" {
            self.0.clone()
        } else {
            format!("{}{}", self.0, path)
        }
    }

    /// Turns a server path back into the client's view. A path outside the chroot (which a
    /// server should never send) is returned unchanged.
    pub fn strip(&self, server_path: &str) -> String {
        if self.0.is_empty() {
            return server_path.to_owned();
        }
        match server_path.strip_prefix(self.0.as_str()) {
            Some("") => "/".to_owned(),
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => server_path.to_owned(),
        }
    }
}

/// The parent of a path (`/` for a top-level node and for `/` itself).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_zookeeper_accepts() {
        for p in ["/", "/a", "/a/b", "/a.b", "/..a", "/a/.b", "/ü", "/a b"] {
            assert!(validate(p, false).is_ok(), "{p}");
        }
        assert!(validate("/q/", true).is_ok());
        assert!(validate("/q/item-", true).is_ok());
    }

    #[test]
    fn rejects_what_zookeeper_rejects() {
        for p in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{fff5}",
            "/\u{e000}",
        ] {
            assert!(
                matches!(validate(p, false), Err(Error::BadArguments(_))),
                "{p:?}"
            );
        }
        assert!(validate("/q//", true).is_err());
    }

    #[test]
    fn chroot_prefixes_and_strips() {
        let c = Chroot::new("/app").unwrap();
        assert_eq!(c.root(), Some("/app"));
        assert_eq!(c.to_server("/", false).unwrap(), "/app");
        assert_eq!(c.to_server("/x/y", false).unwrap(), "/app/x/y");
        assert_eq!(c.strip("/app"), "/");
        assert_eq!(c.strip("/app/x"), "/x");
        assert_eq!(c.strip("/apple"), "/apple");
        assert_eq!(c.strip("/other"), "/other");
        let none = Chroot::new("/").unwrap();
        assert_eq!(none.root(), None);
        assert_eq!(none.to_server("/x", false).unwrap(), "/x");
        assert_eq!(none.strip("/x"), "/x");
        assert!(Chroot::new("app").is_err());
    }

    #[test]
    fn strip_inverts_prefix_for_every_valid_path() {
        let c = Chroot::new("/r/s").unwrap();
        for p in ["/", "/a", "/a/b/c", "/r", "/r/s"] {
            assert_eq!(c.strip(&c.to_server(p, false).unwrap()), p);
        }
    }

    #[test]
    fn parent_and_join() {
        assert_eq!(parent("/"), "/");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
