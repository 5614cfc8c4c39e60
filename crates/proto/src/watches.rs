//! Watch records: the notification a server pushes, and the requests that set, re-arm, check
//! and remove watches outside getData/exists/getChildren.
//!
//! Mode and type fields stay raw `i32`s: an unknown value is a well-formed record that the
//! server answers with an error, not a framing failure. Accessors classify them.

use crate::codes::{AddWatchMode, EventType, KeeperState, WatcherType};
use crate::field::jute_record;

jute_record!(
    /// `WatcherEvent {int type; int state; ustring path}`, sent after a reply header with xid -1.
    WatcherEvent {
        event_type: i32,
        state: i32,
        path: String,
    }
);

impl WatcherEvent {
    pub fn new(event_type: EventType, state: KeeperState, path: impl Into<String>) -> Self {
        WatcherEvent {
            event_type: event_type.as_i32(),
            state: state.as_i32(),
            path: path.into(),
        }
    }

    pub fn event_type(&self) -> Option<EventType> {
        EventType::from_i32(self.event_type)
    }

    pub fn keeper_state(&self) -> Option<KeeperState> {
        KeeperState::from_i32(self.state)
    }
}

jute_record!(
    /// `SetWatches {long relativeZxid; vector<ustring> dataWatches, existWatches, childWatches}`
    /// (opcode 101, xid -8): re-arms one-shot watches after a reconnect.
    SetWatches {
        /// The last zxid the client saw; changes after it fire catch-up events.
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
    }
);

jute_record!(
    /// `SetWatches2` (opcode 105): [`SetWatches`] plus persistent and persistent-recursive
    /// watches, sent by clients that hold any of those.
    SetWatches2 {
        relative_zxid: i64,
        data_watches: Vec<String>,
        exist_watches: Vec<String>,
        child_watches: Vec<String>,
        persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }
);

jute_record!(
    /// `AddWatchRequest {ustring path; int mode}` (opcode 106).
    AddWatchRequest {
        path: String,
        mode: i32,
    }
);

impl AddWatchRequest {
    pub fn watch_mode(&self) -> Option<AddWatchMode> {
        AddWatchMode::from_i32(self.mode)
    }
}

jute_record!(
    /// `CheckWatchesRequest` / `RemoveWatchesRequest {ustring path; int type}` (opcodes 17, 18).
    WatchesRequest {
        path: String,
        watcher_type: i32,
    }
);

/// `CheckWatchesRequest {ustring path; int type}`.
pub type CheckWatchesRequest = WatchesRequest;
/// `RemoveWatchesRequest {ustring path; int type}`.
pub type RemoveWatchesRequest = WatchesRequest;

impl WatchesRequest {
    pub fn watcher_type(&self) -> Option<WatcherType> {
        WatcherType::from_i32(self.watcher_type)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary::*;
    use crate::jute::Record;

    #[test]
    fn watcher_event_golden_bytes() {
        let e = WatcherEvent::new(EventType::NodeDataChanged, KeeperState::SyncConnected, "/a");
        assert_eq!(
            e.to_bytes(),
            [0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 2, b'/', b'a']
        );
    }

    #[test]
    fn set_watches_golden_bytes() {
        let s = SetWatches {
            relative_zxid: 5,
            data_watches: vec!["/d".into()],
            exist_watches: vec![],
            child_watches: vec!["/".into()],
        };
        let expect: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 5, // relativeZxid
            0, 0, 0, 1, 0, 0, 0, 2, b'/', b'd', // dataWatches ["/d"]
            0, 0, 0, 0, // existWatches []
            0, 0, 0, 1, 0, 0, 0, 1, b'/', // childWatches ["/"]
        ];
        assert_eq!(s.to_bytes(), expect);
        assert_eq!(SetWatches::decode_exact(expect).unwrap(), s);
    }

    proptest! {
        #[test]
        fn watcher_event_round_trips(v in watcher_event()) {
            prop_assert_eq!(WatcherEvent::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn set_watches_round_trips(v in set_watches()) {
            prop_assert_eq!(SetWatches::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn set_watches2_round_trips(v in set_watches2()) {
            prop_assert_eq!(SetWatches2::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn add_watch_round_trips(v in add_watch()) {
            prop_assert_eq!(AddWatchRequest::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn watches_request_round_trips(v in watches_request()) {
            prop_assert_eq!(WatchesRequest::decode_exact(&v.to_bytes())?, v);
        }
    }
}
