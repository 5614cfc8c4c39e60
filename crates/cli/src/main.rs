//! `watchkeeper`: the server binary.
//!
//! `watchkeeper serve` runs a single-node server on port 2181 with its data in
//! `./watchkeeper-data`; flags or a ZooKeeper `zoo.cfg` change that.

mod serve;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log.as_deref());
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}

fn init_tracing(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
