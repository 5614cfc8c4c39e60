//! `watchkeeper`: the server, a zkCli-like shell and the load tool in one binary.
//!
//! - `watchkeeper serve` runs a single-node server on port 2181 with its data in
//!   `./watchkeeper-data`; flags or a ZooKeeper `zoo.cfg` change that.
//! - `watchkeeper cli [COMMAND ...]` talks to a server, one command or an interactive shell.
//! - `watchkeeper bench WORKLOAD` loads a server (or two, side by side) and reports.

mod bench;
mod serve;
mod shell;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Watchkeeper: a coordination service that speaks Apache ZooKeeper's protocol.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper", version, about, propagate_version = true)]
struct Cli {
    /// Log level filter (e.g. info, debug, watchkeeper_server=trace); RUST_LOG also works.
    #[arg(long, global = true, env = "WATCHKEEPER_LOG")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a server.
    Serve(serve::ServeArgs),
    /// Talk to a server: one command, or an interactive shell without one.
    Cli(shell::CliArgs),
    /// Load a server with a workload and report throughput, latency and memory.
    Bench(bench::BenchCommand),
}

/// glibc's allocator spent about a third of the server's time on the write path (allocation and
/// consolidation of the many short-lived buffers a replicated write passes through); mimalloc's
/// thread-local free lists make those allocations cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its life at info; client tools only speak up when something is wrong,
    // so their output stays theirs.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        Command::Cli(_) | Command::Bench(_) => "warn",
    };
    init_tracing(cli.log.as_deref(), default_level);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Cli(args) => Ok(shell::run(args)),
        Command::Bench(args) => bench::run(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        // The same form `fn main() -> anyhow::Result<()>` prints.
        eprintln!("Error: {e:?}");
        ExitCode::FAILURE
    })
}

fn init_tracing(level: Option<&str>, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
