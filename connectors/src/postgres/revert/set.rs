//! A journal batch undone with one statement for each kind of change
//! instead of one a row: the created rows deleted, the updated rows
//! restored, the deleted rows inserted again, each statement reading the
//! batch's keys, written values and before-images from arrays. The guard
//! is the same SQL as a row's ([`Undo::unchanged`]'s rule, per row of the
//! arrays), so a row changed since the run is left as it is; the rows a
//! statement did not undo (changed, or gone) are then undone one by one,
//! which finds and names the reason as before.
//!
//! A batch is undone this way when its rows can be told apart (each has
//! its key, and no key comes twice: a row the run changed twice must be
//! restored in order) and, unless the rollback is forced, each created or
//! updated row has its written values (journals written before those were
//! recorded keep their row-version rule, row by row). Statements run
//! deletes first, then restores, then inserts, so a unique value freed by
//! one is free for the next; a statement that fails for a reason of the
//! data fails the attempt, and the batch is undone row by row under
//! savepoints, as before.

use super::{undo_one, Undone};
use crate::journal::{Action, Change};
use crate::postgres::table::quote;
use crate::postgres::undo::{written_text, Param, Undo, Written};
use std::collections::{HashMap, HashSet};
use tokio_postgres::Transaction;

/// Whether `changes` can be undone set-wise (see the module's notes).
pub(super) fn fits(undo: &Undo<'_>, changes: &[Change]) -> bool {
    let mut keys = HashSet::with_capacity(changes.len());
    changes.iter().all(|change| {
        let known = !change.key.is_empty() && change.key.len() == undo.key_columns.len();
        let guarded = undo.force
            || change.action == Action::Deleted
            || change
                .wrote
                .as_ref()
                .is_some_and(|w| w.len() == undo.written.len());
        known && guarded && keys.insert(&change.key)
    })
}

/// Undoes `changes` (newest first), set-wise where it can: what each came
/// to, in their order.
pub(super) async fn undo_all(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    changes: &[Change],
) -> Result<Vec<Undone>, tokio_postgres::Error> {
    let mut done: Vec<Option<Undone>> = changes.iter().map(|_| None).collect();
    let of = |action: Action| -> Vec<usize> {
        (0..changes.len())
            .filter(|&i| changes[i].action == action)
            .collect()
    };
    for (i, version) in delete_created(transaction, undo, changes, &of(Action::Created)).await? {
        done[i] = Some(Undone::Done("deleted", version));
    }
    let updated: Vec<usize> = of(Action::Updated)
        .into_iter()
        .filter(|&i| changes[i].before.is_some())
        .collect();
    for (i, version) in restore_updated(transaction, undo, changes, &updated).await? {
        done[i] = Some(Undone::Done("restored", version));
    }
    for (i, version) in reinsert_deleted(transaction, undo, changes, &of(Action::Deleted)).await? {
        done[i] = Some(Undone::Done("reinserted", version));
    }
    // The rest, one by one: each finds why it was not undone.
    let rest = futures_util::future::join_all(
        changes
            .iter()
            .zip(&done)
            .filter(|(_, done)| done.is_none())
            .map(|(change, _)| undo_one(transaction, undo, change)),
    )
    .await;
    let mut rest = rest.into_iter();
    done.into_iter()
        .map(|undone| match undone {
            Some(undone) => Ok(undone),
            None => rest
                .next()
                .unwrap_or_else(|| Ok(Undone::Conflict("the row was not undone".into()))),
        })
        .collect()
}

/// The arrays a statement reads: the changes' positions, their keys and
/// (for a guard) their written values, as `unnest(...) AS j(n, k0.., w0..)`
/// plus `extra` arrays named after them.
struct Arrays<'c> {
    positions: Vec<i64>,
    keys: Vec<Vec<&'c str>>,
    wrote: Vec<Vec<Option<Written<'c>>>>,
    images: Vec<&'c str>,
}

impl<'c> Arrays<'c> {
    fn of(undo: &Undo<'_>, changes: &'c [Change], picked: &[usize], guarded: bool) -> Self {
        let mut arrays = Self {
            positions: picked.iter().map(|&i| i as i64).collect(),
            keys: vec![Vec::with_capacity(picked.len()); undo.key_columns.len()],
            wrote: if guarded {
                vec![Vec::with_capacity(picked.len()); undo.written.len()]
            } else {
                Vec::new()
            },
            images: Vec::new(),
        };
        for &i in picked {
            let change = &changes[i];
            for (column, value) in arrays.keys.iter_mut().zip(&change.key) {
                column.push(value);
            }
            if guarded {
                let values = written_text(change).unwrap_or_default();
                for (column, value) in arrays.wrote.iter_mut().zip(values) {
                    column.push(value);
                }
            }
            if let Some(image) = &change.before {
                arrays.images.push(image);
            }
        }
        arrays
    }

    /// `unnest($1::bigint[], ...) AS j(n, k0, ..., w0, ..., b)`, and its
    /// parameters.
    fn unnest<'p>(&'p self, with_images: bool, params: &mut Vec<Param<'p>>) -> String {
        let mut arrays = Vec::new();
        let mut names = Vec::new();
        params.push(&self.positions);
        arrays.push(format!("${}::bigint[]", params.len()));
        names.push("n".to_owned());
        for (i, keys) in self.keys.iter().enumerate() {
            params.push(keys);
            arrays.push(format!("${}::text[]", params.len()));
            names.push(format!("k{i}"));
        }
        for (i, wrote) in self.wrote.iter().enumerate() {
            params.push(wrote);
            arrays.push(format!("${}::text[]", params.len()));
            names.push(format!("w{i}"));
        }
        if with_images {
            params.push(&self.images);
            arrays.push(format!("${}::text[]", params.len()));
            names.push("b".to_owned());
        }
        format!("unnest({}) AS j({})", arrays.join(", "), names.join(", "))
    }
}

