//! The jute primitive encoding: big-endian ints and longs, one-byte booleans, length-prefixed
//! buffers and strings (length -1 means null), length-prefixed vectors.
//!
//! Invariant: decoding never allocates more than the bytes actually present in the input. A
//! length prefix is checked against the remaining input before anything is reserved, so a
//! hostile client cannot make the server allocate by claiming a huge length.

use bytes::BufMut;

use crate::DecodeError;

/// A cursor over one received frame. Every read checks bounds and fails with [`DecodeError`].
#[derive(Debug, Clone)]
pub struct JuteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> JuteReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The offset of the next byte to read, for error messages.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// What has not been consumed yet, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEof {
                needed: n,
                remaining: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A length prefix: -1 is `None` (jute's null), other negatives are an error, and a length
    /// larger than the rest of the input is an error before any allocation happens.
    fn read_len(&mut self, min_elem_size: usize) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::NegativeLength(len));
        }
        let len = len as usize;
        if len.saturating_mul(min_elem_size.max(1)) > self.remaining() {
            return Err(DecodeError::LengthBeyondInput {
                claimed: len,
                remaining: self.remaining(),
            });
        }
        Ok(Some(len))
    }

    /// A buffer where ZooKeeper treats null and empty alike (passwords, auth, SASL tokens); a
    /// null buffer reads as empty. Znode data keeps the difference: see `read_opt_buffer`.
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_opt_buffer()?.unwrap_or_default())
    }

    /// A buffer whose null (length -1) is `None`, distinct from an empty buffer.
    pub fn read_opt_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A string; jute's null string reads as empty.
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        Ok(self.read_opt_string()?.unwrap_or_default())
    }

    pub fn read_opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n)?;
                let s = std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8)?;
                Ok(Some(s.to_owned()))
            }
        }
    }

    /// A vector of records; null reads as empty. `min_elem_size` is the smallest encoding of
    /// one element, so the claimed count is bounded by the input before reserving.
    pub fn read_vec<T>(
        &mut self,
        min_elem_size: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        match self.read_len(min_elem_size)? {
            None => Ok(Vec::new()),
            Some(n) => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(f(self)?);
                }
                Ok(v)
            }
        }
    }

    pub fn read_string_vec(&mut self) -> Result<Vec<String>, DecodeError> {
        self.read_vec(4, |r| r.read_string())
    }
}

/// Writing jute primitives onto any [`BufMut`].
pub trait JuteWrite: BufMut {
    fn write_bool(&mut self, v: bool) {
        self.put_u8(v as u8);
    }
    fn write_i32(&mut self, v: i32) {
        self.put_i32(v);
    }
    fn write_i64(&mut self, v: i64) {
        self.put_i64(v);
    }
    fn write_buffer(&mut self, v: &[u8]) {
        self.put_i32(v.len() as i32);
        self.put_slice(v);
    }
    fn write_opt_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => self.write_buffer(v),
            None => self.put_i32(-1),
        }
    }
    fn write_string(&mut self, v: &str) {
        self.write_buffer(v.as_bytes());
    }
    fn write_string_vec(&mut self, v: &[String]) {
        self.put_i32(v.len() as i32);
        for s in v {
            self.write_string(s);
        }
    }
}

impl<B: BufMut + ?Sized> JuteWrite for B {}

/// A jute record: encodes to and decodes from the wire form.
pub trait Record: Sized {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B);
    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer, failing if bytes are left over.
    fn decode_exact(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = JuteReader::new(buf);
        let v = Self::decode(&mut r)?;
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes(r.remaining()));
        }
        Ok(v)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_claimed_length_fails_without_allocating() {
        let buf = [0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let mut r = JuteReader::new(&buf);
        assert!(matches!(
            r.read_buffer(),
            Err(DecodeError::LengthBeyondInput { .. })
        ));
        let mut r = JuteReader::new(&buf);
        assert!(r.read_vec(4, |r| r.read_i32()).is_err());
    }

    #[test]
    fn null_buffer_and_string_read_as_empty() {
        let buf = (-1i32).to_be_bytes();
        assert_eq!(
            JuteReader::new(&buf).read_buffer().unwrap(),
            Vec::<u8>::new()
        );
        assert_eq!(JuteReader::new(&buf).read_opt_string().unwrap(), None);
    }

    #[test]
    fn negative_length_is_an_error() {
        let buf = (-2i32).to_be_bytes();
        assert_eq!(
            JuteReader::new(&buf).read_buffer(),
            Err(DecodeError::NegativeLength(-2))
        );
    }

    #[test]
    fn primitives_round_trip() {
        let mut w = Vec::new();
        w.write_i32(-7);
        w.write_i64(1 << 40);
        w.write_bool(true);
        w.write_string("héllo");
        w.write_opt_buffer(None);
        let mut r = JuteReader::new(&w);
        assert_eq!(r.read_i32().unwrap(), -7);
        assert_eq!(r.read_i64().unwrap(), 1 << 40);
        assert!(r.read_bool().unwrap());
        assert_eq!(r.read_string().unwrap(), "héllo");
        assert_eq!(r.read_opt_buffer().unwrap(), None);
        assert!(r.is_empty());
    }
}
