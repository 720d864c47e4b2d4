//! A run's writes to a Salesforce object: the mapped fields checked
//! against the object's description once, each row turned into a record,
//! the records a write changes read just before it (their before-images,
//! for a rollback), then the write, 200 records a call.

mod bulk;
mod calls;
pub mod targets;

use super::{field_value, Describe, Field, Operation, RelatedKey};
use crate::journal::Action;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How one mapped field is written.
struct Target {
    field: Field,
    /// For a reference set by another record's external id: that record's
    /// object and external id field.
    by: Option<RelatedKey>,
}

/// A run's writes to one object.
pub struct Writer {
    object: String,
    operation: Operation,
    targets: Vec<Target>,
    /// The field that names a row: `Id` (update, delete) or the upsert's
    /// external id field; its place among the targets.
    key: Option<(String, usize)>,
    /// Whether Salesforce matches an upsert's key without regard to case
    /// (see [`Field::key_ignores_case`]).
    key_ignores_case: bool,
    /// Whether a blank value leaves its field as it is in an update or
    /// upsert (left out of the record; an empty Bulk cell), instead of
    /// clearing it (`null`; `#N/A` in Bulk).
    leave_blanks: bool,
}

/// What a batch's write did to one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The source row number.
    pub number: u64,
    pub id: String,
    pub action: Action,
    /// The record as it was just before the write (updated rows): the
    /// fields the write changes, and `Id`.
    pub before: Option<Map<String, Value>>,
    /// What the write sent to each mapped field, in the targets' order
    /// (see [`Writer::wrote`]).
    pub wrote: Vec<Value>,
}

/// The records a write changes, as they were just before it: an update's
/// by their `Id`, an upsert's by their external id (in lower case when
/// Salesforce matches it without regard to case).
pub type BeforeImages = HashMap<String, Map<String, Value>>;

/// A record ready to write: its source row number, the record, its key
/// value, and what it sends to each mapped field (see [`Writer::wrote`]).
type Ready = (u64, Map<String, Value>, Option<String>, Vec<Value>);

/// A batch's rows made ready to write: the records (with their source row
/// number and key value), the rows that cannot be written, and the
/// before-images of the records the write changes.
#[derive(Debug, Default)]
pub struct Prepared {
    records: Vec<Ready>,
    pub failed: Vec<(u64, String)>,
    pub before: BeforeImages,
}

