//! Rows read into batches, on a blocking thread: each row as the source
//! gives it is kept or set aside by the job's filter, mapped (the job's
//! mapping: formulas, then transforms), checked against the target's
//! columns, set aside when it repeats another (the job's de-duplication),
//! and gathered into batches, which go to the target a couple of batches
//! ahead of its writes. This is the one mapping step of every target:
//! PostgreSQL tables and Salesforce objects get the same values.
//!
//! A job that keeps the last of duplicates reads its source twice: a first
//! pass, which writes nothing, notes the last row of each key; the second
//! keeps those. Every attempt of a run reads the source from its start, so
//! a resumed run skips the very rows its first attempt did.

use super::selection::Selection;
use super::Source;
use crate::results::SourceRows;
use crate::runs::allowance;
use sluice_connectors::formula::EvalContext;
use sluice_connectors::mapping::{Duplicates, FieldMapping, Filter, Plan, FILTERED_OUT};
use sluice_connectors::postgres::{self as pg, Insert};
use sluice_connectors::source::{Record, RowSink};
use sluice_schema::job::Dedupe;
use std::borrow::Cow;
use std::collections::HashSet;

/// A batch of mapped rows, from the reading thread.
pub(in crate::runs) struct Batch {
    /// 1 for the first.
    pub(in crate::runs) index: i64,
    pub(in crate::runs) read: i64,
    /// The rows as read (without fields where a row could not be read),
    /// for the result files.
    pub(in crate::runs) raw: SourceRows,
    pub(in crate::runs) inserts: Vec<Insert>,
    /// The inserts in COPY's format, when the run builds it while reading.
    pub(in crate::runs) copy: Option<pg::CopyText>,
    /// The rows the job's filter or de-duplication set aside, and why
    /// (for skipped.csv).
    pub(in crate::runs) skipped: Vec<(u64, String)>,
    pub(in crate::runs) refused: Vec<(u64, String)>,
    /// The key values of the batch's rows (update, upsert, delete).
    pub(in crate::runs) keys: HashSet<Vec<String>>,
}

/// The mapping's target fields and the source's columns.
pub(in crate::runs) type Header = (Vec<String>, Vec<String>);

/// How rows are mapped and checked.
pub(in crate::runs) struct Mapped {
    pub(in crate::runs) mapping: Vec<FieldMapping>,
    /// The job's filter, checked against the source's header once it is
    /// read.
    pub(in crate::runs) filter: Option<String>,
    /// What the mapping's formulas and the filter see of the run.
    pub(in crate::runs) context: EvalContext,
    /// The job's de-duplication.
    pub(in crate::runs) dedupe: Option<Dedupe>,
    /// The most distinct keys the de-duplication remembers.
    pub(in crate::runs) dedupe_cap: usize,
    /// The target table's columns.
    pub(in crate::runs) columns: Vec<pg::Column>,
    /// Where the key fields are among the mapped values: a batch holds a
    /// key once (a row whose key is already in the batch starts the next).
    pub(in crate::runs) key_positions: Vec<usize>,
    /// Where the fields set by lookups are: they are checked once looked up.
    pub(in crate::runs) looked_up: Vec<usize>,
    /// Whether rows are also put in COPY's format as they are read (an
    /// insert whose values are final once mapped).
    pub(in crate::runs) copy_text: bool,
    /// A batch ends once its rows as read take this many bytes, or at
    /// `batch_rows` rows.
    pub(in crate::runs) batch_bytes: usize,
    /// The most rows the run may read (the account's plan).
    pub(in crate::runs) row_limit: Option<allowance::RowLimit>,
    /// The source's rows the run writes (a trial's, the rest of a
    /// trial's); the others are not the run's: not read, counted or listed.
    pub(in crate::runs) selection: Selection,
}

