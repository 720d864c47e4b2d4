//! Lookups Sluice makes itself in a Salesforce org: a reference field set
//! to the Id of the record found by any field of the related object (an
//! Account by its `Name`, a Contact by its `Email`), or by a field of a
//! record that one refers to (a Contact by its Account's external id,
//! `Account.External_Id__c`: a reference through another reference).
//!
//! A lookup by the related object's external id, naming one record at
//! most, is left to Salesforce, which resolves it as it saves
//! (`AccountId:Account.External_Id__c`, see `writer::targets`). Any other
//! is asked here, once a batch: one SOQL query for the batch's distinct
//! values (as many as Salesforce's URL limit needs), `SELECT Id, key FROM
//! object WHERE key IN (…)`, ordered by the lookup's `order_by` when it
//! takes the first or the latest of several records. A value no record
//! has, or (by default) several records have, fails its row with the
//! reason. Matching follows SOQL's `=`: text without regard to case, but
//! in a field that keeps case (a unique case-sensitive one); ids in their
//! 15- or 18-character form.

use super::describe::{Describe, Field};
use super::{Salesforce, SalesforceError};
use crate::mapping::{Lookup, Plan, Several};
use crate::postgres::lookup::{distinct_values, replace_looked_up};
use crate::postgres::Insert;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The field types a lookup matches on: SOQL filters them by `=` on their
/// text (a long text area cannot be filtered; numbers and dates would be
/// compared as their JSON, not as the file's text).
const KEY_TYPES: [&str; 8] = [
    "string",
    "email",
    "phone",
    "url",
    "picklist",
    "combobox",
    "id",
    "reference",
];

/// Why a job's lookups cannot be made.
#[derive(Debug)]
pub enum LookupError {
    /// The mapping asks for what the org does not have (named in the text).
    Misfit(String),
    /// Describing a related object failed.
    Salesforce(SalesforceError),
}

impl From<SalesforceError> for LookupError {
    fn from(e: SalesforceError) -> Self {
        Self::Salesforce(e)
    }
}

struct Resolver {
    /// The field's position among the mapped values.
    position: usize,
    /// The reference field set (for messages).
    target: String,
    /// The object looked in, as described.
    object: String,
    /// The key as SOQL names it (`Name`, `Account.External_Id__c`).
    key: String,
    /// Where the key's value is in a record the query answers.
    path: Vec<String>,
    /// Whether values are compared with case (a unique case-sensitive
    /// field).
    with_case: bool,
    /// Whether the key holds record ids (compared by their first 15
    /// characters, which are case-sensitive).
    holds_ids: bool,
    several: Several,
    /// `ORDER BY` for first and latest: the field and the direction.
    order: Option<String>,
}

/// The lookups of a job's mapping that Sluice makes itself, checked
/// against the org.
#[derive(Default)]
pub struct Lookups {
    resolvers: Vec<Resolver>,
}

/// Whether Salesforce resolves `lookup` itself as it saves: one record by
/// an external id field of the related object (`related`).
fn salesforce_resolves(lookup: &Lookup, related: &Describe) -> bool {
    lookup.several.is_fail()
        && lookup.order_by.is_none()
        && !lookup.key.contains('.')
        && related
            .field(lookup.key.trim())
            .is_some_and(|f| f.external_id)
}

impl Lookups {
    /// The lookups of `plan` (into `describe`'s object) that Sluice makes
    /// itself, each related object described and the key and order checked
    /// against it: a field (or one relationship's field) of a type SOQL
    /// filters by text.
    pub async fn prepare(
        sf: &Salesforce,
        describe: &Describe,
        plan: &Plan,
    ) -> Result<Self, LookupError> {
        let targets = plan.targets();
        let mut described: HashMap<String, Describe> = HashMap::new();
        let mut resolvers = Vec::new();
        for (position, lookup) in plan.lookups() {
            let name = targets.get(position).copied().unwrap_or_default();
            let misfit = |m: String| LookupError::Misfit(format!("{name}: {m}"));
            // The reference and its object are checked with the writer's
            // targets (`writer_targets`); here the object is only described.
            let Ok((field, _)) = describe.target(name) else {
                continue;
            };
            let Some(object) = field
                .reference_to
                .iter()
                .find(|o| o.eq_ignore_ascii_case(lookup.object.trim()))
                .cloned()
            else {
                continue;
            };
            let related = described_once(sf, &mut described, &object).await?;
            if salesforce_resolves(&lookup, &related) {
                continue;
            }
            let (key, path, key_field) =
                key_path(sf, &mut described, &related, lookup.key.trim()).await?;
            let key_field = key_field.map_err(misfit)?;
            if !KEY_TYPES.contains(&key_field.kind.as_str()) {
                return Err(misfit(format!(
                    "{object}.{key} is a {} field: a lookup matches on a text field (string, \
                     email, phone, url, picklist) or an id",
                    key_field.kind
                )));
            }
            let order = match (&lookup.order_by, lookup.several) {
                (Some(order_by), several) => {
                    let field = related.field(order_by.trim()).ok_or_else(|| {
                        misfit(format!(
                            "{object} has no field \"{}\" to order by",
                            order_by.trim()
                        ))
                    })?;
                    let direction = match several {
                        Several::Latest => "DESC",
                        _ => "ASC",
                    };
                    Some(format!("{} {direction} NULLS LAST, Id", field.name))
                }
                (None, Several::Fail) => None,
                (None, _) => return Err(misfit("the lookup needs order_by".into())),
            };
            resolvers.push(Resolver {
                position,
                target: field.name.clone(),
                object: related.name.clone(),
                key,
                path,
                with_case: key_field.case_sensitive && key_field.unique,
                holds_ids: matches!(key_field.kind.as_str(), "id" | "reference"),
                several: lookup.several,
                order,
            });
        }
        Ok(Self { resolvers })
    }

