//! A Salesforce object as an import's target. Rows are read and mapped as for any run, in
//! batches of 200 (what one sObject Collections call takes), and turned
//! into records checked against the object's description. A run of up to
//! `bulk_above_rows` rows (2,000 by default, as Salesforce advises) writes
//! each batch with one Collections call; a larger one writes Bulk API 2.0
//! jobs, each as many batches as fit in one 100 MB upload (six calls a job
//! and the polls). Updates and upserts read the records they change just
//! before the write (their before-images, for a rollback).
//!
//! Salesforce has no transaction to commit a batch with its checkpoint, so
//! checkpoints are events in Sluice's own log:
//!
//! 1. the batch's before-images are kept (encrypted) in the run's files;
//! 2. `run.batch_sent` records that the write is about to go (with the
//!    Bulk job's id);
//! 3. the write;
//! 4. the batch's result pieces and journal are written, and
//!    `run.progressed` records the batch as done.
//!
//! A worker that resumes a run skips the batches recorded as done. A batch
//! sent but not recorded as done is in doubt: a Bulk job is picked up by
//! its id (its results read, or, if its upload was never closed, aborted
//! and sent again); an update, upsert or delete by Collections is sent
//! again, which writes the same values (before-images come from step 1, and
//! a record an earlier attempt deleted counts as deleted); an insert by
//! Collections is not sent again, since it would create its records twice:
//! its rows are reported in errors.csv as possibly created.
//!
//! Each record's version for a rollback's conflict check is its
//! `SystemModstamp` as the write left it: read after each Collections
//! batch (one query for up to 200 records), and for a Bulk job the job's
//!
//! The org and its tokens are in `org`; a batch by Collections in
//! `collections`, by Bulk jobs in `bulk`; what is recorded once a batch is
//! written in `landing`.

use super::{Flow, Reading, Target};
use crate::results::Results;
use crate::runs::source::{Batch, Header, Mapped};
use crate::runs::{retry, JobSpec, RunCtx, Stop, Totals, Written};
use crate::SalesforceApp;
use bulk::{BulkJob, BulkPart};
use org::{close, failed, Org, Resume};
use sluice_connectors::journal;
use sluice_connectors::mapping::Plan;
use sluice_connectors::mapping::MAX_DEDUPE_KEYS;
use sluice_connectors::postgres::Checkpoint;
use sluice_connectors::salesforce::{
    self as sf, BeforeImages, Describe, LookupError, Lookups, Operation, Salesforce, Writer,
    MAX_RECORDS,
};
use sluice_events::event::RunBatchSent;
use sluice_events::DomainEvent;
use sluice_schema::ids::ConnectionId;
use sluice_schema::job::BlankValues;
use std::sync::Arc;
use zeroize::Zeroizing;

mod bulk;
mod collections;
mod landing;
pub(in crate::runs) mod org;

/// An object of a connected org, opened for a run.
pub(in crate::runs) struct OrgTarget<'a> {
    ctx: RunCtx<'a>,
    app: &'a SalesforceApp,
    org: Org,
    resume: Resume,
    operation: Operation,
    /// The object as described, until the writer is made.
    describe: Option<Describe>,
    /// Set once the source's columns are known.
    state: Option<State>,
    /// The Bulk job being filled (none: batches go by Collections).
    job: Option<BulkJob>,
}

/// What the writes need, once the source's columns are known.
struct State {
    object: String,
    writer: Writer,
    /// The lookups resolved by a query before each batch is written.
    lookups: Lookups,
    results: Arc<Results>,
    journal: Arc<journal::Columns>,
    /// The last batch recorded as done.
    checkpoint: Checkpoint,
    /// The batch an earlier attempt sent without recording it done.
    sent: Option<RunBatchSent>,
    /// Rows read so far.
    read: i64,
}

/// A run's writes under way, with what they need.
struct Writing<'w> {
    ctx: RunCtx<'w>,
    sf: &'w Salesforce,
    polling: sf::Polling,
    state: &'w mut State,
    /// API calls made by earlier attempts.
    calls_before: i64,
    written: &'w mut Written,
}

impl<'a> OrgTarget<'a> {
    /// Reaches the org of connection `id`, and reads where the run resumes.
    pub(in crate::runs) async fn open(ctx: RunCtx<'a>, id: ConnectionId) -> Result<Self, Stop> {
        let org = ctx.handler.org(ctx.account, id).await?;
        let resume = ctx.handler.resume(ctx.run).await?;
        let app = ctx
            .handler
            .salesforce
            .as_ref()
            .ok_or_else(|| Stop::Fail("Salesforce is not configured".into()))?;
        Ok(Self {
            ctx,
            app,
            org,
            resume,
            operation: Operation::Insert,
            describe: None,
            state: None,
            job: None,
        })
    }

