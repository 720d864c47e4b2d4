//! Runs to a Salesforce org. Rows are read and mapped as for any run, in
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
//! own last-modified stamp, which no record it wrote is later than.

use super::org_tokens::StoredTokens;
use super::{
    read_batches, retry, Batch, Header, Input, JobSpec, Mapped, Pieces, RunHandler, Stop, Totals,
    Written,
};
use crate::results::Results;
use sluice_connectors::journal::{self, Action, Change};
use sluice_connectors::mapping::Plan;
use sluice_connectors::postgres::{self as pg, Checkpoint};
use sluice_connectors::salesforce::{
    self as sf, BeforeImages, BulkBatch, BulkRow, Operation, Salesforce, SalesforceError, Saved,
    Writer, MAX_RECORDS,
};
use sluice_connectors::tokens::ProviderTokens;
use sluice_events::event::{RunBatchSent, RunProgressed};
use sluice_events::{DomainEvent, RecordedEvent};
use sluice_schema::ids::{AccountId, ConnectionId, RunId};
use sluice_schema::repo::connections;
use sluice_vault::{owner, Sealed};
use std::collections::VecDeque;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Why an insert batch in doubt is not sent again.
const IN_DOUBT: &str = "the worker stopped while this row was being written to Salesforce, so \
                        it may or may not have been created: look for it before importing it again";

/// A connected org, opened for a run.
pub(super) struct Org {
    pub sf: Salesforce,
}

/// Where a run to Salesforce resumes: its last checkpoint, the API calls
/// made before it, and the batch it had sent without recording it done.
#[derive(Default)]
pub(super) struct Resume {
    pub checkpoint: Checkpoint,
    pub api_calls: i64,
    pub sent: Option<RunBatchSent>,
}

/// A Salesforce call failed: the run ends with its message (which holds no
/// record's values).
pub(super) fn failed(e: SalesforceError) -> Stop {
    Stop::Fail(e.to_string())
}

impl RunHandler {
    /// Opens the org of a Salesforce connection with its sealed tokens.
    pub(super) async fn org(&self, account: AccountId, id: ConnectionId) -> Result<Org, Stop> {
        let salesforce = self.salesforce.as_ref().ok_or_else(|| {
            Stop::Fail(
                "this deployment has no Salesforce connected app configured \
                 (SLUICE_SALESFORCE_CLIENT_ID), so runs cannot reach Salesforce"
                    .into(),
            )
        })?;
        let row = self
            .opened_connection(account, id)
            .await?
            .ok_or_else(|| Stop::Fail("the target connection was disconnected".into()))?;
        let sealed = self
            .db(move |c| connections::secret(c, account, id))
            .await?
            .ok_or_else(|| Stop::Fail("the target connection's secret is gone".into()))?;
        let sealed = Sealed(sealed);
        let plain = self
            .keyring
            .with(|k| k.open(&sealed, &owner::connection_secret(account, id)))
            .map_err(|e| Stop::Retry(format!("connection secret: {e}")))?;
        let plain = Zeroizing::new(plain);
        let tokens: ProviderTokens = serde_json::from_slice(&plain).map_err(|_| {
            Stop::Fail(
                "the target connection's tokens cannot be read: connect the org again".into(),
            )
        })?;
        let backoff = salesforce.backoff;
        let app = sf::App {
            login_url: &salesforce.login_url,
            client_id: &salesforce.client_id,
            client_secret: &salesforce.client_secret,
        };
        let stored = StoredTokens {
            pool: self.platform.pool.clone(),
            keyring: self.keyring.clone(),
            http: self.http.clone(),
            app: salesforce.clone(),
            login_url: row.params["login_url"].as_str().map(str::to_owned),
            account,
            id,
        };
        let sf = Salesforce::of_connection(self.http.clone(), &row.params, &tokens, Some(app))
            .ok_or_else(|| Stop::Fail("the target connection names no Salesforce instance".into()))?
            .with_renewal(Box::new(stored))
            .with_backoff(backoff);
        Ok(Org { sf })
    }

    /// Nothing to keep after a run: a renewal seals its tokens as it
    /// renews them (see `org_tokens`).
    pub(super) async fn keep_tokens(&self, _org: &mut Org) -> Result<(), Stop> {
        Ok(())
    }

