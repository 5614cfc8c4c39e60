//! How znode data, which is bytes, is shown as text: as itself when it is valid UTF-8, otherwise
//! as lowercase hexadecimal (two digits a byte, no prefix, no separators). The JSON output and
//! the export format keep the two apart with different keys (`data` / `data_hex`); the human
//! output marks hex with a `0x` prefix.

use std::fmt::Write;

/// Data as `(key, text)`: `("data", utf8)` or `("data_hex", hex)`.
pub fn data_field(data: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(data) {
        Ok(text) => ("data", text.to_string()),
        Err(_) => ("data_hex", hex(data)),
    }
}

/// Data for a human: the text itself, or `0x…` for bytes that are not UTF-8.
pub fn data_for_humans(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) => text.to_string(),
        Err(_) => format!("0x{}", hex(data)),
    }
}

pub fn hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses [`hex`]'s output (either case); `None` for odd lengths or non-hex characters.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stays_text_and_bytes_become_hex() {
        assert_eq!(data_field(b"hello"), ("data", "hello".to_string()));
        assert_eq!(
            data_field(&[0xff, 0x00, 0x10]),
            ("data_hex", "ff0010".to_string())
        );
        assert_eq!(data_for_humans(&[0xc3]), "0xc3");
        assert_eq!(data_for_humans("héllo".as_bytes()), "héllo");
    }

    #[test]
    fn hex_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&all)).unwrap(), all);
        assert_eq!(unhex("ABcd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("é1"), None);
    }
}