    pub fn is_empty(&self) -> bool {
        self.resolvers.is_empty()
    }

    /// Where the fields set by these lookups are among the mapped values:
    /// the writer takes them as plain references (record ids).
    pub fn positions(&self) -> Vec<usize> {
        self.resolvers.iter().map(|r| r.position).collect()
    }

    /// Replaces each looked-up value of `rows` by the Id of the record it
    /// names. Rows whose value names no record, or several (unless the
    /// lookup takes the first or latest), are taken out and returned with
    /// the reason. A blank value stays blank.
    pub async fn resolve(
        &self,
        sf: &Salesforce,
        rows: &mut Vec<Insert>,
    ) -> Result<Vec<(u64, String)>, SalesforceError> {
        let mut refused = Vec::new();
        for resolver in &self.resolvers {
            let at = resolver.position;
            let wanted: Vec<String> = distinct_values(rows, at, |_| true)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let found = if wanted.is_empty() {
                HashMap::new()
            } else {
                resolver.found(sf, &wanted).await?
            };
            replace_looked_up(
                rows,
                at,
                &mut refused,
                || Ok(()),
                |value| resolver.pick(found.get(&resolver.normal(value)), value),
            );
        }
        Ok(refused)
    }
}

impl Resolver {
    /// A value as it is matched: SOQL's `=` ignores case in text (but in
    /// a field that keeps it), and an id is named by its first 15
    /// characters in either form.
    fn normal(&self, value: &str) -> String {
        if self.holds_ids {
            value.chars().take(15).collect()
        } else if self.with_case {
            value.to_owned()
        } else {
            value.to_lowercase()
        }
    }

    /// The Ids of the records each of `values` matches (by its normal
    /// form), in the lookup's order.
    async fn found(
        &self,
        sf: &Salesforce,
        values: &[String],
    ) -> Result<HashMap<String, Vec<String>>, SalesforceError> {
        let fields = ["Id", self.key.as_str()];
        let records = sf
            .records_ordered(
                &self.object,
                &self.key,
                values,
                &fields,
                self.order.as_deref(),
            )
            .await?;
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for record in &records {
            let (Some(id), Some(key)) = (
                record.get("Id").and_then(Value::as_str),
                at_path(record, &self.path),
            ) else {
                continue;
            };
            found
                .entry(self.normal(key))
                .or_default()
                .push(id.to_owned());
        }
        Ok(found)
    }

    /// The Id a value comes to, or why its row fails.
    fn pick(&self, ids: Option<&Vec<String>>, value: &str) -> Result<String, String> {
        match (ids.map(Vec::as_slice), self.several) {
            (Some([one]), _) => Ok(one.clone()),
            (Some([first, ..]), Several::First | Several::Latest) => Ok(first.clone()),
            (Some(many), _) if !many.is_empty() => Err(format!(
                "{}: {} {} records have {} \"{}\"; a lookup needs exactly one (or several: \
                 first or latest)",
                self.target,
                many.len(),
                self.object,
                self.key,
                value
            )),
            _ => Err(format!(
                "{}: no {} record has {} \"{}\"",
                self.target, self.object, self.key, value
            )),
        }
    }
}

/// `object` described, once for all the lookups of a job.
async fn described_once(
    sf: &Salesforce,
    described: &mut HashMap<String, Describe>,
    object: &str,
) -> Result<Describe, SalesforceError> {
    if let Some(describe) = described.get(object) {
        return Ok(describe.clone());
    }
    let describe = sf.describe(object).await?;
    described.insert(object.to_owned(), describe.clone());
    Ok(describe)
}