impl Prepared {
    /// The key values of the records (those before-images are read by).
    pub fn keys(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|(_, _, k, _)| k.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The source row numbers of the records.
    pub fn numbers(&self) -> Vec<u64> {
        self.records.iter().map(|(n, _, _, _)| *n).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What a batch's write did.
#[derive(Debug, Default)]
pub struct Written {
    pub saved: Vec<Saved>,
    /// Source row number and why the row was not written.
    pub failed: Vec<(u64, String)>,
}

impl Writer {
    /// Checks the mapped fields (`targets`) and the key against the object
    /// for `operation`; the reason, naming the field, if they do not fit.
    pub fn new(
        describe: &Describe,
        operation: Operation,
        targets: &[&str],
        key_fields: &[String],
    ) -> Result<Self, String> {
        let key = match (operation, key_fields) {
            (Operation::Insert, []) => None,
            (Operation::Insert, _) => return Err("an insert takes no key fields".into()),
            (Operation::Upsert, [key]) => Some(key.as_str()),
            (Operation::Upsert, _) => {
                return Err("an upsert takes one key field: its external id field".into())
            }
            (_, []) => Some("Id"),
            (_, [key]) if key.eq_ignore_ascii_case("Id") => Some("Id"),
            (_, _) => return Err("updates and deletes name their records by Id".into()),
        };
        describe.check(operation, targets, key)?;
        let resolved: Vec<Target> = targets
            .iter()
            .map(|t| {
                describe.target(t).map(|(field, by)| Target {
                    field: field.clone(),
                    by,
                })
            })
            .collect::<Result<_, _>>()?;
        let key = key.map(|key| {
            let at = resolved
                .iter()
                .position(|t| t.by.is_none() && t.field.name.eq_ignore_ascii_case(key))
                .unwrap_or_default();
            (resolved[at].field.name.clone(), at)
        });
        let key_ignores_case = operation == Operation::Upsert
            && key
                .as_ref()
                .and_then(|(_, at)| resolved.get(*at))
                .is_some_and(|t| t.field.key_ignores_case());
        Ok(Self {
            object: describe.name.clone(),
            operation,
            targets: resolved,
            key,
            key_ignores_case,
            leave_blanks: false,
        })
    }

    /// The same, with blank values leaving the fields an update or upsert
    /// changes as they are (`leave`), or clearing them (as by default).
    pub fn leaving_blanks(mut self, leave: bool) -> Self {
        self.leave_blanks = leave;
        self
    }

    /// Whether a blank value leaves its field out of the write: always in
    /// an insert, and in other writes when the job says so.
    pub fn leaves_blanks(&self) -> bool {
        self.leave_blanks || self.operation == Operation::Insert
    }

    /// Row `values`' record (in the targets' order); why the row cannot be
    /// written otherwise. An insert leaves out the fields without a value;
    /// an update clears them, or leaves them out too (see
    /// [`Writer::leaves_blanks`]).
    pub fn record(&self, values: &[Option<String>]) -> Result<Map<String, Value>, String> {
        let mut record = Map::new();
        for (target, value) in self.targets.iter().zip(values) {
            let (name, value) = field_value(&target.field, target.by.as_ref(), value.as_deref())?;
            if value.is_null() && self.leaves_blanks() {
                continue;
            }
            record.insert(name, value);
        }
        self.check_key(values)?;
        Ok(record)
    }

    /// What a row sends to each mapped field, as the journal keeps it for
    /// a rollback to compare: the value as sent, `null` for a field an
    /// update clears, and `{}` for what is not compared: a field left out
    /// (an insert's without a value, or an empty Bulk cell, which Bulk
    /// leaves as it is) and a reference set by an external id (the record
    /// holds the id Salesforce found, not the external id sent).
    pub fn wrote(&self, values: &[Option<String>]) -> Vec<Value> {
        self.targets
            .iter()
            .zip(values)
            .map(|(target, value)| {
                match field_value(&target.field, target.by.as_ref(), value.as_deref()) {
                    Ok((_, Value::Null)) if self.leaves_blanks() => not_compared(),
                    Ok((_, Value::Object(_))) | Err(_) => not_compared(),
                    Ok((_, value)) => value,
                }
            })
            .collect()
    }

    fn check_key(&self, values: &[Option<String>]) -> Result<(), String> {
        if let Some((key, at)) = &self.key {
            if values
                .get(*at)
                .cloned()
                .flatten()
                .is_none_or(|v| v.is_empty())
            {
                return Err(format!("{key}: a key field needs a value"));
            }
        }
        Ok(())
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The field that names a row: `Id`, or the upsert's external id.
    pub fn key_field(&self) -> Option<&str> {
        self.key.as_ref().map(|(key, _)| key.as_str())
    }

    /// The key value of each row (`Id`, or the upsert's external id):
    /// what the before-images are found by.
    pub fn key_of(&self, values: &[Option<String>]) -> Option<String> {
        self.key
            .as_ref()
            .and_then(|(_, at)| values.get(*at).cloned().flatten())
    }

    /// Turns a batch's rows (source row number and mapped values) into
    /// records, without any call; rows that cannot be written fail here.
    pub fn prepare(&self, rows: &[(u64, Vec<Option<String>>)]) -> Prepared {
        let mut prepared = Prepared::default();
        for (number, values) in rows {
            match self.record(values) {
                Ok(record) => prepared.records.push((
                    *number,
                    record,
                    self.key_of(values),
                    self.wrote(values),
                )),
                Err(reason) => prepared.failed.push((*number, reason)),
            }
        }
        prepared
    }
}

/// A field the journal keeps no comparable value for.
fn not_compared() -> Value {
    Value::Object(Map::new())
}
