//! A job's result files read back, and each result matched to its input
//! row.

use super::batch::BulkBatch;
use super::BulkRow;
use crate::salesforce::bulk_match::match_results;
use crate::salesforce::SalesforceError;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Saved,
    Failed,
    Unprocessed,
}

/// No row: the end of a chain of rows in [`Matching`].
const END: u32 = u32::MAX;

/// Results being matched to a batch's rows. A result that echoes a row's
/// values exactly (the common case) takes that row at once; the others wait
/// for [`Matching::finish`], which matches them as `bulk_match.rs` says.
///
/// The rows waiting are found by a hash of their cells: each hash leads to
/// its first row waiting, and each row to the next one with its hash, in
/// input order. A result is compared with the rows of its hash as it is
/// read, without a copy of its values unless it matches none.
pub(super) struct Matching<'a> {
    batch: &'a BulkBatch,
    heads: HashMap<u64, u32, BuildHasherDefault<Hashed>>,
    next: Vec<u32>,
    rows: Vec<Option<BulkRow>>,
    /// Results not matched yet, with the values they echo.
    left: Vec<(BulkRow, Vec<String>)>,
}

impl<'a> Matching<'a> {
    pub(super) fn new(batch: &'a BulkBatch) -> Self {
        let mut heads = HashMap::with_capacity_and_hasher(batch.len(), Default::default());
        let mut next = vec![END; batch.len()];
        // From the last row, so that each chain starts at its earliest.
        for at in (0..batch.len()).rev() {
            let hash = row_hash(batch.row(at));
            // A batch has fewer than 2^31 rows (see `BulkBatch::push`).
            if let Some(after) = heads.insert(hash, at as u32) {
                next[at] = after;
            }
        }
        Self {
            batch,
            heads,
            next,
            rows: vec![None; batch.len()],
            left: Vec::new(),
        }
    }

    /// Takes the earliest row waiting whose cells are `values` (`count`
    /// of them).
    fn take<'v>(
        &mut self,
        values: impl Iterator<Item = &'v str> + Clone,
        count: usize,
    ) -> Option<usize> {
        let hash = row_hash(values.clone());
        let mut before = END;
        let mut at = *self.heads.get(&hash)?;
        while at != END {
            let row = self.batch.row(at as usize);
            if row.len() == count && row.eq(values.clone()) {
                let after = self.next[at as usize];
                match (before, after) {
                    (END, END) => {
                        self.heads.remove(&hash);
                    }
                    (END, after) => {
                        self.heads.insert(hash, after);
                    }
                    (before, after) => self.next[before as usize] = after,
                }
                return Some(at as usize);
            }
            before = at;
            at = self.next[at as usize];
        }
        None
    }

    /// Each input row's outcome, in input order, and how many results were
    /// matched by key or likeness. A row Salesforce gave no result for
    /// fails. Results beyond the rows cannot be placed: when one of them
    /// saved a record, the job's outcome cannot be trusted, and it is an
    /// error.
    pub(super) fn finish(self) -> Result<(Vec<BulkRow>, usize), SalesforceError> {
        let Self {
            batch,
            mut rows,
            left,
            ..
        } = self;
        if !left.is_empty() {
            let open: Vec<usize> = (0..rows.len()).filter(|at| rows[*at].is_none()).collect();
            let open_values: Vec<Vec<String>> = open
                .iter()
                .map(|at| batch.row(*at).map(str::to_owned).collect())
                .collect();
            let (outcomes, echoed): (Vec<BulkRow>, Vec<Vec<String>>) = left.into_iter().unzip();
            let matched = match_results(&open_values, &echoed, batch.key);
            for (outcome, at) in outcomes.into_iter().zip(matched.rows) {
                match (at, outcome) {
                    (Some(at), outcome) => rows[open[at]] = Some(outcome),
                    (None, BulkRow::Saved { .. }) => {
                        return Err(SalesforceError::Unreachable(format!(
                            "Salesforce returned {} results beyond the {} records uploaded",
                            matched.unmatched,
                            batch.len()
                        )))
                    }
                    (None, _) => {}
                }
            }
            let rows = finished(rows);
            return Ok((rows, matched.inferred));
        }
        Ok((finished(rows), 0))
    }
}

/// The rows' outcomes, a row without a result failed.
fn finished(rows: Vec<Option<BulkRow>>) -> Vec<BulkRow> {
    rows.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| BulkRow::Failed("Salesforce gave no result for the row".into()))
        })
        .collect()
}

