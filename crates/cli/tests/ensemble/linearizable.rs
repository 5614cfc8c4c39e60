//! A linearizability checker for one znode used as a compare-and-set register, in the style of
//! Wing & Gong with memoization (as porcupine does): search for an order of the operations that
//! respects real time (an operation that returned before another was invoked comes first) and
//! that a sequential register would produce.
//!
//! Operations: `setData` with an expected version (a compare-and-set) and `sync` + `getData` (a
//! linearizable read). An operation whose outcome is unknown (the connection was lost) may have
//! taken effect at any point after its invocation, or never: it never blocks an order and may be
//! left out. Histories are checked per znode (each is an independent register), so they stay
//! small; at most 64 operations per history.

use std::collections::HashSet;
use std::time::Instant;

/// A register's state: its data and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct State {
    pub value: u64,
    pub version: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// setData(value, expected version).
    Cas {
        value: u64,
        expected: i32,
    },
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A CAS that succeeded, with the new version.
    Written(i32),
    /// A CAS refused with BadVersion.
    BadVersion,
    /// A read and what it saw.
    Saw(State),
    /// No answer: it may or may not have happened.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Call {
    /// Who made the call; shown in a failure's history.
    #[allow(dead_code)]
    pub client: usize,
    pub op: Op,
    pub invoked: Instant,
    /// None when the outcome is unknown.
    pub returned: Option<Instant>,
    pub outcome: Outcome,
}

/// What the sequential register answers to `op` in `state`, if `outcome` is possible there, and
/// the state after it.
fn step(state: State, op: Op, outcome: Outcome) -> Option<State> {
    match (op, outcome) {
        (Op::Cas { value, expected }, Outcome::Written(v)) => {
            (state.version == expected && v == expected + 1).then_some(State { value, version: v })
        }
        (Op::Cas { expected, .. }, Outcome::BadVersion) => {
            (state.version != expected).then_some(state)
        }
        (Op::Cas { value, expected }, Outcome::Unknown) => Some(if state.version == expected {
            State {
                value,
                version: expected + 1,
            }
        } else {
            state
        }),
        (Op::Read, Outcome::Saw(seen)) => (seen == state).then_some(state),
        (Op::Read, Outcome::Unknown) => Some(state),
        _ => None,
    }
}

/// Whether `history` (on a register that starts as `initial`) is linearizable. On failure,
/// returns a description of the longest prefix order found.
pub fn check(initial: State, history: &[Call]) -> Result<(), String> {
    assert!(history.len() <= 64, "a history holds at most 64 calls");
    let n = history.len();
    let required: u64 = history
        .iter()
        .enumerate()
        .filter(|(_, c)| c.returned.is_some())
        .fold(0, |m, (i, _)| m | (1 << i));
    let mut seen: HashSet<(u64, State)> = HashSet::new();
    let mut best = 0u32;
    // Depth-first over (done set, state).
    let mut stack = vec![(0u64, initial)];
    while let Some((done, state)) = stack.pop() {
        if done & required == required {
            return Ok(());
        }
        if !seen.insert((done, state)) {
            continue;
        }
        best = best.max(done.count_ones());
        // The earliest return among calls not done bounds which calls may go next: a call
        // invoked after some pending call returned cannot precede it.
        let horizon = (0..n)
            .filter(|i| done & (1 << i) == 0)
            .filter_map(|i| history[i].returned)
            .min();
        for (i, c) in history.iter().enumerate() {
            if done & (1 << i) != 0 {
                continue;
            }
            if let Some(h) = horizon
                && c.invoked > h
            {
                continue;
            }
            if let Some(next) = step(state, c.op, c.outcome) {
                stack.push((done | (1 << i), next));
            }
        }
    }
    Err(format!(
        "not linearizable: at most {best} of {} calls can be ordered; history: {history:#?}",
        n
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(client: usize, op: Op, at: u64, until: Option<u64>, outcome: Outcome) -> Call {
        let t0 = *T0;
        Call {
            client,
            op,
            invoked: t0 + Duration::from_millis(at),
            returned: until.map(|u| t0 + Duration::from_millis(u)),
            outcome,
        }
    }

    static T0: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
    const ZERO: State = State {
        value: 0,
        version: 0,
    };

    #[test]
    fn sequential_cas_and_reads_are_linearizable() {
        let h = vec![
            call(
                0,
                Op::Cas {
                    value: 1,
                    expected: 0,
                },
                0,
                Some(10),
                Outcome::Written(1),
            ),
            call(
                1,
                Op::Read,
                20,
                Some(30),
                Outcome::Saw(State {
                    value: 1,
                    version: 1,
                }),
            ),
            call(
                1,
                Op::Cas {
                    value: 2,
                    expected: 0,
                },
                40,
                Some(50),
                Outcome::BadVersion,
            ),
        ];
        assert!(check(ZERO, &h).is_ok());
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let h = vec![
            call(
                0,
                Op::Cas {
                    value: 1,
                    expected: 0,
                },
                0,
                Some(10),
                Outcome::Written(1),
            ),
            call(1, Op::Read, 20, Some(30), Outcome::Saw(ZERO)),
        ];
        assert!(check(ZERO, &h).is_err());
    }

    #[test]
    fn overlapping_calls_may_go_either_way() {
        let h = vec![
            call(
                0,
                Op::Cas {
                    value: 1,
                    expected: 0,
                },
                0,
                Some(30),
                Outcome::Written(1),
            ),
            call(1, Op::Read, 10, Some(20), Outcome::Saw(ZERO)),
        ];
        assert!(check(ZERO, &h).is_ok());
    }

    #[test]
    fn an_unknown_write_may_have_happened_or_not() {
        let happened = vec![
            call(
                0,
                Op::Cas {
                    value: 1,
                    expected: 0,
                },
                0,
                None,
                Outcome::Unknown,
            ),
            call(
                1,
                Op::Read,
                50,
                Some(60),
                Outcome::Saw(State {
                    value: 1,
                    version: 1,
                }),
            ),
        ];
        assert!(check(ZERO, &happened).is_ok());
        let not = vec![
            call(
                0,
                Op::Cas {
                    value: 1,
                    expected: 0,
                },
                0,
                None,
                Outcome::Unknown,
            ),
            call(1, Op::Read, 50, Some(60), Outcome::Saw(ZERO)),
        ];
        assert!(check(ZERO, &not).is_ok());
    }

    #[test]
    fn two_successful_writes_from_the_same_version_are_caught() {
        let h = vec![
            call(
                0,
                Op::Cas {
                    value: 1,
                    expected: 0,
                },
                0,
                Some(10),
                Outcome::Written(1),
            ),
            call(
                1,
                Op::Cas {
                    value: 2,
                    expected: 0,
                },
                0,
                Some(10),
                Outcome::Written(1),
            ),
        ];
        assert!(check(ZERO, &h).is_err());
    }
}
