//! Inserts: a batch sent with COPY, each new row's key known (mapped, or
//! taken from the key's sequence first) so that a rollback can find it.
//! Should COPY fail, it is tried once more after the batch before has
//! committed (a row may refer to one of that batch); should it fail again
//! (a constraint the checks could not see), the batch is written row by
//! row ([`super::row_by_row`]).

use super::batch::begin;
use super::checkpoint::{mark, After, Checkpoint};
use super::copy_text::CopyText;
use super::error::{db_error, TargetError};
use super::row_by_row::{one_by_one, RowByRow};
use super::table::{quote, Table};
use super::writer::{Insert, Written};
use crate::journal::{Action, Change};
use futures_util::SinkExt;
use std::future::Future;
use std::sync::Arc;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

/// Inserts a batch with COPY and records its checkpoint, in one
/// transaction (see the module's documentation for what happens should
/// COPY fail).
#[expect(clippy::too_many_arguments, reason = "the batch's whole context")]
pub(super) async fn insert_batch<H, F>(
    client: &mut Client,
    table: &Table,
    targets: &[&str],
    rows: Vec<Insert>,
    copy_text: Option<CopyText>,
    refused: i64,
    run: Uuid,
    after: After,
    before_commit: H,
) -> Result<(Arc<Written>, Checkpoint), TargetError>
where
    H: Fn(Arc<Written>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let mut columns: Vec<String> = targets.iter().map(|t| quote(t)).collect();
    let key = table.single_key();
    let key_index = key.and_then(|k| targets.iter().position(|t| *t == k));
    let generated = key_index.is_none() && key.is_some() && table.key_sequence.is_some();
    let transaction = begin(client).await?;
    // The rows COPY writes carry the transaction's id as their version.
    let (keys, version) = match (generated, key, &table.key_sequence) {
        (true, Some(key), Some(sequence)) => {
            let taken = take_keys(&transaction, sequence, rows.len()).await?;
            columns.push(quote(key));
            taken
        }
        _ => (Vec::new(), transaction_version(&transaction).await?),
    };
    let copy = copy_statement(table, &columns, !keys.is_empty());
    let identity = Identity::of(table, targets, !keys.is_empty());
    let mut rows = rows;
    let (text, from_text) = copy_text_of(&mut rows, copy_text, &identity);
    let payload = bytes::Bytes::from(copy_payload(&text, &keys));
    let count = rows.len() as i64;
    // The journal keeps the values sent (a rollback compares them in the
    // column's type): as COPY's text when the rows came as that alone.
    let text = Arc::new(text);
    let as_text = from_text.then(|| text.clone());

    let written = written_as(&rows, &identity, &keys, &version, &as_text);
    let copied = copy_attempt(
        transaction,
        &copy,
        payload.clone(),
        &written,
        &before_commit,
    );
    if let Some(transaction) = copied.await? {
        let next = after.await?.next(count, refused);
        commit_copied(transaction, table, run, next).await?;
        return Ok((written, next));
    }
    let previous = after.await?;
    // Rows may refer (by a foreign key) to rows of the batch before, which
    // COPY could not see until that batch committed: now it has, COPY once
    // more before writing row by row.
    let transaction = begin(client).await?;
    let version = transaction_version(&transaction).await?;
    let written = written_as(&rows, &identity, &keys, &version, &as_text);
    let copied = copy_attempt(transaction, &copy, payload, &written, &before_commit);
    if let Some(transaction) = copied.await? {
        let next = previous.next(count, refused);
        commit_copied(transaction, table, run, next).await?;
        return Ok((written, next));
    }
    if from_text {
        fill_values(&mut rows, &text);
    }
    let batch = RowByRow {
        table,
        columns: &columns,
        rows: &rows,
        keys: &keys,
        identity: &identity,
    };
    one_by_one(client, &batch, refused, run, previous, before_commit).await
}

/// Takes `n` keys from `sequence`: the keys, and the transaction's id as
/// its rows' `xmin` shows it.
async fn take_keys(
    transaction: &Transaction<'_>,
    sequence: &str,
    n: usize,
) -> Result<(Vec<i64>, String), TargetError> {
    // One row holding every key, in binary: far cheaper to send and
    // read than a row per key. The sequence's name is looked up once
    // (OFFSET 0 keeps the planner from doing it for every key).
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let taken = transaction
        .query_one(
            "SELECT array_agg(nextval(q.sequence)), (txid_current() % 4294967296)::text \
             FROM (SELECT $1::text::regclass AS sequence OFFSET 0) q, \
                  generate_series(1, $2::int8)",
            &[&sequence, &n],
        )
        .await
        .map_err(db_error)?;
    Ok((taken.get(0), taken.get(1)))
}

