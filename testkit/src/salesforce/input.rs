//! Reading one REST record (`{"attributes": {"type": …}, field: value, …}`).
//! As at Salesforce, a field the object lacks or a value its JSON parser
//! cannot read as the field's type fails the whole request; what is wrong
//! with a value only once it is read (an email address, a number too large
//! for its field) fails the record.
//!
//! A lookup set by another record's external id is a nested record under
//! the relationship's name (REST API Developer Guide, "Relationship Fields
//! in Records"; SOQL and SOSL Reference, "Understanding Relationship Fields
//! and Polymorphic Fields"): `"What": {"attributes": {"type":
//! "Opportunity"}, "External_Id__c": "O-1"}`. Its `attributes.type` names
//! the object the related record is of: a polymorphic lookup (one whose
//! `referenceTo` lists several objects) needs it, and a type the lookup
//! does not refer to is refused; the wording of those two refusals is the
//! stand-in's own.

use super::org::Store;
use super::save::{Changes, Ref, SaveError};
use super::schema::FieldDef;
use super::session::RestError;
use super::values::{coerce, display, json_token, json_type_word, Bad, Raw};
use serde_json::{Map, Value};

pub(super) struct JsonRecord {
    pub object: String,
    pub id: Option<String>,
    pub changes: Changes,
}

pub(super) fn unsupported_type(object: &str) -> RestError {
    let message = format!(
        "sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
    );
    RestError::bad_request("INVALID_TYPE", message)
}

fn no_such_column(column: &str, object: &str) -> RestError {
    let message = format!("No such column '{column}' on sobject of type {object}");
    RestError::bad_request("INVALID_FIELD", message)
}

fn not_an_external_id(field: &str, object: &str) -> RestError {
    let message =
        format!("Field name provided, {field} is not an External ID or indexed field for {object}");
    RestError::bad_request("INVALID_FIELD", message)
}

/// Reads `value` as a record of `object` (or of its `attributes.type`);
/// `body` is the request's text, to say where a bad value stands.
pub(super) fn read_record(
    store: &Store,
    object: Option<&str>,
    value: &Value,
    body: &str,
) -> Result<JsonRecord, RestError> {
    let Some(fields) = value.as_object() else {
        let message = format!(
            "Cannot deserialize instance of SObject from {} value",
            json_token(value)
        );
        return Err(RestError::bad_request("JSON_PARSER_ERROR", message));
    };
    let typed = fields
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str);
    let Some(object) = object.or(typed) else {
        let message = "sObject type must be specified in the attributes of every record";
        return Err(RestError::bad_request("INVALID_TYPE", message));
    };
    let def = match store.table(object) {
        Some(table) => table.def.clone(),
        None => return Err(unsupported_type(object)),
    };
    let mut record = JsonRecord {
        object: def.name.clone(),
        id: None,
        changes: Changes::default(),
    };
    for (key, value) in fields.iter().filter(|(k, _)| k.as_str() != "attributes") {
        if let Value::Object(nested) = value {
            let Some(field) = def.relationship(key) else {
                return Err(no_such_column(key, &def.name));
            };
            let r = read_ref(store, field, nested, key)?;
            record.changes.refs.push(r);
            continue;
        }
        let Some(field) = def.field_named(key) else {
            return Err(no_such_column(key, &def.name));
        };
        if field.name == "Id" {
            record.id = value.as_str().map(str::to_owned);
        }
        match coerce(field, Raw::Json(value)) {
            Ok(stored) => record.changes.values.push((field.name.clone(), stored)),
            Err(Bad::Email) => {
                let message = format!("{}: invalid email address: {}", field.label, display(value));
                let error =
                    SaveError::new("INVALID_EMAIL_ADDRESS", message, vec![field.name.clone()]);
                record.changes.errors.push(error);
            }
            Err(Bad::Range) => {
                let message = format!(
                    "{}: value outside of valid range on numeric field: {}",
                    field.label,
                    display(value)
                );
                let error = SaveError::new(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    message,
                    vec![field.name.clone()],
                );
                record.changes.errors.push(error);
            }
            Err(Bad::Type) => {
                let (line, column) = position(body, key, value);
                let message = format!(
                    "Cannot deserialize instance of {} from {} value {} or request may be missing a required field at [line:{line}, column:{column}]",
                    json_type_word(field.field_type),
                    json_token(value),
                    display(value),
                );
                return Err(RestError::bad_request("JSON_PARSER_ERROR", message));
            }
        }
    }
    Ok(record)
}

/// `"Account": {"attributes": {"type": "Account"}, "External_Id__c": "A-1"}`,
/// for the lookup `field` reached as `key`.
fn read_ref(
    store: &Store,
    field: &FieldDef,
    nested: &Map<String, Value>,
    key: &str,
) -> Result<Ref, RestError> {
    let typed = nested
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str);
    let target = match typed {
        Some(typed) => field.refers_to(typed).ok_or_else(|| {
            let message = format!(
                "The relationship {key} cannot refer to a record of {typed}: {} refers to {}",
                field.name,
                field.reference_to.join(", ")
            );
            RestError::bad_request("INVALID_FIELD", message)
        })?,
        None if field.is_polymorphic() => {
            let message = format!(
                "The relationship {key} is polymorphic: name the object of the record it refers to in its attributes' type"
            );
            return Err(RestError::bad_request("INVALID_FIELD", message));
        }
        None => match field.reference_to.first() {
            Some(target) => target.as_str(),
            None => return Err(unsupported_type(key)),
        },
    };
    let Some(table) = store.table(target) else {
        return Err(unsupported_type(target));
    };
    let mut keys = nested.iter().filter(|(k, _)| k.as_str() != "attributes");
    let (Some((name, value)), None) = (keys.next(), keys.next()) else {
        let message =
            format!("The relationship {key} must name exactly one external id field of {target}");
        return Err(RestError::bad_request("INVALID_FIELD", message));
    };
    let Some(lookup) = table
        .def
        .field_named(name)
        .filter(|f| f.external_id || f.id_lookup)
    else {
        return Err(not_an_external_id(name, &table.def.name));
    };
    Ok(Ref {
        field: field.name.clone(),
        target: table.def.name.clone(),
        key: lookup.name.clone(),
        value: display(value),
    })
}

/// Where Salesforce's parser would stop: just past the value of `key`.
fn position(body: &str, key: &str, value: &Value) -> (usize, usize) {
    let quoted = format!("\"{key}\"");
    let from = body.find(&quoted).unwrap_or(0);
    let token = value.to_string();
    let end = body[from..]
        .find(&token)
        .map_or(from, |at| from + at + token.len());
    let before = &body[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Checks that `field` of `object` can key an upsert.
pub(super) fn upsert_key(
    store: &Store,
    object: &str,
    field: &str,
) -> Result<(String, String), RestError> {
    let Some(table) = store.table(object) else {
        return Err(RestError::not_found());
    };
    match table.def.field_named(field) {
        Some(f) if f.external_id || f.id_lookup => Ok((table.def.name.clone(), f.name.clone())),
        _ => Err(not_an_external_id(field, &table.def.name)),
    }
}
