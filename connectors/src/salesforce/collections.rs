//! sObject Collections: up to 200 records a call, each saved or refused on
//! its own (`allOrNone: false`). The results come back in the order of the
//! records. Records refused with `UNABLE_TO_LOCK_ROW` are sent again on
//! their own (see [`Salesforce::save`]).

use super::{Salesforce, SalesforceError};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The most records one call takes.
pub const MAX_RECORDS: usize = 200;

/// What a run does to an object's records: a job's operation (updates and
/// deletes name their records by `Id`; an upsert by an external id field).
pub use sluice_schema::job::Operation;

/// What became of one record.
#[derive(Debug, Clone, Deserialize)]
pub struct SaveResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    /// Upserts: whether the record was created (or updated).
    #[serde(default)]
    pub created: Option<bool>,
    #[serde(default)]
    pub errors: Vec<SaveError>,
}

/// Why a record was refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveError {
    #[serde(default)]
    pub status_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl SaveResult {
    /// Refused only because another process held the record.
    fn is_locked(&self) -> bool {
        !self.success
            && !self.errors.is_empty()
            && self
                .errors
                .iter()
                .all(|e| e.status_code == "UNABLE_TO_LOCK_ROW")
    }

    /// A delete refused because the record is deleted already.
    fn is_deleted_already(&self) -> bool {
        !self.success
            && self
                .errors
                .iter()
                .any(|e| e.status_code == "ENTITY_IS_DELETED")
    }

    /// The reasons a record was refused, as one line.
    pub fn reason(&self) -> String {
        let reasons: Vec<String> = self
            .errors
            .iter()
            .map(|e| match e.fields.as_slice() {
                [] => format!("{}: {}", e.status_code, e.message),
                fields => format!("{}: {} ({})", e.status_code, e.message, fields.join(", ")),
            })
            .collect();
        if reasons.is_empty() {
            "Salesforce refused the record without a reason".into()
        } else {
            reasons.join("; ")
        }
    }
}

impl Salesforce {
    /// Saves `records` (each an object of field values; an update's and a
    /// delete's carry `Id`) of `object`, 200 a call: one result a record,
    /// in their order. An upsert matches on `external_id`.
    pub async fn save(
        &self,
        operation: Operation,
        object: &str,
        external_id: Option<&str>,
        records: Vec<Map<String, Value>>,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        let mut results = Vec::with_capacity(records.len());
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let chunk: Vec<Map<String, Value>> = records.by_ref().take(MAX_RECORDS).collect();
            let saved = self
                .save_unlocked(operation, object, external_id, chunk)
                .await?;
            results.extend(saved);
        }
        Ok(results)
    }

    /// Saves a chunk, then sends again the records refused with
    /// `UNABLE_TO_LOCK_ROW` (another process held them; they were not
    /// saved), and only those, as often as the client's [`Backoff`]
    /// allows: those still locked after the last try keep that reason.
    async fn save_unlocked(
        &self,
        operation: Operation,
        object: &str,
        external_id: Option<&str>,
        chunk: Vec<Map<String, Value>>,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        let mut results = self
            .save_counted(operation, object, external_id, chunk.clone())
            .await?;
        let backoff = self.backoff();
        let mut tries = 1;
        loop {
            let locked: Vec<usize> = (0..results.len())
                .filter(|&at| results[at].is_locked())
                .collect();
            if locked.is_empty() || tries >= backoff.tries {
                return Ok(results);
            }
            tokio::time::sleep(backoff.delay(tries)).await;
            tries += 1;
            let again = locked.iter().map(|&at| chunk[at].clone()).collect();
            let saved = self
                .save_counted(operation, object, external_id, again)
                .await?;
            for (at, result) in locked.into_iter().zip(saved) {
                results[at] = result;
            }
        }
    }

    /// Saves a chunk: one result a record, or an error.
    async fn save_counted(
        &self,
        operation: Operation,
        object: &str,
        external_id: Option<&str>,
        chunk: Vec<Map<String, Value>>,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        let count = chunk.len();
        let saved = self
            .save_chunk(operation, object, external_id, chunk)
            .await?;
        if saved.len() != count {
            return Err(SalesforceError::Unreachable(format!(
                "Salesforce answered {} results for {count} records",
                saved.len()
            )));
        }
        Ok(saved)
    }

    async fn save_chunk(
        &self,
        operation: Operation,
        object: &str,
        external_id: Option<&str>,
        chunk: Vec<Map<String, Value>>,
    ) -> Result<Vec<SaveResult>, SalesforceError> {
        if operation == Operation::Delete {
            let ids: Vec<&str> = chunk
                .iter()
                .map(|r| r.get("Id").and_then(Value::as_str).unwrap_or_default())
                .collect();
            let url = self.url("/composite/sobjects");
            let query = [("ids", ids.join(",")), ("allOrNone", "false".into())];
            let (response, again) = self
                .send_repeatable(|http| http.delete(&url).query(&query))
                .await?;
            let mut results: Vec<SaveResult> = Self::json(response).await?;
            if again {
                // A try whose answer was lost may have deleted them.
                for (result, id) in results.iter_mut().zip(&ids) {
                    if result.is_deleted_already() {
                        result.success = true;
                        result.id = result.id.take().or_else(|| Some((*id).to_owned()));
                        result.errors.clear();
                    }
                }
            }
            return Ok(results);
        }
        let records: Vec<Value> = chunk
            .into_iter()
            .map(|mut record| {
                // The type attribute names each record's object.
                record.insert("attributes".into(), json!({ "type": object }));
                if operation == Operation::Update {
                    if let Some(id) = record.remove("Id") {
                        record.insert("id".into(), id);
                    }
                }
                Value::Object(record)
            })
            .collect();
        let body = json!({ "allOrNone": false, "records": records });
        let response = match (operation, external_id) {
            (Operation::Insert, _) => {
                let url = self.url("/composite/sobjects");
                self.send(|http| http.post(&url).json(&body)).await?
            }
            // An update by Id and an upsert by external id write the same
            // values again if repeated: they are sent again even after a
            // try whose answer was lost. An insert is not (see `retry.rs`).
            (Operation::Update, _) => {
                let url = self.url("/composite/sobjects");
                self.send_repeatable(|http| http.patch(&url).json(&body))
                    .await?
                    .0
            }
            (Operation::Upsert, Some(key)) => {
                let url = self.url(&format!("/composite/sobjects/{object}/{key}"));
                self.send_repeatable(|http| http.patch(&url).json(&body))
                    .await?
                    .0
            }
            (Operation::Upsert, None) | (Operation::Delete, _) => {
                return Err(SalesforceError::Refused {
                    code: "MISSING_ARGUMENT".into(),
                    message: "an upsert needs its external id field".into(),
                })
            }
        };
        Self::json(response).await
    }
}

