//! A new job's mapping as given: the fields themselves; `"auto"`, which
//! matches the source's header to the target's fields (see
//! `sluice_connectors::mapping::auto`) and keeps every match as a field
//! without transforms; or a saved mapping template's entries. An auto
//! mapping that leaves a field the target needs unmapped is refused,
//! naming the fields (`POST /v1/mappings/suggest` shows the same matches
//! without defining a job); so is a template that maps a column the
//! source lacks, naming the columns.

use super::*;
use crate::routes::targets;
use serde::Serialize;
use sluice_connectors::mapping::auto::{auto_match, Matched};
use sluice_schema::models::ConnectionRow;

/// A job's mapping as `POST /v1/jobs` takes it.
#[derive(Clone)]
pub enum MappingChoice {
    Fields(Vec<FieldMapping>),
    Auto,
}

/// A new job's mapping: its fields, each from a column or a constant
/// through transforms, or `"auto"`: matched from the source's header to
/// the target's fields by name, label and known synonyms (the answer's
/// `auto_match` says how).
#[expect(
    dead_code,
    reason = "describes `NewJob::mapping` in the document; nothing builds it"
)]
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum NewJobMapping {
    Fields(Vec<FieldMapping>),
    Auto(AutoMapping),
}

/// Auto-match.
#[derive(Serialize, ToSchema)]
#[expect(
    dead_code,
    reason = "describes `\"auto\"` in the document; nothing builds it"
)]
pub enum AutoMapping {
    #[serde(rename = "auto")]
    Auto,
}

/// Read by hand so that a list's own refusals (a transform's) reach the
/// caller as they would without the choice.
impl<'de> Deserialize<'de> for MappingChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(word) if word == "auto" => Ok(Self::Auto),
            Value::String(_) => Err(D::Error::custom(
                "a job's mapping is a list of fields or \"auto\"",
            )),
            fields => serde_json::from_value(fields)
                .map(Self::Fields)
                .map_err(D::Error::custom),
        }
    }
}

/// The target's connection, for a job's checks.
pub(super) async fn target_connection(
    state: &AppState,
    user: &AuthUser,
    target: &Target,
) -> Result<ConnectionRow, ApiError> {
    match connections::find(state, user, target.connection_id.0).await {
        Err(ApiError::NotFound) => Err(invalid(TARGET, "no such connection")),
        other => other,
    }
}

/// What auto-match finds for `columns` in `target`'s fields.
pub(crate) async fn matched(
    state: &AppState,
    user: &AuthUser,
    target: &Target,
    columns: &[String],
) -> Result<Matched, ApiError> {
    let row = target_connection(state, user, target).await?;
    let object = text("target.object", &target.object, 200)?;
    let fields = match targets::fields_of(state, user, &row, &object).await {
        Err(ApiError::NotFound) => {
            return Err(invalid(
                "target.object",
                "the target has no such table or object",
            ))
        }
        other => other?,
    };
    Ok(auto_match(columns, &targets::matchable(&fields)))
}

/// The mapping `job` gives for `columns`, and what auto-match found
/// when it was asked for.
pub(super) async fn resolve(
    state: &AppState,
    user: &AuthUser,
    job: &NewJob,
    columns: &[String],
) -> Result<(Vec<FieldMapping>, Option<Matched>), ApiError> {
    match (&job.mapping, job.mapping_template) {
        (Some(_), Some(_)) => Err(invalid(
            "mapping_template",
            "give a mapping or a mapping_template, not both",
        )),
        (None, None) => Err(invalid("mapping", "mapping is required")),
        (None, Some(template)) => Ok((from_template(state, user, template, columns).await?, None)),
        (Some(MappingChoice::Fields(fields)), None) => Ok((fields.clone(), None)),
        (Some(MappingChoice::Auto), None) => {
            let found = auto(state, user, &job.target, columns).await?;
            Ok((kept(&found), Some(found)))
        }
    }
}

/// A template's entries, when `columns` has every column they map.
async fn from_template(
    state: &AppState,
    user: &AuthUser,
    template: Uuid,
    columns: &[String],
) -> Result<Vec<FieldMapping>, ApiError> {
    let field = "mapping_template";
    let template =
        match crate::routes::mapping_templates::find(state, user.account_id, template).await {
            Err(ApiError::NotFound) => return Err(invalid(field, "no such mapping template")),
            other => other?,
        };
    let missing: Vec<&str> = template
        .entries
        .iter()
        .filter_map(|e| e.source.as_deref())
        .filter(|source| !columns.iter().any(|c| c == source))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
            field,
            format!(
                "the source has no column {} that the template maps",
                missing.join(", ")
            ),
        ));
    }
    Ok(template.entries)
}

/// Auto-match's findings, refused when they leave nothing mapped or a
/// field the target needs unmapped.
async fn auto(
    state: &AppState,
    user: &AuthUser,
    target: &Target,
    columns: &[String],
) -> Result<Matched, ApiError> {
    let found = matched(state, user, target, columns).await?;
    if found.matches.is_empty() {
        return Err(invalid(
            "mapping",
            "auto-match found no column for any field of the target",
        ));
    }
    if !found.unmapped_required.is_empty() {
        return Err(invalid(
            "mapping",
            format!(
                "auto-match left fields the target needs unmapped: {}; map them yourself",
                found.unmapped_required.join(", ")
            ),
        ));
    }
    Ok(found)
}

/// Every match as a field without transforms.
fn kept(found: &Matched) -> Vec<FieldMapping> {
    found
        .matches
        .iter()
        .map(|m| FieldMapping {
            source: Some(m.source.clone()),
            formula: None,
            target: m.target.clone(),
            transform: Default::default(),
        })
        .collect()
}
