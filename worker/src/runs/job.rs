//! What a run needs of its job and its command, read once as the run
//! starts.

use super::{RunHandler, Stop};
use sluice_connectors::formula::EvalContext;
use sluice_events::event::RunRequested;
use sluice_events::{DomainEvent, RecordedEvent};
use sluice_schema::ids::{AccountId, ConnectionId, JobId};
use sluice_schema::job::{
    BlankValues, Dedupe, FieldMapping, JobDetails, Operation, Source, Target,
};
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::repo::connections;

/// What a run needs of its job.
pub(super) struct JobSpec {
    /// Where the rows come from, opened.
    pub(super) source: Source,
    pub(super) mapping: Vec<FieldMapping>,
    /// The job's filter: a formula that holds for the rows to write.
    pub(super) filter: Option<String>,
    /// The job's de-duplication.
    pub(super) dedupe: Option<Dedupe>,
    /// What a blank value does to a field the run changes.
    pub(super) blank_values: BlankValues,
    /// What formulas see of the run: `TODAY()` and `NOW()` are when the
    /// run was requested (see [`formula_context`]).
    pub(super) context: EvalContext,
    pub(super) operation: Operation,
    pub(super) key_fields: Vec<String>,
    /// The target table.
    pub(super) object: String,
    pub(super) connection: ConnectionId,
}

/// What a run's formulas see: "now" is the moment the run was requested,
/// as the platform clock recorded it in the `run.requested` event, in UTC.
/// It is the same for every row and for every attempt of the run, so a run
/// resumed by another worker keeps and skips the very rows the first
/// attempt did.
pub(super) fn formula_context(cause: &RecordedEvent) -> EvalContext {
    EvalContext {
        now: cause.recorded_at,
        time_zone: chrono_tz::UTC,
    }
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

impl RunHandler {
    /// The kind of the job's target connection: `postgres` or `salesforce`.
    pub(super) async fn target_kind(
        &self,
        account: AccountId,
        id: ConnectionId,
    ) -> Result<ConnectionKind, Stop> {
        self.db(move |c| connections::find(c, account, id))
            .await?
            .map(|row| row.kind)
            .ok_or_else(|| Stop::Fail("the target connection was disconnected".into()))
    }

    /// The run's job, read for running (deleted or not, but the account's).
    /// A definition that does not read as a job's fails the run (see
    /// `opened_job`).
    pub(super) async fn job(
        &self,
        account: AccountId,
        id: JobId,
        context: EvalContext,
    ) -> Result<JobSpec, Stop> {
        let (row, details) = self.opened_job(account, id).await?;
        let JobDetails {
            source,
            target: Target {
                connection_id,
                object,
            },
            key_fields,
            mapping,
            filter,
            dedupe,
            blank_values,
            ..
        } = details;
        Ok(JobSpec {
            source,
            mapping,
            filter,
            dedupe,
            blank_values,
            context,
            operation: row.operation,
            key_fields,
            object,
            connection: connection_id,
        })
    }
}
