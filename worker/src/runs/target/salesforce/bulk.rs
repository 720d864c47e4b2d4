//! Batches written to Salesforce by Bulk API 2.0 jobs, for runs of more
//! than `bulk_above_rows` rows: each job takes as many batches as fit in
//! one upload. A job in doubt after a crash is picked up by its id.

use super::landing::Landed;
use super::org::failed;
use super::Writing;
use crate::runs::source::Batch;
use crate::runs::Stop;
use sluice_connectors::salesforce::{
    self as sf, BeforeImages, BulkBatch, BulkRow, Operation, SalesforceError, Saved, Writer,
};

impl Writing<'_> {
    /// Writes a Bulk job's batches.
    pub(super) async fn bulk(&mut self, job: BulkJob) -> Result<(), Stop> {
        let BulkJob {
            mut batch,
            rows,
            parts,
        } = job;
        let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
            return Ok(());
        };
        let (first, last) = (first.index, last.index);
        let landed: Vec<Landed> = parts
            .into_iter()
            .map(|part| Landed {
                index: part.index,
                raw: part.raw,
                skipped: part.skipped,
                failed: part.refused,
                saved: Vec::new(),
            })
            .collect();
        let mut failure = None;
        if batch.is_empty() {
            self.land(landed, |_| String::new()).await?;
        } else {
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
                    let external = match self.state.writer.operation() {
                        Operation::Upsert => self.state.writer.key_field(),
                        _ => None,
                    };
                    let job = self
                        .sf
                        .bulk_open(&self.state.object, self.state.writer.operation(), external)
                        .await
                        .map_err(failed)?;
                    self.sending(first, last, Some(job.clone())).await?;
                    match self.sf.bulk_run(&job, &mut batch, self.polling).await {
                        Ok(outcome) => outcome,
                        Err(e) => return self.lost(landed, rows, &job, first, last, e).await,
                    }
                }
            };
            let version = outcome.finished_at.unwrap_or_default();
            if outcome.inferred > 0 {
                tracing::info!(
                    run = %self.ctx.run,
                    matched = outcome.inferred,
                    "Bulk results matched to rows by key or likeness: Salesforce echoed their values differently"
                );
            }
            let results = Results {
                rows,
                outcomes: outcome.rows,
                before: &before,
                batch: &batch,
            };
            self.land_results(landed, results, &version).await?;
            failure = outcome.failure;
        }
        self.done(first, last).await?;
        match failure {
            Some(reason) => Err(Stop::Fail(format!(
                "the Salesforce Bulk job ended early: {}",
                sf::without_values("", &reason)
            ))),
            None => Ok(()),
        }
    }

    /// Lands each batch with its rows' results, a batch at a time: the
    /// journal values of a whole job's rows at once would take memory in
    /// proportion to the job.
    async fn land_results(
        &mut self,
        landed: Vec<Landed>,
        results: Results<'_>,
        version: &str,
    ) -> Result<(), Stop> {
        let Results {
            rows,
            outcomes,
            before,
            batch,
        } = results;
        let mut rows = rows.into_iter().zip(outcomes).enumerate().peekable();
        for (place, mut part) in landed.into_iter().enumerate() {
            part.saved.reserve(part.raw.len());
            while let Some((at, (row, outcome))) = rows.next_if(|(_, (row, _))| row.part == place) {
                self.attach(&mut part, at, row, outcome, before, batch);
            }
            self.land(vec![part], |_| version.to_owned()).await?;
        }
        Ok(())
    }

    /// Puts row `at`'s result with its batch; what a saved row wrote is
    /// read from its cells in the upload.
    fn attach(
        &self,
        part: &mut Landed,
        at: usize,
        row: BulkInput,
        result: BulkRow,
        before: &BeforeImages,
        batch: &BulkBatch,
    ) {
        match result {
            BulkRow::Saved { id, created } => part.saved.push(Saved {
                wrote: self.state.writer.bulk_wrote(batch.values(at)),
                ..self
                    .state
                    .writer
                    .saved(row.number, id, row.key.as_deref(), Some(created), before)
            }),
            BulkRow::Failed(reason) => part.failed.push((row.number, reason)),
            BulkRow::Unprocessed => part.failed.push((
                row.number,
                "Salesforce did not process this row: the Bulk job ended before it".into(),
            )),
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
}

/// A Bulk job's rows, their outcomes (in the same order), the
/// before-images of the records they change, and the upload.
struct Results<'a> {
    rows: Vec<BulkInput>,
    outcomes: Vec<BulkRow>,
    before: &'a BeforeImages,
    batch: &'a BulkBatch,
}