    /// Where a run to Salesforce resumes, from its events.
    pub(super) async fn resume(&self, run: RunId) -> Result<Resume, Stop> {
        use diesel::prelude::*;
        use sluice_schema::schema::events;
        let rows: Vec<(i64, String, serde_json::Value)> = self
            .db(move |c| {
                events::table
                    .filter(events::stream_type.eq("run"))
                    .filter(events::stream_id.eq(run.0))
                    .filter(events::event_type.eq_any(["run.progressed", "run.batch_sent"]))
                    .order(events::stream_version.asc())
                    .select((events::global_seq, events::event_type, events::payload))
                    .load(c)
            })
            .await?;
        let mut resume = Resume::default();
        for (seq, kind, payload) in rows {
            match DomainEvent::from_columns(seq, &kind, &payload).map_err(retry)? {
                DomainEvent::RunProgressed(done) => {
                    resume.checkpoint = Checkpoint {
                        batch: done.batch,
                        rows_ok: done.rows_ok,
                        rows_failed: done.rows_failed,
                    };
                    resume.api_calls = done.api_calls.unwrap_or(resume.api_calls);
                    resume.sent = resume.sent.filter(|s| s.batch > done.batch);
                }
                DomainEvent::RunBatchSent(sent) => resume.sent = Some(sent),
                _ => {}
            }
        }
        Ok(resume)
    }

    /// An import run to a Salesforce org.
    pub(super) async fn to_salesforce(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        written: &mut Written,
        account: AccountId,
        spec: JobSpec,
        input: Input,
    ) -> Result<Totals, Stop> {
        let mut org = self.org(account, spec.connection).await?;
        let resume = self.resume(run).await?;
        let before = resume.api_calls;
        let outcome = self
            .import_to_org(cause, run, written, account, spec, input, &org, resume)
            .await;
        written.api_calls = Some(before + calls(&org.sf));
        let kept = self.keep_tokens(&mut org).await;
        let totals = outcome?;
        kept?;
        Ok(totals)
    }

