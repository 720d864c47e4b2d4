//! Saving one record as Salesforce does, whichever API carried it (REST,
//! Bulk, or a test seeding the org): create, update and upsert by external
//! id, and the error each failure gets (`statusCode`, `message`, `fields`).

use super::checks::not_writable;
use super::ids;
use super::org::{Found, Record, Store};
use super::schema::FieldType;
use super::values::display;
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq)]
pub(super) struct SaveError {
    pub status_code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
}

pub(super) type Errors = Vec<SaveError>;

impl SaveError {
    pub fn new(status_code: &'static str, message: impl Into<String>, fields: Vec<String>) -> Self {
        Self {
            status_code,
            message: message.into(),
            fields,
        }
    }

    pub fn json(&self) -> Value {
        json!({"statusCode": self.status_code, "message": self.message, "fields": self.fields})
    }

    /// As Bulk API writes it in `sf__Error`: `STATUS_CODE:message:fields --`.
    pub fn bulk_text(&self) -> String {
        let fields = if self.fields.is_empty() {
            String::new()
        } else {
            format!("{} ", self.fields.join(","))
        };
        format!("{}:{}:{fields}--", self.status_code, self.message)
    }

    pub fn rolled_back() -> Self {
        Self::new(
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records were valid and the request was using AllOrNone header",
            vec![],
        )
    }

    /// Another transaction holds the record (see `faults.rs`).
    pub fn locked() -> Self {
        Self::new(
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records",
            vec![],
        )
    }

    pub fn malformed(id: &str) -> Self {
        Self::new("MALFORMED_ID", format!("malformed id {id}"), vec![])
    }
}

pub(super) fn deleted() -> SaveError {
    SaveError::new("ENTITY_IS_DELETED", "entity is deleted", vec![])
}

pub(super) fn no_such_record() -> SaveError {
    SaveError::new(
        "INVALID_CROSS_REFERENCE_KEY",
        "invalid cross reference id",
        vec![],
    )
}

/// A lookup set through another record's external id
/// (`"Account": {"External_Id__c": "A-1"}`, or `Account.External_Id__c`).
pub(super) struct Ref {
    pub field: String,
    pub target: String,
    pub key: String,
    pub value: String,
}

/// What a request asks of one record, its values already of the fields' types.
#[derive(Default)]
pub(super) struct Changes {
    pub values: Vec<(String, Value)>,
    pub refs: Vec<Ref>,
    /// Errors found while reading the values (a Bulk cell of the wrong type).
    pub errors: Errors,
}

impl Changes {
    fn value_of(&self, field: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(field))
            .map(|(_, v)| v)
    }
}

