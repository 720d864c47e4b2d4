//! What a run changed, row by row, as its rollback needs to know it: which
//! row (by its key), what was done to it, the values the write left in the
//! fields it wrote, the row version the write left behind, and the whole
//! row as it was before (for updated and deleted rows).
//!
//! A rollback decides conflicts by the written values: a row is in
//! conflict when a field the run wrote no longer holds what the run wrote
//! there. Fields the run did not write, and the row's version, may have
//! moved (a trigger, a flow, a roll-up) without a conflict. The values are
//! kept in the target's own form, so that comparing them is exact: for
//! PostgreSQL the text of the column's type, for Salesforce the values as
//! sent.
//!
//! The row version (PostgreSQL's `xmin`, Salesforce's `SystemModstamp`) is
//! what journals written before the values were recorded have: their
//! changes have no written values (`wrote` is `None`), and a rollback of
//! them keeps the rule they were written under, that a row whose version
//! moved is a conflict.
//!
//! A journal is written as CSV: a record naming the key columns, one
//! naming the columns the run wrote besides the key (what restoring an
//! updated row puts back), then one record per row changed; a change's
//! sixth cell, when there, holds the written values in the order of those
//! columns: a JSON array (`null` for a NULL), or, for rows PostgreSQL's
//! COPY wrote, `copy:` and the row as COPY's text format has it (fields
//! separated by tabs, `\N` for a NULL), which costs nothing to write and is
//! read back into values only when a rollback reads the journal. Callers
//! keep it encrypted.

use crate::postgres::copy_text::row_values;
use crate::postgres::CopyText;
use std::io::{Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Deleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "created" => Some(Self::Created),
            "updated" => Some(Self::Updated),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// One row a write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The source row number.
    pub number: u64,
    pub action: Action,
    /// The row's key values as text, in the journal's key-column order;
    /// empty when the key is not known (a table without a primary key).
    pub key: Vec<String>,
    /// The row version the write left (`xmin`); empty for deleted rows.
    pub version: String,
    /// The whole row before the write, as a JSON object (updated and
    /// deleted rows).
    pub before: Option<String>,
    /// What the write left in each of the journal's `set` columns, in
    /// their order (created and updated rows): for PostgreSQL a string (or
    /// `null`), for Salesforce the JSON value sent. `None` in journals
    /// written before these were recorded, and for deleted rows.
    pub wrote: Option<Vec<serde_json::Value>>,
}

impl Change {
    /// The key as one cell of a result file.
    pub fn key_text(&self) -> String {
        self.key.join(",")
    }
}

const KEY_MARK: &str = "#key";
const SET_MARK: &str = "#set";

/// What every change of a journal shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// The columns that name a row.
    pub key: Vec<String>,
    /// The columns the run wrote besides the key.
    pub set: Vec<String>,
}

/// The mark before a row's written values kept as COPY's text.
const COPY_MARK: &[u8] = b"copy:";

/// Writes a journal: its columns, then the changes. With `copied`, change
/// `i`'s written values are row `i` of that text (see the module's
/// documentation).
pub fn write(
    out: impl Write,
    columns: &Columns,
    changes: &[Change],
    copied: Option<&CopyText>,
) -> std::io::Result<()> {
    let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(out);
    csv.write_record(std::iter::once(KEY_MARK).chain(columns.key.iter().map(String::as_str)))?;
    csv.write_record(std::iter::once(SET_MARK).chain(columns.set.iter().map(String::as_str)))?;
    // One buffer for every row's key and number: nothing is allocated a row.
    let mut key = Vec::new();
    let mut wrote = Vec::new();
    let mut number = itoa::Buffer::new();
    for (i, change) in changes.iter().enumerate() {
        key.clear();
        serde_json::to_writer(&mut key, &change.key).map_err(std::io::Error::other)?;
        wrote.clear();
        if let Some(text) = copied {
            wrote.extend_from_slice(COPY_MARK);
            wrote.extend_from_slice(text.row(i));
        } else if let Some(values) = &change.wrote {
            serde_json::to_writer(&mut wrote, values).map_err(std::io::Error::other)?;
        }
        csv.write_record([
            number.format(change.number).as_bytes(),
            change.action.as_str().as_bytes(),
            change.version.as_bytes(),
            key.as_slice(),
            change.before.as_deref().unwrap_or("").as_bytes(),
            wrote.as_slice(),
        ])?;
    }
    csv.flush()
}

