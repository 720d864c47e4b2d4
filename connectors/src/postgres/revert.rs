//! Rollback: a run's journal undone, newest change first. A created row is
//! deleted, an updated row gets its before-image back, a deleted row is
//! inserted again. A row in which a column the run wrote no longer holds
//! what the run wrote there was changed by someone since: it is reported
//! as a conflict naming those columns (never their values) and left as it
//! is, unless the rollback is forced. Columns the run did not write, and
//! the row's version, may have changed (a trigger, another program setting
//! `updated_at`) without a conflict. Values are compared as the text of
//! the column's type (the value the journal keeps is cast to the type and
//! back), so `1.50` written to a `numeric(6,2)` matches what the table
//! shows, and a timestamp matches whatever form it was sent in.
//!
//! Rolling back two runs of the same rows newest-first is no conflict: the
//! newer run's rollback puts its before-images back, which hold what the
//! older run wrote; should someone have changed a column between the two
//! runs, that change is what the older rollback finds, and reports.
//!
//! A journal written before the written values were recorded keeps the
//! rule it was written under: a row whose version (`xmin`) is no longer
//! the one the run left, nor one this rollback's own writes left, is a
//! conflict.
//!
//! A row that someone created since in a deleted row's place is never
//! overwritten, forced or not.
//!
//! Each journal batch is undone in one transaction with its checkpoint
//! marker, like a run's batch, with one statement for each kind of change
//! where the batch allows it (see [`set`]), else one a row, sent together;
//! should a statement fail for a reason of the data, the batch is undone
//! again row by row, each under a savepoint.

use super::batch::{begin, under_savepoint};
use super::checkpoint::{checkpoints, mark, After, Checkpoint};
use super::error::{db_error, describe_error, TargetError};
use super::table::{quote, Table};
use super::undo::{changed_since, why_changed, written_text, Param, Undo, Written};
use crate::journal::{Action, Change};
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

mod set;

