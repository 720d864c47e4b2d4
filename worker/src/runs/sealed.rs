//! Opening what the customer typed of a job or a connection, sealed under
//! the account's subject key, and sealing why a run failed (it may quote a
//! column, a table or object, a host or the target's own error): the
//! worker unwraps the key with its keyring as the API does. An erased
//! account's key is gone, and so are its jobs.

use super::{RunHandler, Stop};
use sluice_events::event::{RunFinished, RunFinishedV2};
use sluice_schema::ids::{AccountId, ConnectionId, JobId, RunId};
use sluice_schema::models::{ConnectionRow, JobDetails, JobRow};
use sluice_schema::repo::{accounts, connections, jobs};
use sluice_vault::{owner, Aad, SubjectKey};

/// Opens `sealed` under `aad` as text.
fn open(subject: &SubjectKey, aad: &Aad, sealed: &str) -> Result<String, sluice_vault::VaultError> {
    subject.decrypt(sealed, aad).map(|plain| plain.to_string())
}

impl RunHandler {
    /// The account's subject key, unwrapped.
    pub(super) async fn subject(&self, account: AccountId) -> Result<SubjectKey, Stop> {
        let (version, wrapped) = self
            .db(move |c| accounts::subject_key(c, account))
            .await?
            .ok_or_else(|| Stop::Fail("the account's key is gone (erased)".into()))?;
        self.keyring
            .with(|k| SubjectKey::unwrap(k, &account.to_string(), version.get(), &wrapped))
            .map_err(|e| Stop::Retry(format!("subject key: {e}")))
    }

    /// `finished` as it is recorded (`run.finished.v2`): why the run failed
    /// sealed under the account's subject key. A run of an account erased
    /// meanwhile ends without its message (nothing is left to seal it under).
    pub(super) async fn sealed_ending(
        &self,
        account: Option<AccountId>,
        run: RunId,
        finished: RunFinished,
    ) -> Result<RunFinishedV2, Stop> {
        let message = match (account, finished.message) {
            (Some(account), Some(message)) => {
                let message = zeroize::Zeroizing::new(message);
                match self.subject(account).await {
                    Ok(subject) => {
                        Some(subject.encrypt(&message, &owner::run_message(account, run)))
                    }
                    Err(Stop::Fail(_)) => None,
                    Err(retry) => return Err(retry),
                }
            }
            _ => None,
        };
        Ok(RunFinishedV2 {
            status: finished.status,
            rows_total: finished.rows_total,
            rows_ok: finished.rows_ok,
            rows_failed: finished.rows_failed,
            rows_skipped: finished.rows_skipped,
            message,
            results_expire_at: finished.results_expire_at,
            api_calls: finished.api_calls,
        })
    }

    /// The account's job `id` (deleted or not), with what the customer
    /// typed of it opened.
    pub(super) async fn opened_job(
        &self,
        account: AccountId,
        id: JobId,
    ) -> Result<(JobRow, JobDetails), Stop> {
        let unreadable =
            |e: String| Stop::Fail(format!("the job's definition cannot be read: {e}"));
        // A row that does not read as a job (an operation the code does not
        // know) fails the run: reading it again would not help.
        let row = self
            .db(move |c| match jobs::find_any(c, id) {
                Err(diesel::result::Error::DeserializationError(e)) => Ok(Err(e.to_string())),
                other => other.map(Ok),
            })
            .await?
            .map_err(unreadable)?
            .filter(|j| j.account_id == account.0)
            .ok_or_else(|| Stop::Fail("the job no longer exists".into()))?;
        let subject = self.subject(account).await?;
        let aad = owner::job_details(account, id);
        let details = row
            .details(|sealed| open(&subject, &aad, sealed))
            .map_err(|e| unreadable(e.to_string()))?;
        Ok((row, details))
    }

    /// The account's connection `id`, its name and parameters opened; none
    /// once disconnected.
    pub(super) async fn opened_connection(
        &self,
        account: AccountId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionRow>, Stop> {
        let Some(row) = self.db(move |c| connections::find(c, account, id)).await? else {
            return Ok(None);
        };
        if row.details.is_none() {
            return Ok(Some(row));
        }
        let subject = self.subject(account).await?;
        let aad = owner::connection_details(account, id);
        let details = row
            .details(|sealed| open(&subject, &aad, sealed))
            .map_err(|e| Stop::Fail(format!("the connection's parameters cannot be read: {e}")))?;
        Ok(Some(ConnectionRow {
            name: Some(details.name),
            params: details.params,
            details: None,
            ..row
        }))
    }
}