/// The COPY statement for `columns`; a generated key (the last of them)
/// goes first, so that it is put before each row's text as it is.
fn copy_statement(table: &Table, columns: &[String], key_first: bool) -> String {
    let copy_columns: Vec<&str> = if key_first {
        columns
            .last()
            .into_iter()
            .chain(&columns[..columns.len() - 1])
            .map(String::as_str)
            .collect()
    } else {
        columns.iter().map(String::as_str).collect()
    };
    format!(
        "COPY {} ({}) FROM STDIN",
        table.qualified(),
        copy_columns.join(", ")
    )
}

/// The batch's rows in COPY's text format, and whether they came so (the
/// values of a mapped key are then read back from it, and no other), or
/// built from their values.
fn copy_text_of(
    rows: &mut [Insert],
    copy_text: Option<CopyText>,
    identity: &Identity,
) -> (CopyText, bool) {
    match copy_text {
        Some(text) if text.len() == rows.len() => {
            let positions = identity.value_positions();
            if !positions.is_empty() {
                let width = positions.iter().max().map_or(0, |at| at + 1);
                for (i, row) in rows.iter_mut().enumerate() {
                    row.values = vec![None; width];
                    for (at, value) in text.fields(i, &positions) {
                        row.values[at] = value;
                    }
                }
            }
            (text, true)
        }
        _ => {
            let mut text = CopyText::default();
            for row in rows.iter() {
                text.push_row(&row.values);
            }
            (text, false)
        }
    }
}

/// What COPY is sent: the rows' text, each row after its generated key
/// when there are keys.
fn copy_payload(text: &CopyText, keys: &[i64]) -> Vec<u8> {
    if keys.is_empty() {
        return text.text.clone();
    }
    let mut buffer = Vec::with_capacity(text.text.len() + keys.len() * 12);
    let mut start = 0;
    let mut number = itoa::Buffer::new();
    for (key, &end) in keys.iter().zip(&text.ends) {
        buffer.extend_from_slice(number.format(*key).as_bytes());
        buffer.push(b'\t');
        buffer.extend_from_slice(&text.text[start..end]);
        start = end;
    }
    buffer
}

/// Every row of the batch as created, at `version`, as the journal
/// records them once COPY has written them: the values written are the
/// rows' text in `copied` when they came as that, or their own.
fn written_as(
    rows: &[Insert],
    identity: &Identity,
    keys: &[i64],
    version: &str,
    copied: &Option<Arc<CopyText>>,
) -> Arc<Written> {
    let ok = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Change {
            number: r.number,
            action: Action::Created,
            key: identity.key_with(i, r, keys),
            version: version.to_owned(),
            before: None,
            wrote: copied.is_none().then(|| sent(&r.values)),
        })
        .collect();
    Arc::new(Written {
        ok,
        failed: Vec::new(),
        copied: copied.clone(),
    })
}

/// Sends a batch's rows to `COPY ... FROM STDIN` while `before_commit`
/// writes what is about to be committed: the transaction back, to commit,
/// or `None` (rolled back) if COPY refused the rows.
async fn copy_attempt<'a, H, F>(
    transaction: Transaction<'a>,
    copy: &str,
    payload: bytes::Bytes,
    written: &Arc<Written>,
    before_commit: &H,
) -> Result<Option<Transaction<'a>>, TargetError>
where
    H: Fn(Arc<Written>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let copy_rows = async {
        let sink = transaction.copy_in(copy).await?;
        futures_util::pin_mut!(sink);
        sink.send(payload).await?;
        sink.finish().await
    };
    let (copied, agreed_to) = futures_util::join!(copy_rows, before_commit(written.clone()));
    if copied.is_err() {
        transaction.rollback().await.map_err(db_error)?;
        return Ok(None);
    }
    agreed_to.map_err(TargetError::Aborted)?;
    Ok(Some(transaction))
}

/// Records the checkpoint of a batch that COPY wrote, and commits.
async fn commit_copied(
    transaction: Transaction<'_>,
    table: &Table,
    run: Uuid,
    next: Checkpoint,
) -> Result<(), TargetError> {
    mark(&transaction, table, run, next).await?;
    transaction.commit().await.map_err(db_error)
}

/// The transaction's id as its rows' `xmin` shows it.
async fn transaction_version(transaction: &Transaction<'_>) -> Result<String, TargetError> {
    Ok(transaction
        .query_one("SELECT (txid_current() % 4294967296)::text", &[])
        .await
        .map_err(db_error)?
        .get(0))
}

/// How an inserted row's primary key is known: from its mapped values, or
/// from the keys taken from the sequence.
pub(super) struct Identity {
    /// Where each primary-key column is among the values; `None` for a key
    /// taken from the sequence.
    positions: Option<Vec<Option<usize>>>,
}

