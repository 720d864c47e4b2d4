//! What the customer typed of a job (its name, query or sheet, target
//! object, key fields and mapping) is sealed under the account's subject
//! key, in its events and its row; its ids, operation and schedule stay in
//! clear. A job recorded before sealing is read from its clear columns.
//! Why a run failed is sealed likewise (it may quote a column, a table, a
//! host or a database's own error); its status and counts stay in clear.

use super::*;
use sluice_schema::ids::AccountId;
use sluice_vault::owner;

/// A job of the caller's account with what the customer typed of it opened.
pub(crate) struct Job {
    pub row: JobRow,
    pub details: JobDetails,
}

/// A job's definition as checked, before it is sealed.
pub(super) struct Definition {
    pub details: JobDetails,
    pub operation: Operation,
    pub schedule: Option<String>,
    /// Each scheduled run first retries the rows the previous one failed.
    pub retry_failed: bool,
    /// The schedule fires no run until it is resumed.
    pub schedule_paused: bool,
    /// What auto-match found, for a job asked to map itself.
    pub auto_match: Option<sluice_connectors::mapping::auto::Matched>,
}

/// Opens `row`'s sealed details with the account's subject key.
pub(crate) fn open_job(subject: &SubjectKey, row: JobRow) -> Result<Job, ApiError> {
    let aad = owner::job_details(row.account_id, row.job_id);
    let details = row
        .details(|sealed| subject.decrypt(sealed, &aad).map(|plain| plain.to_string()))
        .map_err(|e| ApiError::Internal(format!("job {}: {e}", row.job_id)))?;
    Ok(Job { row, details })
}

/// `row` with why it failed opened into `message` (where a run that ended
/// before sealing has it).
pub(crate) fn open_run(subject: &SubjectKey, row: RunRow) -> Result<RunRow, ApiError> {
    let aad = owner::run_message(row.account_id, row.run_id);
    let message = row
        .opened_message(|sealed| subject.decrypt(sealed, &aad).map(|plain| plain.to_string()))
        .map_err(|e| ApiError::Internal(format!("run {}: {e}", row.run_id)))?;
    Ok(RunRow {
        message,
        sealed_message: None,
        ..row
    })
}

/// Every run of `rows` (the account's) opened; the subject key is unwrapped
/// only if one of them failed with a sealed message.
pub(crate) async fn open_runs(
    state: &AppState,
    account: AccountId,
    rows: Vec<RunRow>,
) -> Result<Vec<RunRow>, ApiError> {
    if rows.iter().all(|row| row.sealed_message.is_none()) {
        return Ok(rows);
    }
    let subject = subject_key(state, account).await?;
    rows.into_iter()
        .map(|row| open_run(&subject, row))
        .collect()
}

/// The payload that records `definition` for job `id`: ids, operation and
/// schedule in clear, the rest sealed.
pub(super) fn sealed_definition(
    subject: &SubjectKey,
    user: &AuthUser,
    id: JobId,
    definition: Definition,
) -> Result<JobDefined, ApiError> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_string(&definition.details)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(JobDefined {
        source: definition.details.source.ids(),
        target: definition.details.target.ids(),
        operation: definition.operation,
        schedule: definition.schedule,
        retry_failed: definition.retry_failed,
        schedule_paused: definition.schedule_paused,
        details: subject.encrypt(&plain, &owner::job_details(user.account_id, id)),
    })
}

/// The job as `patch` changes it: the fields given replace the job's. The
/// target of a job with runs cannot move. Removing the schedule clears its
/// pause and its retries (unless the patch names them).
pub(super) fn merged(patch: JobPatch, job: Job, has_runs: bool) -> Result<NewJob, ApiError> {
    let Job { row, details } = job;
    if let Some(target) = &patch.target {
        if *target != details.target && has_runs {
            return Err(invalid(
                "target",
                "the target of a job with runs cannot change (their history and rollbacks \
                 refer to it): define a new job",
            ));
        }
    }
    let unscheduled = matches!(patch.schedule, Some(None));
    let (paused, retry_failed) = if unscheduled {
        (false, false)
    } else {
        (row.schedule_paused, row.retry_failed)
    };
    Ok(NewJob {
        name: patch.name.unwrap_or(details.name),
        source: patch.source.unwrap_or(details.source),
        target: patch.target.unwrap_or(details.target),
        operation: patch.operation.unwrap_or(row.operation),
        key_fields: patch.key_fields.unwrap_or(details.key_fields),
        // A new mapping, or a template in place of the job's mapping (both
        // at once are refused as for a new job).
        mapping: match (patch.mapping, patch.mapping_template) {
            (None, None) => Some(MappingChoice::Fields(details.mapping)),
            (mapping, _) => mapping,
        },
        mapping_template: patch.mapping_template,
        filter: patch.filter.unwrap_or(details.filter),
        dedupe: patch.dedupe.unwrap_or(details.dedupe),
        blank_values: patch.blank_values.unwrap_or(details.blank_values),
        schedule: patch.schedule.unwrap_or(row.schedule),
        retry_failed: patch.retry_failed.unwrap_or(retry_failed),
        schedule_paused: patch.schedule_paused.unwrap_or(paused),
    })
}
