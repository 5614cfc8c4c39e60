//! Running one command to the end and printing what it produced: the part one-shot mode and
//! the interactive shell share. They differ only in what happens to a watch left behind:
//! one-shot mode waits for it (else `-w` would be pointless in a process about to exit), the
//! shell hands it to a background task and returns to the prompt.

use std::io::{self, Write};

use futures::StreamExt;

use super::commands::{CmdError, Outcome, Reply, execute};
use super::parse::Command;
use super::render::{self, Style};
use super::store::{Event, Store, StoreResult};

/// Exit status of a command that worked, and of one stopped with Ctrl-C.
pub const EXIT_OK: i32 = 0;

/// Exit status when the session ended under a running `watch`.
pub const EXIT_SESSION_ENDED: i32 = 3;

/// What the shell does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Writes to stdout and flushes, so streamed events show at once. A closed pipe (`| head`)
/// is reported as an error the callers treat as "stop".
pub fn emit(text: &str) -> io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

pub fn emit_error(e: &CmdError, style: Style) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(render::error(e, style).as_bytes());
    let _ = err.flush();
}

/// One-shot mode: runs `cmd`, prints, waits for any watch, and returns the exit status.
pub async fn one_shot<S: Store>(store: &S, cmd: Command, style: Style) -> i32 {
    let outcome = match execute(store, cmd).await {
        Ok(o) => o,
        Err(e) => {
            emit_error(&e, style);
            return e.exit_code();
        }
    };
    match outcome {
        Outcome::Done(reply) => print_reply(&reply, style),
        Outcome::Watching(reply, watch) => {
            let status = print_reply(&reply, style);
            if status != EXIT_OK {
                return status;
            }
            tokio::select! {
                event = watch => print_status(emit(&render::event(&event, style))),
                _ = tokio::signal::ctrl_c() => EXIT_OK,
            }
        }
        Outcome::Stream { path, events } => {
            announce(&path);
            stream(events, style).await
        }
    }
}

/// Says on stderr (stdout stays the events') that the watch is in place: from here on no
/// change is missed, which scripts and tests can wait for.
fn announce(path: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "watching {path}; Ctrl-C stops");
    let _ = err.flush();
}

/// The shell: runs `cmd` (Ctrl-C abandons it), prints, and passes a one-shot watch's event to
/// `notify` whenever it fires.
pub async fn in_shell<S: Store>(
    store: &S,
    cmd: Command,
    style: Style,
    notify: impl Fn(String) + Send + 'static,
) -> Flow {
    let outcome = tokio::select! {
        r = execute(store, cmd) => r,
        _ = tokio::signal::ctrl_c() => {
            // The request may still complete on the server; only the waiting stops.
            let _ = emit("(interrupted)\n");
            return Flow::Continue;
        }
    };
    match outcome {
        Err(e) => emit_error(&e, style),
        Ok(Outcome::Done(Reply::Quit)) => return Flow::Quit,
        Ok(Outcome::Done(reply)) => {
            print_reply(&reply, style);
        }
        Ok(Outcome::Watching(reply, watch)) => {
            print_reply(&reply, style);
            tokio::spawn(async move {
                let event = watch.await;
                notify(format!("\nWATCHER::\n\n{}", render::event(&event, style)));
            });
        }
        Ok(Outcome::Stream { path, events }) => {
            announce(&path);
            stream(events, style).await;
        }
    }
    Flow::Continue
}

/// Prints a persistent watch's events until Ctrl-C (exit 0), the session's end (3), a
/// failure of the watch (1) or a closed stdout.
async fn stream<W>(mut events: W, style: Style) -> i32
where
    W: futures::Stream<Item = StoreResult<Event>> + Unpin,
{
    loop {
        tokio::select! {
            next = events.next() => match next {
                Some(Ok(event)) => {
                    if emit(&render::event(&event, style)).is_err() {
                        return EXIT_OK;
                    }
                }
                Some(Err(e)) => {
                    let e = CmdError::at("", e);
                    emit_error(&e, style);
                    return e.exit_code();
                }
                None => {
                    emit_error(&CmdError::Connection("the session ended".into()), style);
                    return EXIT_SESSION_ENDED;
                }
            },
            _ = tokio::signal::ctrl_c() => return EXIT_OK,
        }
    }
}

fn print_reply(reply: &Reply, style: Style) -> i32 {
    print_status(emit(&render::reply(reply, style)))
}

fn print_status(r: io::Result<()>) -> i32 {
    match r {
        Ok(()) => EXIT_OK,
        // The reader went away; nothing more to say to it.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("cannot write to stdout: {e}");
            1
        }
    }
}