/// What undoing a batch did.
#[derive(Debug, Default)]
pub struct Reverted {
    /// Row number, its key as a result cell, and what was done.
    pub ok: Vec<(u64, String, &'static str)>,
    /// Row number, its key as a result cell, and why the row was left as
    /// it is.
    pub failed: Vec<(u64, String, String)>,
    /// The row versions the batch's own writes left.
    pub versions: Vec<String>,
}

/// What undoing one change came to.
enum Undone {
    /// What was done, and the version the write left.
    Done(&'static str, Option<String>),
    Conflict(String),
}

/// Undoes one change of the journal, if the row is still as the run left
/// it (or the rollback is forced).
async fn undo_one(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    change: &Change,
) -> Result<Undone, tokio_postgres::Error> {
    if change.key.len() != undo.key_columns.len() || change.key.is_empty() {
        return Ok(Undone::Conflict(
            "the row's key is not known (the table has no primary key, or the database made it \
             without a sequence), so it cannot be rolled back"
                .into(),
        ));
    }
    let wrote = written_text(change);
    if wrote
        .as_ref()
        .is_some_and(|w| w.len() != undo.written.len())
    {
        return Ok(Undone::Conflict(
            "the journal's written values do not match its columns".into(),
        ));
    }
    match change.action {
        Action::Created => delete_created(transaction, undo, change, &wrote).await,
        Action::Updated => restore_updated(transaction, undo, change, &wrote).await,
        Action::Deleted => reinsert_deleted(transaction, undo, change).await,
    }
}

/// A row the run created is deleted.
async fn delete_created(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    change: &Change,
    wrote: &Option<Vec<Option<Written<'_>>>>,
) -> Result<Undone, tokio_postgres::Error> {
    let table = undo.table.qualified();
    let mut params: Vec<Param<'_>> = Vec::new();
    let matched = undo.key_match(change, &mut params);
    let guard = undo.unchanged(change, wrote, &mut params);
    let sql = format!("DELETE FROM {table} t WHERE {matched} AND {guard} RETURNING 1");
    if transaction.query_opt(&sql, &params).await?.is_some() {
        return Ok(Undone::Done("deleted", None));
    }
    Ok(match why_changed(transaction, undo, change, wrote).await? {
        Some(columns) => Undone::Conflict(changed_since(&columns, "deletes")),
        None => Undone::Done("already_deleted", None),
    })
}

/// A row the run updated gets its before-image back, in the columns the
/// run wrote.
async fn restore_updated(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    change: &Change,
    wrote: &Option<Vec<Option<Written<'_>>>>,
) -> Result<Undone, tokio_postgres::Error> {
    let table = undo.table.qualified();
    let Some(image) = &change.before else {
        return Ok(Undone::Conflict(
            "someone created the row while the run wrote it, so there is no state \
             before the run to restore; it was left as it is"
                .into(),
        ));
    };
    let sets: Vec<String> = undo
        .written
        .iter()
        .map(|c| format!("{} = b.{}", quote(c), quote(c)))
        .collect();
    let mut params: Vec<Param<'_>> = vec![image];
    let matched = undo.key_match(change, &mut params);
    let guard = undo.unchanged(change, wrote, &mut params);
    let sql = format!(
        "UPDATE {table} t SET {} FROM jsonb_populate_record(NULL::{table}, $1::text::jsonb) b \
         WHERE {matched} AND {guard} RETURNING t.xmin::text",
        sets.join(", "),
    );
    if let Some(row) = transaction.query_opt(&sql, &params).await? {
        return Ok(Undone::Done("restored", Some(row.get(0))));
    }
    Ok(Undone::Conflict(
        match why_changed(transaction, undo, change, wrote).await? {
            Some(columns) => changed_since(&columns, "restores"),
            None => "deleted since the run, so it was not restored".into(),
        },
    ))
}

/// A row the run deleted is inserted again from its before-image, unless
/// a row has taken its place.
async fn reinsert_deleted(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    change: &Change,
) -> Result<Undone, tokio_postgres::Error> {
    let table = undo.table.qualified();
    let Some(image) = &change.before else {
        return Ok(Undone::Conflict("the journal has no before-image".into()));
    };
    let present: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(image).unwrap_or_default();
    let columns: Vec<String> = undo
        .table
        .columns
        .iter()
        .filter(|c| present.contains_key(&c.name))
        .map(|c| quote(&c.name))
        .collect();
    if columns.is_empty() {
        return Ok(Undone::Conflict(
            "the journal's before-image is empty".into(),
        ));
    }
    let columns = columns.join(", ");
    let sql = format!(
        "INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE \
         SELECT {columns} FROM jsonb_populate_record(NULL::{table}, $1::text::jsonb) \
         ON CONFLICT DO NOTHING RETURNING xmin::text"
    );
    Ok(match transaction.query_opt(&sql, &[image]).await? {
        Some(row) => Undone::Done("reinserted", Some(row.get(0))),
        None => Undone::Conflict(
            "a row with the same key (or another unique value) exists again, so it was \
             not inserted again"
                .into(),
        ),
    })
}

fn record(reverted: &mut Reverted, change: &Change, undone: Undone) {
    match undone {
        Undone::Done(what, version) => {
            reverted.ok.push((change.number, change.key_text(), what));
            reverted.versions.extend(version);
        }
        Undone::Conflict(reason) => {
            reverted
                .failed
                .push((change.number, change.key_text(), reason))
        }
    }
}

/// Undoes a batch of the journal (given oldest first; undone newest first)
/// and records the rollback's checkpoint, in one transaction: the rows are
/// undone at once, the checkpoint is marked once the step before it has
/// committed (`after`, which gives the checkpoint it left), so that steps
/// on several connections commit in order. What was undone, and the
/// checkpoint the batch leaves.
pub async fn revert_batch(
    client: &mut Client,
    undo: &Undo<'_>,
    mut changes: Vec<Change>,
    run: Uuid,
    after: After,
    before_commit: impl FnOnce(&Reverted) -> Result<(), String>,
) -> Result<(Reverted, Checkpoint), TargetError> {
    changes.reverse();
    let transaction = begin(client).await?;
    let attempt = if set::fits(undo, &changes) {
        set::undo_all(&transaction, undo, &changes).await
    } else {
        futures_util::future::join_all(
            changes
                .iter()
                .map(|change| undo_one(&transaction, undo, change)),
        )
        .await
        .into_iter()
        .collect()
    };
    let mut reverted = Reverted::default();
    let transaction = match attempt {
        Ok(all) => {
            for (change, undone) in changes.iter().zip(all) {
                record(&mut reverted, change, undone);
            }
            transaction
        }
        Err(e) if e.as_db_error().is_some() => {
            transaction.rollback().await.map_err(db_error)?;
            reverted = Reverted::default();
            let transaction = begin(client).await?;
            for change in &changes {
                let one = undo_one(&transaction, undo, change);
                match under_savepoint(&transaction, one).await? {
                    Ok(undone) => record(&mut reverted, change, undone),
                    Err(e) => {
                        let reason = describe_error(&e);
                        reverted
                            .failed
                            .push((change.number, change.key_text(), reason));
                    }
                }
            }
            transaction
        }
        Err(e) => return Err(db_error(e)),
    };
    let checkpoint = after.await?;
    let next = checkpoint.next(reverted.ok.len() as i64, reverted.failed.len() as i64);
    let version = mark(&transaction, undo.table, run, next).await?;
    reverted.versions.push(version);
    reverted.versions.sort_unstable();
    reverted.versions.dedup();
    before_commit(&reverted).map_err(TargetError::Aborted)?;
    transaction.commit().await.map_err(db_error)?;
    Ok((reverted, next))
}

/// The row versions a rollback's committed batches left (to resume it).
pub async fn own_versions(
    client: &Client,
    table: &Table,
    run: Uuid,
) -> Result<Vec<String>, TargetError> {
    let rows = client
        .query(
            &format!(
                "SELECT DISTINCT xmin::text FROM {} WHERE run_id = $1",
                checkpoints(table)
            ),
            &[&run],
        )
        .await
        .map_err(db_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether deleting the rows a run created in `table` may wait on another
/// transaction's rows besides their own: another table's foreign key
/// refers to it (the check, or its cascade, reads rows there), or it has
/// triggers or rules of its own. Only when it may not are two steps of a
/// rollback that delete created rows under way at once: otherwise the
/// older step could wait for a row the newer one holds, while the newer
/// one waits for the older to commit.
pub async fn deletes_reach_beyond(client: &Client, table: &Table) -> Result<bool, TargetError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = c.oid) \
             OR EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal) \
             OR EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = c.oid AND rulename <> '_RETURN') \
             FROM pg_class c WHERE c.oid = $1::text::regclass",
            &[&table.qualified()],
        )
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}
