//! The background task a cache runs, stopped when the cache is dropped.

use tokio::task::JoinHandle;

/// Aborts the task when dropped.
#[derive(Debug)]
pub(crate) struct CacheTask(JoinHandle<()>);

impl CacheTask {
    pub(crate) fn spawn(f: impl Future<Output = ()> + Send + 'static) -> CacheTask {
        CacheTask(tokio::spawn(f))
    }
}

impl Drop for CacheTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
