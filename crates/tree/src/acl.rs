//! Access control, as ZooKeeper 3.9 decides it with its default authentication providers
//! (`ip` and `digest`): the permission check (`ZooKeeperServer.checkACL`), the ACL fix-up a
//! create or setACL goes through (`PrepRequestProcessor.fixupACL`), and digest ids.
//!
//! Identities a connection holds (`auth`) come from the server: `ip:<address>` for every
//! connection, `digest:<user>:<hash>` after an `addauth digest`, and `super:` when the digest
//! matched the configured super digest.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use watchkeeper_proto::{Acl, ErrorCode, Id};

use crate::ip;

/// The schemes ZooKeeper has a provider for by default. An ACL naming another scheme is
/// invalid, and such a scheme in a connection's identities never takes part in "auth".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Ip,
    Digest,
}

impl Provider {
    fn of(scheme: &str) -> Option<Provider> {
        match scheme {
            "ip" => Some(Provider::Ip),
            "digest" => Some(Provider::Digest),
            _ => None,
        }
    }

    /// Only providers that authenticate a user (not an address) expand the "auth" scheme.
    fn is_authenticated(self) -> bool {
        self == Provider::Digest
    }

    fn is_valid(self, id: &str) -> bool {
        match self {
            Provider::Ip => ip::is_valid(id),
            Provider::Digest => digest_is_valid(id),
        }
    }
}

/// Java's `id.split(":").length == 2`: split drops trailing empty pieces, so "user:" is one
/// piece (invalid) while ":hash" and "user:hash:" are two (valid).
fn digest_is_valid(id: &str) -> bool {
    let mut pieces: Vec<&str> = id.split(':').collect();
    while pieces.last() == Some(&"") {
        pieces.pop();
    }
    // Java returns [""] for the empty string; either way it is not two pieces.
    pieces.len() == 2
}

/// Whether `auth` may do `perm` on a node with `acl`. An empty ACL allows everything, as does
/// any `super` identity; otherwise an entry granting `perm` must name `world:anyone`, an `ip`
/// range containing one of the connection's `ip` ids, or exactly one of its other ids.
pub fn check(acl: &[Acl], perm: i32, auth: &[Id]) -> bool {
    if acl.is_empty() || auth.iter().any(|a| a.scheme == "super") {
        return true;
    }
    acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        auth.iter()
            .filter(|cid| cid.scheme == a.id.scheme)
            .any(|cid| {
                if a.id.scheme == "ip" {
                    ip::matches(&cid.id, &a.id.id)
                } else {
                    cid.id == a.id.id
                }
            })
    })
}

/// The digest id ZooKeeper derives from "user:password": `user:base64(sha1("user:password"))`.
/// Without a ':' the whole string is the user name (and still the hashed text).
pub fn digest_id(user_password: &str) -> String {
    let user = user_password
        .split_once(':')
        .map_or(user_password, |(u, _)| u);
    let hash = Sha1::digest(user_password.as_bytes());
    format!("{user}:{}", STANDARD.encode(hash))
}

