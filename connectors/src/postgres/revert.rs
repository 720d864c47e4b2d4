//! Rollback: a run's journal undone, newest change first. A created row is
//! deleted, an updated row gets its before-image back, a deleted row is
//! inserted again. A row whose version is no longer the one the run left
//! was changed by someone since: it is reported as a conflict and left as
//! it is, unless the rollback is forced. A row that someone created since
//! in a deleted row's place is never overwritten, forced or not.
//!
//! Each journal batch is undone in one transaction with its checkpoint
//! marker, like a run's batch; the statements of a batch are sent
//! together, and should one fail for a reason of the data, the batch is
//! undone again row by row, each under a savepoint.

use super::{
    begin, db_error, describe_error, mark, quote, under_savepoint, Checkpoint, Table, TargetError,
};
use crate::journal::{Action, Change};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

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

/// What a rollback undoes, and how.
pub struct Undo<'a> {
    pub table: &'a Table,
    /// The columns that name a row in the journal.
    pub key_columns: &'a [String],
    /// The columns the run wrote besides the key: what an update restores.
    pub written: &'a [String],
    /// Undo rows changed since the run all the same.
    pub force: bool,
    /// Row versions that this rollback's own earlier batches left: a row
    /// the run changed twice is restored once per change.
    pub own_versions: &'a [String],
}

impl Undo<'_> {
    fn key_match(&self, first: usize) -> String {
        self.key_columns
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let sql_type = self
                    .table
                    .column(k)
                    .map(|c| c.sql_type.as_str())
                    .unwrap_or("text");
                format!("t.{} = ${}::text::{sql_type}", quote(k), first + i)
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The guard that the row is as the run left it (`$1` its version,
    /// `$2` this rollback's own versions).
    fn unchanged(&self) -> &'static str {
        if self.force {
            "($1::text IS NULL OR TRUE) AND ($2::text[] IS NULL OR TRUE)"
        } else {
            "(t.xmin::text = $1::text OR t.xmin::text = ANY($2::text[]))"
        }
    }
}

enum Undone {
    /// What was done, and the version the write left.
    Done(&'static str, Option<String>),
    Conflict(String),
}

async fn undo_one(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    change: &Change,
) -> Result<Undone, tokio_postgres::Error> {
    let table = undo.table.qualified();
    if change.key.len() != undo.key_columns.len() || change.key.is_empty() {
        return Ok(Undone::Conflict(
            "the row's key is not known (the table has no primary key, or the database made it \
             without a sequence), so it cannot be rolled back"
                .into(),
        ));
    }
    let keys = change.key.iter().map(|k| k as &(dyn ToSql + Sync));
    let exists = || async {
        let sql = format!("SELECT 1 FROM {table} t WHERE {}", undo.key_match(1));
        let params: Vec<&(dyn ToSql + Sync)> = change
            .key
            .iter()
            .map(|k| k as &(dyn ToSql + Sync))
            .collect();
        transaction
            .query_opt(&sql, &params)
            .await
            .map(|r| r.is_some())
    };
    match change.action {
        Action::Created => {
            let sql = format!(
                "DELETE FROM {table} t WHERE {} AND {} RETURNING 1",
                undo.key_match(3),
                undo.unchanged()
            );
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&change.version, &undo.own_versions];
            params.extend(keys);
            if transaction.query_opt(&sql, &params).await?.is_some() {
                return Ok(Undone::Done("deleted", None));
            }
            Ok(if exists().await? {
                Undone::Conflict(
                    "changed since the run, so it was left as it is (a forced rollback deletes it)"
                        .into(),
                )
            } else {
                Undone::Done("already_deleted", None)
            })
        }
        Action::Updated => {
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
            let sql = format!(
                "UPDATE {table} t SET {} FROM jsonb_populate_record(NULL::{table}, $3::text::jsonb) b \
                 WHERE {} AND {} RETURNING t.xmin::text",
                sets.join(", "),
                undo.key_match(4),
                undo.unchanged()
            );
            let mut params: Vec<&(dyn ToSql + Sync)> =
                vec![&change.version, &undo.own_versions, image];
            params.extend(keys);
            if let Some(row) = transaction.query_opt(&sql, &params).await? {
                return Ok(Undone::Done("restored", Some(row.get(0))));
            }
            Ok(Undone::Conflict(if exists().await? {
                "changed since the run, so it was left as it is (a forced rollback restores it)"
                    .into()
            } else {
                "deleted since the run, so it was not restored".into()
            }))
        }
        Action::Deleted => {
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
    }
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
/// and records the rollback's checkpoint, in one transaction.
pub async fn revert_batch(
    client: &mut Client,
    undo: &Undo<'_>,
    mut changes: Vec<Change>,
    run: Uuid,
    checkpoint: Checkpoint,
    before_commit: impl FnOnce(&Reverted) -> Result<(), String>,
) -> Result<Reverted, TargetError> {
    changes.reverse();
    let transaction = begin(client).await?;
    let all = futures_util::future::join_all(
        changes
            .iter()
            .map(|change| undo_one(&transaction, undo, change)),
    )
    .await;
    let mut reverted = Reverted::default();
    let mut failed_statement = None;
    for (change, undone) in changes.iter().zip(all) {
        match undone {
            Ok(undone) => record(&mut reverted, change, undone),
            Err(e) => {
                failed_statement = Some(e);
                break;
            }
        }
    }
    let transaction = match failed_statement {
        None => transaction,
        Some(e) if e.as_db_error().is_some() => {
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
        Some(e) => return Err(db_error(e)),
    };
    let next = checkpoint.next(reverted.ok.len() as i64, reverted.failed.len() as i64);
    let version = mark(&transaction, undo.table, run, next).await?;
    reverted.versions.push(version);
    reverted.versions.sort_unstable();
    reverted.versions.dedup();
    before_commit(&reverted).map_err(TargetError::Aborted)?;
    transaction.commit().await.map_err(db_error)?;
    Ok(reverted)
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
                super::checkpoints(table)
            ),
            &[&run],
        )
        .await
        .map_err(db_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
