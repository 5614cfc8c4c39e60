//! Coordination recipes built on [`Client`](crate::Client), after Apache Curator's.
//!
//! | recipe | what it gives |
//! |---|---|
//! | [`Mutex`] | a distributed lock ([`LockGuard`]) |
//! | [`RwLock`] | shared readers, exclusive writers |
//! | [`Semaphore`] | at most N holders of a [`Permit`] |
//! | [`LeaderLatch`] | a participant that is or is not the leader, as a stream of changes |
//! | [`LeaderElection`] | run a closure while leader ([`Leadership`]) |
//! | [`NodeCache`], [`ChildrenCache`], [`TreeCache`] | local copies of a node, its children, a subtree |
//! | [`Barrier`], [`DoubleBarrier`] | hold processes until released / until all arrive and leave |
//! | [`Queue`] | a distributed FIFO |
//! | [`AtomicCounter`] | an `i64` updated with versioned writes |
//! | [`ServiceRegistry`], [`ServiceDiscovery`] | ephemeral instance records and watched membership |
//! | [`ConfigWatcher`] | typed JSON configuration, reloaded when it changes |
//!
//! Every waiting recipe is herd-free: each waiter watches exactly one node (its predecessor
//! in a sequence), or only one waiter at a time watches a shared node (the semaphore and the
//! queue let waiters take turns through an internal lock), so a change wakes one client, not
//! all of them. Nodes a recipe creates for a client are ephemeral where they stand for that
//! client, and named with a random prefix so that a create interrupted by a connection loss
//! can be found again instead of duplicated.
//!
//! Recipes hold what a session holds: when the session expires, locks, permits and
//! leadership are gone and registrations vanish; a new client must start again.

mod barrier;
mod cache_task;
mod children_cache;
mod config;
mod counter;
mod discovery;
mod double_barrier;
mod leader_election;
mod leader_latch;
mod mutex;
mod node_cache;
mod queue;
mod rwlock;
mod semaphore;
mod sequence;
mod tree_cache;

pub use barrier::Barrier;
pub use children_cache::{Children, ChildrenCache};
pub use config::ConfigWatcher;
pub use counter::AtomicCounter;
pub use discovery::{ServiceDiscovery, ServiceInstance, ServiceRegistry, ServiceWatch};
pub use double_barrier::DoubleBarrier;
pub use leader_election::{LeaderElection, Leadership, Participant};
pub use leader_latch::LeaderLatch;
pub use mutex::{LockGuard, Mutex};
pub use node_cache::{NodeCache, NodeData};
pub use queue::Queue;
pub use rwlock::RwLock;
pub use semaphore::{Permit, Semaphore};
pub use tree_cache::{Tree, TreeCache, TreeCacheOptions};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;

    fn send<T: Send>(_: T) {}

    /// Every recipe future can be spawned on a multi-threaded runtime (compile-time check).
    #[allow(dead_code, unused_must_use)]
    async fn every_future_is_send(c: Client) {
        send(Mutex::new(&c, "/m").lock());
        send(RwLock::new(&c, "/m").read());
        send(Semaphore::new(&c, "/s", 1).acquire());
        send(LeaderLatch::start(&c, "/l", "a"));
        if let Ok(latch) = LeaderLatch::start(&c, "/l", "a").await {
            send(latch.wait_leader());
            send(latch.participants());
            send(latch.close());
        }
        send(LeaderElection::new(&c, "/e", "a").lead(|_| async {}));
        send(NodeCache::start(&c, "/n"));
        send(ChildrenCache::start(&c, "/n"));
        send(TreeCache::start(&c, "/n"));
        send(Barrier::new(&c, "/b").wait());
        send(DoubleBarrier::new(&c, "/d", "a", 2).enter());
        send(DoubleBarrier::new(&c, "/d", "a", 2).leave());
        send(Queue::new(&c, "/q").take());
        send(AtomicCounter::new(&c, "/c").increment());
        send(
            ServiceRegistry::new(&c, "/s").register(&ServiceInstance::new("a", "b", "c", None, ())),
        );
        send(ServiceDiscovery::<()>::new(&c, "/s").watch("a"));
        send(ConfigWatcher::<u32>::start(&c, "/cfg"));
    }
}
