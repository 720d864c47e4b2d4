//! Checkpoints: how far a run has written. Each batch commits together
//! with its checkpoint marker in the target database, so that a run
//! resumed after a crash starts after the last batch committed and never
//! writes a batch twice.
//!
//! The markers live in `_sluice_checkpoints`, created beside the target
//! table (in its schema) on the first run.

use super::error::{db_error, describe_error, TargetError};
use super::table::{quote, Table};
use std::future::Future;
use tokio_postgres::Client;
use uuid::Uuid;

/// The last batch committed for a run: `(batch, rows written, rows failed)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    pub batch: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
}

impl Checkpoint {
    /// The checkpoint of the next batch, which wrote `ok` rows and failed
    /// `failed`.
    pub fn next(self, ok: i64, failed: i64) -> Self {
        Self {
            batch: self.batch + 1,
            rows_ok: self.rows_ok + ok,
            rows_failed: self.rows_failed + failed,
        }
    }
}

/// What a batch follows: the checkpoint of the batch before it, once that
/// batch has committed (an error if it did not).
pub type After = std::pin::Pin<Box<dyn Future<Output = Result<Checkpoint, TargetError>> + Send>>;

/// A batch that follows `checkpoint`, already committed.
pub fn after(checkpoint: Checkpoint) -> After {
    Box::pin(std::future::ready(Ok(checkpoint)))
}

/// The advisory lock under which the checkpoint table is created.
const CHECKPOINTS_LOCK: i64 = 0x511c_e000_0001;

pub(super) fn checkpoints(table: &Table) -> String {
    format!("{}.\"_sluice_checkpoints\"", quote(&table.schema))
}

/// Creates the checkpoint table if needed and reads the run's last marker.
pub async fn last_checkpoint(
    client: &Client,
    table: &Table,
    run: Uuid,
) -> Result<Checkpoint, TargetError> {
    let markers = checkpoints(table);
    // Runs that start together on a new target would race to create the
    // table (`IF NOT EXISTS` does not stop two creations at once): they take
    // turns under a transaction-scoped advisory lock.
    let created = client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({CHECKPOINTS_LOCK}); \
             CREATE TABLE IF NOT EXISTS {markers} (\
                run_id UUID NOT NULL, batch BIGINT NOT NULL, rows_ok BIGINT NOT NULL, \
                rows_failed BIGINT NOT NULL, committed_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
                PRIMARY KEY (run_id, batch)); \
             COMMIT"
        ))
        .await;
    if let Err(e) = created {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(TargetError::Invalid(format!(
            "Sluice keeps its progress in {markers} and could not create it: {}",
            describe_error(&e)
        )));
    }
    let row = client
        .query_opt(
            &format!("SELECT batch, rows_ok, rows_failed FROM {markers} WHERE run_id = $1 ORDER BY batch DESC LIMIT 1"),
            &[&run],
        )
        .await
        .map_err(db_error)?;
    Ok(row
        .map(|r| Checkpoint {
            batch: r.get(0),
            rows_ok: r.get(1),
            rows_failed: r.get(2),
        })
        .unwrap_or_default())
}

/// Makes every batch of the run durable: a committed transaction that waits
/// for the disk also flushes all that were committed before it.
pub async fn flush(
    client: &Client,
    table: &Table,
    run: Uuid,
    checkpoint: Checkpoint,
) -> Result<(), TargetError> {
    client
        .execute(
            &format!(
                "UPDATE {} SET committed_at = now() WHERE run_id = $1 AND batch = $2",
                checkpoints(table)
            ),
            &[&run, &checkpoint.batch],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Records a batch's checkpoint marker; the row version of the
/// transaction's own writes (`xmin`) is returned.
pub(super) async fn mark(
    transaction: &tokio_postgres::Transaction<'_>,
    table: &Table,
    run: Uuid,
    next: Checkpoint,
) -> Result<String, TargetError> {
    let row = transaction
        .query_one(
            &format!(
                "INSERT INTO {} (run_id, batch, rows_ok, rows_failed) VALUES ($1, $2, $3, $4) \
                 RETURNING xmin::text",
                checkpoints(table)
            ),
            &[&run, &next.batch, &next.rows_ok, &next.rows_failed],
        )
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}
