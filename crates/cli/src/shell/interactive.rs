//! The interactive shell: a rustyline prompt with history in `~/.watchkeeper_history` and tab
//! completion of commands and znode paths.
//!
//! The prompt runs on the main thread outside the async runtime; each command (and each
//! completion, which lists children on the server) is driven with `block_on`. Events of
//! watches set with `-w` arrive on runtime tasks and are printed, as zkCli prints them, over
//! whatever the prompt shows, by a small printer thread so that a slow terminal never holds up
//! the runtime. (rustyline's `ExternalPrinter` would redraw the prompt below them, but with it
//! rustyline 17 stalls on input that arrives several bytes at once, such as a pasted line.)

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Editor, Helper};
use tokio::runtime::Handle;
use watchkeeper_client::Client;

use super::complete::complete;
use super::parse::{parse, tokenize};
use super::render::Style;
use super::runner::{Flow, emit, emit_error, in_shell};

/// Lines of history kept.
pub const MAX_HISTORY: usize = 1000;

/// How long a tab completion waits for the server before offering nothing.
pub const COMPLETION_TIMEOUT: Duration = Duration::from_secs(2);

const HISTORY_FILE: &str = ".watchkeeper_history";

/// Runs the shell until `quit`, Ctrl-D or a terminal error; returns the exit status.
pub fn run(runtime: &tokio::runtime::Runtime, client: &Client, server: &str, style: Style) -> i32 {
    let config = match Config::builder()
        .max_history_size(MAX_HISTORY)
        .and_then(|b| b.history_ignore_dups(true))
    {
        Ok(b) => b
            .auto_add_history(true)
            .completion_type(CompletionType::List)
            .build(),
        Err(e) => {
            eprintln!("cannot configure the line editor: {e}");
            return 1;
        }
    };
    let mut editor: Editor<ShellHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot start the line editor: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(ShellHelper {
        client: client.clone(),
        handle: runtime.handle().clone(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    let notify = start_printer();

    let _ = emit(&format!(
        "Connected to {server}, session 0x{:x}. Type `help` for commands, Ctrl-D to leave.\n",
        client.session_id()
    ));
    loop {
        let prompt = format!("[wk: {server} ({:?})] ", client.state());
        match editor.readline(&prompt) {
            Ok(line) => {
                let command = match tokenize(&line).and_then(|words| {
                    if words.is_empty() {
                        Ok(None)
                    } else {
                        parse(&words).map(Some)
                    }
                }) {
                    Ok(Some(c)) => c,
                    Ok(None) => continue,
                    Err(e) => {
                        emit_error(&e.into(), style);
                        continue;
                    }
                };
                let notify = notify.clone();
                let send = move |text: String| {
                    let _ = notify.send(text);
                };
                if runtime.block_on(in_shell(client, command, style, send)) == Flow::Quit {
                    break;
                }
            }
            // Ctrl-C at the prompt clears the line, as in a Unix shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("cannot read the terminal: {e}");
                break;
            }
        }
    }
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!("cannot save history to {}: {e}", path.display());
    }
    0
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(HISTORY_FILE))
}

/// A thread that prints watch events as they come.
fn start_printer() -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel::<String>();
    let spawned = std::thread::Builder::new()
        .name("shell-printer".into())
        .spawn(move || {
            for text in rx {
                let _ = emit(&text);
            }
        });
    if let Err(e) = spawned {
        eprintln!("cannot start the event printer, watch events will not show: {e}");
    }
    tx
}

struct ShellHelper {
    client: Client,
    handle: Handle,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let found = self.handle.block_on(async {
            tokio::time::timeout(COMPLETION_TIMEOUT, complete(&self.client, line, pos)).await
        });
        let (start, candidates) = found.unwrap_or((pos, Vec::new()));
        Ok((
            start,
            candidates
                .into_iter()
                .map(|c| Pair {
                    display: c.display,
                    replacement: c.replacement,
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}