    #[allow(clippy::too_many_arguments)]
    async fn import_to_org(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        written: &mut Written,
        account: AccountId,
        spec: JobSpec,
        input: Input,
        org: &Org,
        resume: Resume,
    ) -> Result<Totals, Stop> {
        let app = self
            .salesforce
            .as_ref()
            .ok_or_else(|| Stop::Fail("Salesforce is not configured".into()))?;
        let operation = Operation::from(spec.operation);
        let describe = org.sf.describe(&spec.object).await.map_err(failed)?;
        // The field that names a row (none for an insert): a batch holds
        // each record once.
        let key = match operation {
            Operation::Insert => None,
            Operation::Upsert => spec.key_fields.first().map(String::as_str),
            _ => Some("Id"),
        };
        let key_positions: Vec<usize> = key
            .and_then(|k| {
                spec.mapping
                    .iter()
                    .position(|m| m.target.eq_ignore_ascii_case(k))
            })
            .into_iter()
            .collect();
        let result_key = self.result_key(account, run).await?;
        let row_limit = self.allowance(account, run).await?;
        self.started(cause, run, account, resume.checkpoint).await?;

        let (batches, mut inbox) = tokio::sync::mpsc::channel::<Result<Batch, String>>(2);
        let (header_tx, header_rx) = tokio::sync::oneshot::channel::<Result<Header, String>>();
        let mapping = spec.mapping.clone();
        // Several batches fit in one Bulk upload.
        let batch_bytes = (app.bulk_upload_bytes / 4).max(1);
        let reading = tokio::task::spawn_blocking(move || {
            read_batches(
                input,
                Mapped {
                    mapping,
                    columns: Vec::new(),
                    key_positions,
                    looked_up: Vec::new(),
                    copy_text: false,
                    batch_bytes,
                    row_limit,
                },
                MAX_RECORDS,
                header_tx,
                batches,
            )
        });
        let (_, source_header) = match header_rx.await {
            Ok(Ok(header)) => header,
            Ok(Err(reason)) => return Err(Stop::Fail(reason)),
            Err(_) => return Err(Stop::Fail("the source could not be read".into())),
        };
        let misfit = |reason: String| {
            Stop::Fail(format!(
                "the mapping does not fit Salesforce's {}: {reason}",
                describe.name
            ))
        };
        let plan = Plan::new(&spec.mapping, &source_header)
            .map_err(|e| Stop::Fail(format!("the mapping does not fit the file: {e}")))?;
        let targets = sf::writer_targets(&describe, &plan).map_err(misfit)?;
        let target_names: Vec<&str> = targets.iter().map(String::as_str).collect();
        let writer =
            Writer::new(&describe, operation, &target_names, &spec.key_fields).map_err(misfit)?;
        let results = self.results(result_key, account, run, source_header);
        written.results = Some(results.clone());
        written.batches = resume.checkpoint.batch;
        written.totals = Totals {
            read: 0,
            ok: resume.checkpoint.rows_ok,
            failed: resume.checkpoint.rows_failed,
        };

        // A few batches are read ahead: a source of no more than
        // `bulk_above_rows` rows is written by Collections, a larger one by
        // Bulk jobs. The source is the same on resume, and so is the choice.
        let mut ahead: VecDeque<Batch> = VecDeque::new();
        let mut seen = 0usize;
        let mut ended = false;
        let mut failure: Option<Stop> = None;
        while seen <= app.bulk_above_rows {
            match inbox.recv().await {
                Some(Ok(batch)) => {
                    seen += batch.read as usize;
                    ahead.push_back(batch);
                }
                Some(Err(reason)) => {
                    failure = Some(Stop::Fail(reason));
                    ended = true;
                    break;
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let mut writing = Writing {
            handler: self,
            cause,
            account,
            run,
            sf: &org.sf,
            polling: app.polling,
            object: describe.name.clone(),
            writer,
            results,
            journal: Arc::new(journal::Columns {
                key: vec!["Id".into()],
                set: targets.clone(),
            }),
            checkpoint: resume.checkpoint,
            sent: resume.sent,
            calls_before: resume.api_calls,
            read: 0,
            written,
        };
        let bulk = !ended;
        let mut job = bulk
            .then(|| BulkJob::new(&writing.writer, operation, app.bulk_upload_bytes))
            .transpose()?;
        loop {
            let batch = match ahead.pop_front() {
                Some(batch) => batch,
                None if failure.is_some() => break,
                None => match inbox.recv().await {
                    Some(Ok(batch)) => batch,
                    Some(Err(reason)) => {
                        failure = Some(Stop::Fail(reason));
                        break;
                    }
                    None => break,
                },
            };
            writing.read += batch.read;
            writing.written.totals.read = writing.read;
            if batch.index <= writing.checkpoint.batch {
                continue;
            }
            match job.as_mut() {
                None => writing.collections(batch).await?,
                Some(open) => {
                    let part = BulkPart::of(&writing.writer, batch);
                    if !open.fits(&part) {
                        let next = BulkJob::new(&writing.writer, operation, app.bulk_upload_bytes)?;
                        let full = std::mem::replace(open, next);
                        writing.bulk(full).await?;
                    }
                    open.push(part)?;
                }
            }
        }
        if let Some(open) = job.take().filter(|j| !j.parts.is_empty()) {
            writing.bulk(open).await?;
        }
        if let Some(stop) = failure {
            return Err(stop);
        }
        reading.await.map_err(retry)?;
        Ok(writing.written.totals)
    }
}

/// The calls `sf` made, as events count them.
pub(super) fn calls(sf: &Salesforce) -> i64 {
    i64::try_from(sf.api_calls()).unwrap_or(i64::MAX)
}

/// A run's writes under way, with what they need.
struct Writing<'a> {
    handler: &'a RunHandler,
    cause: &'a RecordedEvent,
    account: AccountId,
    run: RunId,
    sf: &'a Salesforce,
    polling: sf::Polling,
    object: String,
    writer: Writer,
    results: Arc<Results>,
    journal: Arc<journal::Columns>,
    /// The last batch recorded as done.
    checkpoint: Checkpoint,
    /// The batch an earlier attempt sent without recording it done.
    sent: Option<RunBatchSent>,
    /// API calls made by earlier attempts.
    calls_before: i64,
    /// Rows read so far.
    read: i64,
    written: &'a mut Written,
}

/// What became of one batch's rows.
struct Landed {
    index: i64,
    raw: crate::results::SourceRows,
    /// Rows that failed before the write, and those Salesforce refused.
    failed: Vec<(u64, String)>,
    saved: Vec<Saved>,
}

impl Writing<'_> {
    /// Whether batch `index` was sent by an earlier attempt: the record of
    /// that send.
    fn in_doubt(&self, index: i64) -> Option<RunBatchSent> {
        self.sent.clone().filter(|s| s.batch == index)
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
            let results = self.results.clone();
            let kept = tokio::task::spawn_blocking(move || results.read_before(first))
                .await
                .map_err(retry)?
                .map_err(retry)?;
            if let Some(kept) = kept {
                return serde_json::from_slice(&kept).map_err(retry);
            }
        }
        let images = self
            .writer
            .before_images(self.sf, keys)
            .await
            .map_err(failed)?;
        if !images.is_empty() {
            let json = Zeroizing::new(serde_json::to_vec(&images).map_err(retry)?);
            let results = self.results.clone();
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
        self.handler
            .record(
                self.cause,
                self.account,
                self.run,
                DomainEvent::RunBatchSent(sent.clone()),
            )
            .await?;
        self.sent = Some(sent);
        Ok(())
    }

    /// Writes one batch with sObject Collections.
    async fn collections(&mut self, batch: Batch) -> Result<(), Stop> {
        let Batch {
            index,
            raw,
            inserts,
            mut refused,
            ..
        } = batch;
        let rows: Vec<(u64, Vec<Option<String>>)> =
            inserts.into_iter().map(|i| (i.number, i.values)).collect();
        let mut prepared = self.writer.prepare(&rows);
        refused.append(&mut prepared.failed);
        let again = self.in_doubt(index).is_some();
        let mut stopped = None;
        let done = if prepared.is_empty() {
            sf::Written::default()
        } else if again && self.writer.operation() == Operation::Insert {
            refused.extend(
                prepared
                    .numbers()
                    .into_iter()
                    .map(|n| (n, IN_DOUBT.to_owned())),
            );
            sf::Written::default()
        } else {
            prepared.before = self.before_images(index, &prepared.keys(), again).await?;
            if !again {
                self.sending(index, index, None).await?;
            }
            let numbers = prepared.numbers();
            match self.writer.send(self.sf, prepared, again).await {
                Ok(done) => done,
                // No answer: the records may have been written.
                Err(e @ SalesforceError::Unreachable(_)) => {
                    let reason = "Salesforce did not answer while this row was being written, so \
                                  it may or may not have been: look for it before importing it \
                                  again";
                    refused.extend(numbers.into_iter().map(|n| (n, reason.to_owned())));
                    stopped = Some(failed(e));
                    sf::Written::default()
                }
                Err(e) => return Err(failed(e)),
            }
        };
        refused.extend(done.failed);
        let ids: Vec<String> = done
            .saved
            .iter()
            .filter(|s| s.action != Action::Deleted)
            .map(|s| s.id.clone())
            .collect();
        // Without the versions the batch is still recorded; a rollback then
        // treats its records as changed since (and leaves them, unless forced).
        let versions = match self.writer.versions(self.sf, &ids).await {
            Ok(versions) => versions,
            Err(e) => {
                stopped.get_or_insert(failed(e));
                Default::default()
            }
        };
        let landed = Landed {
            index,
            raw,
            failed: refused,
            saved: done.saved,
        };
        self.land(vec![landed], |id| {
            versions.get(id).cloned().unwrap_or_default()
        })
        .await?;
        self.done(index, index).await?;
        stopped.map_or(Ok(()), Err)
    }

    /// Writes a Bulk job's batches.
    async fn bulk(&mut self, job: BulkJob) -> Result<(), Stop> {
        let BulkJob {
            batch, rows, parts, ..
        } = job;
        let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
            return Ok(());
        };
        let (first, last) = (first.index, last.index);
        let mut landed: Vec<Landed> = parts
            .into_iter()
            .map(|part| Landed {
                index: part.index,
                raw: part.raw,
                failed: part.refused,
                saved: Vec::new(),
            })
            .collect();
        let mut version = String::new();
        let mut failure = None;
        if !batch.is_empty() {
            let doubt = self.in_doubt(first);
            let keys: Vec<String> = rows.iter().filter_map(|r| r.key.clone()).collect();
            let before = self.before_images(first, &keys, doubt.is_some()).await?;
            let resumed = match doubt.and_then(|d| d.bulk_job) {
                Some(job) => match self.sf.bulk_resume(&job, &batch, self.polling).await {
                    Ok(outcome) => outcome,
                    Err(e) => return self.lost(landed, rows, &job, first, last, e).await,
                },
                None => None,
            };
            let outcome = match resumed {
                Some(outcome) => outcome,
                None => {
                    let external = match self.writer.operation() {
                        Operation::Upsert => self.writer.key_field(),
                        _ => None,
                    };
                    let job = self
                        .sf
                        .bulk_open(&self.object, self.writer.operation(), external)
                        .await
                        .map_err(failed)?;
                    self.sending(first, last, Some(job.clone())).await?;
                    match self.sf.bulk_run(&job, batch, self.polling).await {
                        Ok(outcome) => outcome,
                        Err(e) => return self.lost(landed, rows, &job, first, last, e).await,
                    }
                }
            };
            version = outcome.finished_at.unwrap_or_default();
            if outcome.inferred > 0 {
                tracing::info!(
                    run = %self.run,
                    matched = outcome.inferred,
                    "Bulk results matched to rows by key or likeness: Salesforce echoed their values differently"
                );
            }
            for (row, result) in rows.into_iter().zip(outcome.rows) {
                let part = &mut landed[row.part];
                match result {
                    BulkRow::Saved { id, created } => part.saved.push(Saved {
                        wrote: row.wrote,
                        ..self.writer.saved(
                            row.number,
                            id,
                            row.key.as_deref(),
                            Some(created),
                            &before,
                        )
                    }),
                    BulkRow::Failed(reason) => part.failed.push((row.number, reason)),
                    BulkRow::Unprocessed => part.failed.push((
                        row.number,
                        "Salesforce did not process this row: the Bulk job ended before it".into(),
                    )),
                }
            }
            failure = outcome.failure;
        }
        self.land(landed, |_| version.clone()).await?;
        self.done(first, last).await?;
        match failure {
            Some(reason) => Err(Stop::Fail(format!(
                "the Salesforce Bulk job ended early: {}",
                sf::without_values("", &reason)
            ))),
            None => Ok(()),
        }
    }

