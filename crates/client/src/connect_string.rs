//! Parsing a connect string: `host1:port1,host2:port2/optional/chroot`, ZooKeeper's format.
//!
//! Hosts may be names, IPv4 addresses or bracketed IPv6 addresses; a missing port means 2181.
//! Names are resolved at each connection attempt, not here, so a host that moves is followed.

use crate::error::{Error, Result};
use crate::path::Chroot;

/// ZooKeeper's default client port.
pub const DEFAULT_PORT: u16 = 2181;

/// Most hosts a connect string may name.
pub const MAX_HOSTS: usize = 1024;

/// A parsed connect string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    /// `(host, port)` in the order written.
    pub hosts: Vec<(String, u16)>,
    pub chroot: Chroot,
}

impl ConnectString {
    pub fn parse(s: &str) -> Result<ConnectString> {
        let bad = |why: &str| Error::BadArguments(format!("connect string {s:?}: {why}"));
        let (hosts_part, chroot) = match s.find('/') {
            Some(i) => (&s[..i], Chroot::new(&s[i..])?),
            None => (s, Chroot::default()),
        };
        let mut hosts = Vec::new();
        for entry in hosts_part.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            hosts.push(parse_host(entry).map_err(bad)?);
            if hosts.len() > MAX_HOSTS {
                return Err(bad("too many hosts"));
            }
        }
        if hosts.is_empty() {
            return Err(bad("no hosts"));
        }
        Ok(ConnectString { hosts, chroot })
    }
}

fn parse_host(entry: &str) -> std::result::Result<(String, u16), &'static str> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let close = rest.find(']').ok_or("unclosed [ in an IPv6 address")?;
        let host = &rest[..close];
        match &rest[close + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or("junk after ]")?)),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (entry, None),
        }
    };
    if host.is_empty() {
        return Err("empty host");
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().map_err(|_| "bad port")?,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_and_chroot() {
        let c = ConnectString::parse("a:1, b ,[::1]:3,[fe80::1]/app/x").unwrap();
        assert_eq!(
            c.hosts,
            vec![
                ("a".to_owned(), 1),
                ("b".to_owned(), DEFAULT_PORT),
                ("::1".to_owned(), 3),
                ("fe80::1".to_owned(), DEFAULT_PORT)
            ]
        );
        assert_eq!(c.chroot.root(), Some("/app/x"));
        let plain = ConnectString::parse("127.0.0.1:2181/").unwrap();
        assert_eq!(plain.chroot.root(), None);
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "", "/app", "h:99999", "h:x", "[::1", "[::1]x", ":5", "h:1/app/",
        ] {
            assert!(ConnectString::parse(s).is_err(), "{s:?}");
        }
    }
}
