//! `watchkeeper bench`: a load tool for ZooKeeper-protocol servers (being written).
