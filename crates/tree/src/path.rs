//! Znode paths as the tree uses them: ZooKeeper's validation (shared with clients in
//! `watchkeeper_proto::path`) and the path splitting of its `PrepRequestProcessor` and
//! `DataTree`.

use watchkeeper_proto::ErrorCode;

/// The paths ZooKeeper creates itself and never lets a client delete.
pub const ROOT: &str = "/";
pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

/// Checks `path` against ZooKeeper's rules ([`watchkeeper_proto::path::check`]); violations
/// are `BadArguments`, as ZooKeeper answers them.
pub fn validate(path: &str) -> Result<(), ErrorCode> {
    watchkeeper_proto::path::check(path).map_err(|_| ErrorCode::BadArguments)
}

/// The parent of a valid path: `None` for "/" (and for anything without a slash).
pub fn parent(path: &str) -> Option<&str> {
    if path == ROOT {
        return None;
    }
    split(path).map(|(parent, _)| parent)
}

/// Splits at the last slash the way ZooKeeper does (`substring(0, lastSlash)`), mapping the
/// empty parent of a top-level path to "/" (ZooKeeper keeps "" as an alias of the root).
/// `None` when the path has no slash at all.
pub(crate) fn split(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    let parent = if slash == 0 { ROOT } else { &path[..slash] };
    Some((parent, &path[slash + 1..]))
}

/// The path of `name` under `parent`.
pub(crate) fn join(parent: &str, name: &str) -> String {
    let mut p = String::with_capacity(parent.len() + 1 + name.len());
    p.push_str(parent);
    if parent != ROOT {
        p.push('/');
    }
    p.push_str(name);
    p
}

/// The four nodes ZooKeeper owns: deleting them is `BadArguments`.
pub(crate) fn is_special(path: &str) -> bool {
    matches!(path, ROOT | ZOOKEEPER | QUOTA | CONFIG)
}

/// Java's `String.length()`: the UTF-16 length, which ZooKeeper's data-size accounting uses.
pub(crate) fn java_len(s: &str) -> u64 {
    s.chars().map(|c| c.len_utf16() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/zookeeper/quota",
            "/a.b",
            "/...",
            "/a/.b",
            "/é",
            "/a b",
        ] {
            assert_eq!(validate(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_what_zookeeper_rejects() {
        for p in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a/.",
            "/a\0b",
            "/a\u{1}",
            "/a\u{7f}",
            "/a\u{9f}",
            "/a\u{e000}",
            "/a\u{f8ff}",
            "/a\u{fff0}",
            "/a\u{ffff}",
            "/a\u{1f600}",
        ] {
            assert_eq!(validate(p), Err(ErrorCode::BadArguments), "{p:?}");
        }
    }

    #[test]
    fn boundary_characters_are_allowed() {
        for p in [
            "/a\u{20}",
            "/a\u{7e}",
            "/a\u{a0}",
            "/a\u{d7ff}",
            "/a\u{f900}",
            "/a\u{ffef}",
        ] {
            assert_eq!(validate(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn parent_and_split() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(split("/"), Some(("/", "")));
        assert_eq!(split("/a/"), Some(("/a", "")));
        assert_eq!(split("abc"), None);
        assert_eq!(split("a/b"), Some(("a", "b")));
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn java_length_counts_utf16_units() {
        assert_eq!(java_len("/zookeeper"), 10);
        assert_eq!(java_len("/é"), 2);
        assert_eq!(java_len("/\u{1f600}"), 3);
    }
}
