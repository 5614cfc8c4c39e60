//! The async Rust client for ZooKeeper-protocol servers (being written).
