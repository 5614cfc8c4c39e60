//! The field types jute records are built from, and `jute_record!`, which declares a record
//! from its field list so that each layout reads like its line in `zookeeper.jute`.
//!
//! Invariant: a record's wire order is its declaration order. Struct literals evaluate their
//! fields in the order written, so the generated `decode` reads fields in that order too.

use bytes::BufMut;

use crate::DecodeError;
use crate::data::{Acl, ClientInfo, Stat, decode_acls, encode_acls};
use crate::jute::{JuteReader, JuteWrite, Record};

/// One field of a jute record: how it is written and read.
pub(crate) trait Field: Sized {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B);
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError>;
}

impl Field for i32 {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_i32(*self);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_i32()
    }
}

impl Field for i64 {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_i64(*self);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_i64()
    }
}

impl Field for bool {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_bool(*self);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
}

/// `ustring`; a null string reads as empty.
impl Field for String {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_string(self);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}

/// `buffer` where null and empty mean the same (passwords, auth, tokens); null reads as empty.
impl Field for Vec<u8> {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_buffer(self);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_buffer()
    }
}

/// `buffer` where null and empty differ (znode data): `None` is jute's null, length -1.
impl Field for Option<Vec<u8>> {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_opt_buffer(self.as_deref());
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_opt_buffer()
    }
}

/// `vector<ustring>`; a null vector reads as empty.
impl Field for Vec<String> {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_string_vec(self);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_string_vec()
    }
}

/// `vector<ACL>`.
impl Field for Vec<Acl> {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        encode_acls(self, w);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        decode_acls(r)
    }
}

/// `vector<ClientInfo>`.
impl Field for Vec<ClientInfo> {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_i32(self.len() as i32);
        for c in self {
            c.encode(w);
        }
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        r.read_vec(ClientInfo::MIN_ENCODED_LEN, ClientInfo::decode)
    }
}

impl Field for Stat {
    fn put<B: BufMut + ?Sized>(&self, w: &mut B) {
        self.encode(w);
    }
    fn get(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Stat::decode(r)
    }
}

/// Declares a public record struct whose fields are written and read in declaration order.
macro_rules! jute_record {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
        pub struct $name { $($(#[$fm])* pub $field: $ty,)* }

        impl $crate::jute::Record for $name {
            #[allow(unused_variables)]
            fn encode<B: ::bytes::BufMut + ?Sized>(&self, w: &mut B) {
                $($crate::field::Field::put(&self.$field, w);)*
            }

            #[allow(unused_variables)]
            fn decode(
                r: &mut $crate::jute::JuteReader<'_>,
            ) -> Result<Self, $crate::DecodeError> {
                Ok($name { $($field: $crate::field::Field::get(r)?,)* })
            }
        }
    };
}

pub(crate) use jute_record;
