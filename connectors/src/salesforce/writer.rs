//! A run's writes to a Salesforce object: the mapped fields checked
//! against the object's description once, each row turned into a record,
//! the records a write changes read just before it (their before-images,
//! for a rollback), then the write, 200 records a call.

use super::{field_value, Describe, Field, Operation, RelatedKey, Salesforce, SalesforceError};
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
        })
    }

    /// Row `values`' record (in the targets' order); why the row cannot be
    /// written otherwise. An insert leaves out the fields without a value;
    /// an update clears them.
    pub fn record(&self, values: &[Option<String>]) -> Result<Map<String, Value>, String> {
        let mut record = Map::new();
        for (target, value) in self.targets.iter().zip(values) {
            let (name, value) = field_value(&target.field, target.by.as_ref(), value.as_deref())?;
            if value.is_null() && self.operation == Operation::Insert {
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
                    Ok((_, Value::Null)) if self.operation == Operation::Insert => not_compared(),
                    Ok((_, Value::Object(_))) | Err(_) => not_compared(),
                    Ok((_, value)) => value,
                }
            })
            .collect()
    }

    /// What a Bulk upload's cells send to each mapped field (see
    /// [`Writer::wrote`]): an empty cell writes nothing.
    pub fn bulk_wrote(&self, cells: &[Option<String>]) -> Vec<Value> {
        self.targets
            .iter()
            .zip(cells)
            .map(|(target, cell)| match cell {
                Some(text) if target.by.is_none() => Value::String(text.clone()),
                _ => not_compared(),
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

    /// The columns of a Bulk upload of this write: the fields, and a
    /// reference set by an external id as `Account.External_Id__c`
    /// (`RelationshipName.IndexedFieldName`), a polymorphic one with the
    /// related record's object, as `Opportunity:What.External_Id__c`
    /// (`ObjectType:RelationshipName.IndexedFieldName`: Bulk API 2.0 and
    /// Bulk API Developer Guide, "Relationship Fields in a Header Row
    /// (2.0)"; Bulk API refuses the object on a reference that is not
    /// polymorphic).
    pub fn bulk_header(&self) -> Vec<String> {
        self.targets
            .iter()
            .map(|t| match (&t.by, &t.field.relationship_name) {
                (Some(by), Some(relationship)) if t.field.is_polymorphic() => {
                    format!("{}:{relationship}.{}", by.object, by.key)
                }
                (Some(by), Some(relationship)) => format!("{relationship}.{}", by.key),
                _ => t.field.name.clone(),
            })
            .collect()
    }

    /// Row `values` as a Bulk upload's cells (checked as [`Writer::record`]
    /// checks them); `None` for a field without a value.
    pub fn bulk_values(&self, values: &[Option<String>]) -> Result<Vec<Option<String>>, String> {
        let mut cells = Vec::with_capacity(self.targets.len());
        for (target, value) in self.targets.iter().zip(values) {
            let (_, json) = field_value(&target.field, target.by.as_ref(), value.as_deref())?;
            cells.push(match json {
                Value::Null => None,
                Value::String(text) => Some(text),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) => Some(n.to_string()),
                // A reference by external id: the id's value.
                Value::Object(_) => value.as_deref().map(str::to_owned),
                Value::Array(_) => None,
            });
        }
        self.check_key(values)?;
        Ok(cells)
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

    /// Writes a batch of rows (source row number and mapped values): rows
    /// that cannot become records fail first; updates and upserts read the
    /// records they change before writing them.
    pub async fn write(
        &self,
        sf: &Salesforce,
        rows: &[(u64, Vec<Option<String>>)],
    ) -> Result<Written, SalesforceError> {
        let mut prepared = self.prepare(rows);
        let keys = prepared.keys();
        prepared.before = self.before_images(sf, &keys).await?;
        self.send(sf, prepared, false).await
    }

    /// Writes prepared records, 200 a call. `again` says an earlier attempt
    /// may have written them already: a record it deleted counts as
    /// deleted.
    pub async fn send(
        &self,
        sf: &Salesforce,
        prepared: Prepared,
        again: bool,
    ) -> Result<Written, SalesforceError> {
        let Prepared {
            records,
            failed,
            before,
        } = prepared;
        let mut written = Written {
            saved: Vec::new(),
            failed,
        };
        let mut numbers: Vec<(u64, Option<String>, Vec<Value>)> = Vec::new();
        let mut sent = Vec::with_capacity(records.len());
        for (number, record, key, wrote) in records {
            numbers.push((number, key, wrote));
            sent.push(record);
        }
        let records = sent;
        let external = match self.operation {
            Operation::Upsert => self.key.as_ref().map(|(key, _)| key.as_str()),
            _ => None,
        };
        let results = sf
            .save(self.operation, &self.object, external, records)
            .await?;
        for ((number, key, wrote), result) in numbers.into_iter().zip(results) {
            let gone = again
                && self.operation == Operation::Delete
                && result
                    .errors
                    .iter()
                    .any(|e| e.status_code == "ENTITY_IS_DELETED");
            let id = match (result.id.clone().filter(|_| result.success), gone) {
                (Some(id), _) => id,
                (None, true) => key.clone().unwrap_or_default(),
                (None, false) => {
                    written.failed.push((number, result.reason()));
                    continue;
                }
            };
            let saved = self.saved(number, id, key.as_deref(), result.created, &before);
            written.saved.push(Saved { wrote, ..saved });
        }
        written.failed.sort_by_key(|(n, _)| *n);
        Ok(written)
    }

    /// What a write did to one record: `created` as Salesforce says for an
    /// upsert; a record without a before-image was not there before the
    /// write (it was created, by this write or by an earlier attempt).
    pub fn saved(
        &self,
        number: u64,
        id: String,
        key: Option<&str>,
        created: Option<bool>,
        before: &BeforeImages,
    ) -> Saved {
        let image = match self.operation {
            Operation::Update => before.get(&id).cloned(),
            Operation::Upsert => key.and_then(|k| before.get(&self.matched_by(k)).cloned()),
            _ => None,
        };
        let action = match self.operation {
            Operation::Insert => Action::Created,
            Operation::Delete => Action::Deleted,
            Operation::Upsert if created == Some(true) || image.is_none() => Action::Created,
            _ => Action::Updated,
        };
        Saved {
            number,
            id,
            action,
            before: image.filter(|_| action == Action::Updated),
            wrote: Vec::new(),
        }
    }

    /// The record version (`SystemModstamp`) of each record in `ids`, read
    /// after a write: a rollback that finds another one knows the record
    /// changed since.
    pub async fn versions(
        &self,
        sf: &Salesforce,
        ids: &[String],
    ) -> Result<HashMap<String, String>, SalesforceError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let found = sf
            .records_by(&self.object, "Id", ids, &["Id", "SystemModstamp"], false)
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|r| {
                let id = r.get("Id")?.as_str()?.to_owned();
                let stamp = r.get("SystemModstamp")?.as_str()?.to_owned();
                Some((id, stamp))
            })
            .collect())
    }

    /// A key value as before-images are found by: an upsert's in lower
    /// case when Salesforce matches its key without regard to case (a
    /// unique external id that is not case sensitive), as it is otherwise
    /// (`ABC` and `abc` are two records).
    fn matched_by(&self, key: &str) -> String {
        if self.key_ignores_case {
            key.to_lowercase()
        } else {
            key.to_owned()
        }
    }

    /// The records an update or upsert is about to change, with the fields
    /// it writes: an update's by their `Id` (as Salesforce gives it, 18
    /// characters), an upsert's by their external id as Salesforce matches
    /// it (see [`Writer::matched_by`]).
    pub async fn before_images(
        &self,
        sf: &Salesforce,
        keys: &[String],
    ) -> Result<BeforeImages, SalesforceError> {
        let Some((key, _)) = self
            .key
            .as_ref()
            .filter(|_| matches!(self.operation, Operation::Update | Operation::Upsert))
        else {
            return Ok(HashMap::new());
        };
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
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
            .records_by(&self.object, key, keys, &fields, false)
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|record| {
                let value = self.matched_by(record.get(key.as_str())?.as_str()?);
                Some((value, record))
            })
            .collect())
    }
}

