//! Service registration and discovery: each running instance is an ephemeral node
//! `<base>/<service name>/<instance id>` holding its description as JSON, so it disappears
//! with its process's session; discovery lists or watches a service's instances.
//!
//! The JSON uses Curator's field names (`name`, `id`, `address`, `port`, `sslPort`, `payload`,
//! `registrationTimeUTC`, `serviceType`), so Curator's service discovery can read the records.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::children_cache::{Children, ChildrenCache};
use crate::error::{Error, Result};
use crate::types::CreateOptions;
use crate::{Client, ErrorCode, path};

/// One instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInstance<T> {
    pub name: String,
    pub id: String,
    pub address: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub ssl_port: Option<u16>,
    /// Anything else the instance wants to publish.
    pub payload: T,
    /// Milliseconds since the Unix epoch.
    #[serde(rename = "registrationTimeUTC", default)]
    pub registration_time_utc: u64,
    #[serde(default = "dynamic")]
    pub service_type: String,
}

fn dynamic() -> String {
    "DYNAMIC".to_owned()
}

impl<T> ServiceInstance<T> {
    /// An instance registered now.
    pub fn new(name: &str, id: &str, address: &str, port: Option<u16>, payload: T) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        ServiceInstance {
            name: name.to_owned(),
            id: id.to_owned(),
            address: address.to_owned(),
            port,
            ssl_port: None,
            payload,
            registration_time_utc: now,
            service_type: dynamic(),
        }
    }
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::BadArguments(format!("bad {what} {name:?}")));
    }
    Ok(())
}

/// Registers this process's instances.
///
/// ```no_run
/// # async fn demo(client: watchkeeper_client::Client) -> watchkeeper_client::Result<()> {
/// use watchkeeper_client::recipes::{ServiceInstance, ServiceRegistry};
///
/// let registry = ServiceRegistry::new(&client, "/services");
/// let me = ServiceInstance::new("billing", "host-a-8080", "10.0.0.7", Some(8080), ());
/// registry.register(&me).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceRegistry {
    client: Client,
    base: String,
}

impl ServiceRegistry {
    pub fn new(client: &Client, base_path: &str) -> ServiceRegistry {
        ServiceRegistry {
            client: client.clone(),
            base: base_path.to_owned(),
        }
    }

    fn node(&self, name: &str, id: &str) -> Result<String> {
        check_name("service name", name)?;
        check_name("instance id", id)?;
        Ok(path::join(&path::join(&self.base, name), id))
    }