impl Identity {
    fn of(table: &Table, targets: &[&str], generated: bool) -> Self {
        let positions: Option<Vec<Option<usize>>> = table
            .primary_key
            .iter()
            .map(|k| match targets.iter().position(|t| t == k) {
                Some(at) => Some(Some(at)),
                None if generated => Some(None),
                None => None,
            })
            .collect();
        Self {
            positions: positions.filter(|p| !p.is_empty()),
        }
    }

    /// Where the key's mapped columns are among the rows' values.
    fn value_positions(&self) -> Vec<usize> {
        self.positions
            .iter()
            .flatten()
            .filter_map(|at| *at)
            .collect()
    }

    /// Row `i`'s key (taken from `generated` where the sequence made it);
    /// empty when it is not known.
    pub(super) fn key_with(&self, i: usize, row: &Insert, generated: &[i64]) -> Vec<String> {
        let Some(positions) = &self.positions else {
            return Vec::new();
        };
        positions
            .iter()
            .map(|at| match at {
                Some(at) => row.values.get(*at).cloned().flatten().unwrap_or_default(),
                None => generated.get(i).map(i64::to_string).unwrap_or_default(),
            })
            .collect()
    }
}

/// A row's values as its journal keeps them.
pub(super) fn sent(values: &[Option<String>]) -> Vec<serde_json::Value> {
    values
        .iter()
        .map(|v| {
            v.as_ref().map_or(serde_json::Value::Null, |v| {
                serde_json::Value::String(v.clone())
            })
        })
        .collect()
}

/// Gives rows that came as COPY's text alone their values back.
fn fill_values(rows: &mut [Insert], text: &CopyText) {
    for (row, values) in rows.iter_mut().zip(text.values()) {
        row.values = values;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            schema: "crm".into(),
            name: "people".into(),
            columns: Vec::new(),
            primary_key: vec!["id".into()],
            key_sequence: Some("crm.people_id_seq".into()),
            unique_keys: vec![vec!["id".into()]],
        }
    }

    #[test]
    fn a_key_taken_from_the_sequence_goes_before_each_rows_text() {
        let mut text = CopyText::default();
        text.push_row(&[Some("Ada"), None]);
        text.push_row(&[Some("Grace"), Some("x\ty")]);
        assert_eq!(
            copy_payload(&text, &[41, 42]),
            b"41\tAda\t\\N\n42\tGrace\tx\\ty\n"
        );
        assert_eq!(copy_payload(&text, &[]), b"Ada\t\\N\nGrace\tx\\ty\n");

        let columns = vec![quote("name"), quote("note"), quote("id")];
        assert_eq!(
            copy_statement(&table(), &columns, true),
            "COPY \"crm\".\"people\" (\"id\", \"name\", \"note\") FROM STDIN"
        );
        assert_eq!(
            copy_statement(&table(), &columns[..2], false),
            "COPY \"crm\".\"people\" (\"name\", \"note\") FROM STDIN"
        );
    }

    #[test]
    fn an_inserted_rows_key_is_read_from_its_values_or_the_keys_taken() {
        let row = Insert {
            number: 7,
            values: vec![Some("Ada".into()), Some("9".into())],
        };
        let mapped = Identity::of(&table(), &["name", "id"], false);
        assert_eq!(mapped.value_positions(), [1]);
        assert_eq!(mapped.key_with(0, &row, &[]), ["9"]);

        let generated = Identity::of(&table(), &["name"], true);
        assert!(generated.value_positions().is_empty());
        assert_eq!(generated.key_with(1, &row, &[40, 41]), ["41"]);

        let unknown = Identity::of(&table(), &["name"], false);
        assert!(unknown.key_with(0, &row, &[]).is_empty());
    }

    #[test]
    fn rows_that_came_as_copy_text_get_their_key_alone_and_keep_their_text() {
        let mut text = CopyText::default();
        text.push_row(&[Some("Ada\tLovelace"), Some("9"), None]);
        text.push_row(&[Some("Grace"), Some("1\\0"), Some("x")]);
        let mut rows: Vec<Insert> = [3, 4]
            .map(|number| Insert {
                number,
                values: Vec::new(),
            })
            .into();
        let identity = Identity::of(&table(), &["name", "id", "note"], false);
        let (text, from_text) = copy_text_of(&mut rows, Some(text), &identity);
        assert!(from_text);
        assert_eq!(rows[0].values, [None, Some("9".into())]);
        assert_eq!(identity.key_with(1, &rows[1], &[]), ["1\\0"]);
        let copied = Some(Arc::new(text));
        let written = written_as(&rows, &identity, &[], "77", &copied);
        assert_eq!(written.ok[1].key, ["1\\0"]);
        assert_eq!(written.ok[0].wrote, None, "kept as the text");
        let kept = written.copied.as_ref().unwrap();
        assert_eq!(kept.row(0), b"Ada\\tLovelace\t9\t\\N");
        assert_eq!(kept.row(1), b"Grace\t1\\\\0\tx");
        assert_eq!(kept.row(2), b"");
    }
}
