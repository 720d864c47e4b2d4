//! The checks a write makes against the object's definition and the org's
//! other records, beyond what reading its values already checked.

use super::ids;
use super::org::{Found, Record, Store};
use super::save::{deleted, no_such_record, Errors, Ref, SaveError};
use super::schema::{FieldType, ObjectDef};
use serde_json::{json, Value};

impl Store {
    /// Text lengths, lookups by external id, and the ids lookups point at.
    pub(super) fn check_values(
        &self,
        def: &ObjectDef,
        record: &mut Record,
        refs: Vec<Ref>,
    ) -> Result<(), Errors> {
        clear_checkboxes(def, record);
        let mut errors = too_long(def, record);
        errors.extend(self.resolve_refs(record, refs));
        if errors.is_empty() {
            errors = self.check_lookups(def, record);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Sets each lookup given by external id to the one record it names.
    fn resolve_refs(&self, record: &mut Record, refs: Vec<Ref>) -> Errors {
        let mut errors = Vec::new();
        for r in refs {
            let matches = self
                .table(&r.target)
                .map(|t| t.lookup(&r.key, &r.value))
                .unwrap_or_default();
            match matches.as_slice() {
                [id] => {
                    record.insert(r.field.clone(), json!(id));
                }
                [] => {
                    let message = format!(
                        "Foreign key external ID: {} not found for field {} in entity {}",
                        r.value, r.key, r.target
                    );
                    errors.push(SaveError::new("INVALID_FIELD", message, vec![]));
                }
                many => {
                    let message = format!(
                        "{}: more than one record found for external id field: [{}]",
                        r.key,
                        many.join(", ")
                    );
                    let fields = vec![r.field.clone()];
                    errors.push(SaveError::new("DUPLICATE_EXTERNAL_ID", message, fields));
                }
            }
        }
        errors
    }

    /// Each lookup holds the id of a live record of an object it may point at.
    fn check_lookups(&self, def: &ObjectDef, record: &mut Record) -> Errors {
        let mut errors = Vec::new();
        let lookups = def
            .fields
            .iter()
            .filter(|f| f.field_type == FieldType::Reference);
        for field in lookups {
            let Some(Value::String(raw)) = record.get(&field.name).cloned() else {
                continue;
            };
            let incorrect = format!("{}: id value of incorrect type: {raw}", field.label);
            let fields = vec![field.name.clone()];
            let Some(id) = ids::normalize(&raw) else {
                errors.push(SaveError::new("MALFORMED_ID", incorrect, fields));
                continue;
            };
            let target = self.object_of(&id).map(|t| t.def.name.as_str());
            let allowed = |t: &str| field.reference_to.iter().any(|r| r.eq_ignore_ascii_case(t));
            if !target.is_some_and(allowed) {
                errors.push(SaveError::new(
                    "FIELD_INTEGRITY_EXCEPTION",
                    incorrect,
                    fields,
                ));
                continue;
            }
            match self.find(&id) {
                Found::Live(_) => {
                    record.insert(field.name.clone(), json!(id));
                }
                Found::Deleted(_) | Found::Purged => errors.push(deleted()),
                Found::Missing => errors.push(no_such_record()),
            }
        }
        errors
    }

    pub(super) fn check_unique(
        &self,
        def: &ObjectDef,
        record: &Record,
        except: Option<&str>,
    ) -> Result<(), Errors> {
        let Some(table) = self.table(&def.name) else {
            return Ok(());
        };
        for field in def.fields.iter().filter(|f| f.unique) {
            let Some(Value::String(value)) = record.get(&field.name) else {
                continue;
            };
            let other = table
                .lookup(&field.name, value)
                .into_iter()
                .find(|id| Some(id.as_str()) != except);
            if let Some(other) = other {
                let message = format!(
                    "duplicate value found: {} duplicates value on record with id: {other}",
                    field.name
                );
                return Err(vec![SaveError::new("DUPLICATE_VALUE", message, vec![])]);
            }
        }
        Ok(())
    }
}

pub(super) fn not_writable(fields: Vec<String>) -> SaveError {
    let message = format!(
        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
        fields.join(", ")
    );
    SaveError::new("INVALID_FIELD_FOR_INSERT_UPDATE", message, fields)
}

/// A checkbox set to null is false.
fn clear_checkboxes(def: &ObjectDef, record: &mut Record) {
    for field in def
        .fields
        .iter()
        .filter(|f| f.field_type == FieldType::Boolean)
    {
        if record.get(&field.name).is_some_and(Value::is_null) {
            record.insert(field.name.clone(), Value::Bool(false));
        }
    }
}

fn too_long(def: &ObjectDef, record: &Record) -> Errors {
    let text = def
        .fields
        .iter()
        .filter(|f| f.field_type.is_text() && f.length > 0);
    text.filter_map(|field| {
        let Some(Value::String(value)) = record.get(&field.name) else {
            return None;
        };
        if value.chars().count() <= field.length as usize {
            return None;
        }
        let message = format!(
            "{}: data value too large: {value} (max length={})",
            field.label, field.length
        );
        Some(SaveError::new(
            "STRING_TOO_LONG",
            message,
            vec![field.name.clone()],
        ))
    })
    .collect()
}