/// A hash of a row's cells (FxHash's multiply and rotate, eight bytes at a
/// time, and a final mix): the rows are the uploader's own, so a hash that
/// resists chosen collisions (SipHash, the standard one) buys nothing
/// here, and costs a fifth of reading the results.
fn row_hash<'v>(cells: impl Iterator<Item = &'v str>) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let mut hash = 0u64;
    let mut add = |word: u64| hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    for cell in cells {
        let mut chunks = cell.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            add(u64::from_le_bytes(word));
        }
        let mut word = [0u8; 8];
        word[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        add(u64::from_le_bytes(word));
        add(cell.len() as u64);
    }
    hash ^= hash >> 32;
    hash = hash.wrapping_mul(K);
    hash ^ (hash >> 29)
}

/// Hashes a `u64` that is a hash already, as itself.
#[derive(Default)]
struct Hashed(u64);

impl Hasher for Hashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Reads a result CSV. Saved and failed results lead with two columns
/// (`sf__Id` and `sf__Created`, or `sf__Id` and `sf__Error`); unprocessed
/// records are the columns alone.
pub(super) fn read_results(
    text: &[u8],
    kind: Kind,
    columns: usize,
    matching: &mut Matching<'_>,
) -> Result<(), SalesforceError> {
    let lead = match kind {
        Kind::Unprocessed => 0,
        _ => 2,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| SalesforceError::Unreachable(format!("a result file cannot be read: {e}")))?
    {
        let values = record.iter().skip(lead).take(columns);
        let count = record.len().saturating_sub(lead).min(columns);
        let first = record.get(0).unwrap_or_default();
        let second = record.get(1).unwrap_or_default();
        let row = match kind {
            Kind::Saved => BulkRow::Saved {
                id: first.to_owned(),
                created: second.eq_ignore_ascii_case("true"),
            },
            Kind::Failed => BulkRow::Failed(second.to_owned()),
            Kind::Unprocessed => BulkRow::Unprocessed,
        };
        match matching.take(values.clone(), count) {
            Some(at) => matching.rows[at] = Some(row),
            None => matching
                .left
                .push((row, values.map(str::to_owned).collect())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::Operation;

    #[test]
    fn results_in_any_order_find_their_rows() {
        let header = ["LastName".to_owned(), "Email".to_owned()];
        let mut batch = BulkBatch::new(Operation::Insert, &header).unwrap();
        for row in [["Ada", "a@x"], ["Bob", "b@x"], ["Ada", "a@x"], ["Cy", ""]] {
            batch.push(&[Some(row[0]), Some(row[1])]).unwrap();
        }
        let mut results = Matching::new(&batch);
        let saved = b"\"sf__Id\",\"sf__Created\",LastName,Email\n003B,true,Bob,b@x\n003A,true,Ada,a@x\n003C,true,Ada,a@x\n";
        read_results(saved, Kind::Saved, 2, &mut results).unwrap();
        let failed = b"\"sf__Id\",\"sf__Error\",LastName,Email\n,REQUIRED_FIELD_MISSING:Required fields are missing: [Email]:Email --,Cy,\n";
        read_results(failed, Kind::Failed, 2, &mut results).unwrap();
        let (outcome, inferred) = results.finish().unwrap();
        let saved = |id: &str| BulkRow::Saved {
            id: id.into(),
            created: true,
        };
        assert_eq!(outcome[0], saved("003A"));
        assert_eq!(outcome[1], saved("003B"));
        assert_eq!(outcome[2], saved("003C"));
        assert!(
            matches!(&outcome[3], BulkRow::Failed(e) if e.starts_with("REQUIRED_FIELD_MISSING"))
        );
        assert_eq!(inferred, 0);
    }

    #[test]
    fn a_saved_result_beyond_the_rows_uploaded_is_an_error() {
        let header = ["LastName".to_owned()];
        let mut batch = BulkBatch::new(Operation::Insert, &header).unwrap();
        batch.push(&[Some("Ada")]).unwrap();
        let mut results = Matching::new(&batch);
        let saved = b"\"sf__Id\",\"sf__Created\",LastName\n003A,true,Ada\n003B,true,Bob\n";
        read_results(saved, Kind::Saved, 1, &mut results).unwrap();
        assert!(results.finish().is_err());
    }
}
