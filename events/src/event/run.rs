//! Runs of a job (imports and rollbacks): requested, started, progressed, finished, their results removed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sluice_schema::kinds::{RunKind, RunStatus, SampleOrder};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequested {
    pub job_id: Uuid,
    /// `import` or `rollback`.
    pub kind: RunKind,
    /// For a rollback: the run it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<Uuid>,
    /// For a rollback: undo rows changed since the run all the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// For a trial run: the rows it writes. Added after the event, like
    /// the three fields after it: absent means none and none is not
    /// written, so every payload recorded before reads and writes back as
    /// it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
    /// For the rest of a trial: the trial, whose written rows it leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_of: Option<Uuid>,
    /// For a retry: the run whose failed rows (its errors.csv) it writes
    /// again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<Uuid>,
    /// For a scheduled job's retry of its previous run's failed rows: once
    /// the retry has ended, the job's own run is requested.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub then_run: bool,
}

/// The most rows a trial may ask for: a trial is for looking at a few rows
/// before writing them all, and the rest of a trial holds the numbers of
/// the rows the trial wrote in memory.
pub const MAX_SAMPLE_ROWS: u32 = 100_000;

/// What a trial run writes: `rows` rows of its source, the first ones or
/// ones chosen at random from `seed`. The seed is drawn once, when the run
/// is requested, so every attempt of the run (one resumed by another
/// worker included) chooses the very same rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub rows: u32,
    pub order: SampleOrder,
    /// What chooses the rows of a random sample (0 for the first rows);
    /// below 2^53, so that any JSON reader holds it exactly.
    #[serde(default, skip_serializing_if = "no_seed")]
    pub seed: u64,
    /// The upload the trial reads (none for a query): the rest of the
    /// trial reads the same one, or is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<Uuid>,
}

fn no_seed(seed: &u64) -> bool {
    *seed == 0
}

impl RunRequested {
    /// An import of `job_id`'s source, all of it.
    pub fn import(job_id: Uuid) -> Self {
        Self {
            job_id,
            kind: RunKind::Import,
            rollback_of: None,
            force: false,
            sample: None,
            remaining_of: None,
            retry_of: None,
            then_run: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStarted {
    pub worker: String,
    /// Batches already committed by an earlier attempt (0 on a fresh start).
    pub resumed_after_batch: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunProgressed {
    pub batch: i64,
    pub rows_read: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// Rows the job's filter set aside (listed in skipped.csv). Added
    /// after the event: a payload without it had none, and a run with none
    /// records none, so that every payload recorded before reads and writes
    /// back as it was.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_skipped: i64,
    /// Calls made to the target's API so far (targets that count them
    /// against a limit: Salesforce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBatchSent {
    /// The first batch of the write.
    pub batch: i64,
    /// The last batch of the write (a Bulk job takes several).
    pub through: i64,
    /// The Bulk API job that writes them, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_job: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFinished {
    /// `succeeded`, `partially_succeeded` or `failed`; a rollback ends
    /// `rolled_back` when it undid every row.
    pub status: RunStatus,
    pub rows_total: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// Rows the job's filter set aside (listed in skipped.csv). Added
    /// after the event: a payload without it had none, and a run with none
    /// records none, so that every payload recorded before reads and writes
    /// back as it was.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_skipped: i64,
    /// Why a run failed as a whole (no row data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its success.csv, skipped.csv and errors.csv are deleted (none when the run
    /// wrote none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_expire_at: Option<DateTime<Utc>>,
    /// Calls the run made to the target's API (Salesforce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<i64>,
}

/// A run's end as recorded since customer text is sealed: as
/// [`RunFinished`], but why it failed is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFinishedV2 {
    /// `succeeded`, `partially_succeeded` or `failed`; a rollback ends
    /// `rolled_back` when it undid every row.
    pub status: RunStatus,
    pub rows_total: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// Rows the job's filter set aside (listed in skipped.csv). Added
    /// after the event: a payload without it had none, and a run with none
    /// records none, so that every payload recorded before reads and writes
    /// back as it was.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_skipped: i64,
    /// Sealed: why a run failed as a whole (no row data, but it may quote
    /// a column, a table or object, a host or the target's own error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its success.csv, skipped.csv and errors.csv are deleted (none when the run
    /// wrote none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_expire_at: Option<DateTime<Utc>>,
    /// Calls the run made to the target's API (Salesforce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResultsRemoved {}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use crate::event::DomainEvent;
    use serde_json::json;

    #[test]
    fn a_run_recorded_before_filters_reads_as_skipping_none_and_writes_back_unchanged() {
        let before = json!({
            "status": "succeeded",
            "rows_total": 3,
            "rows_ok": 3,
            "rows_failed": 0,
            "results_expire_at": "2026-12-17T10:00:00Z",
        });
        let event = DomainEvent::from_columns(1, "run.finished.v2", &before).unwrap();
        let DomainEvent::RunFinishedV2(finished) = &event else {
            panic!("{event:?}");
        };
        assert_eq!(finished.rows_skipped, 0);
        assert_eq!(
            event.to_columns().unwrap(),
            ("run.finished.v2".to_owned(), before)
        );
        let progressed =
            json!({"batch": 1, "rows_read": 5, "rows_ok": 2, "rows_failed": 1, "rows_skipped": 2});
        let event = DomainEvent::from_columns(2, "run.progressed", &progressed).unwrap();
        assert!(matches!(&event, DomainEvent::RunProgressed(p) if p.rows_skipped == 2));
        assert_eq!(
            event.to_columns().unwrap(),
            ("run.progressed".to_owned(), progressed)
        );
    }
}