/// A record's field value from a mapped text value, as the field's type
/// takes it in JSON: a number, currency or percent as its exact decimal
/// text (Salesforce reads a string sent for a number field as a decimal;
/// a JSON number would go through an `f64` and lose digits). A reference
/// set by another record's external id (`by`) becomes the related record
/// under the relationship's name, its `attributes.type` naming the object
/// it is of (which a polymorphic reference needs):
/// `"What": {"attributes": {"type": "Opportunity"}, "External_Id__c": …}`.
pub fn field_value(
    field: &super::Field,
    by: Option<&super::RelatedKey>,
    value: Option<&str>,
) -> Result<(String, Value), String> {
    let Some(text) = value else {
        // No value: the field is cleared (an insert leaves it out); a
        // reference is cleared by its own field, not its relationship.
        return Ok((field.name.clone(), Value::Null));
    };
    if let Some(related) = by {
        let relationship = field
            .relationship_name
            .clone()
            .ok_or_else(|| format!("{} has no relationship name", field.name))?;
        let key = related.key.as_str();
        return Ok((
            relationship,
            json!({ "attributes": { "type": related.object }, key: text }),
        ));
    }
    let value = match typed(field, text)? {
        Typed::Bool(b) => Value::Bool(b),
        Typed::Int(n) => Value::from(n),
        Typed::Text(text) => Value::String(text.into_owned()),
    };
    Ok((field.name.clone(), value))
}

/// A value as its field's type takes it (see [`field_value`]).
pub(crate) enum Typed<'a> {
    Bool(bool),
    Int(i64),
    /// Text, a decimal's exact text, a date or a date and time.
    Text(Cow<'a, str>),
}