/// Reads `source` (on a blocking thread). The mapping is resolved against
/// its header (sent first), then batches of mapped and checked rows are
/// sent until the end or until the receiver goes. `first_pass`, the same
/// source opened again, is read before when the job keeps the last of
/// duplicates.
pub(in crate::runs) fn read_batches<S: Source>(
    first_pass: Option<S>,
    source: S,
    mapped: Mapped,
    batch_rows: usize,
    header: tokio::sync::oneshot::Sender<Result<Header, String>>,
    batches: tokio::sync::mpsc::Sender<Result<Batch, String>>,
) {
    let mut sink = BatchSink {
        read: 0,
        taken: 0,
        capped: false,
        mapped,
        batch_rows,
        header: Some(header),
        batches,
        plan: None,
        filter: None,
        duplicates: None,
        scanning: first_pass.is_some(),
        stopped: None,
        fields: Vec::new(),
        batch: Batch::new(1, batch_rows),
    };
    if let Some(first) = first_pass {
        let scanned = first.read(&mut sink);
        let failure = match (scanned, sink.stopped.take()) {
            (_, Some(reason)) => Some(reason),
            (Err(e), None) => Some(e.to_string()),
            (Ok(()), None) => None,
        };
        if let Some(reason) = failure {
            if let Some(header) = sink.header.take() {
                let _ = header.send(Err(reason));
            }
            return;
        }
        // The header's refusal, sent as the first pass read it.
        if sink.header.is_none() {
            return;
        }
        sink.scanning = false;
        sink.read = 0;
        sink.taken = 0;
        sink.capped = false;
    }
    let read = source.read(&mut sink);
    // The rows read before a failure are written; the failure ends the run.
    if sink.batch.read > 0 {
        let batch = std::mem::replace(&mut sink.batch, Batch::new(0, 0));
        let _ = sink.batches.blocking_send(Ok(batch));
    }
    if let Some(reason) = sink.stopped.take() {
        let _ = sink.batches.blocking_send(Err(reason));
        return;
    }
    if let (true, Some(limit)) = (sink.capped, &sink.mapped.row_limit) {
        let _ = sink.batches.blocking_send(Err(limit.message.clone()));
        return;
    }
    if let Err(e) = read {
        match sink.header.take() {
            Some(header) => {
                let _ = header.send(Err(e.to_string()));
            }
            None => {
                let _ = sink
                    .batches
                    .blocking_send(Err(format!("the file cannot be read to its end: {e}")));
            }
        }
    }
}

impl Batch {
    pub(in crate::runs) fn new(index: i64, batch_rows: usize) -> Self {
        Self {
            index,
            read: 0,
            raw: SourceRows::with_capacity(batch_rows),
            inserts: Vec::with_capacity(batch_rows),
            copy: None,
            skipped: Vec::new(),
            refused: Vec::new(),
            keys: HashSet::new(),
        }
    }
}

/// Maps and checks rows as the source yields them, in batches.
struct BatchSink {
    /// Rows read so far, from the source's start.
    read: u64,
    /// Rows of the source the run's selection took so far.
    taken: u64,
    /// Whether reading stopped at the run's row limit.
    capped: bool,
    mapped: Mapped,
    batch_rows: usize,
    header: Option<tokio::sync::oneshot::Sender<Result<Header, String>>>,
    batches: tokio::sync::mpsc::Sender<Result<Batch, String>>,
    plan: Option<Plan>,
    filter: Option<Filter>,
    duplicates: Option<Duplicates>,
    /// Whether this is the first pass of a job that keeps the last of
    /// duplicates: rows are noted, not sent.
    scanning: bool,
    /// Why reading stopped before the end and fails the run (too many
    /// distinct keys to de-duplicate), when it did.
    stopped: Option<String>,
    fields: Vec<Option<pg::Column>>,
    batch: Batch,
}

impl BatchSink {
    /// Sends the batch on and starts the next; false once nobody listens.
    fn send_batch(&mut self) -> bool {
        let next = Batch::new(self.batch.index + 1, self.batch_rows);
        let full = std::mem::replace(&mut self.batch, next);
        self.batches.blocking_send(Ok(full)).is_ok()
    }
}

