//! setWatches batching: a reconnecting client re-sends its watches in packets of bounded size.
//!
//! The Java client closes a batch once the path lengths in it reach 128 KiB (so a batch may
//! pass the bound by one path). Here a batch never passes the bound unless a single path is
//! longer than it, which then travels alone; the number of packets is the same or one more.

/// Splits `paths` into consecutive batches whose summed path lengths stay within `max_bytes`.
/// Order is kept and every path appears exactly once.
pub fn batch_paths(paths: &[String], max_bytes: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut len = 0usize;
    for p in paths {
        if !cur.is_empty() && len + p.len() > max_bytes {
            out.push(std::mem::take(&mut cur));
            len = 0;
        }
        len += p.len();
        cur.push(p.clone());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(lens: &[usize]) -> Vec<String> {
        lens.iter()
            .map(|&n| format!("/{}", "x".repeat(n.saturating_sub(1))))
            .collect()
    }

    #[test]
    fn batches_keep_order_and_bound() {
        let ps: Vec<String> = (0..1000).map(|i| format!("/bench/node-{i:05}")).collect();
        let max = 1024;
        let batches = batch_paths(&ps, max);
        let flat: Vec<String> = batches.iter().flatten().cloned().collect();
        assert_eq!(flat, ps);
        for b in &batches {
            assert!(b.iter().map(String::len).sum::<usize>() <= max);
        }
        // Every batch but the last is full enough that the next path would not fit.
        for w in batches.windows(2) {
            let used: usize = w[0].iter().map(String::len).sum();
            assert!(used + w[1][0].len() > max);
        }
    }

    #[test]
    fn edge_cases() {
        assert!(batch_paths(&[], 10).is_empty());
        let ps = paths(&[30, 5, 5]);
        let b = batch_paths(&ps, 10);
        assert_eq!(b.len(), 2, "an oversized path travels alone: {b:?}");
        assert_eq!(b[0].len(), 1);
        assert_eq!(b[1].len(), 2);
        let one = batch_paths(&ps, usize::MAX);
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn java_sized_batches() {
        // 10,000 paths of 22 bytes: 220,000 bytes, two packets under 128 KiB.
        let ps: Vec<String> = (0..10_000)
            .map(|i| format!("/wkbench/r/n{i:010}"))
            .collect();
        assert!(ps.iter().all(|p| p.len() == 22));
        let b = batch_paths(&ps, 128 * 1024);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].len(), 128 * 1024 / 22);
    }
}
