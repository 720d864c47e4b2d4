//! An object's description (`GET /sobjects/{object}/describe`), and the
//! checks a mapping must pass against it before any record is written.

use super::{Salesforce, SalesforceError};
use serde::Deserialize;

/// What an import needs to know of an object.
#[derive(Debug, Clone, Deserialize)]
pub struct Describe {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub deletable: bool,
    #[serde(default)]
    pub undeletable: bool,
    pub fields: Vec<Field>,
}

/// One field of an object.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub nillable: bool,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub defaulted_on_create: bool,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub id_lookup: bool,
    #[serde(default)]
    pub unique: bool,
    /// A unique text field that treats `ABC` and `abc` as different values.
    #[serde(default)]
    pub case_sensitive: bool,
    #[serde(default)]
    pub reference_to: Vec<String>,
    #[serde(default)]
    pub relationship_name: Option<String>,
}

impl Field {
    /// Whether Salesforce matches the field's values without regard to
    /// case as an upsert's key: "Custom field matching is case-insensitive
    /// only if the custom field has the Unique and Treat "ABC" and "abc" as
    /// duplicate values (case insensitive) attributes selected" (Apex
    /// Developer Guide, Upserting Records); a standard field (such as an
    /// `idLookup` one) unless describe calls it case sensitive.
    pub fn key_ignores_case(&self) -> bool {
        !self.case_sensitive && (self.unique || !self.name.ends_with("__c"))
    }

    /// Whether it refers to more than one object (a Task's `WhatId`, a
    /// Case's `OwnerId`): a record it is set to by external id must name
    /// its object.
    pub fn is_polymorphic(&self) -> bool {
        self.reference_to.len() > 1
    }
}

/// The record a reference is set to by its external id: the object it is
/// of (one of those the reference refers to, as the describe spells it)
/// and its external id field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedKey {
    pub object: String,
    pub key: String,
}

