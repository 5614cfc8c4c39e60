//! `watchkeeper cli`: a zkCli-like client, interactive or one-shot.
//!
//! - `parse.rs`: the command language both modes share (words to [`parse::Command`]);
//! - `commands/`: running a command against a [`store::Store`], one file per group;
//! - `render.rs`: replies as zkCli-style text or JSON; `encoding.rs`: data bytes as text;
//! - `runner.rs`: one command to the end (printing, watches, Ctrl-C);
//! - `interactive.rs` and `complete.rs`: the prompt, history and tab completion;
//! - `client_store.rs`: the real client behind the store trait.
//!
//! Exit status in one-shot mode: 0 success, 1 the operation failed (the server said no, a
//! file could not be read), 2 usage error, 3 no session (cannot connect, connection lost).

mod acl;
mod client_store;
mod commands;
mod complete;
mod encoding;
#[cfg(test)]
mod fake;
mod interactive;
mod parse;
mod render;
mod runner;
mod store;

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use watchkeeper_client::Client;

use commands::CmdError;
use parse::{Command, parse};
use render::Style;
use runner::emit;

/// Exit status when no session could be established.
const EXIT_NO_SESSION: u8 = 3;

#[derive(Debug, Args)]
#[command(
    about = "A zkCli-like client: an interactive shell, or one command (ls, get, set, create, ...)",
    after_help = "Without COMMAND an interactive shell starts. Run `watchkeeper cli help` for the commands.\n\
                  Exit status: 0 ok, 1 operation failed, 2 usage error, 3 no session."
)]
pub struct CliArgs {
    /// Servers to connect to, comma separated, optionally followed by a chroot
    /// (host1:2181,host2:2181/app).
    #[arg(long, default_value = "127.0.0.1:2181", env = "WATCHKEEPER_SERVER")]
    server: String,
    /// Print JSON (one value per reply or event) instead of zkCli-style text.
    #[arg(long)]
    json: bool,
    /// Credentials to add to the session before the command runs, SCHEME:AUTH
    /// (e.g. digest:bob:secret); may be repeated.
    #[arg(long, value_name = "SCHEME:AUTH")]
    auth: Vec<String>,
    /// Session timeout to ask for, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    session_timeout_ms: u64,
    /// How long to keep trying to connect, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    connect_timeout_secs: u64,
    /// The command and its arguments (e.g. `ls -R /app`); none starts the shell.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// Runs `watchkeeper cli`.
pub fn run(args: CliArgs) -> ExitCode {
    let style = if args.json { Style::Json } else { Style::Human };
    // A one-shot command is checked before connecting: a typo needs no server.
    let command = if args.command.is_empty() {
        None
    } else {
        match parse(&args.command) {
            Ok(Command::Help { topic }) => return help(topic.as_deref(), style),
            Ok(c) => Some(c),
            Err(e) => {
                let e = CmdError::from(e);
                runner::emit_error(&e, style);
                return exit(e.exit_code());
            }
        }
    };
    let auth = match parse_auth(&args.auth) {
        Ok(a) => a,
        Err(e) => {
            runner::emit_error(&e, style);
            return exit(e.exit_code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = match runtime.block_on(connect(&args, auth)) {
        Ok(c) => c,
        Err(e) => {
            runner::emit_error(&e, style);
            return ExitCode::from(EXIT_NO_SESSION);
        }
    };
    let status = match command {
        Some(cmd) => runtime.block_on(runner::one_shot(&client, cmd, style)),
        None => interactive::run(&runtime, &client, &args.server, style),
    };
    // Closing ends the session now (and its ephemerals with it) rather than at its timeout.
    let _ = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), client.close()).await });
    exit(status)
}

fn exit(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

fn help(topic: Option<&str>, style: Style) -> ExitCode {
    match commands::help(topic) {
        Ok(text) => {
            let _ = emit(&render::reply(&commands::Reply::Help(text), style));
            ExitCode::SUCCESS
        }
        Err(e) => {
            runner::emit_error(&e, style);
            exit(e.exit_code())
        }
    }
}

/// `SCHEME:AUTH` pairs, split at the first colon.
fn parse_auth(items: &[String]) -> Result<Vec<(String, Vec<u8>)>, CmdError> {
    items
        .iter()
        .map(|item| match item.split_once(':') {
            Some((scheme, auth)) if !scheme.is_empty() => {
                Ok((scheme.to_string(), auth.as_bytes().to_vec()))
            }
            _ => Err(CmdError::Usage(parse::UsageError::Conflict(
                "--auth takes SCHEME:AUTH, e.g. digest:bob:secret",
            ))),
        })
        .collect()
}

async fn connect(args: &CliArgs, auth: Vec<(String, Vec<u8>)>) -> Result<Client, CmdError> {
    let mut builder = Client::builder(&args.server)
        .session_timeout(Duration::from_millis(args.session_timeout_ms))
        .connect_timeout(Duration::from_secs(args.connect_timeout_secs));
    for (scheme, bytes) in auth {
        builder = builder.auth(&scheme, &bytes);
    }
    builder.connect().await.map_err(|e| match e {
        watchkeeper_client::Error::AuthFailed => CmdError::Connection(format!(
            "cannot connect to {}: authentication failed",
            args.server
        )),
        e => CmdError::Connection(format!("cannot connect to {}: {e}", args.server)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_items_split_at_the_first_colon() {
        let a = parse_auth(&["digest:bob:pw".into(), "ip:".into()]).unwrap();
        assert_eq!(a[0], ("digest".to_string(), b"bob:pw".to_vec()));
        assert_eq!(a[1], ("ip".to_string(), Vec::new()));
        assert_eq!(parse_auth(&["nocolon".into()]).unwrap_err().exit_code(), 2);
        assert_eq!(parse_auth(&[":x".into()]).unwrap_err().exit_code(), 2);
    }
}
