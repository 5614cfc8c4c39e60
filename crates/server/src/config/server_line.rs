//! One `server.N=host:quorumPort:electionPort[:type][;[clientHost:]clientPort]` line, parsed as
//! ZooKeeper 3.9's `QuorumPeer.QuorumServer` does: the same forms, including IPv6 in brackets.
//! It serves `zoo.cfg`, a `dynamicConfigFile`, and later a `reconfig` request's joining members.

use std::net::Ipv6Addr;

/// How a `server.N` line must look; every error about one ends with it.
pub const SERVER_LINE_FORM: &str = "server.N=host:quorumPort:electionPort\
     [:participant|:observer][;[clientHost:]clientPort] with N in 1..=255, \
     e.g. server.1=zk1.example.com:2888:3888;2181";

/// The largest server id: the id is the top byte of the session ids a server hands out.
pub const MAX_SERVER_ID: u64 = 255;

/// One `server.N=…` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLine {
    /// The `N` of `server.N`, 1..=255.
    pub id: u64,
    /// Where the quorum and election ports listen; an IPv6 address without its brackets.
    pub host: String,
    /// ZooKeeper's first port (2888 by convention): followers talk to the leader here.
    pub quorum_port: u16,
    /// ZooKeeper's second port (3888 by convention): leader election.
    pub election_port: u16,
    /// The `clientHost` of `;clientHost:clientPort`, without brackets. Empty when not written;
    /// ZooKeeper then listens on every address.
    pub client_host: String,
    /// The `clientPort` of `;…clientPort`; 0 when the line has no client part.
    pub client_port: u16,
    /// `:observer`: a member that serves clients but does not vote.
    pub observer: bool,
}

impl ServerLine {
    /// Parses one line given as its key (`server.N`) and value. The error says what is wrong;
    /// the caller adds where, and [`SERVER_LINE_FORM`].
    pub fn parse(key: &str, value: &str) -> Result<ServerLine, String> {
        let id = parse_server_id(key)?;
        if value.contains('|') {
            return Err(
                "multiple addresses separated by `|` are not supported yet; \
                        give one host per server"
                    .to_owned(),
            );
        }
        let (server_part, client_part) = match value.split_once(';') {
            Some((_, c)) if c.contains(';') => return Err("more than one `;`".to_owned()),
            Some((s, c)) => (s, Some(c.trim())),
            None => (value, None),
        };
        let (host, rest) = split_host(server_part.trim(), "host")?;
        let (quorum, election, kind) = match rest.as_slice() {
            [] => return Err("the quorum and election ports are missing".to_owned()),
            [_] => return Err("the election port is missing".to_owned()),
            [q, e] => (*q, *e, None),
            [q, e, t] => (*q, *e, Some(*t)),
            _ => {
                return Err("too many `:`-separated parts; an IPv6 address must be in \
                            brackets, e.g. [::1]:2888:3888"
                    .to_owned());
            }
        };
        let quorum_port = parse_port("quorum port", quorum)?;
        let election_port = parse_port("election port", election)?;
        if quorum_port == election_port {
            // ZooKeeper refuses this too: both ports are listened on.
            return Err(format!(
                "the quorum and election ports must differ (both are {quorum_port})"
            ));
        }
        let observer = match kind.map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("participant") => false,
            Some("observer") => true,
            Some(other) => {
                return Err(format!(
                    "unknown peer type `{other}`; use participant or observer"
                ));
            }
        };
        let (client_host, client_port) = match client_part {
            None => (String::new(), 0),
            Some("") => {
                return Err("nothing after `;`: give the client port, or drop the `;`".to_owned());
            }
            Some(c) => {
                let (first, rest) = split_host(c, "client host")?;
                match rest.as_slice() {
                    // A bare port: ZooKeeper listens on every address.
                    [] if !c.starts_with('[') => {
                        (String::new(), parse_port("client port", &first)?)
                    }
                    [] => return Err("the client port is missing".to_owned()),
                    [p] => (first, parse_port("client port", p)?),
                    _ => {
                        return Err("too many `:`-separated parts after `;`; an IPv6 client \
                                    address must be in brackets, e.g. ;[::1]:2181"
                            .to_owned());
                    }
                }
            }
        };
        Ok(ServerLine {
            id,
            host,
            quorum_port,
            election_port,
            client_host,
            client_port,
            observer,
        })
    }
}

/// The `N` of a `server.N` key.
fn parse_server_id(key: &str) -> Result<u64, String> {
    let n = key.strip_prefix("server.").unwrap_or(key);
    let id: u64 = n.parse().map_err(|_| format!("`{n}` is not a server id"))?;
    if !(1..=MAX_SERVER_ID).contains(&id) {
        return Err(format!(
            "server id {id} is out of range: ids are 1..={MAX_SERVER_ID}, since the id is the \
             top byte of the session ids a server hands out"
        ));
    }
    Ok(id)
}

