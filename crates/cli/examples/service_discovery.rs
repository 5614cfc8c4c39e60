//! Service discovery: instances of a `billing` service register themselves; a consumer
//! follows the live membership and sees an instance vanish when its process dies.
//!
//! ```text
//! watchkeeper serve &
//! cargo run -p watchkeeper --example service_discovery -- 127.0.0.1:2181
//! ```
//!
//! `recipes::ServiceRegistry` writes each instance as an ephemeral node
//! `/examples/services/billing/<id>` holding JSON (Curator's format, so Java services can read
//! it); `recipes::ServiceDiscovery` lists or watches them. Because the nodes are ephemeral, a
//! crashed instance disappears when its session ends, with no clean-up code anywhere.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use watchkeeper_client::recipes::{ServiceDiscovery, ServiceInstance, ServiceRegistry};
use watchkeeper_client::{Client, Error};

const BASE: &str = "/examples/services";

/// What each instance publishes beyond its address.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    version: String,
    zone: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2181".into());

    // The consumer starts watching before anyone registers.
    let consumer = Client::connect(&server).await?;
    let discovery = ServiceDiscovery::<Meta>::new(&consumer, BASE);
    let watch = discovery.watch("billing").await?;
    let mut membership = watch.changes();
    let printer = tokio::spawn(async move {
        while let Some(instances) = membership.next().await {
            let live: Vec<String> = instances
                .iter()
                .map(|i| {
                    format!(
                        "{}@{}:{} ({})",
                        i.id,
                        i.address,
                        i.port.unwrap_or(0),
                        i.payload.zone
                    )
                })
                .collect();
            println!("billing instances: [{}]", live.join(", "));
        }
    });

    // Three instances, each with its own session (its own process, in real life).
    let mut instances = Vec::new();
    for (n, zone) in ["eu-1", "eu-2", "us-1"].iter().enumerate() {
        let client = Client::connect(&server).await?;
        let me = ServiceInstance::new(
            "billing",
            &format!("billing-{n}"),
            "10.0.0.7",
            Some(8080 + n as u16),
            Meta {
                version: "1.4.2".into(),
                zone: zone.to_string(),
            },
        );
        ServiceRegistry::new(&client, BASE).register(&me).await?;
        instances.push(client);
    }
    watch.wait_for(|i| i.len() == 3).await?;

    // Instance 1 dies: no unregister call, its session just ends.
    instances.remove(1).close().await?;
    let left = watch.wait_for(|i| i.len() == 2).await?;
    println!(
        "after the crash: {:?}",
        left.iter().map(|i| &i.id).collect::<Vec<_>>()
    );

    // A one-off lookup needs no watch.
    println!("services known: {:?}", discovery.names().await?);

    for client in instances {
        client.close().await?;
    }
    watch.wait_for(|i| i.is_empty()).await?;
    drop(watch);
    printer.abort();
    consumer.delete_recursive(BASE).await?;
    consumer.close().await
}
