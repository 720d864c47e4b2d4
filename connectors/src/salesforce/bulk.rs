//! Bulk API 2.0 ingest, for large runs: a job is created, its records are
//! uploaded as one CSV (at most [`MAX_UPLOAD`] bytes: larger runs take
//! several jobs), the upload is closed, the job is polled with a growing
//! wait until it ends, and its successful, failed and unprocessed records
//! are read back: six calls a job, and the polls.
//!
//! Salesforce returns the results in an order of its own, each echoing the
//! columns uploaded (as the fields' types read them): `bulk_match.rs` says
//! how a result finds its input row.

use super::bulk_match::match_results;
use super::{Operation, Salesforce, SalesforceError};
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// The most CSV one job takes (Salesforce allows 150 MB once encoded).
pub const MAX_UPLOAD: usize = 100 * 1024 * 1024;

/// What Bulk API 2.0 writes for "set this field to null".
const NULL: &str = "#N/A";

/// One job's records, as CSV.
pub struct BulkBatch {
    operation: Operation,
    columns: usize,
    csv: csv::Writer<Vec<u8>>,
    /// Each row's values as uploaded, to match results back.
    rows: Vec<Vec<String>>,
    /// The column that names a row's record, and whether it holds record
    /// ids (see [`BulkBatch::keyed_by`]).
    key: Option<(usize, bool)>,
    header: Vec<String>,
    /// The CSV's size so far, at most (quoting included).
    size: usize,
    limit: usize,
}

/// What became of one input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkRow {
    Saved {
        id: String,
        created: bool,
    },
    Failed(String),
    /// The job ended (failed or aborted) before reaching the row.
    Unprocessed,
}

/// How a job is polled: the first wait, doubled after each poll up to
/// `longest`, for at most `give_up_after` in all.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub first: Duration,
    pub longest: Duration,
    pub give_up_after: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            longest: Duration::from_secs(30),
            give_up_after: Duration::from_secs(6 * 3600),
        }
    }
}

impl BulkBatch {
    /// A batch of records with the CSV `header` (field names; a reference
    /// set by an external id as `Account.External_Id__c`).
    pub fn new(operation: Operation, header: &[String]) -> Result<Self, SalesforceError> {
        Self::with_limit(operation, header, MAX_UPLOAD)
    }

    pub fn with_limit(
        operation: Operation,
        header: &[String],
        limit: usize,
    ) -> Result<Self, SalesforceError> {
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        csv.write_record(header).map_err(unwritable)?;
        Ok(Self {
            operation,
            columns: header.len(),
            csv,
            rows: Vec::new(),
            key: None,
            header: header.to_vec(),
            size: csv_size(header),
            limit,
        })
    }

    /// Names the column (by its header) that identifies each row's record:
    /// `Id` for an update or a delete, the external id for an upsert. A
    /// result whose other values Salesforce echoes differently from the
    /// upload is then matched by it.
    pub fn keyed_by(mut self, column: Option<&str>) -> Self {
        self.key = column.and_then(|name| {
            let at = self
                .header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))?;
            Some((at, name.eq_ignore_ascii_case("Id")))
        });
        self
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A value as the upload writes it.
    fn cell(&self, value: Option<&str>) -> String {
        match value {
            Some(text) => text.to_owned(),
            // An insert leaves a field without a value unset; other
            // writes clear it.
            None if self.operation == Operation::Insert => String::new(),
            None => NULL.to_owned(),
        }
    }

    /// Whether `rows` (one value a column each) fit in the upload with
    /// what it holds.
    pub fn fits<'a>(&self, rows: impl IntoIterator<Item = &'a [Option<String>]>) -> bool {
        let size: usize = rows
            .into_iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .take(self.columns)
                    .map(|v| self.cell(v.as_deref()))
                    .collect();
                csv_size(&cells)
            })
            .sum();
        self.size + size <= self.limit
    }

    /// Adds a row (one value a column, `None` for no value); false, and
    /// nothing added, when the row would take the upload past its limit.
    pub fn push(&mut self, values: &[Option<&str>]) -> Result<bool, SalesforceError> {
        let row: Vec<String> = values
            .iter()
            .take(self.columns)
            .map(|v| self.cell(*v))
            .collect();
        let size = csv_size(&row);
        if !self.rows.is_empty() && self.size + size > self.limit {
            return Ok(false);
        }
        self.csv.write_record(&row).map_err(unwritable)?;
        self.size += size;
        self.rows.push(row);
        Ok(true)
    }

    /// The CSV written, taken out of the batch (up to 100 MB: not copied).
    fn body(&mut self) -> Result<Vec<u8>, SalesforceError> {
        let taken = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::new()));
        taken.into_inner().map_err(|e| unwritable(e.error()))
    }
}