impl Store {
    pub fn create(&mut self, object: &str, changes: Changes) -> Result<String, Errors> {
        if !changes.errors.is_empty() {
            return Err(changes.errors);
        }
        let (def, prefix) = match self.table(object) {
            Some(t) => (t.def.clone(), t.prefix.clone()),
            None => return Err(vec![no_such_record()]),
        };
        let mut record = Record::new();
        let mut locked = Vec::new();
        for (name, value) in changes.values {
            let Some(field) = def.field_named(&name) else {
                continue;
            };
            if field.name == "Id" {
                let message = "cannot specify Id in an insert call";
                return Err(vec![SaveError::new(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    message,
                    vec!["Id".into()],
                )]);
            }
            if !field.createable {
                locked.push(field.name.clone());
            }
            record.insert(field.name.clone(), value);
        }
        if !locked.is_empty() {
            return Err(vec![not_writable(locked)]);
        }
        self.check_values(&def, &mut record, changes.refs)?;
        let missing: Vec<String> = def
            .fields
            .iter()
            .filter(|f| f.is_required() && record.get(&f.name).is_none_or(Value::is_null))
            .map(|f| f.name.clone())
            .collect();
        if !missing.is_empty() {
            let message = format!("Required fields are missing: [{}]", missing.join(", "));
            return Err(vec![SaveError::new(
                "REQUIRED_FIELD_MISSING",
                message,
                missing,
            )]);
        }
        for f in def
            .fields
            .iter()
            .filter(|f| f.field_type == FieldType::Boolean)
        {
            record.entry(f.name.clone()).or_insert(Value::Bool(false));
        }
        self.check_unique(&def, &record, None)?;
        let id = self.new_record_id(&prefix);
        let now = self.now();
        record.insert("Id".into(), json!(id));
        record.insert("IsDeleted".into(), json!(false));
        for stamp in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
            record.insert(stamp.into(), json!(now));
        }
        if let Some(table) = self.table_mut(object) {
            table.put(&id, record);
        }
        self.automation.saved(object, &id);
        Ok(id)
    }

    pub fn update(&mut self, raw_id: &str, changes: Changes) -> Result<String, Errors> {
        let id = ids::normalize(raw_id).ok_or_else(|| vec![SaveError::malformed(raw_id)])?;
        let (def, current) = match self.find(&id) {
            Found::Live(object) => match self.table(&object) {
                Some(t) => (t.def.clone(), t.live.get(&id).cloned().unwrap_or_default()),
                None => return Err(vec![no_such_record()]),
            },
            Found::Deleted(_) | Found::Purged => return Err(vec![deleted()]),
            Found::Missing => return Err(vec![no_such_record()]),
        };
        if !changes.errors.is_empty() {
            return Err(changes.errors);
        }
        let mut patch = Record::new();
        let mut locked = Vec::new();
        for (name, value) in changes.values {
            let Some(field) = def.field_named(&name) else {
                continue;
            };
            if field.name == "Id" {
                continue;
            }
            if !field.updateable {
                locked.push(field.name.clone());
            }
            patch.insert(field.name.clone(), value);
        }
        if !locked.is_empty() {
            return Err(vec![not_writable(locked)]);
        }
        self.check_values(&def, &mut patch, changes.refs)?;
        let cleared: Vec<String> = def
            .fields
            .iter()
            .filter(|f| !f.nillable && patch.get(&f.name).is_some_and(Value::is_null))
            .map(|f| f.name.clone())
            .collect();
        if !cleared.is_empty() {
            let message = format!("Required fields are missing: [{}]", cleared.join(", "));
            return Err(vec![SaveError::new(
                "REQUIRED_FIELD_MISSING",
                message,
                cleared,
            )]);
        }
        let mut merged = current;
        merged.extend(patch);
        self.check_unique(&def, &merged, Some(&id))?;
        let now = self.now();
        merged.insert("LastModifiedDate".into(), json!(now));
        merged.insert("SystemModstamp".into(), json!(now));
        if let Some(table) = self.table_mut(&def.name) {
            table.put(&id, merged);
        }
        self.automation.saved(&def.name, &id);
        Ok(id)
    }

    /// Updates the one live record whose `key` matches, or creates one: the
    /// id and whether it was created.
    pub fn upsert(
        &mut self,
        object: &str,
        key: &str,
        changes: Changes,
    ) -> Result<(String, bool), Errors> {
        if key.eq_ignore_ascii_case("Id") {
            return match changes
                .value_of("Id")
                .and_then(Value::as_str)
                .map(str::to_owned)
            {
                Some(id) if !id.is_empty() => self.update(&id, changes).map(|id| (id, false)),
                _ => self
                    .create(object, without_id(changes))
                    .map(|id| (id, true)),
            };
        }
        let Some(table) = self.table(object) else {
            return Err(vec![no_such_record()]);
        };
        let label = table
            .def
            .field_named(key)
            .map_or(key.to_owned(), |f| f.label.clone());
        let value = match changes.value_of(key) {
            Some(Value::Null) | None => String::new(),
            Some(v) => display(v),
        };
        if value.is_empty() {
            let message = format!("{key} not specified");
            return Err(vec![SaveError::new("MISSING_ARGUMENT", message, vec![])]);
        }
        let matches = table.lookup(key, &value);
        match matches.as_slice() {
            [] => self.create(object, changes).map(|id| (id, true)),
            [id] => self.update(&id.clone(), changes).map(|id| (id, false)),
            many => {
                let message = format!(
                    "{label}: more than one record found for external id field: [{}]",
                    many.join(", ")
                );
                Err(vec![SaveError::new(
                    "DUPLICATE_EXTERNAL_ID",
                    message,
                    vec![key.to_owned()],
                )])
            }
        }
    }
}

fn without_id(mut changes: Changes) -> Changes {
    changes
        .values
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Id"));
    changes
}
