//! An import run, from its source to its target, knowing neither: the
//! source's rows are read, mapped and checked on a blocking thread a
//! couple of batches ahead of the writes (`source::batches`), and each
//! batch is handed to the target (`target`), which writes it with its
//! result pieces and journal, checkpointed so that a run resumed by
//! another worker skips the batches already written.
//!
//! How a CSV row becomes a PostgreSQL row, in three files:
//! `source/upload.rs` (the upload decrypted and read as CSV),
//! `source/batches.rs` (the row mapped, checked against the table's
//! columns, gathered into a batch) and `target/postgres.rs` (the batch
//! written with COPY or by key, committed with its checkpoint, through
//! `sluice_connectors::postgres::Writer`).

use super::job::formula_context;
use super::source::selection::Selection;
use super::source::{read_batches, Batch, Input};
use super::target::postgres::TableTarget;
use super::target::salesforce::OrgTarget;
use super::target::{Flow, Target};
use super::{command, retry, JobSpec, RunCtx, RunHandler, Stop, Totals, Written};
use sluice_events::RecordedEvent;
use sluice_schema::ids::{JobId, RunId};
use sluice_schema::job::Keep;
use sluice_schema::kinds::ConnectionKind;
use std::collections::VecDeque;

/// A batch as the reading thread sends it, or why reading stopped.
type Sent = Result<Batch, String>;

impl RunHandler {
    /// Runs the import job of `cause` to its target.
    pub(super) async fn execute(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        written: &mut Written,
    ) -> Result<Totals, Stop> {
        let (account, requested) = command(cause)?;
        let context = formula_context(cause);
        let job = self.job(account, JobId(requested.job_id), context).await?;
        let (input, selection) = self.rows_of(account, requested, &job.source).await?;
        let ctx = RunCtx {
            handler: self,
            cause,
            account,
            run,
        };
        if self.target_kind(account, job.connection).await? == ConnectionKind::Salesforce {
            let target = OrgTarget::open(ctx, job.connection).await?;
            return import(ctx, target, job, (input, selection), written).await;
        }
        let target = TableTarget::open(ctx, job.connection).await?;
        import(ctx, target, job, (input, selection), written).await
    }
}

/// Imports the rows of `input` its selection takes into `target`, which is
/// closed after, however it went.
async fn import<T: Target>(
    ctx: RunCtx<'_>,
    mut target: T,
    job: JobSpec,
    input: (Input, Selection),
    written: &mut Written,
) -> Result<Totals, Stop> {
    let outcome = write_all(ctx, &mut target, job, input, written).await;
    target.close(outcome, written).await
}

async fn write_all<T: Target>(
    ctx: RunCtx<'_>,
    target: &mut T,
    job: JobSpec,
    (input, selection): (Input, Selection),
    written: &mut Written,
) -> Result<Totals, Stop> {
    let handler = ctx.handler;
    let mut reading = target.check(&job).await?;
    reading.mapped.selection = selection;
    // Keeping the last of duplicates, the rows are read once before: the
    // very rows the run reads (a retry's failed rows, or the source).
    let first_pass = match job.dedupe.as_ref().is_some_and(|d| d.keep == Keep::Last) {
        true => {
            let (_, requested) = command(ctx.cause)?;
            Some(handler.reopen(ctx.account, requested, &job.source).await?)
        }
        false => None,
    };
    let resumed = target.resume_point();
    let key = handler.result_key(ctx.account, ctx.run).await?;
    reading.mapped.row_limit = handler.allowance(ctx.account, ctx.run).await?;
    handler
        .started(ctx.cause, ctx.run, ctx.account, resumed)
        .await?;

    // Rows are read, mapped and checked on a blocking thread, a couple
    // of batches ahead of the writes.
    let (batches, mut inbox) = tokio::sync::mpsc::channel::<Sent>(2);
    let (header_tx, header_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::task::spawn_blocking(move || {
        read_batches(
            first_pass,
            input,
            reading.mapped,
            reading.batch_rows,
            header_tx,
            batches,
        )
    });
    let header = match header_rx.await {
        Ok(Ok(header)) => header,
        Ok(Err(reason)) => return Err(Stop::Fail(reason)),
        Err(_) => return Err(Stop::Fail("the source could not be read".into())),
    };
    let results = handler.results(key, ctx.account, ctx.run, header.1.clone());
    target.prepare(job, header, results, written).await?;

    let mut ahead: VecDeque<Sent> = VecDeque::new();
    if let Some(rows) = target.read_ahead() {
        let whole = read_ahead(&mut inbox, rows, &mut ahead).await;
        target.begin(whole)?;
    }
    let mut failure = None;
    loop {
        let batch = match ahead.pop_front() {
            Some(batch) => batch,
            None => match inbox.recv().await {
                Some(batch) => batch,
                None => break,
            },
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(reason) => {
                failure = Some(Stop::Fail(reason));
                break;
            }
        };
        target.count(batch.read, batch.skipped.len() as i64, written);
        if batch.index <= resumed.batch {
            continue;
        }
        if let Flow::Halt = target.write(batch, written).await? {
            break;
        }
    }
    let totals = target.finish(failure, written).await?;
    reader.await.map_err(retry)?;
    Ok(totals)
}

/// Reads batches into `ahead` until they hold more than `rows` rows;
/// whether the source ended first (or failed: its failure is the last in
/// `ahead`).
async fn read_ahead(
    inbox: &mut tokio::sync::mpsc::Receiver<Sent>,
    rows: usize,
    ahead: &mut VecDeque<Sent>,
) -> bool {
    let mut seen = 0usize;
    while seen <= rows {
        match inbox.recv().await {
            Some(Ok(batch)) => {
                seen += batch.read as usize;
                ahead.push_back(Ok(batch));
            }
            Some(Err(reason)) => {
                ahead.push_back(Err(reason));
                return true;
            }
            None => return true,
        }
    }
    false
}