/// A lookup's key in `related`: a field of it, or a field of the record
/// one of its references points to (`Account.External_Id__c`, by the
/// relationship's name). Gives the key as SOQL spells it, the path of
/// its value in a record the query answers, and its field (or why there
/// is none).
async fn key_path(
    sf: &Salesforce,
    described: &mut HashMap<String, Describe>,
    related: &Describe,
    key: &str,
) -> Result<(String, Vec<String>, Result<Field, String>), SalesforceError> {
    let Some((relationship, field)) = key.split_once('.') else {
        let found = related
            .field(key)
            .cloned()
            .ok_or_else(|| format!("{} has no field \"{key}\"", related.name));
        let name = found.as_ref().map_or(key.to_owned(), |f| f.name.clone());
        return Ok((name.clone(), vec![name], found));
    };
    let via = related.fields.iter().find(|f| {
        f.relationship_name
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(relationship))
    });
    let via = match via {
        Some(via) if field.contains('.') => Err(format!(
            "a lookup's key goes through one reference at most: {}.{}",
            via.relationship_name.as_deref().unwrap_or_default(),
            field
        )),
        Some(via) if via.reference_to.len() == 1 => Ok(via),
        Some(via) => Err(format!(
            "{}.{} can refer to {}: a lookup's key goes through a reference to one object",
            related.name,
            via.name,
            via.reference_to.join(" or ")
        )),
        None => Err(format!(
            "{} has no relationship \"{relationship}\"",
            related.name
        )),
    };
    let via = match via {
        Ok(via) => via.clone(),
        Err(reason) => return Ok((key.to_owned(), Vec::new(), Err(reason))),
    };
    let parent = described_once(sf, described, &via.reference_to[0]).await?;
    let relationship = via.relationship_name.clone().unwrap_or_default();
    let found = parent
        .field(field)
        .cloned()
        .ok_or_else(|| format!("{} has no field \"{field}\"", parent.name));
    let name = found.as_ref().map_or(field.to_owned(), |f| f.name.clone());
    Ok((
        format!("{relationship}.{name}"),
        vec![relationship, name],
        found,
    ))
}

/// The text at `path` in a record the query answered (a related record's
/// field nested under its relationship); none when a reference on the
/// way is blank.
fn at_path<'r>(record: &'r Map<String, Value>, path: &[String]) -> Option<&'r str> {
    let (last, on_the_way) = path.split_last()?;
    let mut at = record;
    for step in on_the_way {
        at = at.get(step)?.as_object()?;
    }
    at.get(last)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(several: Several, with_case: bool, holds_ids: bool) -> Resolver {
        Resolver {
            position: 0,
            target: "AccountId".into(),
            object: "Account".into(),
            key: "Name".into(),
            path: vec!["Name".into()],
            with_case,
            holds_ids,
            several,
            order: None,
        }
    }

    #[test]
    fn text_is_matched_without_regard_to_case_unless_the_field_keeps_it() {
        assert_eq!(
            resolver(Several::Fail, false, false).normal("ÉCOLE Acme"),
            "école acme"
        );
        assert_eq!(resolver(Several::Fail, true, false).normal("Acme"), "Acme");
        assert_eq!(
            resolver(Several::Fail, false, true).normal("001000000000001AAA"),
            "001000000000001"
        );
    }

    #[test]
    fn several_records_fail_the_row_unless_the_lookup_takes_one() {
        let many = vec!["001A".to_owned(), "001B".to_owned()];
        let error = resolver(Several::Fail, false, false)
            .pick(Some(&many), "Acme")
            .unwrap_err();
        assert!(error.contains("2 Account records have Name"), "{error}");
        assert_eq!(
            resolver(Several::Latest, false, false).pick(Some(&many), "Acme"),
            Ok("001A".to_owned())
        );
        let none = resolver(Several::First, false, false).pick(None, "Acme");
        assert!(none.unwrap_err().contains("no Account record has Name"));
    }

    #[test]
    fn a_related_records_field_is_read_under_its_relationship() {
        let record: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "Id": "003A", "Account": {"attributes": {}, "External_Id__c": "ACC-1"}
        }))
        .unwrap();
        let path = ["Account".to_owned(), "External_Id__c".to_owned()];
        assert_eq!(at_path(&record, &path), Some("ACC-1"));
        let blank: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"Id": "003B", "Account": null})).unwrap();
        assert_eq!(at_path(&blank, &path), None);
    }
}