    /// A Bulk job's outcome cannot be known (Salesforce stopped answering,
    /// or the org's request limit was reached, after the upload went): its
    /// rows are reported as such, naming the job, and the run ends.
    async fn lost(
        &mut self,
        mut landed: Vec<Landed>,
        rows: Vec<BulkInput>,
        job: &str,
        first: i64,
        last: i64,
        error: SalesforceError,
    ) -> Result<(), Stop> {
        let reason = format!(
            "the run stopped while Salesforce's Bulk job {job} was writing this row, so its \
             outcome is unknown: look the job up in Salesforce (Bulk Data Load Jobs)"
        );
        for row in rows {
            landed[row.part].failed.push((row.number, reason.clone()));
        }
        self.land(landed, |_| String::new()).await?;
        self.done(first, last).await?;
        Err(failed(error))
    }

    /// Writes the result pieces and journal of batches written, and counts
    /// their rows.
    async fn land(
        &mut self,
        batches: Vec<Landed>,
        version: impl Fn(&str) -> String,
    ) -> Result<(), Stop> {
        for mut batch in batches {
            batch.failed.sort_by_key(|(n, _)| *n);
            batch.saved.sort_by_key(|s| s.number);
            let done = pg::Written {
                ok: batch
                    .saved
                    .iter()
                    .map(|s| Change {
                        number: s.number,
                        action: s.action,
                        key: vec![s.id.clone()],
                        version: match s.action {
                            Action::Deleted => String::new(),
                            _ => version(&s.id),
                        },
                        before: s
                            .before
                            .as_ref()
                            .and_then(|b| serde_json::to_string(b).ok()),
                        wrote: Some(s.wrote.clone()).filter(|w| !w.is_empty()),
                    })
                    .collect(),
                failed: batch.failed,
            };
            let totals = &mut self.written.totals;
            totals.ok += done.ok.len() as i64;
            totals.failed += done.failed.len() as i64;
            let pieces = Pieces {
                index: batch.index,
                raw: batch.raw,
                refused: Vec::new(),
                results: self.results.clone(),
                journal: self.journal.clone(),
            };
            tokio::task::spawn_blocking(move || pieces.write(&done))
                .await
                .map_err(retry)?
                .map_err(Stop::Retry)?;
            self.written.batches = batch.index;
        }
        Ok(())
    }