/// Splits `host:a:b…` or `[v6]:a:b…` into the host (brackets removed) and the rest, as
/// ZooKeeper's `ConfigUtils.getHostAndPort` does.
fn split_host<'a>(s: &'a str, what: &str) -> Result<(String, Vec<&'a str>), String> {
    let (host, rest) = if let Some(inner) = s.strip_prefix('[') {
        let Some((v6, after)) = inner.split_once(']') else {
            return Err(format!("`{s}` starts with `[` but has no matching `]`"));
        };
        // A zone (`fe80::1%eth0`) is not part of the address proper.
        let addr = v6.split_once('%').map_or(v6, |(a, _)| a);
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(format!("`[{v6}]` is not an IPv6 address"));
        }
        let rest = match after {
            "" => Vec::new(),
            _ => match after.strip_prefix(':') {
                Some(r) => r.split(':').map(str::trim).collect(),
                None => return Err(format!("expected `:` after `[{v6}]`")),
            },
        };
        (v6, rest)
    } else {
        let mut parts = s.split(':').map(str::trim);
        let host = parts.next().unwrap_or_default();
        (host, parts.collect())
    };
    if host.is_empty() && s.starts_with("::") {
        return Err(format!(
            "the {what} is missing; an IPv6 address must be in brackets, e.g. [::1]"
        ));
    }
    if host.is_empty() {
        return Err(format!("the {what} is missing"));
    }
    if host.contains(char::is_whitespace) {
        return Err(format!("the {what} `{host}` contains a space"));
    }
    Ok((host.to_owned(), rest))
}

fn parse_port(what: &str, s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err(format!("the {what} is missing"));
    }
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("the {what} `{s}` is not a port number (1..65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(value: &str) -> ServerLine {
        ServerLine::parse("server.1", value).unwrap()
    }

    fn fails(key: &str, value: &str) -> String {
        ServerLine::parse(key, value).unwrap_err()
    }

    #[test]
    fn the_kazoo_harness_form_has_no_client_part() {
        let s = line("localhost:2888:3888:participant");
        assert_eq!(
            s,
            ServerLine {
                id: 1,
                host: "localhost".into(),
                quorum_port: 2888,
                election_port: 3888,
                client_host: String::new(),
                client_port: 0,
                observer: false,
            }
        );
    }

    #[test]
    fn the_full_form_carries_the_client_host_and_port() {
        let s = line("zk1.example.com:2888:3888:participant;127.0.0.1:2181");
        assert_eq!(s.host, "zk1.example.com");
        assert_eq!((s.client_host.as_str(), s.client_port), ("127.0.0.1", 2181));
        let s = line("zk1:2888:3888;2181");
        assert_eq!((s.client_host.as_str(), s.client_port), ("", 2181));
        assert!(!s.observer);
    }

    #[test]
    fn an_observer_line_says_so_in_any_case() {
        assert!(line("10.0.0.4:2888:3888:observer").observer);
        assert!(line("10.0.0.4:2888:3888:OBSERVER;2181").observer);
        assert!(!line("10.0.0.4:2888:3888:Participant").observer);
    }

    #[test]
    fn ipv6_addresses_are_accepted_in_brackets() {
        let s = line("[::1]:2888:3888:observer;[fe80::1%eth0]:2181");
        assert_eq!(s.host, "::1");
        assert_eq!((s.quorum_port, s.election_port), (2888, 3888));
        assert_eq!(
            (s.client_host.as_str(), s.client_port),
            ("fe80::1%eth0", 2181)
        );
        assert!(s.observer);
    }

    #[test]
    fn ipv6_without_brackets_says_to_add_them() {
        assert!(fails("server.1", "::1:2888:3888").contains("brackets"));
        assert!(fails("server.1", "fe80::1:2888:3888").contains("brackets"));
        assert!(fails("server.1", "[::1:2888:3888").contains("no matching `]`"));
        assert!(fails("server.1", "[zk1]:2888:3888").contains("not an IPv6 address"));
    }

    #[test]
    fn multi_addresses_are_not_supported_yet() {
        let why = fails("server.1", "10.0.0.1:2888:3888|10.0.1.1:2888:3888");
        assert!(why.contains("`|` are not supported yet"), "{why}");
    }

    #[test]
    fn missing_parts_and_bad_ports_say_what_is_wrong() {
        for (value, want) in [
            ("zk1", "quorum and election ports are missing"),
            ("zk1:2888", "election port is missing"),
            ("zk1:2888:", "election port is missing"),
            (":2888:3888", "host is missing"),
            ("zk1:28a8:3888", "quorum port `28a8` is not a port number"),
            (
                "zk1:2888:70000",
                "election port `70000` is not a port number",
            ),
            ("zk1:0:3888", "quorum port `0`"),
            ("zk1:2888:2888", "must differ"),
            ("zk1:2888:3888:voter", "unknown peer type `voter`"),
            ("zk1:2888:3888:participant:x", "too many"),
            ("zk1:2888:3888;", "nothing after `;`"),
            ("zk1:2888:3888;zk1:", "client port is missing"),
            ("zk1:2888:3888;port", "client port `port`"),
            ("zk1:2888:3888;a:1:2", "too many"),
            ("zk1:2888:3888;2181;2182", "more than one `;`"),
        ] {
            let why = fails("server.1", value);
            assert!(why.contains(want), "{value}: {why}");
        }
    }

    #[test]
    fn ids_are_1_to_255() {
        assert!(fails("server.0", "zk:1:2").contains("out of range"));
        assert!(fails("server.256", "zk:1:2").contains("out of range"));
        assert!(fails("server.x", "zk:1:2").contains("`x` is not a server id"));
        assert_eq!(ServerLine::parse("server.255", "zk:1:2").unwrap().id, 255);
    }
}
