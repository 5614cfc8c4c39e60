//! Four-letter words, to look at the server's side of a test (which watches it holds).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a four-letter word and returns the whole answer.
pub async fn ask(addr: &str, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("4lw connect");
    s.write_all(word.as_bytes()).await.expect("4lw write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("4lw read");
    out
}

/// The paths `wchc` lists for one session (its data-table watches, persistent ones included).
pub async fn watched_paths(addr: &str, session_id: i64) -> Vec<String> {
    let text = ask(addr, "wchc").await;
    let header = format!("0x{session_id:x}");
    let mut paths = Vec::new();
    let mut mine = false;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix('\t') {
            if mine {
                paths.push(path.to_owned());
            }
        } else {
            mine = line.trim() == header;
        }
    }
    paths
}
