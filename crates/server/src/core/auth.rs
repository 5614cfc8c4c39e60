//! `auth` packets: adding identities to a connection.
//!
//! As in ZooKeeper: `digest` always succeeds and adds `digest:user:base64(sha1(user:password))`
//! (and `super:` when it matches the configured super digest); `ip` re-adds the connection's
//! address; any other scheme fails with AuthFailed and the connection is closed (the session
//! lives on and may resume elsewhere).

use bytes::Bytes;
use watchkeeper_proto::requests::AuthPacket;
use watchkeeper_proto::{ErrorCode, Id};
use watchkeeper_tree::acl;

use super::reply::error_frame;
use super::{ConnId, Core};

impl Core {
    /// Handles an auth packet; returns the reply, or None when the connection is gone.
    pub(super) fn authenticate(&mut self, conn: ConnId, xid: i32, p: AuthPacket) -> Option<Bytes> {
        let super_digest = self.cfg.super_digest.clone();
        let c = self.conns.get_mut(&conn)?;
        let added: Option<Vec<Id>> = match p.scheme.as_str() {
            "digest" => {
                let credentials = String::from_utf8_lossy(&p.auth).into_owned();
                let digest = acl::digest_id(&credentials);
                let mut ids = Vec::new();
                if super_digest.as_deref() == Some(digest.as_str()) {
                    ids.push(Id::new("super", ""));
                }
                ids.push(Id::new("digest", digest));
                Some(ids)
            }
            "ip" => Some(vec![Id::new("ip", c.peer.ip().to_string())]),
            _ => None,
        };
        match added {
            Some(ids) => {
                for id in ids {
                    if !c.auth.contains(&id) {
                        c.auth.push(id);
                    }
                }
                Some(error_frame(xid, 0, ErrorCode::Ok))
            }
            None => {
                tracing::info!(conn, scheme = %p.scheme, "authentication failed: unknown scheme; closing the connection");
                let frame = error_frame(xid, 0, ErrorCode::AuthFailed);
                self.send_frame(conn, frame);
                if let Some(c) = self.conns.get(&conn) {
                    c.outbox.close();
                }
                None
            }
        }
    }
}