    /// The writes under way, as a view of the target's parts.
    fn writing<'w>(&'w mut self, written: &'w mut Written) -> Result<Writing<'w>, Stop> {
        Ok(Writing {
            ctx: self.ctx,
            sf: &self.org.sf,
            polling: self.app.polling,
            state: self
                .state
                .as_mut()
                .ok_or_else(|| retry("the writes were not prepared"))?,
            calls_before: self.resume.api_calls,
            written,
        })
    }
}

impl Target for OrgTarget<'_> {
    async fn check(&mut self, job: &JobSpec) -> Result<Reading, Stop> {
        let operation = job.operation;
        let describe = self.org.sf.describe(&job.object).await.map_err(failed)?;
        // The field that names a row (none for an insert): a batch holds
        // each record once.
        let key = match operation {
            Operation::Insert => None,
            Operation::Upsert => job.key_fields.first().map(String::as_str),
            _ => Some("Id"),
        };
        let key_positions: Vec<usize> = key
            .and_then(|k| {
                job.mapping
                    .iter()
                    .position(|m| m.target.eq_ignore_ascii_case(k))
            })
            .into_iter()
            .collect();
        self.operation = operation;
        self.describe = Some(describe);
        Ok(Reading {
            mapped: Mapped {
                mapping: job.mapping.clone(),
                filter: job.filter.clone(),
                context: job.context,
                dedupe: job.dedupe.clone(),
                dedupe_cap: MAX_DEDUPE_KEYS,
                columns: Vec::new(),
                key_positions,
                looked_up: Vec::new(),
                copy_text: false,
                // Several batches fit in one Bulk upload.
                batch_bytes: (self.app.bulk_upload_bytes / 4).max(1),
                row_limit: None,
                selection: Default::default(),
            },
            batch_rows: MAX_RECORDS,
        })
    }

    fn resume_point(&self) -> Checkpoint {
        self.resume.checkpoint
    }

    async fn prepare(
        &mut self,
        job: JobSpec,
        (_, source_header): Header,
        results: Arc<Results>,
        written: &mut Written,
    ) -> Result<(), Stop> {
        let describe = self.describe.take().ok_or_else(|| retry("not described"))?;
        let misfit = |reason: String| {
            Stop::Fail(format!(
                "the mapping does not fit Salesforce's {}: {reason}",
                describe.name
            ))
        };
        let plan = Plan::new(&job.mapping, &source_header, job.context)
            .map_err(|e| Stop::Fail(format!("the mapping does not fit the file: {e}")))?;
        let lookups = match Lookups::prepare(&self.org.sf, &describe, &plan).await {
            Ok(lookups) => lookups,
            Err(LookupError::Misfit(reason)) => return Err(misfit(reason)),
            Err(LookupError::Salesforce(e)) => return Err(failed(e)),
        };
        let targets = sf::writer_targets(&describe, &plan, &lookups.positions()).map_err(misfit)?;
        let target_names: Vec<&str> = targets.iter().map(String::as_str).collect();
        let writer = Writer::new(&describe, self.operation, &target_names, &job.key_fields)
            .map_err(misfit)?
            .leaving_blanks(job.blank_values == BlankValues::Leave);
        let checkpoint = self.resume.checkpoint;
        written.results = Some(results.clone());
        written.batches = checkpoint.batch;
        written.totals = Totals {
            read: 0,
            ok: checkpoint.rows_ok,
            failed: checkpoint.rows_failed,
            skipped: 0,
        };
        self.state = Some(State {
            object: describe.name.clone(),
            writer,
            lookups,
            results,
            journal: Arc::new(journal::Columns {
                key: vec!["Id".into()],
                set: targets,
            }),
            checkpoint,
            sent: self.resume.sent.take(),
            read: 0,
        });
        Ok(())
    }

    /// A few batches are read ahead: a source of no more than
    /// `bulk_above_rows` rows is written by Collections, a larger one by
    /// Bulk jobs. The source is the same on resume, and so is the choice.
    fn read_ahead(&self) -> Option<usize> {
        Some(self.app.bulk_above_rows)
    }

    fn begin(&mut self, whole: bool) -> Result<(), Stop> {
        let state = self.state.as_ref().ok_or_else(|| retry("not prepared"))?;
        self.job = (!whole)
            .then(|| BulkJob::new(&state.writer, self.operation, self.app.bulk_upload_bytes))
            .transpose()?;
        Ok(())
    }

    fn count(&mut self, rows: i64, skipped: i64, written: &mut Written) {
        if let Some(state) = self.state.as_mut() {
            state.read += rows;
            written.totals.read = state.read;
            written.totals.skipped += skipped;
        }
    }

    async fn write(&mut self, mut batch: Batch, written: &mut Written) -> Result<Flow, Stop> {
        let (operation, limit) = (self.operation, self.app.bulk_upload_bytes);
        let mut job = self.job.take();
        let outcome = async {
            let mut writing = self.writing(written)?;
            writing.look_up(&mut batch).await?;
            match job.as_mut() {
                None => writing.collections(batch).await,
                Some(open) => {
                    let part = BulkPart::of(&writing.state.writer, batch);
                    if !open.fits(&part) {
                        let next = BulkJob::new(&writing.state.writer, operation, limit)?;
                        let full = std::mem::replace(open, next);
                        writing.bulk(full).await?;
                    }
                    open.push(part)
                }
            }
        }
        .await;
        self.job = job;
        outcome.map(|()| Flow::Go)
    }

    async fn finish(
        &mut self,
        failure: Option<Stop>,
        written: &mut Written,
    ) -> Result<Totals, Stop> {
        if let Some(open) = self.job.take().filter(|j| !j.parts.is_empty()) {
            self.writing(written)?.bulk(open).await?;
        }
        if let Some(stop) = failure {
            return Err(stop);
        }
        Ok(written.totals)
    }

    async fn close(
        mut self,
        outcome: Result<Totals, Stop>,
        written: &mut Written,
    ) -> Result<Totals, Stop> {
        let handler = self.ctx.handler;
        close(
            handler,
            &mut self.org,
            self.resume.api_calls,
            outcome,
            written,
        )
        .await
    }
}