/// A field the journal keeps no comparable value for.
fn not_compared() -> Value {
    Value::Object(Map::new())
}

/// The targets a [`Writer`] takes for a mapping's (`plan`): a field set by
/// a lookup of another object's external id (`{"lookup": {"object":
/// "Opportunity", "key": "External_Id__c"}}` on `WhatId`) is a reference
/// set by that id, which Salesforce resolves itself, in the object the
/// lookup names (`WhatId:Opportunity.External_Id__c`): a polymorphic
/// reference, which can refer to several objects, is resolved in that one.
pub fn writer_targets(
    describe: &Describe,
    plan: &crate::mapping::Plan,
) -> Result<Vec<String>, String> {
    let mut targets: Vec<String> = plan.targets().iter().map(|t| (*t).to_owned()).collect();
    for (at, lookup) in plan.lookups() {
        if lookup
            .field
            .as_deref()
            .is_some_and(|f| !f.eq_ignore_ascii_case("Id"))
        {
            return Err(format!(
                "{}: a Salesforce lookup sets the record Id; leave its field out",
                targets[at]
            ));
        }
        if targets[at].contains(':') {
            return Err(format!(
                "{}: name the external id field once, in the target or the lookup",
                targets[at]
            ));
        }
        let (field, _) = describe.target(&targets[at])?;
        let Some(object) = field
            .reference_to
            .iter()
            .find(|o| o.eq_ignore_ascii_case(lookup.object.trim()))
        else {
            return Err(format!(
                "{}.{} refers to {}, not to {}",
                describe.name,
                field.name,
                field.reference_to.join(" or "),
                lookup.object.trim()
            ));
        };
        targets[at] = format!("{}:{object}.{}", targets[at], lookup.key.trim());
    }
    Ok(targets)
}
