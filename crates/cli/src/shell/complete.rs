//! Tab completion for the shell: command names in the first word, znode paths (by listing the
//! parent's children on the server) in the words of commands that take paths.

use super::commands::join;
use super::parse::{COMMANDS, find_spec};
use super::store::Store;

/// Most candidates offered at once; a parent with more children shows the first ones.
pub const MAX_CANDIDATES: usize = 1000;

/// One completion: what the list shows and what replaces the word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub display: String,
    pub replacement: String,
}

/// Completions for the word that ends at byte `pos` of `line`: the word's start and the
/// candidates. A server error just means no candidates.
pub async fn complete<S: Store>(store: &S, line: &str, pos: usize) -> (usize, Vec<Candidate>) {
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let mut earlier = before[..start].split_whitespace();
    let Some(command) = earlier.next() else {
        return (start, command_names(word));
    };
    let takes_path = find_spec(command).is_some_and(|s| s.takes_path);
    if !takes_path || !word.starts_with('/') {
        return (start, Vec::new());
    }
    let cut = word.rfind('/').unwrap_or(0);
    let (parent, prefix) = (if cut == 0 { "/" } else { &word[..cut] }, &word[cut + 1..]);
    let Ok((mut children, _)) = store.get_children(parent).await else {
        return (start, Vec::new());
    };
    children.retain(|c| c.starts_with(prefix));
    children.sort_unstable();
    children.truncate(MAX_CANDIDATES);
    let candidates = children
        .into_iter()
        .map(|c| Candidate {
            replacement: join(parent, &c),
            display: c,
        })
        .collect();
    (start, candidates)
}

fn command_names(prefix: &str) -> Vec<Candidate> {
    COMMANDS
        .iter()
        .map(|c| c.name)
        .chain(["exit"])
        .filter(|name| name.starts_with(prefix))
        .map(|name| Candidate {
            display: name.to_string(),
            replacement: format!("{name} "),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::fake::tree;

    fn replacements(c: &(usize, Vec<Candidate>)) -> Vec<&str> {
        c.1.iter().map(|c| c.replacement.as_str()).collect()
    }

    #[tokio::test]
    async fn completes_commands_and_paths() {
        let s = tree(&[
            ("/app", ""),
            ("/apple", ""),
            ("/app/x1", ""),
            ("/app/x2", ""),
            ("/b", ""),
        ]);
        let c = complete(&s, "de", 2).await;
        assert_eq!((c.0, replacements(&c)), (0, vec!["delete ", "deleteall "]));
        let c = complete(&s, "get /ap", 7).await;
        assert_eq!((c.0, replacements(&c)), (4, vec!["/app", "/apple"]));
        let c = complete(&s, "ls -R /app/x", 12).await;
        assert_eq!((c.0, replacements(&c)), (6, vec!["/app/x1", "/app/x2"]));
        assert_eq!(c.1[0].display, "x1");
        let c = complete(&s, "get /", 5).await;
        assert_eq!(replacements(&c), vec!["/app", "/apple", "/b", "/zookeeper"]);
        // Cursor in the middle: only the text before it counts.
        let c = complete(&s, "get /b trailing", 6).await;
        assert_eq!(replacements(&c), vec!["/b"]);
    }

    #[tokio::test]
    async fn no_candidates_where_none_make_sense() {
        let s = tree(&[("/a", "")]);
        assert!(complete(&s, "get /missing/x", 14).await.1.is_empty());
        assert!(complete(&s, "addauth /", 9).await.1.is_empty());
        assert!(complete(&s, "get a", 5).await.1.is_empty());
        assert!(complete(&s, "frob /", 6).await.1.is_empty());
        // A position past the end or inside a character is not a panic.
        assert!(complete(&s, "get /", 99).await.1.is_empty());
        assert!(complete(&s, "é", 1).await.1.is_empty());
    }
}
