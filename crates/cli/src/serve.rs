//! `watchkeeper serve`: configuration from flags and `zoo.cfg`, then run until SIGTERM/Ctrl-C.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use watchkeeper_server::{Config, RunningServer};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A ZooKeeper-format config file (clientPort, dataDir, tickTime, …). Flags override it.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Port clients connect to [default: 2181].
    #[arg(long)]
    client_port: Option<u16>,
    /// Address to listen on [default: 0.0.0.0].
    #[arg(long)]
    client_address: Option<IpAddr>,
    /// Where snapshots and the log live [default: ./watchkeeper-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base time unit in milliseconds [default: 2000].
    #[arg(long)]
    tick_time: Option<u64>,
    /// Allow TTL nodes (ZooKeeper's extendedTypesEnabled).
    #[arg(long)]
    extended_types: bool,
    /// Four-letter words to answer, comma separated, or * for all.
    #[arg(long)]
    four_letter_words: Option<String>,
    /// This server's id in an ensemble (the `server.N` lines of the config file); overrides
    /// the `myid` file in the data directory.
    #[arg(long)]
    my_id: Option<u64>,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut cfg = Config {
            my_id: self.my_id,
            ..Config::default()
        };
        if let Some(path) = &self.config {
            cfg.load_zoo_cfg(path)?;
        }
        let mut overrides = String::new();
        if let Some(t) = self.tick_time {
            overrides.push_str(&format!("tickTime={t}\n"));
        }
        if let Some(w) = &self.four_letter_words {
            overrides.push_str(&format!("4lw.commands.whitelist={w}\n"));
        }
        if self.extended_types {
            overrides.push_str("extendedTypesEnabled=true\n");
        }
        cfg.apply_zoo_cfg(std::path::Path::new("<command line>"), &overrides)?;
        if let Some(port) = self.client_port {
            cfg.client_addr.set_port(port);
        }
        if let Some(ip) = self.client_address {
            cfg.client_addr = SocketAddr::new(ip, cfg.client_addr.port());
        }
        if let Some(dir) = &self.data_dir {
            cfg.data_dir = dir.clone();
        }
        Ok(cfg)
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("watchkeeper")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let exit_on_failure = cfg.exit_on_storage_failure;
        let server = RunningServer::start(cfg).await?;
        let failure = tokio::select! {
            () = wait_for_signal() => None,
            why = server.storage_failure(), if exit_on_failure => Some(why),
        };
        match failure {
            None => {
                tracing::info!("shutting down");
                server.shutdown().await;
                Ok(())
            }
            Some(why) => {
                tracing::error!(error = %why, "the data directory failed; this server takes no more writes and stops");
                server.shutdown().await;
                anyhow::bail!(
                    "stopped: the write-ahead log failed ({why}); no write was acknowledged after \
                     the failure. Fix the data directory (free space, disk errors) and restart: \
                     every acknowledged write is recovered from it"
                )
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