/// One input row of a Bulk job.
struct BulkInput {
    number: u64,
    key: Option<String>,
    /// Its batch, among the job's.
    part: usize,
}

/// A batch's rows as Bulk cells, kept in one buffer until the batch joins
/// a job.
pub(super) struct BulkPart {
    index: i64,
    raw: crate::results::SourceRows,
    skipped: Vec<(u64, String)>,
    refused: Vec<(u64, String)>,
    /// Each row's number, and the end of its cells in `cells`.
    rows: Vec<(u64, usize)>,
    /// Each row's key value.
    keys: Vec<Option<String>>,
    /// The rows' cells, one after another: a range of `text`, `None` for
    /// a cell without a value.
    cells: Vec<Option<(usize, usize)>>,
    text: String,
}

impl BulkPart {
    pub(super) fn of(writer: &Writer, batch: Batch) -> Self {
        // Sized once from the rows' values (as read; a cell as sent is
        // about as long): growing them row by row copied the whole batch
        // again at every doubling.
        let (cells, text) = batch.inserts.iter().fold((0, 0), |(cells, text), row| {
            let values = row.values.iter().flatten();
            (
                cells + row.values.len(),
                text + values.map(String::len).sum::<usize>(),
            )
        });
        let mut part = Self {
            index: batch.index,
            raw: batch.raw,
            skipped: batch.skipped,
            refused: batch.refused,
            rows: Vec::with_capacity(batch.inserts.len()),
            keys: Vec::with_capacity(batch.inserts.len()),
            cells: Vec::with_capacity(cells),
            text: String::with_capacity(text),
        };
        for row in batch.inserts {
            match writer.bulk_values(&row.values) {
                Ok(values) => {
                    for value in values {
                        let start = part.text.len();
                        part.cells.push(value.map(|text| {
                            part.text.push_str(&text);
                            (start, part.text.len())
                        }));
                    }
                    part.keys.push(writer.key_of(&row.values));
                    part.rows.push((row.number, part.cells.len()));
                }
                Err(reason) => part.refused.push((row.number, reason)),
            }
        }
        part
    }

    /// Each row's cells.
    fn cells(&self) -> impl Iterator<Item = impl Iterator<Item = Option<&str>> + '_> + '_ {
        let starts = std::iter::once(0).chain(self.rows.iter().map(|(_, end)| *end));
        starts.zip(&self.rows).map(|(start, (_, end))| {
            self.cells
                .get(start..*end)
                .unwrap_or_default()
                .iter()
                .map(|cell| cell.map(|(from, to)| self.text.get(from..to).unwrap_or_default()))
        })
    }
}

/// A Bulk job being filled: its upload, its rows, and the batches they are
/// from.
pub(super) struct BulkJob {
    batch: BulkBatch,
    rows: Vec<BulkInput>,
    pub(super) parts: Vec<BulkPart>,
}

impl BulkJob {
    pub(super) fn new(writer: &Writer, operation: Operation, limit: usize) -> Result<Self, Stop> {
        Ok(Self {
            batch: BulkBatch::with_limit(operation, &writer.bulk_header(), limit)
                .map_err(failed)?
                .keyed_by(writer.key_field())
                .leaving_blanks(writer.leaves_blanks()),
            rows: Vec::new(),
            parts: Vec::new(),
        })
    }

    /// Whether the batch's rows fit in this job's upload (an empty job
    /// takes any batch).
    pub(super) fn fits(&self, part: &BulkPart) -> bool {
        self.batch.is_empty() || self.batch.fits(part.cells())
    }

    pub(super) fn push(&mut self, mut part: BulkPart) -> Result<(), Stop> {
        let at = self.parts.len();
        let keys = std::mem::take(&mut part.keys);
        let mut refused = Vec::new();
        let mut cells: Vec<Option<&str>> = Vec::new();
        for (((number, _), key), row) in part.rows.iter().zip(keys).zip(part.cells()) {
            let number = *number;
            cells.clear();
            cells.extend(row);
            if self.batch.push(&cells).map_err(failed)? {
                self.rows.push(BulkInput {
                    number,
                    key,
                    part: at,
                });
            } else {
                refused.push((
                    number,
                    "the row is larger than a Bulk upload takes (100 MB)".into(),
                ));
            }
        }
        drop(cells);
        part.refused.append(&mut refused);
        part.rows = Vec::new();
        part.cells = Vec::new();
        part.text = String::new();
        self.parts.push(part);
        Ok(())
    }
}