    /// Records batches `first..=last` as done.
    async fn done(&mut self, first: i64, last: i64) -> Result<(), Stop> {
        let totals = self.written.totals;
        let calls = self.calls_before + calls(self.sf);
        self.handler
            .record(
                self.cause,
                self.account,
                self.run,
                DomainEvent::RunProgressed(RunProgressed {
                    batch: last,
                    rows_read: self.read,
                    rows_ok: totals.ok,
                    rows_failed: totals.failed,
                    api_calls: Some(calls),
                }),
            )
            .await?;
        crate::crash::at(crate::crash::Phase::BatchCommitted);
        self.checkpoint = Checkpoint {
            batch: last,
            rows_ok: totals.ok,
            rows_failed: totals.failed,
        };
        let results = self.results.clone();
        tokio::task::spawn_blocking(move || results.remove_before(first))
            .await
            .map_err(retry)?
            .map_err(retry)
    }
}

/// One input row of a Bulk job.
struct BulkInput {
    number: u64,
    key: Option<String>,
    /// What its cells send to each field, as the journal keeps it.
    wrote: Vec<serde_json::Value>,
    /// Its batch, among the job's.
    part: usize,
}

/// A row's number, key value, Bulk cells, and what they send (as the
/// journal keeps it).
type BulkCells = (
    u64,
    Option<String>,
    Vec<Option<String>>,
    Vec<serde_json::Value>,
);

