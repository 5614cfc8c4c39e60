//! zkCli's ACL syntax: `scheme:id:perms` entries, comma separated, perms as letters from
//! `cdrwa` (create, delete, read, write, admin). The id is everything between the first and the
//! last colon, so digest ids (`digest:user:base64hash:cdrwa`) and IPv6 ids keep their colons.

use std::fmt;

use watchkeeper_proto::{Acl, Id, perms};

/// Most entries one ACL may list; ZooKeeper has no such limit, but no real ACL comes near it.
pub const MAX_ACL_ENTRIES: usize = 1024;

/// Why an ACL string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclError {
    Empty,
    NotSchemeIdPerms(String),
    UnknownPerm { entry: String, letter: char },
    TooMany,
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclError::Empty => write!(f, "an ACL needs at least one scheme:id:perms entry"),
            AclError::NotSchemeIdPerms(e) => {
                write!(f, "`{e}` does not have the form scheme:id:perms")
            }
            AclError::UnknownPerm { entry, letter } => {
                write!(
                    f,
                    "`{entry}`: unknown permission `{letter}` (use letters from cdrwa)"
                )
            }
            AclError::TooMany => write!(f, "more than {MAX_ACL_ENTRIES} entries"),
        }
    }
}

impl std::error::Error for AclError {}

/// Parses `world:anyone:cdrwa,digest:bob:HASH:r`.
pub fn parse_acl(text: &str) -> Result<Vec<Acl>, AclError> {
    let mut acl = Vec::new();
    for entry in text.split(',').filter(|e| !e.is_empty()) {
        if acl.len() == MAX_ACL_ENTRIES {
            return Err(AclError::TooMany);
        }
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            return Err(AclError::NotSchemeIdPerms(entry.to_string()));
        };
        if first == last {
            return Err(AclError::NotSchemeIdPerms(entry.to_string()));
        }
        let perms = parse_perms(&entry[last + 1..]).map_err(|letter| AclError::UnknownPerm {
            entry: entry.to_string(),
            letter,
        })?;
        acl.push(Acl::new(
            perms,
            Id::new(&entry[..first], &entry[first + 1..last]),
        ));
    }
    if acl.is_empty() {
        return Err(AclError::Empty);
    }
    Ok(acl)
}

/// `cdrwa` letters to permission bits; the offending letter on failure.
pub fn parse_perms(letters: &str) -> Result<i32, char> {
    letters.chars().try_fold(0, |bits, c| {
        let bit = match c {
            'c' => perms::CREATE,
            'd' => perms::DELETE,
            'r' => perms::READ,
            'w' => perms::WRITE,
            'a' => perms::ADMIN,
            other => return Err(other),
        };
        Ok(bits | bit)
    })
}

/// Permission bits as zkCli prints them (`cdrwa` order, absent letters left out).
pub fn format_perms(bits: i32) -> String {
    [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| bits & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// An ACL in the syntax [`parse_acl`] reads.
pub fn format_acl(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, format_perms(a.perms)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zkcli_examples() {
        assert_eq!(parse_acl("world:anyone:cdrwa").unwrap(), Acl::open_unsafe());
        assert_eq!(
            parse_acl("digest:bob:abc/def=:rw,ip:10.0.0.1:r").unwrap(),
            vec![
                Acl::new(
                    perms::READ | perms::WRITE,
                    Id::new("digest", "bob:abc/def=")
                ),
                Acl::new(perms::READ, Id::new("ip", "10.0.0.1")),
            ]
        );
        assert_eq!(
            parse_acl("auth::cdrwa").unwrap(),
            vec![Acl::new(perms::ALL, Id::new("auth", ""))]
        );
        assert_eq!(
            parse_acl("ip:::1:a").unwrap(),
            vec![Acl::new(perms::ADMIN, Id::new("ip", "::1"))]
        );
        // An empty perms string is legal: an entry that grants nothing.
        assert_eq!(parse_acl("world:anyone:").unwrap()[0].perms, 0);
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(parse_acl(""), Err(AclError::Empty));
        assert_eq!(parse_acl(","), Err(AclError::Empty));
        assert!(matches!(
            parse_acl("world"),
            Err(AclError::NotSchemeIdPerms(_))
        ));
        assert!(matches!(
            parse_acl("world:anyone"),
            Err(AclError::NotSchemeIdPerms(_))
        ));
        assert!(matches!(
            parse_acl("world:anyone:rx"),
            Err(AclError::UnknownPerm { letter: 'x', .. })
        ));
        let many = vec!["world:anyone:r"; MAX_ACL_ENTRIES + 1].join(",");
        assert_eq!(parse_acl(&many), Err(AclError::TooMany));
    }

    #[test]
    fn format_round_trips_every_perm_set() {
        for bits in 0..=perms::ALL {
            let text = format!("digest:u:h=:{}", format_perms(bits));
            let acl = parse_acl(&text).unwrap();
            assert_eq!(acl[0].perms, bits);
            assert_eq!(format_acl(&acl), text);
        }
        assert_eq!(format_perms(perms::ALL), "cdrwa");
        assert_eq!(format_perms(perms::READ | perms::ADMIN), "ra");
    }
}
