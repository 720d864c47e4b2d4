//! What a run needs of its job and its command, read once as the run
//! starts.

use super::{RunHandler, Stop};
use sluice_connectors::mapping::FieldMapping;
use sluice_connectors::postgres as pg;
use sluice_events::event::RunRequested;
use sluice_events::{DomainEvent, RecordedEvent};
use sluice_schema::ids::{AccountId, ConnectionId, JobId};
use sluice_schema::repo::connections;
use uuid::Uuid;

/// What a run needs of its job.
pub(super) struct JobSpec {
    /// Where the rows come from (`upload_id` and `sheet`, or
    /// `connection_id` and `query`), opened.
    pub(super) source: serde_json::Value,
    pub(super) mapping: Vec<FieldMapping>,
    pub(super) operation: pg::Operation,
    pub(super) key_fields: Vec<String>,
    /// The target table.
    pub(super) object: String,
    pub(super) connection: ConnectionId,
}

/// The run command's account and request.
pub(super) fn command(cause: &RecordedEvent) -> Result<(AccountId, &RunRequested), Stop> {
    let DomainEvent::RunRequested(requested) = &cause.event else {
        return Err(Stop::Fail("not a run command".into()));
    };
    let account = cause
        .account_id
        .ok_or_else(|| Stop::Fail("the run names no account".into()))?;
    Ok((account, requested))
}

pub(super) fn json_uuid(value: &serde_json::Value) -> Option<Uuid> {
    value.as_str().and_then(|s| Uuid::parse_str(s).ok())
}

impl RunHandler {
    /// The kind of the job's target connection: `postgres` or `salesforce`.
    pub(super) async fn target_kind(
        &self,
        account: AccountId,
        id: ConnectionId,
    ) -> Result<String, Stop> {
        self.db(move |c| connections::find(c, account, id))
            .await?
            .map(|row| row.kind)
            .ok_or_else(|| Stop::Fail("the target connection was disconnected".into()))
    }

    /// The run's job, read for running (deleted or not, but the account's).
    pub(super) async fn job(&self, account: AccountId, id: JobId) -> Result<JobSpec, Stop> {
        let (row, details) = self.opened_job(account, id).await?;
        let mapping = serde_json::from_value(details.mapping)
            .map_err(|e| Stop::Fail(format!("the job's mapping cannot be read: {e}")))?;
        let operation = pg::Operation::parse(&row.operation).ok_or_else(|| {
            Stop::Fail(format!(
                "the job's operation \"{}\" is unknown",
                row.operation
            ))
        })?;
        let object = details.target["object"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let connection = json_uuid(&details.target["connection_id"])
            .map(ConnectionId)
            .ok_or_else(|| Stop::Fail("the job has no target".into()))?;
        Ok(JobSpec {
            source: details.source,
            mapping,
            operation,
            key_fields: details.key_fields,
            object,
            connection,
        })
    }
}