    /// Publishes an instance (an ephemeral node; it goes when this client's session does).
    pub async fn register<T: Serialize>(&self, instance: &ServiceInstance<T>) -> Result<()> {
        let node = self.node(&instance.name, &instance.id)?;
        let json = serde_json::to_vec(instance)
            .map_err(|e| Error::BadArguments(format!("instance does not serialize: {e}")))?;
        match self
            .client
            .create(&node, &json, &CreateOptions::ephemeral())
            .await
        {
            Ok(_) => Ok(()),
            Err(Error::Server(ErrorCode::NoNode)) => {
                self.client.ensure_path(path::parent(&node)).await?;
                self.client
                    .create(&node, &json, &CreateOptions::ephemeral())
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces a registered instance's record.
    pub async fn update<T: Serialize>(&self, instance: &ServiceInstance<T>) -> Result<()> {
        let node = self.node(&instance.name, &instance.id)?;
        let json = serde_json::to_vec(instance)
            .map_err(|e| Error::BadArguments(format!("instance does not serialize: {e}")))?;
        self.client.set_data(&node, &json, None).await.map(|_| ())
    }

    /// Withdraws an instance.
    pub async fn unregister(&self, name: &str, id: &str) -> Result<()> {
        let node = self.node(name, id)?;
        match self.client.delete(&node, None).await {
            Ok(()) | Err(Error::Server(ErrorCode::NoNode)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Finds instances, once or as a watched stream of membership.
#[derive(Debug, Clone)]
pub struct ServiceDiscovery<T> {
    client: Client,
    base: String,
    _payload: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + Sync + 'static> ServiceDiscovery<T> {
    pub fn new(client: &Client, base_path: &str) -> ServiceDiscovery<T> {
        ServiceDiscovery {
            client: client.clone(),
            base: base_path.to_owned(),
            _payload: PhantomData,
        }
    }

    /// The names of every registered service.
    pub async fn names(&self) -> Result<Vec<String>> {
        match self.client.get_children(&self.base).await {
            Ok((mut names, _)) => {
                names.sort();
                Ok(names)
            }
            Err(Error::Server(ErrorCode::NoNode)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The instances of `name` now, by id. Records that do not parse are skipped.
    pub async fn instances(&self, name: &str) -> Result<Vec<ServiceInstance<T>>> {
        check_name("service name", name)?;
        let dir = path::join(&self.base, name);
        let ids = match self.client.get_children(&dir).await {
            Ok((ids, _)) => ids,
            Err(Error::Server(ErrorCode::NoNode)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for id in ids {
            match self.client.get_data(&path::join(&dir, &id)).await {
                Ok((data, _)) => out.extend(parse::<T>(&id, &data)),
                Err(Error::Server(ErrorCode::NoNode)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Follows the instances of `name`.
    pub async fn watch(&self, name: &str) -> Result<ServiceWatch<T>> {
        check_name("service name", name)?;
        let cache = ChildrenCache::start(&self.client, &path::join(&self.base, name)).await?;
        Ok(ServiceWatch {
            cache,
            _payload: PhantomData,
        })
    }
}

/// Parses one record; a record that does not parse is logged and skipped.
fn parse<T: DeserializeOwned>(id: &str, data: &[u8]) -> Option<ServiceInstance<T>> {
    match serde_json::from_slice(data) {
        Ok(instance) => Some(instance),
        Err(e) => {
            tracing::warn!(id, error = %e, "skipping a service record that does not parse");
            None
        }
    }
}

fn instances_of<T: DeserializeOwned>(children: &Children) -> Vec<ServiceInstance<T>> {
    children
        .iter()
        .filter_map(|(id, node)| parse(id, &node.data))
        .collect()
}

/// A service's live membership.
#[derive(Debug)]
pub struct ServiceWatch<T> {
    cache: ChildrenCache,
    _payload: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + Sync + 'static> ServiceWatch<T> {
    /// The instances now, by id.
    pub fn current(&self) -> Vec<ServiceInstance<T>> {
        instances_of(&self.cache.current())
    }

    /// The instances now, then after every change.
    pub fn changes(&self) -> impl Stream<Item = Vec<ServiceInstance<T>>> + Send + Unpin + 'static {
        self.cache
            .changes()
            .map(|children: Arc<Children>| instances_of(&children))
    }

    /// Waits until the membership satisfies `pred` and returns it.
    pub async fn wait_for(
        &self,
        mut pred: impl FnMut(&[ServiceInstance<T>]) -> bool,
    ) -> Result<Vec<ServiceInstance<T>>> {
        let children = self.cache.wait_for(|c| pred(&instances_of::<T>(c))).await?;
        Ok(instances_of(&children))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_curators_field_names() {
        let i = ServiceInstance::new("svc", "a", "10.0.0.1", Some(80), vec![1, 2]);
        let v: serde_json::Value = serde_json::to_value(&i).unwrap();
        for key in [
            "name",
            "id",
            "address",
            "port",
            "sslPort",
            "payload",
            "registrationTimeUTC",
            "serviceType",
        ] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
        let curator = r#"{"name":"svc","id":"x","address":"h","port":1,"payload":{"k":"v"},"registrationTimeUTC":5,"uriSpec":null}"#;
        let parsed: ServiceInstance<std::collections::HashMap<String, String>> =
            serde_json::from_str(curator).unwrap();
        assert_eq!(
            (
                parsed.id.as_str(),
                parsed.port,
                parsed.service_type.as_str()
            ),
            ("x", Some(1), "DYNAMIC")
        );
        assert!(parse::<u32>("bad", b"not json").is_none());
    }
}