impl RowSink for BatchSink {
    fn header(&mut self, source_header: Vec<String>) -> bool {
        let targets = match self.resolve(&source_header) {
            Ok(targets) => targets,
            Err(reason) => {
                if let Some(header) = self.header.take() {
                    let _ = header.send(Err(reason));
                }
                return false;
            }
        };
        // The first pass only resolves the mapping; the header is sent
        // once, by the pass that writes.
        if self.scanning {
            return true;
        }
        let Some(header) = self.header.take() else {
            return false;
        };
        header.send(Ok((targets, source_header))).is_ok()
    }

    fn row(&mut self, row: Record<'_>) -> bool {
        let taken = match self.mapped.selection.takes(row.number, self.taken) {
            Some(true) => true,
            Some(false) if self.duplicates.is_some() && self.mapped.selection.is_rest() => false,
            Some(false) => return true,
            None => return false,
        };
        // Held apart while the row is mapped: its values may borrow it.
        let Some(plan) = self.plan.take() else {
            return false;
        };
        let go = if taken {
            self.taken += 1;
            self.mapped_row(&plan, row)
        } else {
            self.counted_not_written(&plan, row)
        };
        self.plan = Some(plan);
        go
    }
}

impl BatchSink {
    /// Resolves the mapping, the filter and the de-duplication against the
    /// source's header; the mapping's target fields, or why the job does
    /// not fit the source. The de-duplication's keys, once noted by a
    /// first pass, are kept for the second.
    fn resolve(&mut self, source_header: &[String]) -> Result<Vec<String>, String> {
        let context = self.mapped.context;
        let plan = Plan::new(&self.mapped.mapping, source_header, context)
            .map_err(|e| format!("the mapping does not fit the file: {e}"))?;
        self.filter = Filter::of(self.mapped.filter.as_deref(), source_header, context)
            .map_err(|e| format!("the filter does not fit the file: {e}"))?;
        let targets: Vec<String> = plan.targets().iter().map(|t| (*t).to_owned()).collect();
        if let (None, Some(dedupe)) = (&self.duplicates, &self.mapped.dedupe) {
            let duplicates = Duplicates::new(dedupe, &plan.targets())?;
            self.duplicates = Some(duplicates.with_cap(self.mapped.dedupe_cap));
        }
        self.fields = targets
            .iter()
            .map(|t| self.mapped.columns.iter().find(|c| &c.name == t).cloned())
            .collect();
        self.plan = Some(plan);
        Ok(targets)
    }

    /// A row of the trial whose rest this run writes: not written again,
    /// but its key counts for the de-duplication as in a run of every row
    /// (a later row with the same key is a duplicate of it, and keeping the
    /// last, it may be the one kept).
    fn counted_not_written(&mut self, plan: &Plan, row: Record<'_>) -> bool {
        let Ok(fields) = row.fields else {
            return true;
        };
        if let Some(filter) = &self.filter {
            if filter.keeps(|i| fields.get(i)) != Ok(true) {
                return true;
            }
        }
        let Ok(values) = plan
            .apply_to(fields)
            .and_then(|values| self.checked(values))
        else {
            return true;
        };
        match self.deduplicated(row.number, &values) {
            Ok(_) => true,
            Err(reason) => {
                self.stopped = Some(reason);
                false
            }
        }
    }

