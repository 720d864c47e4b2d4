//! Key rotation as a background job. `sluice keys rotate` writes a new
//! primary key to the keyring file and records `keys.rotation_requested`;
//! a worker takes the command from the maintenance queue and rewraps every
//! data key under the new key ([`crate::keys::rewrap_all`]), recording
//! `keys.rewrap_progress` as it goes and `keys.rotation_finished` at the end
//! (with the processed marker, so a redelivery does nothing).
//!
//! A worker whose keyring file does not have the new key yet (the file has
//! not reached its machine) retries until it does. An interrupted job resumes
//! where it stopped: only what is not yet under the primary key is rewrapped.

use crate::keys::{rewrap_all, RewrapReport};
use futures_util::future::BoxFuture;
use sluice_events::consumer::{Handler, HandlerError, Incoming};
use sluice_events::event::{KeyRewrapProgress, KeyRotationFinished};
use sluice_events::{AppendRequest, Appender, DomainEvent, ExpectedVersion, Metadata, NewEvent};
use sluice_schema::PgPool;
use sluice_vault::SharedKeyring;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const CONSUMER: &str = "maintenance";

/// Progress is recorded at most this often per table (in rows).
const PROGRESS_EVERY: u64 = 10_000;

pub struct RotationHandler {
    pub appender: Appender,
    pub pool: PgPool,
    pub keyring: Arc<SharedKeyring>,
    pub worker: String,
}

impl Handler for RotationHandler {
    fn handle(&self, incoming: Incoming) -> BoxFuture<'static, Result<(), HandlerError>> {
        let appender = self.appender.clone();
        let pool = self.pool.clone();
        let keyring = self.keyring.clone();
        let worker = self.worker.clone();
        Box::pin(async move {
            let cause = incoming.event;
            let DomainEvent::KeyRotationRequested(requested) = &cause.event else {
                return Err(HandlerError::Reject(format!(
                    "{} is not a command for this queue",
                    cause.event.event_type()
                )));
            };
            let keys = keyring.get();
            if keys.primary_version() < requested.primary {
                let _ = keyring.reload();
                if keyring.get().primary_version() < requested.primary {
                    return Err(HandlerError::Retry(format!(
                        "this worker's keyring has no key {} yet",
                        requested.primary
                    )));
                }
            }
            let keys = keyring.get();
            let runtime = tokio::runtime::Handle::current();
            let progress_appender = appender.clone();
            let (rotation, progress_cause) = (cause.stream_id, cause.clone());
            let progress_worker = worker.clone();
            let report = tokio::task::spawn_blocking(move || -> Result<RewrapReport, String> {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                let mut last: BTreeMap<String, u64> = BTreeMap::new();
                rewrap_all(&mut conn, &keys, |table, done| {
                    let seen = last.entry(table.to_owned()).or_default();
                    if done - *seen < PROGRESS_EVERY {
                        return;
                    }
                    *seen = done;
                    tracing::info!(table, done, "rewrapped");
                    let event = NewEvent::new(
                        DomainEvent::KeyRewrapProgress(KeyRewrapProgress {
                            table: table.to_owned(),
                            done,
                        }),
                        Metadata::caused_by(&progress_cause, format!("worker:{progress_worker}")),
                    );
                    let request = AppendRequest::new(
                        "key_rotation",
                        rotation,
                        ExpectedVersion::Any,
                        vec![event],
                    );
                    // Progress is informative: a failure to record it does not stop the job.
                    if let Err(e) = runtime.block_on(progress_appender.append(request)) {
                        tracing::warn!(error = %e, "could not record rewrap progress");
                    }
                })
                .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| HandlerError::Retry(e.to_string()))?
            .map_err(HandlerError::Retry)?;
            let rewrapped = BTreeMap::from([
                ("subject_keys".to_owned(), report.subject_keys),
                ("oauth_tokens".to_owned(), report.oauth_tokens),
                ("oauth_states".to_owned(), report.oauth_states),
                ("connection_secrets".to_owned(), report.connection_secrets),
                ("upload_keys".to_owned(), report.upload_keys),
                ("result_keys".to_owned(), report.result_keys),
            ]);
            tracing::info!(
                primary = report.primary,
                ?rewrapped,
                "key rotation finished"
            );
            let done = NewEvent::new(
                DomainEvent::KeyRotationFinished(KeyRotationFinished {
                    rewrapped,
                    worker: worker.clone(),
                }),
                Metadata::caused_by(&cause, format!("worker:{worker}")),
            );
            let request = AppendRequest::new(
                "key_rotation",
                cause.stream_id,
                ExpectedVersion::Any,
                vec![done],
            )
            .processing(CONSUMER, cause.event_id);
            appender.append(request).await.map_err(crate::retry_on)?;
            Ok(())
        })
    }
}