/// `s.k0` matched against the row's key, `s.w0`... against what the run
/// wrote (none when forced), with `s` the alias of the arrays.
fn key_and_guard(undo: &Undo<'_>, s: &str) -> String {
    let mut terms: Vec<String> = undo
        .key_columns
        .iter()
        .enumerate()
        .map(|(i, k)| format!("t.{} = {s}.k{i}::text::{}", quote(k), undo.sql_type(k)))
        .collect();
    if !undo.force {
        terms.extend(undo.written.iter().enumerate().map(|(i, column)| {
            format!(
                "t.{}::text IS NOT DISTINCT FROM ({s}.w{i}::text::{})::text",
                quote(column),
                undo.sql_type(column)
            )
        }));
    }
    terms.join(" AND ")
}

/// Deletes the created rows still as the run left them: their positions.
async fn delete_created(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    changes: &[Change],
    picked: &[usize],
) -> Result<Vec<(usize, Option<String>)>, tokio_postgres::Error> {
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let arrays = Arrays::of(undo, changes, picked, !undo.force);
    let mut params = Vec::new();
    let source = arrays.unnest(false, &mut params);
    let sql = format!(
        "DELETE FROM {} t USING {source} WHERE {} RETURNING j.n",
        undo.table.qualified(),
        key_and_guard(undo, "j"),
    );
    let rows = transaction.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|row| (row.get::<_, i64>(0) as usize, None))
        .collect())
}

/// Restores the updated rows still as the run left them, in the columns
/// the run wrote: their positions and the versions left.
async fn restore_updated(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    changes: &[Change],
    picked: &[usize],
) -> Result<Vec<(usize, Option<String>)>, tokio_postgres::Error> {
    if picked.is_empty() || undo.written.is_empty() {
        return Ok(Vec::new());
    }
    let table = undo.table.qualified();
    let arrays = Arrays::of(undo, changes, picked, !undo.force);
    let mut params = Vec::new();
    let source = arrays.unnest(true, &mut params);
    let sets: Vec<String> = undo
        .written
        .iter()
        .map(|c| format!("{} = (s.before).{}", quote(c), quote(c)))
        .collect();
    let sql = format!(
        "UPDATE {table} t SET {} FROM (SELECT j.*, \
         jsonb_populate_record(NULL::{table}, j.b::jsonb) AS before FROM {source}) s \
         WHERE {} RETURNING s.n, t.xmin::text",
        sets.join(", "),
        key_and_guard(undo, "s"),
    );
    let rows = transaction.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .map(|row| (row.get::<_, i64>(0) as usize, Some(row.get(1))))
        .collect())
}

/// Inserts the deleted rows again from their before-images, where no row
/// has taken their place: their positions and the versions left. Only
/// images that hold the same columns go in one statement; the others are
/// left to be inserted one by one.
async fn reinsert_deleted(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    changes: &[Change],
    picked: &[usize],
) -> Result<Vec<(usize, Option<String>)>, tokio_postgres::Error> {
    let present = |image: &str| -> Option<Vec<String>> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(image).ok()?;
        let columns: Vec<String> = undo
            .table
            .columns
            .iter()
            .filter(|c| object.contains_key(&c.name))
            .map(|c| c.name.clone())
            .collect();
        (!columns.is_empty()).then_some(columns)
    };
    let mut columns: Option<Vec<String>> = None;
    let mut same = Vec::with_capacity(picked.len());
    for &i in picked {
        let Some(found) = changes[i].before.as_deref().and_then(present) else {
            continue;
        };
        match &columns {
            None => {
                columns = Some(found);
                same.push(i);
            }
            Some(first) if *first == found => same.push(i),
            Some(_) => {}
        }
    }
    let Some(columns) = columns else {
        return Ok(Vec::new());
    };
    let table = undo.table.qualified();
    let arrays = Arrays::of(undo, changes, &same, false);
    let listed: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let values: Vec<String> = columns
        .iter()
        .map(|c| format!("(s.before).{}", quote(c)))
        .collect();
    let keys: Vec<String> = undo
        .key_columns
        .iter()
        .map(|k| format!("{}::text", quote(k)))
        .collect();
    let params: Vec<Param<'_>> = vec![&arrays.images];
    let sql = format!(
        "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE \
         SELECT {} FROM (SELECT jsonb_populate_record(NULL::{table}, b::jsonb) AS before \
         FROM unnest($1::text[]) AS b) s \
         ON CONFLICT DO NOTHING RETURNING ARRAY[{}]::text[], xmin::text",
        listed.join(", "),
        values.join(", "),
        keys.join(", "),
    );
    let position: HashMap<&[String], usize> = same
        .iter()
        .map(|&i| (changes[i].key.as_slice(), i))
        .collect();
    let rows = transaction.query(&sql, &params).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let key: Vec<String> = row.get(0);
            let at = position.get(key.as_slice())?;
            Some((*at, Some(row.get(1))))
        })
        .collect())
}