impl Writing<'_> {
    /// Sets the fields of `batch`'s rows that Sluice looks up itself to the
    /// ids they name; a row whose value names no record (or several) is
    /// refused with the reason.
    async fn look_up(&mut self, batch: &mut Batch) -> Result<(), Stop> {
        if self.state.lookups.is_empty() {
            return Ok(());
        }
        let refused = self
            .state
            .lookups
            .resolve(self.sf, &mut batch.inserts)
            .await
            .map_err(failed)?;
        batch.refused.extend(refused);
        Ok(())
    }

    /// Whether batch `index` was sent by an earlier attempt: the record of
    /// that send.
    fn in_doubt(&self, index: i64) -> Option<RunBatchSent> {
        self.state.sent.clone().filter(|s| s.batch == index)
    }

    /// The before-images of the records with `keys`: kept by the attempt
    /// that sent the batch `first` when it is in doubt (read again only if
    /// they were lost), read now otherwise and kept until the batch is done.
    async fn before_images(
        &self,
        first: i64,
        keys: &[String],
        again: bool,
    ) -> Result<BeforeImages, Stop> {
        if again {
            let results = self.state.results.clone();
            let kept = tokio::task::spawn_blocking(move || results.read_before(first))
                .await
                .map_err(retry)?
                .map_err(retry)?;
            if let Some(kept) = kept {
                return serde_json::from_slice(&kept).map_err(retry);
            }
        }
        let images = self
            .state
            .writer
            .before_images(self.sf, keys)
            .await
            .map_err(failed)?;
        if !images.is_empty() {
            let json = Zeroizing::new(serde_json::to_vec(&images).map_err(retry)?);
            let results = self.state.results.clone();
            tokio::task::spawn_blocking(move || results.write_before(first, &json))
                .await
                .map_err(retry)?
                .map_err(|e| Stop::Retry(format!("result files: {e}")))?;
        }
        Ok(images)
    }

    /// Records that batches `first..=through` are about to be written.
    async fn sending(&mut self, first: i64, through: i64, job: Option<String>) -> Result<(), Stop> {
        let sent = RunBatchSent {
            batch: first,
            through,
            bulk_job: job,
        };
        self.ctx
            .record(DomainEvent::RunBatchSent(sent.clone()))
            .await?;
        self.state.sent = Some(sent);
        Ok(())
    }
}
