//! Four-letter words: recognising them at the start of a connection.
//!
//! ZooKeeper reads the first four bytes of a connection as a frame length; when those bytes
//! spell a known command, the connection is a four-letter-word request instead of a session.
//! The answers are typed reports the core fills from its state (`core::report`, the types in
//! `status`), rendered as text by `status::text`.

/// Every command we answer, in ZooKeeper's spelling.
pub(crate) const COMMANDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "isro", "mntr", "ruok", "srst", "srvr",
    "stat", "stmk", "wchc", "wchp", "wchs", "hash",
];

/// The command spelled by the first four bytes of a connection, if any.
pub(crate) fn command_from_prefix(prefix: i32) -> Option<&'static str> {
    let bytes = prefix.to_be_bytes();
    COMMANDS.iter().copied().find(|c| c.as_bytes() == bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_words_and_not_lengths() {
        assert_eq!(
            command_from_prefix(i32::from_be_bytes(*b"ruok")),
            Some("ruok")
        );
        assert_eq!(
            command_from_prefix(i32::from_be_bytes(*b"mntr")),
            Some("mntr")
        );
        assert_eq!(command_from_prefix(45), None);
        assert_eq!(command_from_prefix(i32::from_be_bytes(*b"RUOK")), None);
    }
}