/// A record's size in CSV, at most: each value quoted, its quotes doubled,
/// a separator after each.
fn csv_size(values: &[String]) -> usize {
    values
        .iter()
        .map(|v| v.len() + 3 + v.bytes().filter(|b| *b == b'"').count())
        .sum()
}

fn unwritable(e: impl std::fmt::Display) -> SalesforceError {
    SalesforceError::Unreachable(format!("the upload could not be written: {e}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobInfo {
    id: String,
    state: String,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    system_modstamp: Option<String>,
}

/// How a Bulk job ended: the outcome of each input row, in input order;
/// the job's error if it ended without completing; and the job's last
/// modification stamp in the org's clock (no record the job wrote was
/// modified after it).
#[derive(Debug)]
pub struct BulkOutcome {
    pub rows: Vec<BulkRow>,
    pub failure: Option<String>,
    pub finished_at: Option<String>,
    /// Results matched to their rows by the row's key or by likeness, not
    /// by the values echoed (see `bulk_match.rs`).
    pub inferred: usize,
}

impl Salesforce {
    /// Runs one Bulk job over `batch`'s records of `object` (the batch is
    /// spent): the outcome of each input row, in input order, and the job's
    /// error if it ended without completing.
    pub async fn bulk(
        &self,
        object: &str,
        external_id: Option<&str>,
        batch: BulkBatch,
        polling: Polling,
    ) -> Result<(Vec<BulkRow>, Option<String>), SalesforceError> {
        let job = self.bulk_open(object, batch.operation, external_id).await?;
        let outcome = self.bulk_run(&job, batch, polling).await?;
        Ok((outcome.rows, outcome.failure))
    }

    /// Creates a Bulk ingest job for `operation` on `object` (an upsert
    /// matches on `external_id`); its id.
    pub async fn bulk_open(
        &self,
        object: &str,
        operation: Operation,
        external_id: Option<&str>,
    ) -> Result<String, SalesforceError> {
        let name = match operation {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Upsert => "upsert",
            Operation::Delete => "delete",
        };
        let mut spec = json!({
            "object": object,
            "operation": name,
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        });
        if let (Operation::Upsert, Some(key)) = (operation, external_id) {
            spec["externalIdFieldName"] = json!(key);
        }
        let url = self.url("/jobs/ingest");
        let job: JobInfo = Self::json(self.send(|http| http.post(&url).json(&spec)).await?).await?;
        Ok(job.id)
    }

    /// Uploads `batch` to the open job `job`, closes the upload, waits for
    /// the job to end and reads its results back.
    pub async fn bulk_run(
        &self,
        job: &str,
        mut batch: BulkBatch,
        polling: Polling,
    ) -> Result<BulkOutcome, SalesforceError> {
        let job_url = self.url(&format!("/jobs/ingest/{job}"));
        let body = bytes::Bytes::from(batch.body()?);
        let batches = format!("{job_url}/batches");
        self.send(|http| {
            http.put(&batches)
                .header("Content-Type", "text/csv")
                .body(body.clone())
        })
        .await?;
        let close = json!({ "state": "UploadComplete" });
        self.send(|http| http.patch(&job_url).json(&close)).await?;
        self.bulk_results(&job_url, &batch, polling).await
    }

    /// Picks up a job an earlier attempt created for `batch` (the same
    /// rows): if its upload was not closed, Salesforce has not started on
    /// it; the job is aborted and `None` says the batch is still to write.
    /// Otherwise the job is waited for and its results read.
    pub async fn bulk_resume(
        &self,
        job: &str,
        batch: &BulkBatch,
        polling: Polling,
    ) -> Result<Option<BulkOutcome>, SalesforceError> {
        let job_url = self.url(&format!("/jobs/ingest/{job}"));
        let info: JobInfo = Self::json(self.send(|http| http.get(&job_url)).await?).await?;
        if info.state == "Open" {
            let abort = json!({ "state": "Aborted" });
            self.send(|http| http.patch(&job_url).json(&abort)).await?;
            return Ok(None);
        }
        self.bulk_results(&job_url, batch, polling).await.map(Some)
    }

    /// Waits for a job whose upload is closed and reads its results.
    async fn bulk_results(
        &self,
        job_url: &str,
        batch: &BulkBatch,
        polling: Polling,
    ) -> Result<BulkOutcome, SalesforceError> {
        let ended = self.wait(job_url, polling).await?;
        let failure = match ended.state.as_str() {
            "JobComplete" => None,
            state => Some(
                ended
                    .error_message
                    .clone()
                    .unwrap_or_else(|| format!("the job ended as {state}")),
            ),
        };
        let mut matching = Matching::new(batch);
        for (path, kind) in [
            ("successfulResults", Kind::Saved),
            ("failedResults", Kind::Failed),
            ("unprocessedrecords", Kind::Unprocessed),
        ] {
            let url = format!("{job_url}/{path}/");
            let text = self
                .send(|http| http.get(&url))
                .await?
                .bytes()
                .await
                .map_err(|e| {
                    SalesforceError::Unreachable(format!(
                        "a result file was cut short: {}",
                        e.without_url()
                    ))
                })?;
            read_results(&text, kind, batch.columns, &mut matching)?;
        }
        let (rows, inferred) = matching.finish(batch)?;
        Ok(BulkOutcome {
            rows,
            failure,
            finished_at: ended.system_modstamp,
            inferred,
        })
    }

    /// Polls the job, waiting longer each time, until it ends.
    async fn wait(&self, job_url: &str, polling: Polling) -> Result<JobInfo, SalesforceError> {
        let started = tokio::time::Instant::now();
        let mut wait = polling.first;
        loop {
            tokio::time::sleep(wait).await;
            let job: JobInfo = Self::json(self.send(|http| http.get(job_url)).await?).await?;
            if matches!(job.state.as_str(), "JobComplete" | "Failed" | "Aborted") {
                return Ok(job);
            }
            if started.elapsed() > polling.give_up_after {
                return Err(SalesforceError::Unreachable(format!(
                    "the Bulk job {} did not end within {} minutes",
                    job.id,
                    polling.give_up_after.as_secs() / 60
                )));
            }
            wait = (wait * 2).min(polling.longest);
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Saved,
    Failed,
    Unprocessed,
}

/// Results being matched to a batch's rows. A result that echoes a row's
/// values exactly (the common case) takes that row at once; the others wait
/// for [`Matching::finish`], which matches them as `bulk_match.rs` says.
struct Matching<'a> {
    waiting: HashMap<&'a [String], VecDeque<usize>>,
    rows: Vec<Option<BulkRow>>,
    /// Results not matched yet, with the values they echo.
    left: Vec<(BulkRow, Vec<String>)>,
}

impl<'a> Matching<'a> {
    fn new(batch: &'a BulkBatch) -> Self {
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
    fn finish(self, batch: &BulkBatch) -> Result<(Vec<BulkRow>, usize), SalesforceError> {
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
fn read_results(
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

    #[test]
    fn a_batch_stops_at_its_limit_and_writes_nulls_as_bulk_wants() {
        let header = ["LastName".to_owned(), "Email".to_owned()];
        let mut batch = BulkBatch::with_limit(Operation::Update, &header, 40).unwrap();
        assert!(batch.push(&[Some("Ada"), None]).unwrap());
        assert!(!batch
            .push(&[Some("Bob with a long name"), Some("b@example.com")])
            .unwrap());
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.body().unwrap(), b"LastName,Email\nAda,#N/A\n");
    }
}
