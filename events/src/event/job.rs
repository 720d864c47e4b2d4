//! Import jobs: defined, changed, deleted.

use serde::{Deserialize, Serialize};
use sluice_schema::job::{FieldMapping, Operation, Source, SourceIds, Target, TargetIds};

/// A job as recorded before customer text was sealed: everything in clear.
/// Still replayed, no longer written (see [`JobDefined`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCreated {
    pub name: String,
    pub source: Source,
    pub target: Target,
    pub operation: Operation,
    pub key_fields: Vec<String>,
    pub mapping: Vec<FieldMapping>,
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
    pub source: SourceIds,
    /// `{"connection_id": ...}`: the id only.
    pub target: TargetIds,
    pub operation: Operation,
    /// When runs start by themselves: a cron expression (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Each scheduled run first retries the rows the previous run failed.
    /// Added after the event: absent is false, and false is not written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_failed: bool,
    /// The schedule is paused: its slots pass without a run until it is
    /// resumed, which starts again from the next slot (the ones missed
    /// while paused never fire). Added after the event: absent is false,
    /// and false is not written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub schedule_paused: bool,
    /// Sealed: [`sluice_schema::job::JobDetails`] as JSON, the source with
    /// its query or sheet and the target with its object.
    pub details: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDeleted {}

#[cfg(test)]
mod tests {
    use crate::event::DomainEvent;
    use serde_json::json;

    /// `payload` of `kind` read as its event and written back: the same
    /// JSON (so the projection keeps the columns it kept).
    fn reads_back(kind: &str, payload: serde_json::Value) {
        let event = DomainEvent::from_columns(1, kind, &payload).unwrap();
        assert_eq!(event.to_columns().unwrap(), (kind.to_owned(), payload));
    }

    #[test]
    fn recorded_job_payloads_read_as_their_types_and_back() {
        // As the event-log fixture holds them.
        reads_back(
            "job.created.v2",
            json!({
                "source": {"upload_id": "01a2386b-a8f9-732c-b2c4-1348c47cbe29"},
                "target": {"connection_id": "01a2386b-a8e4-7549-aa87-90654185935a"},
                "details": "sealed",
                "operation": "insert",
            }),
        );
        reads_back(
            "job.updated.v2",
            json!({
                "source": {"connection_id": "01a2386b-a8e4-7549-aa87-90654185935a"},
                "target": {"connection_id": "01a2386b-a8e4-7549-aa87-90654185935a"},
                "details": "sealed",
                "operation": "upsert",
                "schedule": "0 6 * * MON-FRI",
            }),
        );
        // As a job was recorded before sealing: everything in clear.
        reads_back(
            "job.created",
            json!({
                "name": "Contacts",
                "source": {"upload_id": "01a2386b-a8f9-732c-b2c4-1348c47cbe29", "sheet": "Contacts"},
                "target": {"connection_id": "01a2386b-a8e4-7549-aa87-90654185935a", "object": "contacts"},
                "operation": "update",
                "key_fields": ["email"],
                "mapping": [
                    {"source": "Email", "target": "email", "transform": [{"type": "trim"}, {"type": "lower"}]},
                    {"source": null, "target": "origin", "transform": {"type": "constant", "value": "import"}},
                ],
            }),
        );
        let unknown = json!({
            "source": {"upload_id": "01a2386b-a8f9-732c-b2c4-1348c47cbe29"},
            "target": {"connection_id": "01a2386b-a8e4-7549-aa87-90654185935a"},
            "details": "sealed",
            "operation": "merge",
        });
        assert!(DomainEvent::from_columns(1, "job.created.v2", &unknown).is_err());
    }
}
