//! A job's definition as one set of types: what it reads ([`Source`]),
//! where it writes ([`Target`]), what it does there ([`Operation`]), the
//! fields that name a row, and its mapping ([`FieldMapping`]). The API takes
//! and sends them, the OpenAPI document describes them (feature
//! `openapi`), the events and the `jobs` row keep them, and the worker
//! runs them. What they do (a transform applied, a mapping planned against
//! a header, an operation written) is `sluice_connectors`'s.
//!
//! Their JSON is the one jobs have always been recorded in, so every
//! recorded job reads as these types: a source is `{"upload_id", "sheet"?}`
//! or `{"connection_id", "query"}`, a target `{"connection_id", "object"}`,
//! and the ids-only forms an event keeps in clear beside its sealed details
//! ([`SourceIds`], [`TargetIds`]) are the same with only the ids.

use crate::ids::{ConnectionId, UploadId};
use crate::kinds::{names, UnknownName};
use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;

mod clean;
mod mapping;

pub use clean::{
    blank_values, BlankValues, Dedupe, Keep, MAX_DEDUPE_FIELDS, UNKNOWN_BLANK_VALUES, UNKNOWN_KEEP,
};
pub use mapping::{FieldMapping, Lookup, Several, Transform, Transforms};

names! {
    /// What a run does to its target's rows (a Salesforce object's records).
    "operation" Operation {
        Insert => "insert",
        /// Changes the rows named by the key fields.
        Update => "update",
        /// Changes the rows named by the key fields, inserting those missing.
        Upsert => "upsert",
        /// Deletes the rows named by the key fields.
        Delete => "delete",
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Operation {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::ALL.iter().map(|o| o.as_str())))
            .description(Some(
                "What a run does to the target's rows: `insert`, `update`, `upsert` or `delete`.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Operation {}

/// What a job reads: an upload (a workbook's sheet, the first by default),
/// or one read-only statement run on a PostgreSQL connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = JobSource))]
#[serde(untagged)]
pub enum Source {
    /// An uploaded file.
    Upload {
        #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
        upload_id: UploadId,
        /// A workbook's sheet (the first by default).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(nullable = false))]
        sheet: Option<String>,
    },
    /// A query on a PostgreSQL connection.
    Query {
        #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
        connection_id: ConnectionId,
        /// One read-only statement.
        query: String,
    },
}

/// A source as it is written: its four fields, each optional, so that an
/// unknown field is named and a wrong combination says what to give.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFields {
    upload_id: Option<UploadId>,
    sheet: Option<String>,
    connection_id: Option<ConnectionId>,
    query: Option<String>,
}

/// A source whose fields do not make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("give source.upload_id, or source.connection_id with source.query")]
    Incomplete,
    #[error("a query has no sheets")]
    SheetOfQuery,
}

impl SourceError {
    pub const ALL: [Self; 2] = [Self::Incomplete, Self::SheetOfQuery];

    /// The request field the error is about.
    pub fn field(self) -> &'static str {
        match self {
            Self::Incomplete => "source",
            Self::SheetOfQuery => "source.sheet",
        }
    }
}

/// What an unknown operation is told (serde's own message would quote it).
pub const UNKNOWN_OPERATION: &str = "the operation is one of insert, update, upsert, delete";

/// The request field a refusal of a job's body is about, when the refusal
/// is one of the job types' own (they say what to give without quoting
/// what was sent).
pub fn field_of(message: &str) -> Option<&'static str> {
    if message == UNKNOWN_OPERATION {
        return Some("operation");
    }
    if message == UNKNOWN_BLANK_VALUES {
        return Some("blank_values");
    }
    if message == UNKNOWN_KEEP {
        return Some("dedupe.keep");
    }
    SourceError::ALL
        .into_iter()
        .find(|e| e.to_string() == message)
        .map(SourceError::field)
}

impl TryFrom<SourceFields> for Source {
    type Error = SourceError;

    fn try_from(fields: SourceFields) -> Result<Self, SourceError> {
        match fields {
            SourceFields {
                upload_id: Some(upload_id),
                sheet,
                connection_id: None,
                query: None,
            } => Ok(Self::Upload { upload_id, sheet }),
            SourceFields {
                upload_id: None,
                sheet,
                connection_id: Some(connection_id),
                query: Some(query),
            } => match sheet {
                Some(_) => Err(SourceError::SheetOfQuery),
                None => Ok(Self::Query {
                    connection_id,
                    query,
                }),
            },
            _ => Err(SourceError::Incomplete),
        }
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = SourceFields::deserialize(deserializer)?;
        Self::try_from(fields).map_err(serde::de::Error::custom)
    }
}

impl Source {
    /// Only the ids the source refers to.
    pub fn ids(&self) -> SourceIds {
        match self {
            Self::Upload { upload_id, .. } => SourceIds::Upload {
                upload_id: *upload_id,
            },
            Self::Query { connection_id, .. } => SourceIds::Query {
                connection_id: *connection_id,
            },
        }
    }
}

/// Where a job writes: a table (`table` or `schema.table`) of a PostgreSQL
/// connection, or an object of a Salesforce connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = JobTarget))]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub connection_id: ConnectionId,
    pub object: String,
}

impl Target {
    /// Only the id of the target's connection.
    pub fn ids(&self) -> TargetIds {
        TargetIds {
            connection_id: self.connection_id,
        }
    }
}

/// The ids of a job's source, kept in clear beside its sealed details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceIds {
    Upload { upload_id: UploadId },
    Query { connection_id: ConnectionId },
}

/// The id of a job's target connection, kept in clear beside its sealed
/// details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetIds {
    pub connection_id: ConnectionId,
}

/// What a customer typed of a job: sealed as one JSON blob in its events
/// and its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDetails {
    pub name: String,
    pub source: Source,
    pub target: Target,
    pub key_fields: Vec<String>,
    pub mapping: Vec<FieldMapping>,
    /// A formula over the source's columns: only the rows it holds for are
    /// written; the others are listed in the run's skipped.csv. A job
    /// recorded without one reads as having none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Rows that repeat others on some mapped fields are skipped. A job
    /// recorded without one reads as having none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe: Option<Dedupe>,
    /// What a blank value does to a field a run changes; a job recorded
    /// without one clears, as runs always did.
    #[serde(default, skip_serializing_if = "BlankValues::is_default")]
    pub blank_values: BlankValues,
}

#[cfg(test)]
mod tests;