/// ZooKeeper's `fixupACL`: drops exact duplicates, rejects an empty list, keeps `world:anyone`,
/// expands `auth` into one entry per authenticated identity of the connection (digest ids;
/// `InvalidACL` when there is none), and keeps `ip`/`digest` entries whose id is well formed.
/// Everything else is `InvalidACL`.
pub fn validate_and_fixup(acl: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        let id = &a.id;
        if id.scheme == "world" && id.id == "anyone" {
            out.push(a.clone());
        } else if id.scheme == "auth" {
            let before = out.len();
            for cid in auth {
                if Provider::of(&cid.scheme).is_some_and(Provider::is_authenticated) {
                    out.push(Acl::new(a.perms, cid.clone()));
                }
            }
            if out.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else {
            match Provider::of(&id.scheme) {
                Some(p) if p.is_valid(&id.id) => out.push(a.clone()),
                _ => return Err(ErrorCode::InvalidAcl),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use watchkeeper_proto::perms::{ADMIN, ALL, CREATE, DELETE, READ, WRITE};

    use super::*;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl::new(perms, Id::new(scheme, id))
    }

    #[test]
    fn digest_of_known_value() {
        // ZooKeeper's own build configures this super digest for the password "test"
        // (zookeeper-server/pom.xml); also `printf super:test | openssl sha1 -binary | base64`.
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(
            digest_id("user:password"),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
        // The user part stops at the first colon; the whole text is hashed.
        assert!(digest_id("a:b:c").starts_with("a:"));
        assert_ne!(digest_id("a:b:c"), digest_id("a:b"));
    }

    #[test]
    fn empty_acl_and_super_allow_everything() {
        assert!(check(&[], ADMIN, &[]));
        let only_read = [acl(READ, "digest", "u:x")];
        assert!(!check(&only_read, WRITE, &[Id::new("digest", "u:x")]));
        assert!(check(&only_read, WRITE, &[Id::new("super", "")]));
    }

    #[test]
    fn world_anyone_needs_the_bit() {
        let a = [acl(READ | WRITE, "world", "anyone")];
        assert!(check(&a, READ, &[]));
        assert!(check(&a, WRITE, &[]));
        assert!(!check(&a, DELETE, &[]));
        assert!(!check(
            &Acl::read_unsafe(),
            CREATE,
            &[Id::new("ip", "1.2.3.4")]
        ));
    }

    #[test]
    fn digest_matches_exactly_and_ip_by_range() {
        let a = [
            acl(ALL, "digest", &digest_id("bob:pw")),
            acl(READ, "ip", "10.0.0.0/8"),
        ];
        assert!(check(&a, WRITE, &[Id::new("digest", digest_id("bob:pw"))]));
        assert!(!check(
            &a,
            WRITE,
            &[Id::new("digest", digest_id("bob:other"))]
        ));
        assert!(check(&a, READ, &[Id::new("ip", "10.1.2.3")]));
        assert!(!check(&a, WRITE, &[Id::new("ip", "10.1.2.3")]));
        assert!(!check(&a, READ, &[Id::new("ip", "11.1.2.3")]));
        // The scheme must agree: an ip id never satisfies a digest entry or vice versa.
        assert!(!check(&a, READ, &[Id::new("digest", "10.1.2.3")]));
    }

    #[test]
    fn fixup_rejects_empty_and_unknown() {
        assert_eq!(validate_and_fixup(&[], &[]), Err(ErrorCode::InvalidAcl));
        for bad in [
            acl(ALL, "world", "someone"),
            acl(ALL, "super", ""),
            acl(ALL, "sasl", "bob"),
            acl(ALL, "ip", "10.0.0.0/33"),
            acl(ALL, "ip", "myhost"),
            acl(ALL, "digest", "nocolon"),
            acl(ALL, "digest", "user:"),
            acl(ALL, "digest", "a:b:c"),
        ] {
            assert_eq!(
                validate_and_fixup(&[Acl::open_unsafe()[0].clone(), bad.clone()], &[]),
                Err(ErrorCode::InvalidAcl),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn fixup_keeps_valid_entries_and_dedups() {
        let input = [
            acl(ALL, "world", "anyone"),
            acl(READ, "ip", "10.0.0.0/8"),
            acl(ALL, "world", "anyone"),
            acl(WRITE, "digest", "u:h"),
            acl(WRITE, "digest", ":h"),
        ];
        let out = validate_and_fixup(&input, &[]).unwrap();
        assert_eq!(
            out,
            vec![
                acl(ALL, "world", "anyone"),
                acl(READ, "ip", "10.0.0.0/8"),
                acl(WRITE, "digest", "u:h"),
                acl(WRITE, "digest", ":h"),
            ]
        );
    }

    #[test]
    fn auth_scheme_expands_to_digest_ids_only() {
        let auth = [
            Id::new("ip", "127.0.0.1"),
            Id::new("super", ""),
            Id::new("digest", "a:x"),
            Id::new("digest", "b:y"),
        ];
        let out = validate_and_fixup(&[acl(READ | ADMIN, "auth", "")], &auth).unwrap();
        assert_eq!(
            out,
            vec![
                acl(READ | ADMIN, "digest", "a:x"),
                acl(READ | ADMIN, "digest", "b:y")
            ]
        );
        // Only an address identity: nothing to expand to.
        assert_eq!(
            validate_and_fixup(&[acl(ALL, "auth", "")], &auth[..2]),
            Err(ErrorCode::InvalidAcl)
        );
    }
}
