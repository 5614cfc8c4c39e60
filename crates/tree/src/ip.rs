//! The `ip` ACL scheme: ZooKeeper's `IPAuthenticationProvider` rules for parsing addresses,
//! validating `addr[/bits]` ACL ids and matching a client address against them.
//!
//! The parsing is deliberately as lenient and as strict as Java's: numbers go through
//! `Integer.parseInt` semantics (optional sign, decimal or hex digits), an address with a ':'
//! is IPv6 and one with a '.' IPv4, and IPv4 and IPv6 never match each other.

/// Java's `Integer.parseInt(s, radix)` on ASCII digits: optional '+' or '-', at least one digit,
/// no overflow.
fn java_parse_int(s: &str, radix: u32) -> Option<i32> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.chars() {
        v = v * i64::from(radix) + i64::from(c.to_digit(radix)?);
        if v > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i32::try_from(v).ok()
}

fn v4_bytes(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts
        .iter()
        .map(|p| java_parse_int(p, 10).and_then(|v| u8::try_from(v).ok()))
        .collect()
}

fn v6_segments(part: &str) -> Vec<&str> {
    if part.is_empty() {
        Vec::new()
    } else {
        part.split(':').collect()
    }
}

fn v6_bytes(addr: &str) -> Option<Vec<u8>> {
    let halves: Vec<&str> = addr.split("::").collect();
    let (head, tail) = match halves.as_slice() {
        [whole] => {
            let segs: Vec<&str> = whole.split(':').collect();
            if segs.len() != 8 {
                return None;
            }
            (segs, Vec::new())
        }
        [a, b] => {
            let (head, tail) = (v6_segments(a), v6_segments(b));
            if head.len() + tail.len() >= 8 {
                return None;
            }
            (head, tail)
        }
        _ => return None,
    };
    let mut out = vec![0u8; 16];
    let mut put = |start: usize, segs: &[&str]| -> Option<()> {
        for (i, seg) in segs.iter().enumerate() {
            if seg.is_empty() || seg.len() > 4 {
                return None;
            }
            let v = java_parse_int(seg, 16)?;
            out[start + 2 * i] = (v >> 8) as u8;
            out[start + 2 * i + 1] = v as u8;
        }
        Some(())
    };
    put(0, &head)?;
    put(16 - 2 * tail.len(), &tail)?;
    Some(out)
}

/// ZooKeeper's `addr2Bytes`: 4 bytes for IPv4, 16 for IPv6, `None` when unparsable.
fn addr_bytes(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        v6_bytes(addr)
    } else if addr.contains('.') {
        v4_bytes(addr)
    } else {
        None
    }
}

/// Keeps the first `bits` bits.
fn mask(b: &mut [u8], bits: usize) {
    for (i, byte) in b.iter_mut().enumerate() {
        let keep = bits.saturating_sub(i * 8).min(8);
        *byte &= !(0xffu16 >> keep) as u8;
    }
}

/// Parses an ACL expression `addr[/bits]` into its address bytes and prefix length.
fn parse_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let bytes = addr_bytes(addr)?;
    let max = bytes.len() * 8;
    let bits = match bits {
        None => max,
        Some(b) => {
            let b = usize::try_from(java_parse_int(b, 10)?).ok()?;
            if b > max {
                return None;
            }
            b
        }
    };
    Some((bytes, bits))
}

/// Whether `expr` is a valid `ip` ACL id (ZooKeeper's `isValid`).
pub(crate) fn is_valid(expr: &str) -> bool {
    parse_expr(expr).is_some()
}

/// Whether the client address `id` falls in the ACL expression `expr` (ZooKeeper's `matches`).
pub(crate) fn matches(id: &str, expr: &str) -> bool {
    let Some((mut acl, bits)) = parse_expr(expr) else {
        return false;
    };
    let Some(mut remote) = addr_bytes(id) else {
        return false;
    };
    if remote.len() != acl.len() {
        return false;
    }
    mask(&mut acl, bits);
    mask(&mut remote, bits);
    acl == remote
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_follows_java() {
        assert_eq!(java_parse_int("10", 10), Some(10));
        assert_eq!(java_parse_int("+10", 10), Some(10));
        assert_eq!(java_parse_int("-0", 10), Some(0));
        assert_eq!(java_parse_int("ff", 16), Some(255));
        assert_eq!(java_parse_int("-1", 16), Some(-1));
        assert_eq!(java_parse_int("", 10), None);
        assert_eq!(java_parse_int("-", 10), None);
        assert_eq!(java_parse_int(" 1", 10), None);
        assert_eq!(java_parse_int("2147483648", 10), None);
        assert_eq!(java_parse_int("-2147483648", 10), Some(i32::MIN));
    }

    #[test]
    fn v4_validity() {
        for ok in [
            "10.0.0.1",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "1.2.3.4/32",
            "010.1.1.1",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "10.0.0",
            "10.0.0.256",
            "10.0.0.1/33",
            "10.0.0.1/-1",
            "10.0.0.1/x",
            "host",
            "",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn v6_validity() {
        for ok in ["::1", "fe80::1/64", "1:2:3:4:5:6:7:8", "::", "1::", "::/0"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "1:2:3",
            "1::2::3",
            "12345::1",
            "1:2:3:4:5:6:7::8",
            "::g",
            "::1/129",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn cidr_matching() {
        assert!(matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!matches("11.1.2.3", "10.0.0.0/8"));
        assert!(matches("10.1.2.3", "10.1.2.3"));
        assert!(!matches("10.1.2.4", "10.1.2.3"));
        assert!(matches("192.168.1.200", "192.168.1.128/25"));
        assert!(!matches("192.168.1.100", "192.168.1.128/25"));
        assert!(matches("1.2.3.4", "9.9.9.9/0"));
        assert!(matches("fe80::abcd", "fe80::/16"));
        assert!(!matches("fe81::abcd", "fe80::/16"));
        assert!(matches("::1", "0:0:0:0:0:0:0:1"));
        // Different families never match, even with a zero-length prefix.
        assert!(!matches("::1", "0.0.0.0/0"));
        assert!(!matches("not-an-ip", "10.0.0.0/8"));
    }

    #[test]
    fn mask_keeps_prefix_bits() {
        let mut b = vec![0xff, 0xff, 0xff, 0xff];
        mask(&mut b, 12);
        assert_eq!(b, vec![0xff, 0xf0, 0, 0]);
        let mut b = vec![0xff; 4];
        mask(&mut b, 32);
        assert_eq!(b, vec![0xff; 4]);
        let mut b = vec![0xff; 4];
        mask(&mut b, 0);
        assert_eq!(b, vec![0; 4]);
    }
}
