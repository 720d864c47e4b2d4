//! A job's result files read back, and each result matched to its input
//! row.

use super::batch::BulkBatch;
use super::BulkRow;
use crate::salesforce::bulk_match::match_results;
use crate::salesforce::SalesforceError;
use std::collections::{HashMap, VecDeque};

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Saved,
    Failed,
    Unprocessed,
}

/// Results being matched to a batch's rows. A result that echoes a row's
/// values exactly (the common case) takes that row at once; the others wait
/// for [`Matching::finish`], which matches them as `bulk_match.rs` says.
pub(super) struct Matching<'a> {
    waiting: HashMap<&'a [String], VecDeque<usize>>,
    rows: Vec<Option<BulkRow>>,
    /// Results not matched yet, with the values they echo.
    left: Vec<(BulkRow, Vec<String>)>,
}

impl<'a> Matching<'a> {
    pub(super) fn new(batch: &'a BulkBatch) -> Self {
        let mut waiting: HashMap<&[String], VecDeque<usize>> = HashMap::new();
        for (at, row) in batch.rows.iter().enumerate() {
            waiting.entry(row.as_slice()).or_default().push_back(at);
        }
        Self {
            waiting,
            rows: vec![None; batch.rows.len()],
            left: Vec::new(),
        }
    }

    fn add(&mut self, outcome: BulkRow, values: Vec<String>) {
        match self
            .waiting
            .get_mut(values.as_slice())
            .and_then(VecDeque::pop_front)
        {
            Some(at) => self.rows[at] = Some(outcome),
            None => self.left.push((outcome, values)),
        }
    }

    /// Each input row's outcome, in input order, and how many results were
    /// matched by key or likeness. A row Salesforce gave no result for
    /// fails. Results beyond the rows cannot be placed: when one of them
    /// saved a record, the job's outcome cannot be trusted, and it is an
    /// error.
    pub(super) fn finish(
        self,
        batch: &BulkBatch,
    ) -> Result<(Vec<BulkRow>, usize), SalesforceError> {
        let Self { mut rows, left, .. } = self;
        let open: Vec<usize> = (0..rows.len()).filter(|at| rows[*at].is_none()).collect();
        let open_values: Vec<&[String]> =
            open.iter().map(|at| batch.rows[*at].as_slice()).collect();
        let (outcomes, echoed): (Vec<BulkRow>, Vec<Vec<String>>) = left.into_iter().unzip();
        let matched = match_results(&open_values, &echoed, batch.key);
        for (outcome, at) in outcomes.into_iter().zip(matched.rows) {
            match (at, outcome) {
                (Some(at), outcome) => rows[open[at]] = Some(outcome),
                (None, BulkRow::Saved { .. }) => {
                    return Err(SalesforceError::Unreachable(format!(
                        "Salesforce returned {} results beyond the {} records uploaded",
                        matched.unmatched,
                        batch.rows.len()
                    )))
                }
                (None, _) => {}
            }
        }
        let rows = rows
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| BulkRow::Failed("Salesforce gave no result for the row".into()))
            })
            .collect();
        Ok((rows, matched.inferred))
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
    for record in reader.records() {
        let record = record.map_err(|e| {
            SalesforceError::Unreachable(format!("a result file cannot be read: {e}"))
        })?;
        let values: Vec<String> = record
            .iter()
            .skip(lead)
            .take(columns)
            .map(str::to_owned)
            .collect();
        let first = record.get(0).unwrap_or_default().to_owned();
        let second = record.get(1).unwrap_or_default();
        let row = match kind {
            Kind::Saved => BulkRow::Saved {
                id: first,
                created: second.eq_ignore_ascii_case("true"),
            },
            Kind::Failed => BulkRow::Failed(second.to_owned()),
            Kind::Unprocessed => BulkRow::Unprocessed,
        };
        matching.add(row, values);
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
        let (outcome, inferred) = results.finish(&batch).unwrap();
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
        assert!(results.finish(&batch).is_err());
    }
}
