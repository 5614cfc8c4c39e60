//! Growth policy for the index's arrays: grow by a fraction of the current capacity instead of
//! doubling, so a large array carries at most that fraction of unused capacity. Appends stay
//! amortized O(1) (each element is moved a bounded number of times; large blocks are usually
//! moved by the allocator remapping pages, not copying).

/// Makes room for one more element, growing by `capacity / den` (at least 4 elements).
#[inline]
pub(crate) fn reserve_one<T>(v: &mut Vec<T>, den: usize) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.capacity() / den).max(4));
    }
}

/// Makes room for `extra` more bytes, growing by at least `capacity / den`.
#[inline]
pub(crate) fn reserve_str(s: &mut String, extra: usize, den: usize) {
    if s.capacity() - s.len() < extra {
        s.reserve_exact(extra.max(s.capacity() / den));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_stays_within_the_fraction() {
        let mut v: Vec<u32> = Vec::new();
        for i in 0..100_000 {
            reserve_one(&mut v, 4);
            v.push(i);
            assert!(v.capacity() <= v.len() + v.len() / 4 + 4);
        }
        let mut s = String::new();
        for _ in 0..10_000 {
            reserve_str(&mut s, 7, 4);
            s.push_str("/abcdef");
            assert!(s.capacity() <= s.len() + s.len() / 4 + 7);
        }
    }
}
