//! A run's writes to a Salesforce object: the mapped fields checked
//! against the object's description once, each row turned into a record,
//! the records a write changes read just before it (their before-images,
//! for a rollback), then the write, 200 records a call.

use super::{field_value, Describe, Field, Operation, Salesforce, SalesforceError};
use crate::journal::Action;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How one mapped field is written.
struct Target {
    field: Field,
    /// For a reference set by another record's external id: that field.
    by: Option<String>,
}

/// A run's writes to one object.
pub struct Writer {
    object: String,
    operation: Operation,
    targets: Vec<Target>,
    /// The field that names a row: `Id` (update, delete) or the upsert's
    /// external id field; its place among the targets.
    key: Option<(String, usize)>,
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
                    by: by.map(str::to_owned),
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
        Ok(Self {
            object: describe.name.clone(),
            operation,
            targets: resolved,
            key,
        })
    }

    /// Row `values`' record (in the targets' order); why the row cannot be
    /// written otherwise. An insert leaves out the fields without a value;
    /// an update clears them.
    pub fn record(&self, values: &[Option<String>]) -> Result<Map<String, Value>, String> {
        let mut record = Map::new();
        for (target, value) in self.targets.iter().zip(values) {
            let (name, value) = field_value(&target.field, target.by.as_deref(), value.as_deref())?;
            if value.is_null() && self.operation == Operation::Insert {
                continue;
            }
            record.insert(name, value);
        }
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
        Ok(record)
    }

    /// Writes a batch of rows (source row number and mapped values): rows
    /// that cannot become records fail first; updates and upserts read the
    /// records they change before writing them.
    pub async fn write(
        &self,
        sf: &Salesforce,
        rows: &[(u64, Vec<Option<String>>)],
    ) -> Result<Written, SalesforceError> {
        let mut written = Written::default();
        let mut ready: Vec<(u64, Map<String, Value>, Option<String>)> = Vec::new();
        for (number, values) in rows {
            match self.record(values) {
                Ok(record) => {
                    let key = self
                        .key
                        .as_ref()
                        .and_then(|(_, at)| values.get(*at).cloned().flatten());
                    ready.push((*number, record, key));
                }
                Err(reason) => written.failed.push((*number, reason)),
            }
        }
        let before = self.before_images(sf, &ready).await?;
        let numbers: Vec<(u64, Option<String>)> =
            ready.iter().map(|(n, _, key)| (*n, key.clone())).collect();
        let records = ready.into_iter().map(|(_, record, _)| record).collect();
        let external = match self.operation {
            Operation::Upsert => self.key.as_ref().map(|(key, _)| key.as_str()),
            _ => None,
        };
        let results = sf
            .save(self.operation, &self.object, external, records)
            .await?;
        for ((number, key), result) in numbers.into_iter().zip(results) {
            let Some(id) = result.id.clone().filter(|_| result.success) else {
                written.failed.push((number, result.reason()));
                continue;
            };
            let action = match (self.operation, result.created) {
                (Operation::Insert, _) | (Operation::Upsert, Some(true)) => Action::Created,
                (Operation::Delete, _) => Action::Deleted,
                _ => Action::Updated,
            };
            let before = match (action, self.operation) {
                (Action::Updated, Operation::Update) => before.get(&id).cloned(),
                (Action::Updated, _) => key.and_then(|k| before.get(&k.to_lowercase()).cloned()),
                _ => None,
            };
            written.saved.push(Saved {
                number,
                id,
                action,
                before,
            });
        }
        written.failed.sort_by_key(|(n, _)| *n);
        Ok(written)
    }

    /// The records an update or upsert is about to change, with the fields
    /// it writes: an update's by their `Id` (as Salesforce gives it, 18
    /// characters), an upsert's by their external id in lower case
    /// (Salesforce matches it without regard to case).
    async fn before_images(
        &self,
        sf: &Salesforce,
        ready: &[(u64, Map<String, Value>, Option<String>)],
    ) -> Result<HashMap<String, Map<String, Value>>, SalesforceError> {
        let Some((key, _)) = self
            .key
            .as_ref()
            .filter(|_| matches!(self.operation, Operation::Update | Operation::Upsert))
        else {
            return Ok(HashMap::new());
        };
        let keys: Vec<String> = ready.iter().filter_map(|(_, _, k)| k.clone()).collect();
        let mut fields: Vec<&str> = vec!["Id"];
        for target in &self.targets {
            if !fields
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&target.field.name))
            {
                fields.push(&target.field.name);
            }
        }
        let found = sf
            .records_by(&self.object, key, &keys, &fields, false)
            .await?;
        let by_id = self.operation == Operation::Update;
        Ok(found
            .into_iter()
            .filter_map(|record| {
                let value = record.get(key.as_str())?.as_str()?;
                let value = if by_id {
                    value.to_owned()
                } else {
                    value.to_lowercase()
                };
                Some((value, record))
            })
            .collect())
    }
}
