//! Which of the source's rows a run writes: all of them (a run), the
//! first N or N chosen at random (a trial), those a trial did not write
//! (the rest of a trial). The choice depends on the run's request alone
//! (a random trial's seed is in its `run.requested`) and on the rows'
//! numbers, never on the moment or the worker: every attempt of a run,
//! one resumed by another worker included, writes the very same rows.
//!
//! A random trial of N rows reads its source twice: first to rank each
//! row by a keyed hash of (seed, row number), keeping the N best in a
//! bounded heap, then to write those rows.

use super::Source;
use sluice_connectors::source::{Record, RowSink, SourceError};
use std::collections::{BinaryHeap, HashSet};

/// The rows a run writes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(in crate::runs) enum Selection {
    /// Every row.
    #[default]
    All,
    /// The source's first rows, this many.
    First(u64),
    /// These rows (by number) and no other.
    Only(HashSet<u64>),
    /// Every row but these.
    Except(HashSet<u64>),
}

impl Selection {
    /// Whether these are the rows a trial did not write (its rest).
    pub(in crate::runs) fn is_rest(&self) -> bool {
        matches!(self, Self::Except(_))
    }

    /// Whether row `number` is written, `taken` rows having been taken
    /// before it; `None` once no later row can be (reading may stop).
    pub(in crate::runs) fn takes(&self, number: u64, taken: u64) -> Option<bool> {
        match self {
            Self::All => Some(true),
            Self::First(rows) => (taken < *rows).then_some(true),
            Self::Only(rows) if taken >= rows.len() as u64 => None,
            Self::Only(rows) => Some(rows.contains(&number)),
            Self::Except(rows) => Some(!rows.contains(&number)),
        }
    }
}

/// Row `number`'s rank in a random trial of `seed`: a keyed hash
/// (SplitMix64's finaliser over the seed and the number), well spread
/// whatever the numbers, the same on every machine.
pub(in crate::runs) fn rank(seed: u64, number: u64) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    mix(seed.wrapping_add(mix(number.wrapping_add(0x9e37_79b9_7f4a_7c15))))
}

/// The `rows` rows of `source` a random trial of `seed` writes: those of
/// the lowest ranks (ties, which are rare, to the lower number). Reads the
/// source through once, holding at most `rows` + 1 numbers.
pub(in crate::runs) fn choose(
    source: impl Source,
    rows: u32,
    seed: u64,
) -> Result<HashSet<u64>, SourceError> {
    let mut ranks = Ranks {
        best: BinaryHeap::with_capacity(rows as usize + 1),
        rows: rows as usize,
        seed,
    };
    source.read(&mut ranks)?;
    Ok(ranks.best.into_iter().map(|(_, number)| number).collect())
}

/// The best-ranked rows so far, the worst of them on top.
struct Ranks {
    best: BinaryHeap<(u64, u64)>,
    rows: usize,
    seed: u64,
}

impl RowSink for Ranks {
    fn header(&mut self, _: Vec<String>) -> bool {
        true
    }

    fn row(&mut self, row: Record<'_>) -> bool {
        self.best.push((rank(self.seed, row.number), row.number));
        if self.best.len() > self.rows {
            self.best.pop();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_connectors::source::Fields;

    /// A source of `rows` one-field rows.
    struct Numbers(u64);

    impl Source for Numbers {
        fn read(self, sink: &mut impl RowSink) -> Result<(), SourceError> {
            sink.header(vec!["n".into()]);
            let fields = Fields::from(vec!["x"]);
            for number in 1..=self.0 {
                if !sink.row(Record {
                    number,
                    fields: Ok(&fields),
                }) {
                    break;
                }
            }
            Ok(())
        }
    }

    #[test]
    fn a_random_trial_chooses_the_same_rows_for_its_seed_and_others_for_another() {
        let first = choose(Numbers(10_000), 50, 42).unwrap();
        assert_eq!(first.len(), 50);
        assert_eq!(choose(Numbers(10_000), 50, 42).unwrap(), first);
        assert_ne!(choose(Numbers(10_000), 50, 43).unwrap(), first);
        assert!(first.iter().all(|n| (1..=10_000).contains(n)));
        // Spread over the file, not bunched at its start.
        assert!(first.iter().any(|n| *n > 5_000) && first.iter().any(|n| *n <= 5_000));
    }

    #[test]
    fn a_trial_larger_than_the_source_chooses_every_row() {
        assert_eq!(
            choose(Numbers(7), 100, 9).unwrap(),
            (1..=7).collect::<HashSet<u64>>()
        );
    }

    #[test]
    fn a_selection_takes_its_rows_and_says_when_no_more_can_come() {
        assert_eq!(Selection::All.takes(5, 100), Some(true));
        assert_eq!(Selection::First(2).takes(2, 1), Some(true));
        assert_eq!(Selection::First(2).takes(3, 2), None);
        let only = Selection::Only([2, 4].into());
        assert_eq!(only.takes(1, 0), Some(false));
        assert_eq!(only.takes(2, 0), Some(true));
        assert_eq!(only.takes(5, 2), None);
        let except = Selection::Except([2].into());
        assert_eq!(except.takes(2, 0), Some(false));
        assert_eq!(except.takes(3, 0), Some(true));
    }
}