    /// The de-duplication's verdict on a row's mapped `values`: a first
    /// pass notes its key; the pass that writes says whether it repeats an
    /// earlier row (the reason it is skipped). Err: the run must stop.
    fn deduplicated(
        &mut self,
        number: u64,
        values: &[Option<Cow<'_, str>>],
    ) -> Result<Option<String>, String> {
        let Some(duplicates) = &mut self.duplicates else {
            return Ok(None);
        };
        let value = |at: usize| values.get(at).and_then(|v| v.as_deref());
        match self.scanning {
            true => duplicates.note(number, value).map(|()| None),
            false => duplicates.check(number, value),
        }
    }

    /// Filters, maps, checks and de-duplicates one row into the batch (or,
    /// in a first pass, notes its key); false to stop.
    fn mapped_row(&mut self, plan: &Plan, row: Record<'_>) -> bool {
        if let Some(limit) = &self.mapped.row_limit {
            if self.read >= limit.rows {
                self.capped = true;
                return false;
            }
        }
        self.read += 1;
        // The filter reads the row as the source gives it, before the
        // mapping; a row it cannot decide for fails.
        let kept = match (&self.filter, row.fields) {
            (Some(filter), Ok(fields)) => filter.keeps(|i| fields.get(i)),
            _ => Ok(true),
        };
        if kept == Ok(false) {
            return self.scanning || self.skip(&row, FILTERED_OUT.to_owned());
        }
        // Values that no transform changes borrow the row as read.
        let values = match kept {
            Ok(_) => row.fields.ok().map(|fields| plan.apply_to(fields)),
            Err(reason) => Some(Err(reason)),
        };
        let checked = match (row.fields, values) {
            (Ok(_), Some(values)) => values.and_then(|values| self.checked(values)),
            (Ok(_), None) => Err("the row cannot be mapped".into()),
            (Err(reason), _) => Err(reason.to_owned()),
        };
        // Rows that fail are not de-duplicated: only rows to write are.
        if let Ok(values) = &checked {
            match self.deduplicated(row.number, values) {
                Ok(None) => {}
                Ok(Some(reason)) => return self.scanning || self.skip(&row, reason),
                Err(reason) => {
                    self.stopped = Some(reason);
                    return false;
                }
            }
        }
        if self.scanning {
            return true;
        }
        let key: Option<Vec<String>> = match &checked {
            Ok(values) if !self.mapped.key_positions.is_empty() => self
                .mapped
                .key_positions
                .iter()
                .map(|at| values.get(*at).cloned().flatten().map(Cow::into_owned))
                .collect(),
            _ => None,
        };
        if key.as_ref().is_some_and(|k| self.batch.keys.contains(k)) && !self.send_batch() {
            return false;
        }
        let batch = &mut self.batch;
        batch.read += 1;
        batch.raw.push(row.number, row.fields.ok());
        match checked {
            Ok(values) => {
                batch.keys.extend(key);
                // An insert whose values are final goes to COPY's text as it
                // is read; other writes keep the values.
                let values = if self.mapped.copy_text {
                    batch
                        .copy
                        .get_or_insert_with(|| pg::CopyText::with_capacity(self.batch_rows))
                        .push_row(&values);
                    Vec::new()
                } else {
                    values.into_iter().map(|v| v.map(Cow::into_owned)).collect()
                };
                batch.inserts.push(Insert {
                    number: row.number,
                    values,
                })
            }
            Err(reason) => batch.refused.push((row.number, reason)),
        }
        self.full()
    }

    /// A row's mapped values checked against the target's columns (a key
    /// field needs a value; a looked-up field is checked once looked up).
    fn checked<'r>(
        &self,
        values: Vec<Option<Cow<'r, str>>>,
    ) -> Result<Vec<Option<Cow<'r, str>>>, String> {
        let key_positions = &self.mapped.key_positions;
        let looked_up = &self.mapped.looked_up;
        for (i, (value, column)) in values.iter().zip(&self.fields).enumerate() {
            if value.is_none() && key_positions.contains(&i) {
                let name = column.as_ref().map(|c| c.name.as_str()).unwrap_or("key");
                return Err(format!("{name}: a key field needs a value"));
            }
            if let Some(column) = column.as_ref().filter(|_| !looked_up.contains(&i)) {
                pg::check_value(column, value.as_deref())?;
            }
        }
        Ok(values)
    }

    /// Sets a row aside for skipped.csv with `reason`; false to stop.
    fn skip(&mut self, row: &Record<'_>, reason: String) -> bool {
        let batch = &mut self.batch;
        batch.read += 1;
        batch.raw.push(row.number, row.fields.ok());
        batch.skipped.push((row.number, reason));
        self.full()
    }

    /// Sends the batch on once it is full; false once nobody listens.
    fn full(&mut self) -> bool {
        let batch = &self.batch;
        if batch.read as usize >= self.batch_rows || batch.raw.bytes() >= self.mapped.batch_bytes {
            return self.send_batch();
        }
        true
    }
}