/// A batch's rows as Bulk cells.
struct BulkPart {
    index: i64,
    raw: crate::results::SourceRows,
    refused: Vec<(u64, String)>,
    cells: Vec<BulkCells>,
}

impl BulkPart {
    fn of(writer: &Writer, batch: Batch) -> Self {
        let mut refused = batch.refused;
        let mut cells = Vec::with_capacity(batch.inserts.len());
        for row in batch.inserts {
            match writer.bulk_values(&row.values) {
                Ok(values) => {
                    let wrote = writer.bulk_wrote(&values);
                    cells.push((row.number, writer.key_of(&row.values), values, wrote))
                }
                Err(reason) => refused.push((row.number, reason)),
            }
        }
        Self {
            index: batch.index,
            raw: batch.raw,
            refused,
            cells,
        }
    }
}

/// A Bulk job being filled: its upload, its rows, and the batches they are
/// from.
struct BulkJob {
    batch: BulkBatch,
    rows: Vec<BulkInput>,
    parts: Vec<BulkPart>,
}

impl BulkJob {
    fn new(writer: &Writer, operation: Operation, limit: usize) -> Result<Self, Stop> {
        Ok(Self {
            batch: BulkBatch::with_limit(operation, &writer.bulk_header(), limit)
                .map_err(failed)?
                .keyed_by(writer.key_field()),
            rows: Vec::new(),
            parts: Vec::new(),
        })
    }

    /// Whether the batch's rows fit in this job's upload (an empty job
    /// takes any batch).
    fn fits(&self, part: &BulkPart) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        self.batch
            .fits(part.cells.iter().map(|(_, _, cells, _)| cells.as_slice()))
    }

    fn push(&mut self, mut part: BulkPart) -> Result<(), Stop> {
        let at = self.parts.len();
        for (number, key, values, wrote) in std::mem::take(&mut part.cells) {
            let cells: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            if self.batch.push(&cells).map_err(failed)? {
                self.rows.push(BulkInput {
                    number,
                    key,
                    wrote,
                    part: at,
                });
            } else {
                part.refused.push((
                    number,
                    "the row is larger than a Bulk upload takes (100 MB)".into(),
                ));
            }
        }
        self.parts.push(part);
        Ok(())
    }
}