impl Salesforce {
    /// Describes `object`; an object the org does not have is refused with
    /// its name.
    pub async fn describe(&self, object: &str) -> Result<Describe, SalesforceError> {
        if object.is_empty()
            || !object
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(SalesforceError::Refused {
                code: "INVALID_TYPE".into(),
                message: format!("\"{object}\" is not an object name"),
            });
        }
        let url = self.url(&format!("/sobjects/{object}/describe"));
        match self.send(|http| http.get(&url)).await {
            Ok(response) => Self::json(response).await,
            Err(SalesforceError::Refused { code, .. }) if code == "NOT_FOUND" => {
                Err(SalesforceError::Refused {
                    code,
                    message: format!("the org has no object \"{object}\""),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// An object of the org as the describe-global call lists it
/// (`GET /sobjects`, its `sobjects` entries).
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectSummary {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub custom: bool,
}

#[derive(Deserialize)]
struct Global {
    sobjects: Vec<ObjectSummary>,
}

impl Salesforce {
    /// Every object of the org (`GET /sobjects`, describe global).
    pub async fn describe_global(&self) -> Result<Vec<ObjectSummary>, SalesforceError> {
        let url = self.url("/sobjects");
        let response = self.send(|http| http.get(&url)).await?;
        Ok(Self::json::<Global>(response).await?.sobjects)
    }
}

impl Describe {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The field a mapping target names: a field of the object, or a
    /// reference set by another record's external id, by the relationship's
    /// name or the reference field's: `AccountId:External_Id__c`, or with
    /// the related record's object, `WhatId:Opportunity.External_Id__c`,
    /// which a polymorphic reference needs. Returns the field and, for a
    /// reference, the related record's object and external id field.
    pub fn target(&self, target: &str) -> Result<(&Field, Option<RelatedKey>), String> {
        let (name, by) = match target.split_once(':') {
            Some((name, by)) => (name, Some(by)),
            None => (target, None),
        };
        let field = self
            .fields
            .iter()
            .find(|f| {
                f.name.eq_ignore_ascii_case(name)
                    || f.relationship_name
                        .as_deref()
                        .is_some_and(|r| r.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| format!("{} has no field \"{name}\"", self.name))?;
        let Some(by) = by else {
            return Ok((field, None));
        };
        if field.kind != "reference" {
            return Err(format!(
                "{}.{} is not a reference: it cannot be set by another record's key",
                self.name, field.name
            ));
        }
        let (object, key) = match by.split_once('.') {
            Some((object, key)) => (Some(object), key),
            None => (None, by),
        };
        if key.is_empty() {
            return Err(format!("name the external id field after \"{name}:\""));
        }
        let refers_to = field.reference_to.join(" or ");
        let object = match (object, field.reference_to.as_slice()) {
            (Some(object), objects) => objects
                .iter()
                .find(|o| o.eq_ignore_ascii_case(object))
                .ok_or_else(|| {
                    format!(
                        "{}.{} refers to {refers_to}, not to {object}",
                        self.name, field.name
                    )
                })?,
            (None, [only]) => only,
            (None, []) => {
                return Err(format!(
                    "{}.{} names no object it refers to",
                    self.name, field.name
                ))
            }
            (None, [first, ..]) => {
                return Err(format!(
                    "{}.{} can refer to {refers_to}: name the object of the record, as \"{}:{first}.{key}\"",
                    self.name, field.name, field.name
                ))
            }
        };
        let related = RelatedKey {
            object: object.clone(),
            key: key.to_owned(),
        };
        Ok((field, Some(related)))
    }

    /// Checks a mapping's targets for `operation` before any write: each
    /// names a field the operation may set, none twice; an insert sets
    /// every required field; an upsert's key is an external id field; a
    /// delete maps only the record id. An upsert need not map the fields a
    /// create requires: the records it updates do without them, and
    /// Salesforce refuses each record it would create without them
    /// (`REQUIRED_FIELD_MISSING`), on its own.
    pub fn check(
        &self,
        operation: super::Operation,
        targets: &[&str],
        key: Option<&str>,
    ) -> Result<(), String> {
        use super::Operation;
        let mut seen = std::collections::BTreeSet::new();
        for target in targets {
            let (field, _) = self.target(target)?;
            if !seen.insert(field.name.as_str()) {
                return Err(format!("{} is mapped twice", field.name));
            }
            let is_key = key.is_some_and(|k| k.eq_ignore_ascii_case(&field.name));
            let allowed = match operation {
                Operation::Insert => field.createable,
                Operation::Update => field.updateable || field.name == "Id",
                Operation::Upsert => field.createable || field.updateable || is_key,
                Operation::Delete => field.name == "Id",
            };
            if !allowed {
                let what = match operation {
                    Operation::Delete => "a delete maps only Id".to_owned(),
                    Operation::Update if field.createable => format!(
                        "{}.{} cannot be changed by an update: Salesforce lets it be set only \
                         when a record is created",
                        self.name, field.name
                    ),
                    _ => format!("{}.{} cannot be written", self.name, field.name),
                };
                return Err(what);
            }
        }
        match operation {
            Operation::Insert => {
                let missing: Vec<&str> = self
                    .fields
                    .iter()
                    .filter(|f| f.createable && !f.nillable && !f.defaulted_on_create)
                    .filter(|f| f.kind != "boolean" && !seen.contains(f.name.as_str()))
                    .map(|f| f.name.as_str())
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "{} needs a value for {}: map them",
                        self.name,
                        missing.join(", ")
                    ));
                }
            }
            Operation::Update | Operation::Delete if !seen.contains("Id") => {
                return Err("map the record Id: it names the records to change".into());
            }
            _ => {}
        }
        if operation == Operation::Upsert {
            let key = key.ok_or("an upsert needs key_fields: its external id field")?;
            let field = self
                .field(key)
                .ok_or_else(|| format!("{} has no field \"{key}\"", self.name))?;
            if !(field.external_id || field.name == "Id") || !seen.contains(field.name.as_str()) {
                return Err(format!(
                    "{}.{} is not a mapped external id field: upsert by an external id",
                    self.name, field.name
                ));
            }
        }
        Ok(())
    }
}
