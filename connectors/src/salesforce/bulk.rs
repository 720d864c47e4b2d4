//! Bulk API 2.0 ingest, for large runs: a job is created, its records are
//! uploaded as one CSV (at most [`MAX_UPLOAD`] bytes: larger runs take
//! several jobs), the upload is closed, the job is polled with a growing
//! wait until it ends, and its successful, failed and unprocessed records
//! are read back: six calls a job, and the polls.
//!
//! Salesforce returns the results in an order of its own, each echoing the
//! columns uploaded (as the fields' types read them): `bulk_match.rs` says
//! how a result finds its input row.

pub mod batch;
mod results;

use super::{Operation, Salesforce, SalesforceError};
use batch::BulkBatch;
use results::{read_results, Kind, Matching};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

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
        mut batch: BulkBatch,
        polling: Polling,
    ) -> Result<(Vec<BulkRow>, Option<String>), SalesforceError> {
        let job = self.bulk_open(object, batch.operation, external_id).await?;
        let outcome = self.bulk_run(&job, &mut batch, polling).await?;
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

    /// Uploads `batch` to the open job `job` (its CSV is taken out: the
    /// rows stay), closes the upload, waits for the job to end and reads its
    /// results back.
    pub async fn bulk_run(
        &self,
        job: &str,
        batch: &mut BulkBatch,
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
        // Up to 100 MB, not needed again.
        drop(body);
        let close = json!({ "state": "UploadComplete" });
        self.send(|http| http.patch(&job_url).json(&close)).await?;
        self.bulk_results(&job_url, batch, polling).await
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
        let (rows, inferred) = matching.finish()?;
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
