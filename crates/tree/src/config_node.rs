//! `/zookeeper/config`: the ensemble's membership in ZooKeeper's text (`server.N=...` lines,
//! then `version=<hex>`), written when a membership entry of the log is applied, so it is
//! watchable and every member holds the same bytes and stat at the same zxid.
//!
//! A membership entry carries no time of its own; the node's mtime is the time of the last
//! entry applied before it, which every member knows from the log alone (the tree keeps it,
//! snapshots included), so the trees stay identical. Its version is -1 after a change, as
//! ZooKeeper's reconfig leaves it (its SetDataTxn carries version -1).

use std::sync::Arc;

use crate::outcome::{Applied, Change, OpResult};
use crate::path;
use crate::tree::DataTree;
use watchkeeper_proto::Acl;

impl DataTree {
    /// Writes the configuration text at `zxid` (the membership entry's index).
    pub fn set_config(&mut self, zxid: i64, data: &[u8]) -> Applied {
        self.note_applied(zxid);
        let time = self.last_time;
        let Some(node) = self.nodes.get_mut(path::CONFIG) else {
            // Every tree has it (a snapshot without it is refused): nothing to write.
            return Applied {
                result: Ok(OpResult::Checked),
                changes: Vec::new(),
                acls: Vec::new(),
            };
        };
        let old = node.data.as_ref().map_or(0, |d| d.len()) as u64;
        node.data = Some(Box::from(data));
        node.stat.version = -1;
        node.stat.mzxid = zxid;
        node.stat.mtime = time;
        let stat = node.client_stat();
        let acl: Arc<[Acl]> = node.acl.clone();
        self.data_size = self.data_size - old + data.len() as u64;
        Applied {
            result: Ok(OpResult::DataSet { stat }),
            changes: vec![Change::DataChanged(path::CONFIG.to_owned())],
            acls: vec![acl],
        }
    }

    /// The time of the last entry applied (0 before any).
    pub fn last_entry_time(&self) -> i64 {
        self.last_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entry, Op};

    #[test]
    fn the_config_node_takes_the_text_at_the_entrys_zxid_and_the_last_entrys_time() {
        let mut t = DataTree::new();
        let e = Entry {
            session: 0,
            time: 1234,
            auth: Vec::new(),
            op: Op::create(
                "/a",
                Some(Vec::new()),
                Acl::open_unsafe(),
                watchkeeper_proto::CreateMode::Persistent,
            ),
        };
        t.apply(5, &e);
        let applied = t.set_config(6, b"server.1=h:1:2:participant;0.0.0.0:3\nversion=6");
        assert_eq!(
            applied.changes,
            vec![Change::DataChanged("/zookeeper/config".into())]
        );
        let n = t.node("/zookeeper/config").unwrap();
        assert_eq!(
            n.data(),
            Some(&b"server.1=h:1:2:participant;0.0.0.0:3\nversion=6"[..])
        );
        let s = n.stat();
        assert_eq!((s.mzxid, s.mtime, s.version), (6, 1234, -1));
        assert_eq!(t.last_zxid(), 6);
        // Snapshots keep the time, so a member restored from one writes the same stat.
        let bytes = t.snapshot_bytes();
        let back = DataTree::decode_snapshot(&bytes).unwrap();
        assert_eq!(back.last_entry_time(), 1234);
        // The format before it (version 3, no time) still reads, as time 0.
        let magic = 4;
        let mut old = bytes[..magic].to_vec();
        old.push(3);
        old.extend_from_slice(&bytes[magic + 1..magic + 9]);
        old.extend_from_slice(&bytes[magic + 17..]);
        let back = DataTree::decode_snapshot(&old).unwrap();
        assert_eq!(back.last_entry_time(), 0);
        assert_eq!(back.last_zxid(), 6);
    }
}
