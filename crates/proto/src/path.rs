//! ZooKeeper's znode path rule (`PathUtils.validatePath`), shared by the server, which answers a
//! violation with BadArguments, and clients, which refuse to send one.
//!
//! ZooKeeper works on UTF-16 strings; a Rust `str` holds Unicode scalar values, so a character
//! outside the Basic Multilingual Plane (a surrogate pair in Java) is rejected here exactly as
//! ZooKeeper rejects its leading surrogate.

/// Why a path breaks the rule: `Ok` for a valid path (absolute, no trailing slash except "/", no
/// empty, "." or ".." segments, no NUL, control, private-use or non-BMP characters).
pub fn check(path: &str) -> Result<(), &'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(if path.is_empty() {
            "path must not be empty"
        } else {
            "path must start with /"
        });
    };
    if rest.is_empty() {
        return Ok(());
    }
    if rest.ends_with('/') {
        return Err("path must not end with /");
    }
    for segment in rest.split('/') {
        match segment {
            "" => return Err("empty node name"),
            "." | ".." => return Err("relative paths are not allowed"),
            _ if !segment.chars().all(is_allowed_char) => {
                return Err("invalid character in node name");
            }
            _ => {}
        }
    }
    Ok(())
}

/// ZooKeeper's forbidden ranges, on UTF-16 code units: NUL, U+0001–U+001F, U+007F–U+009F,
/// U+D800–U+F8FF (surrogates and private use) and U+FFF0–U+FFFF. Anything beyond U+FFFF is a
/// surrogate pair in Java and so forbidden too.
fn is_allowed_char(c: char) -> bool {
    let c = c as u32;
    !(c <= 0x1f || (0x7f..=0x9f).contains(&c) || (0xd800..=0xf8ff).contains(&c) || c >= 0xfff0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_broken_rule() {
        assert_eq!(check("/a/b"), Ok(()));
        assert_eq!(check("/"), Ok(()));
        assert_eq!(check(""), Err("path must not be empty"));
        assert_eq!(check("a"), Err("path must start with /"));
        assert_eq!(check("/a/"), Err("path must not end with /"));
        assert_eq!(check("/a//b"), Err("empty node name"));
        assert_eq!(check("/a/.."), Err("relative paths are not allowed"));
        assert_eq!(check("/a\u{1}"), Err("invalid character in node name"));
        assert_eq!(check("/\u{1d11e}"), Err("invalid character in node name"));
    }
}
