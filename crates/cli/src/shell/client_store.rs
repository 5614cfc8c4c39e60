//! [`Store`] for the real client: names and errors translated, nothing else.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use watchkeeper_client::{
    Client, CreateOptions, Error, OneshotWatch, PersistentWatch, WatchedEvent,
};
use watchkeeper_proto::{Acl, AddWatchMode, CreateMode, ErrorCode, EventType, Stat};

use super::store::{Event, Store, StoreError, StoreResult};

fn event(e: WatchedEvent) -> Event {
    Event {
        kind: e.event_type,
        state: e.state,
        path: e.path,
        zxid: e.zxid,
    }
}

/// A persistent watch's stream item: the client ends a lagging watch with a
/// `PersistentWatchRemoved` event, which the shell reports as the watch failing.
fn persistent_event(e: WatchedEvent) -> StoreResult<Event> {
    if e.event_type == EventType::PersistentWatchRemoved {
        return Err(StoreError::Other(format!(
            "the watch on {} fell too far behind and was removed",
            e.path
        )));
    }
    Ok(event(e))
}

/// The client's errors in the shell's terms.
pub fn store_error(e: Error) -> StoreError {
    match e {
        Error::Server(code) | Error::MultiFailed { code, .. } => StoreError::Server(code),
        Error::AuthFailed => StoreError::Server(ErrorCode::AuthFailed),
        e @ (Error::ConnectionLoss | Error::SessionExpired | Error::Closed | Error::Timeout) => {
            StoreError::Connection(e.to_string())
        }
        e @ (Error::BadArguments(_) | Error::Protocol(_)) => StoreError::Other(e.to_string()),
    }
}

type EventFn = fn(WatchedEvent) -> Event;
type PersistentFn = fn(WatchedEvent) -> StoreResult<Event>;

impl Store for Client {
    type Oneshot = futures::future::Map<OneshotWatch, EventFn>;
    type Watch = futures::stream::Map<PersistentWatch, PersistentFn>;

    async fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        acl: Option<&[Acl]>,
        ttl: Option<i64>,
    ) -> StoreResult<String> {
        let mut opts = CreateOptions::new(mode);
        if let Some(acl) = acl {
            opts = opts.with_acl(acl.to_vec());
        }
        if let Some(ms) = ttl {
            // The parser only lets through TTLs in 1..=MAX_TTL_MS.
            opts = opts.with_ttl(Duration::from_millis(ms.unsigned_abs()));
        }
        Client::create(self, path, data, &opts)
            .await
            .map(|(path, _)| path)
            .map_err(store_error)
    }

    async fn delete(&self, path: &str, version: Option<i32>) -> StoreResult<()> {
        Client::delete(self, path, version)
            .await
            .map_err(store_error)
    }

    async fn exists(&self, path: &str) -> StoreResult<Option<Stat>> {
        Client::exists(self, path).await.map_err(store_error)
    }

    async fn exists_watch(&self, path: &str) -> StoreResult<(Option<Stat>, Self::Oneshot)> {
        let (stat, w) = Client::exists_watch(self, path)
            .await
            .map_err(store_error)?;
        Ok((stat, w.map(event as EventFn)))
    }

    async fn get_data(&self, path: &str) -> StoreResult<(Vec<u8>, Stat)> {
        Client::get_data(self, path).await.map_err(store_error)
    }

    async fn get_data_watch(&self, path: &str) -> StoreResult<(Vec<u8>, Stat, Self::Oneshot)> {
        let (data, stat, w) = Client::get_data_watch(self, path)
            .await
            .map_err(store_error)?;
        Ok((data, stat, w.map(event as EventFn)))
    }

    async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> StoreResult<Stat> {
        Client::set_data(self, path, data, version)
            .await
            .map_err(store_error)
    }

    async fn get_children(&self, path: &str) -> StoreResult<(Vec<String>, Stat)> {
        Client::get_children(self, path).await.map_err(store_error)
    }

    async fn get_children_watch(
        &self,
        path: &str,
    ) -> StoreResult<(Vec<String>, Stat, Self::Oneshot)> {
        let (children, stat, w) = Client::get_children_watch(self, path)
            .await
            .map_err(store_error)?;
        Ok((children, stat, w.map(event as EventFn)))
    }

    async fn get_acl(&self, path: &str) -> StoreResult<(Vec<Acl>, Stat)> {
        Client::get_acl(self, path).await.map_err(store_error)
    }

    async fn set_acl(&self, path: &str, acl: &[Acl], version: Option<i32>) -> StoreResult<Stat> {
        Client::set_acl(self, path, acl, version)
            .await
            .map_err(store_error)
    }

    async fn sync(&self, path: &str) -> StoreResult<()> {
        Client::sync(self, path).await.map_err(store_error)
    }

    async fn add_auth(&self, scheme: &str, auth: &[u8]) -> StoreResult<()> {
        Client::add_auth(self, scheme, auth)
            .await
            .map_err(store_error)
    }

    async fn add_watch(&self, path: &str, mode: AddWatchMode) -> StoreResult<Self::Watch> {
        let w = Client::add_watch(self, path, mode)
            .await
            .map_err(store_error)?;
        Ok(w.map(persistent_event as PersistentFn))
    }
}