/// Checks `text` against `field`'s type and writes it as the type takes
/// it; why the row cannot be written otherwise.
pub(crate) fn typed<'a>(field: &super::Field, text: &'a str) -> Result<Typed<'a>, String> {
    let invalid = |what: &str| {
        Err(format!(
            "{}: \"{}\" is not {what}",
            field.name,
            text.chars().take(40).collect::<String>()
        ))
    };
    let value = match field.kind.as_str() {
        "boolean" => {
            let text = text.trim();
            let is = |words: [&str; 4]| words.iter().any(|w| text.eq_ignore_ascii_case(w));
            if is(["true", "1", "yes", "y"]) {
                Typed::Bool(true)
            } else if is(["false", "0", "no", "n"]) {
                Typed::Bool(false)
            } else {
                return invalid("true or false");
            }
        }
        "int" => match text.trim().parse::<i64>() {
            Ok(n) => Typed::Int(n),
            Err(_) => return invalid("a whole number"),
        },
        "double" | "currency" | "percent" => match super::decimal::canonical(text) {
            Some(exact) => Typed::Text(Cow::Owned(exact)),
            None => return invalid("a number"),
        },
        // Salesforce refuses a whole call for one value it cannot parse as
        // its field's type, so dates are checked here, row by row.
        "date" => match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
            Ok(_) => Typed::Text(Cow::Borrowed(text.trim())),
            Err(_) => return invalid("a date (YYYY-MM-DD)"),
        },
        "datetime" => match chrono::DateTime::parse_from_rfc3339(text.trim()) {
            Ok(at) => Typed::Text(Cow::Owned(
                at.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )),
            Err(_) => return invalid("a date and time (RFC 3339)"),
        },
        _ => {
            if field.length > 0 && text.chars().count() > field.length as usize {
                return Err(format!(
                    "{}: {} characters, more than the {} allowed",
                    field.name,
                    text.chars().count(),
                    field.length
                ));
            }
            Typed::Text(Cow::Borrowed(text))
        }
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::Field;

    fn field(name: &str, kind: &str) -> Field {
        serde_json::from_value(json!({
            "name": name, "type": kind, "length": if kind == "string" { 5 } else { 0 },
            "referenceTo": ["Account"], "relationshipName": "Account",
        }))
        .unwrap()
    }

    #[test]
    fn values_take_their_fields_json_types_or_fail_their_row() {
        let value = |kind: &str, text: &str| field_value(&field("F", kind), None, Some(text));
        assert_eq!(value("boolean", "Yes").unwrap().1, json!(true));
        assert_eq!(value("int", " 42 ").unwrap().1, json!(42));
        assert_eq!(value("currency", "12.50").unwrap().1, json!("12.5"));
        // Decimals go as text, every digit kept.
        assert_eq!(
            value("currency", "1234567890123456.78").unwrap().1,
            json!("1234567890123456.78")
        );
        assert_eq!(
            value("double", "0.1234567890123456789").unwrap().1,
            json!("0.1234567890123456789")
        );
        assert_eq!(value("percent", "1.5e1").unwrap().1, json!("15"));
        assert_eq!(value("date", "2025-02-28").unwrap().1, json!("2025-02-28"));
        assert_eq!(
            value("datetime", "2025-02-28T10:00:00+01:00").unwrap().1,
            json!("2025-02-28T09:00:00.000Z")
        );
        assert_eq!(value("string", "short").unwrap().1, json!("short"));
        for (kind, text) in [
            ("boolean", "maybe"),
            ("int", "4.5"),
            ("double", "NaN"),
            ("double", "inf"),
            ("currency", "1,5"),
            ("date", "28.02.2025"),
            ("date", "2025-02-30"),
            ("datetime", "2025-02-28 10:00"),
            ("string", "too long"),
        ] {
            assert!(value(kind, text).is_err(), "{kind} {text}");
        }
        // No value clears the field; a reference by external id names the
        // related record.
        assert_eq!(
            field_value(&field("Email", "email"), None, None).unwrap(),
            ("Email".to_owned(), Value::Null)
        );
        let account = field("AccountId", "reference");
        let by = |object: &str| crate::salesforce::RelatedKey {
            object: object.into(),
            key: "External_Id__c".into(),
        };
        assert_eq!(
            field_value(&account, Some(&by("Account")), None).unwrap(),
            ("AccountId".to_owned(), Value::Null)
        );
        assert_eq!(
            field_value(&account, Some(&by("Account")), Some("A-1")).unwrap(),
            (
                "Account".to_owned(),
                json!({"attributes": {"type": "Account"}, "External_Id__c": "A-1"})
            )
        );
    }

    #[test]
    fn a_polymorphic_reference_names_the_object_its_lookup_names() {
        let task: crate::salesforce::Describe = serde_json::from_value(json!({
            "name": "Task",
            "fields": [{"name": "WhatId", "type": "reference",
                        "referenceTo": ["Account", "Opportunity"], "relationshipName": "What"}],
        }))
        .unwrap();
        let (what, by) = task.target("WhatId:opportunity.External_Id__c").unwrap();
        let by = by.unwrap();
        assert_eq!(
            (by.object.as_str(), by.key.as_str()),
            ("Opportunity", "External_Id__c")
        );
        assert_eq!(
            field_value(what, Some(&by), Some("O-1")).unwrap(),
            (
                "What".to_owned(),
                json!({"attributes": {"type": "Opportunity"}, "External_Id__c": "O-1"})
            )
        );
        let unnamed = task.target("What:External_Id__c").unwrap_err();
        assert!(unnamed.contains("Account or Opportunity"), "{unnamed}");
        assert!(
            unnamed.contains("WhatId:Account.External_Id__c"),
            "{unnamed}"
        );
        let other = task.target("WhatId:Case.External_Id__c").unwrap_err();
        assert!(other.contains("not to Case"), "{other}");
    }
}
