//! A configuration center with hot reload: a service reads typed JSON configuration from a
//! znode and picks up every change without restarting; a broken edit is refused and the last
//! good configuration stays in force.
//!
//! ```text
//! watchkeeper serve &
//! cargo run -p watchkeeper --example config_center -- 127.0.0.1:2181
//! ```
//!
//! `recipes::ConfigWatcher<T>` keeps the node cached with a watch, parses each new version
//! into `T`, and publishes it. An operator changes configuration with any ZooKeeper client,
//! for instance `watchkeeper cli set /examples/config/app '{"max_connections": 50, ...}'`.

use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use watchkeeper_client::recipes::ConfigWatcher;
use watchkeeper_client::{Client, CreateOptions, Error};

const NODE: &str = "/examples/config/app";

/// The service's configuration, as stored in the znode.
#[derive(Debug, Deserialize)]
struct AppConfig {
    max_connections: u32,
    log_level: String,
    #[serde(default)]
    maintenance: bool,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2181".into());

    // The operator publishes a first version.
    let operator = Client::connect(&server).await?;
    operator.ensure_path("/examples/config").await?;
    let first = br#"{"max_connections": 100, "log_level": "info"}"#;
    match operator
        .create(NODE, first, &CreateOptions::persistent())
        .await
    {
        Ok(_) => {}
        Err(Error::Server(watchkeeper_client::ErrorCode::NodeExists)) => {
            operator.set_data(NODE, first, None).await?;
        }
        Err(e) => return Err(e),
    }

    // The service loads it and follows it.
    let service = Client::connect(&server).await?;
    let config = ConfigWatcher::<AppConfig>::start(&service, NODE).await?;
    let mut reloads = config.changes();
    let reloader = tokio::spawn(async move {
        while let Some(current) = reloads.next().await {
            // A real service would resize its pools or change its log filter here.
            println!("service runs with {current:?}");
        }
    });

    // Three edits: a good one, a broken one (refused, the old value stays), a good one.
    let edits: [&[u8]; 3] = [
        br#"{"max_connections": 250, "log_level": "debug"}"#,
        br#"{"max_connections": "lots""#,
        br#"{"max_connections": 250, "log_level": "warn", "maintenance": true}"#,
    ];
    for edit in edits {
        println!("operator writes {}", String::from_utf8_lossy(edit));
        operator.set_data(NODE, edit, None).await?;
        // Give the watch a moment to deliver (a real service has all the time in the world).
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(e) = config.last_error() {
            println!("service refused it and keeps the previous configuration: {e}");
        }
    }
    let last = config.wait_for(|c| c.maintenance).await?;
    println!(
        "in maintenance mode with {} connections, logging at {}",
        last.max_connections, last.log_level
    );

    reloader.abort();
    operator.delete_recursive("/examples/config").await?;
    service.close().await?;
    operator.close().await
}
