//! Import jobs: defined, changed, deleted.

use serde::{Deserialize, Serialize};

/// A job as recorded before customer text was sealed: everything in clear.
/// Still replayed, no longer written (see [`JobDefined`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCreated {
    pub name: String,
    /// `{"upload_id": ...}`.
    pub source: serde_json::Value,
    /// `{"connection_id": ..., "object": ...}`.
    pub target: serde_json::Value,
    /// `insert`, `update`, `upsert` or `delete`.
    pub operation: String,
    pub key_fields: Vec<String>,
    pub mapping: serde_json::Value,
    /// When runs start by themselves: a cron expression (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// A job as recorded since customer text is sealed: the ids it refers to,
/// its operation and schedule in clear; its name, query or sheet, target
/// object, key fields and mapping sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDefined {
    /// `{"upload_id": ...}` or `{"connection_id": ...}`: ids only.
    pub source: serde_json::Value,
    /// `{"connection_id": ...}`: the id only.
    pub target: serde_json::Value,
    /// `insert`, `update`, `upsert` or `delete`.
    pub operation: String,
    /// When runs start by themselves: a cron expression (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Sealed: `{name, source, target, key_fields, mapping}` as JSON, the
    /// source with its query or sheet and the target with its object.
    pub details: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDeleted {}
