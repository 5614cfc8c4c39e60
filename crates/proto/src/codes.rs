//! ZooKeeper's numeric codes: opcodes, error codes, event types, states, create modes, watcher
//! types and permission bits. Every enum converts to and from its wire `i32`.

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i32)]
        pub enum $name { $($(#[$vm])* $variant = $value),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn from_i32(v: i32) -> Option<Self> {
                match v { $($value => Some($name::$variant),)+ _ => None }
            }

            /// Like [`Self::from_i32`] but as a decode error naming the field.
            pub fn decode(v: i32) -> Result<Self, crate::DecodeError> {
                Self::from_i32(v).ok_or(crate::DecodeError::UnknownValue { what: $what, value: v })
            }

            pub fn as_i32(self) -> i32 { self as i32 }
        }

        impl From<$name> for i32 {
            fn from(v: $name) -> i32 { v as i32 }
        }
    };
}

wire_enum!(
    /// Request types (`RequestHeader.type`).
    OpCode, "opcode" {
        Notification = 0, Create = 1, Delete = 2, Exists = 3, GetData = 4, SetData = 5, GetAcl = 6,
        SetAcl = 7, GetChildren = 8, Sync = 9, Ping = 11, GetChildren2 = 12, Check = 13, Multi = 14,
        Create2 = 15, Reconfig = 16, CheckWatches = 17, RemoveWatches = 18, CreateContainer = 19,
        DeleteContainer = 20, CreateTtl = 21, MultiRead = 22, Auth = 100, SetWatches = 101,
        Sasl = 102, GetEphemerals = 103, GetAllChildrenNumber = 104, SetWatches2 = 105,
        AddWatch = 106, WhoAmI = 107, CreateSession = -10, CloseSession = -11, Error = -1,
    }
);

impl OpCode {
    /// Operations that change state and so go through the log.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpCode::Create
                | OpCode::Create2
                | OpCode::CreateContainer
                | OpCode::CreateTtl
                | OpCode::Delete
                | OpCode::DeleteContainer
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Check
                | OpCode::Multi
                | OpCode::CreateSession
                | OpCode::CloseSession
                | OpCode::Reconfig
        )
    }
}

wire_enum!(
    /// `ReplyHeader.err` values.
    ErrorCode, "error code" {
        Ok = 0, SystemError = -1, RuntimeInconsistency = -2, DataInconsistency = -3,
        ConnectionLoss = -4, MarshallingError = -5, Unimplemented = -6, OperationTimeout = -7,
        BadArguments = -8, UnknownSession = -12, NewConfigNoQuorum = -13,
        ReconfigInProgress = -14, ApiError = -100, NoNode = -101, NoAuth = -102,
        BadVersion = -103, NoChildrenForEphemerals = -108, NodeExists = -110, NotEmpty = -111,
        SessionExpired = -112, InvalidCallback = -113, InvalidAcl = -114, AuthFailed = -115,
        SessionMoved = -118, NotReadOnly = -119, EphemeralOnLocalSession = -120,
        NoWatcher = -121, RequestTimeout = -122, ReconfigDisabled = -123,
        SessionClosedRequireSaslAuth = -124, QuotaExceeded = -125, ThrottledOp = -127,
    }
);

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} ({})", self, *self as i32)
    }
}

impl std::error::Error for ErrorCode {}

wire_enum!(
    /// `WatcherEvent.type`.
    EventType, "event type" {
        None = -1, NodeCreated = 1, NodeDeleted = 2, NodeDataChanged = 3, NodeChildrenChanged = 4,
        DataWatchRemoved = 5, ChildWatchRemoved = 6, PersistentWatchRemoved = 7,
    }
);

wire_enum!(
    /// `WatcherEvent.state`.
    KeeperState, "keeper state" {
        Disconnected = 0, SyncConnected = 3, AuthFailed = 4, ConnectedReadOnly = 5,
        SaslAuthenticated = 6, Expired = -112, Closed = 7,
    }
);

wire_enum!(
    /// `CreateRequest.flags`.
    CreateMode, "create mode" {
        Persistent = 0, Ephemeral = 1, PersistentSequential = 2, EphemeralSequential = 3,
        Container = 4, PersistentWithTtl = 5, PersistentSequentialWithTtl = 6,
    }
);

impl CreateMode {
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }
    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

wire_enum!(
    /// `CheckWatchesRequest.type` / `RemoveWatchesRequest.type`.
    WatcherType, "watcher type" {
        Children = 1, Data = 2, Any = 3, Persistent = 4, PersistentRecursive = 5,
    }
);

wire_enum!(
    /// `AddWatchRequest.mode`.
    AddWatchMode, "add-watch mode" {
        Persistent = 0, PersistentRecursive = 1,
    }
);

/// Permission bits of an ACL entry.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// Reserved xids.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_i32(c.as_i32()), Some(*c));
        }
        for o in OpCode::ALL {
            assert_eq!(OpCode::from_i32(o.as_i32()), Some(*o));
        }
        assert_eq!(OpCode::from_i32(10), None);
        assert_eq!(ErrorCode::NoNode.as_i32(), -101);
        assert_eq!(KeeperState::Expired.as_i32(), -112);
    }
}