/// Reads a journal back: its columns and its changes.
pub fn read(input: impl Read) -> Result<(Columns, Vec<Change>), String> {
    let broken = |what: &str| format!("the run's change journal is damaged: {what}");
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut records = csv.records();
    let mut marked = |mark: &str| -> Result<Vec<String>, String> {
        let record = records
            .next()
            .ok_or_else(|| broken("it is cut short"))?
            .map_err(|e| broken(&e.to_string()))?;
        if record.get(0) != Some(mark) {
            return Err(broken("it does not start with its columns"));
        }
        Ok(record.iter().skip(1).map(str::to_owned).collect())
    };
    let columns = Columns {
        key: marked(KEY_MARK)?,
        set: marked(SET_MARK)?,
    };
    let mut changes = Vec::new();
    for record in records {
        let record = record.map_err(|e| broken(&e.to_string()))?;
        let field = |i: usize| record.get(i).unwrap_or_default();
        let number = field(0)
            .parse()
            .map_err(|_| broken("a row number is not a number"))?;
        let action = Action::parse(field(1)).ok_or_else(|| broken("an unknown action"))?;
        let key: Vec<String> =
            serde_json::from_str(field(3)).map_err(|_| broken("a key cannot be read"))?;
        let before = Some(field(4)).filter(|b| !b.is_empty()).map(str::to_owned);
        // A journal written before the values were recorded has no sixth
        // cell.
        let wrote = match field(5) {
            "" => None,
            cell => match cell.as_bytes().strip_prefix(COPY_MARK) {
                Some(text) => Some(
                    row_values(text)
                        .into_iter()
                        .map(|v| v.map_or(serde_json::Value::Null, serde_json::Value::String))
                        .collect(),
                ),
                None => Some(
                    serde_json::from_str::<Vec<serde_json::Value>>(cell)
                        .map_err(|_| broken("written values cannot be read"))?,
                ),
            },
        };
        if wrote.as_ref().is_some_and(|w| w.len() != columns.set.len()) {
            return Err(broken("written values do not match its columns"));
        }
        changes.push(Change {
            number,
            action,
            key,
            version: field(2).to_owned(),
            before,
            wrote,
        });
    }
    Ok((columns, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_reads_back_as_written() {
        let changes = vec![
            Change {
                number: 2,
                action: Action::Created,
                key: vec!["17".into()],
                version: "731".into(),
                before: None,
                wrote: Some(vec!["first".into()]),
            },
            Change {
                number: 3,
                action: Action::Updated,
                key: vec!["a,b".into(), "\"q\"".into()],
                version: "731".into(),
                before: Some(r#"{"id": 18, "note": "line\nbreak"}"#.into()),
                wrote: Some(vec![serde_json::Value::Null]),
            },
            Change {
                number: 4,
                action: Action::Deleted,
                key: vec!["19".into()],
                version: String::new(),
                before: Some(r#"{"id": 19}"#.into()),
                wrote: None,
            },
        ];
        let mut out = Vec::new();
        let columns = Columns {
            key: vec!["id".into(), "email".into()],
            set: vec!["note".into()],
        };
        write(&mut out, &columns, &changes, None).unwrap();
        let (back_columns, back) = read(out.as_slice()).unwrap();
        assert_eq!(back_columns, columns);
        assert_eq!(back, changes);
        assert!(read(&b"1,created,5,[],\n"[..]).is_err());
    }

    #[test]
    fn values_kept_as_copy_text_read_back_as_the_values_written() {
        let mut text = CopyText::default();
        text.push_row(&[Some("Ada, \"the\" first"), None, Some("tab\there\\")]);
        text.push_row(&[Some("[not json]"), Some("copy:"), Some("")]);
        let created = |number, key: &str| Change {
            number,
            action: Action::Created,
            key: vec![key.into()],
            version: "731".into(),
            before: None,
            wrote: None,
        };
        let changes = [created(2, "a"), created(3, "b")];
        let columns = Columns {
            key: vec!["id".into()],
            set: vec!["name".into(), "note".into(), "tag".into()],
        };
        let mut out = Vec::new();
        write(&mut out, &columns, &changes, Some(&text)).unwrap();
        let (_, back) = read(out.as_slice()).unwrap();
        let s = |v: &str| serde_json::Value::String(v.into());
        assert_eq!(
            back[0].wrote,
            Some(vec![
                s("Ada, \"the\" first"),
                serde_json::Value::Null,
                s("tab\there\\")
            ])
        );
        assert_eq!(
            back[1].wrote,
            Some(vec![s("[not json]"), s("copy:"), s("")])
        );
        assert_eq!(
            (back[1].number, back[1].key.clone()),
            (3, vec!["b".to_owned()])
        );
    }

    #[test]
    fn a_journal_written_before_values_were_recorded_reads_without_them() {
        let old = "#key,id\n#set,note\n2,updated,731,\"[\"\"18\"\"]\",\"{\"\"id\"\": 18}\"\n";
        let (columns, changes) = read(old.as_bytes()).unwrap();
        assert_eq!(columns.set, ["note"]);
        assert_eq!(changes[0].key, ["18"]);
        assert_eq!(changes[0].version, "731");
        assert_eq!(changes[0].wrote, None);
    }
}
