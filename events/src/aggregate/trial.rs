//! Runs over part of a source, decided on the stream of the run they
//! follow: the rest of a trial run (every row the trial did not write) and
//! a retry of a run's failed rows. Both read the earlier run's result
//! files, so both need them kept.
//!
//! The rest of a trial has an id derived from the trial ([`rest_id`]):
//! a trial has one rest, and two requests at once open one stream.

use super::run::{RunHistory, NOTHING_KEPT};
use super::{owned_by, Refusal};
use crate::event::RunRequested;
use chrono::{DateTime, Utc};
use sluice_schema::ids::AccountId;
use sluice_schema::kinds::RunStatus;
use uuid::Uuid;

/// What deciding on an earlier run's result files needs that is not the
/// run's to hold.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesContext {
    pub now: DateTime<Utc>,
    /// Whether the account keeps result files at all.
    pub store_results: bool,
    /// When the run's result files expire, as the account's retention has
    /// it now.
    pub results_expire_at: Option<DateTime<Utc>>,
}

/// What the rest of a trial is checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct RestContext {
    /// The job the rest is asked of.
    pub job_id: Uuid,
    /// The upload the job reads now (none: it reads a query).
    pub upload_id: Option<Uuid>,
    /// The rest of this trial, if it was asked already.
    pub asked: Option<Uuid>,
    pub files: FilesContext,
}

/// The id of the rest of trial `trial`: one per trial.
pub fn rest_id(trial: Uuid) -> Uuid {
    Uuid::new_v5(&trial, b"rest")
}

/// Refused unless the run's result files are kept and live; `what` names
/// what goes with them.
fn files_kept(results_removed: bool, files: &FilesContext, what: &str) -> Result<(), Refusal> {
    if !files.store_results {
        return Err(Refusal::Gone(NOTHING_KEPT.into()));
    }
    match files.results_expire_at {
        Some(at) if at > files.now && !results_removed => Ok(()),
        Some(at) => Err(Refusal::Gone(format!(
            "the run's result files expired at {}, and with them {what}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
        None => Err(Refusal::Gone(format!(
            "the run kept no result files, so {what} is not known"
        ))),
    }
}

impl RunHistory {
    /// Decides the rest of a trial: every row of the job's source that the
    /// trial did not write (see the worker's `source::selection`). Refused
    /// for a run of another job or that is no trial, a trial still working,
    /// rolled back (or being rolled back), of a query, or whose job reads
    /// another upload now; a trial whose rest was asked already; and (410)
    /// a trial whose result files are gone.
    pub fn request_rest(
        &self,
        account: AccountId,
        context: &RestContext,
    ) -> Result<RunRequested, Refusal> {
        let trial = &self.run.state;
        owned_by(trial.account, account)?;
        if trial.job_id != Some(context.job_id) {
            return Err(Refusal::Conflict("the run is not a run of this job".into()));
        }
        let Some(sample) = trial.sample else {
            return Err(Refusal::Conflict(
                "the run is not a trial (a run with a sample), so it has no rest".into(),
            ));
        };
        if trial.finished.is_none() {
            return Err(Refusal::Conflict(
                "the trial has not finished; ask for its rest once it has".into(),
            ));
        }
        if let Some(rollback) = self.rollbacks.last() {
            let undone = rollback
                .state
                .finished
                .as_ref()
                .is_none_or(|f| f.status == RunStatus::RolledBack);
            if undone {
                return Err(Refusal::Conflict(
                    "the trial was rolled back (or is being rolled back): run the job in full"
                        .into(),
                ));
            }
        }
        let Some(upload) = sample.upload_id else {
            return Err(Refusal::Conflict(
                "the trial read a query, whose rows may have changed since: run the job in full"
                    .into(),
            ));
        };
        if context.upload_id != Some(upload) {
            return Err(Refusal::Conflict(
                "the job's source changed since the trial: run the job in full, or try again"
                    .into(),
            ));
        }
        if let Some(rest) = context.asked {
            return Err(Refusal::Conflict(format!(
                "the rest of this trial was asked already: run {rest}"
            )));
        }
        files_kept(
            trial.results_removed,
            &context.files,
            "the record of the rows the trial wrote",
        )?;
        Ok(RunRequested {
            remaining_of: Some(self.run.id),
            ..RunRequested::import(context.job_id)
        })
    }

    /// Decides a retry of the run's failed rows: the rows of its
    /// errors.csv, written again with the job's mapping as it is now.
    /// Refused for a rollback, a run still working or without failed rows,
    /// and (410) a run whose result files are gone.
    pub fn request_retry(
        &self,
        account: AccountId,
        files: &FilesContext,
    ) -> Result<RunRequested, Refusal> {
        let run = &self.run.state;
        owned_by(run.account, account)?;
        let job_id = run.job_id.ok_or(Refusal::NotFound)?;
        if run.rollback_of.is_some() {
            return Err(Refusal::Conflict(
                "a rollback has no failed rows to retry (roll the run back again instead)".into(),
            ));
        }
        let Some(finished) = &run.finished else {
            return Err(Refusal::Conflict(
                "the run has not finished; retry its failed rows once it has".into(),
            ));
        };
        if finished.rows_failed == 0 {
            return Err(Refusal::Conflict(
                "the run had no failed rows: there is nothing to retry".into(),
            ));
        }
        files_kept(run.results_removed, files, "its failed rows")?;
        Ok(RunRequested {
            retry_of: Some(self.run.id),
            ..RunRequested::import(job_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::ACCOUNT;
    use crate::event::{DomainEvent, RunFinishedV2, RunResultsRemoved, Sample};
    use sluice_schema::kinds::SampleOrder;

    const RUN: Uuid = Uuid::from_u128(21);
    const JOB: Uuid = Uuid::from_u128(22);
    const UPLOAD: Uuid = Uuid::from_u128(23);

    fn trial(upload_id: Option<Uuid>) -> DomainEvent {
        DomainEvent::RunRequested(RunRequested {
            sample: Some(Sample {
                rows: 10,
                order: SampleOrder::Random,
                seed: 7,
                upload_id,
            }),
            ..RunRequested::import(JOB)
        })
    }

    fn finished(status: &str, rows_failed: i64) -> DomainEvent {
        DomainEvent::RunFinishedV2(RunFinishedV2 {
            status: status.parse().unwrap(),
            rows_total: 10,
            rows_ok: 10 - rows_failed,
            rows_failed,
            rows_skipped: 0,
            message: None,
            results_expire_at: None,
            api_calls: None,
        })
    }

    fn history(run: Vec<DomainEvent>, rollbacks: Vec<Vec<DomainEvent>>) -> RunHistory {
        crate::aggregate::run::history_of(RUN, run, rollbacks)
    }

    fn files() -> FilesContext {
        let now = Utc::now();
        FilesContext {
            now,
            store_results: true,
            results_expire_at: Some(now + chrono::Duration::days(1)),
        }
    }

    fn rest() -> RestContext {
        RestContext {
            job_id: JOB,
            upload_id: Some(UPLOAD),
            asked: None,
            files: files(),
        }
    }

    fn conflict(history: &RunHistory, context: &RestContext) -> String {
        match history.request_rest(ACCOUNT, context) {
            Err(Refusal::Conflict(message)) => message,
            other => panic!("not a conflict: {other:?}"),
        }
    }

    #[test]
    fn the_rest_of_a_finished_trial_names_it() {
        let done = history(vec![trial(Some(UPLOAD)), finished("succeeded", 0)], vec![]);
        let asked = done.request_rest(ACCOUNT, &rest()).unwrap();
        assert_eq!(asked.remaining_of, Some(RUN));
        assert_eq!(asked.job_id, JOB);
        assert_eq!(asked.sample, None);
        assert_ne!(rest_id(RUN), RUN);
    }

    #[test]
    fn the_rest_is_refused_for_what_is_no_finished_trial_of_this_upload() {
        let done = history(vec![trial(Some(UPLOAD)), finished("succeeded", 0)], vec![]);
        let other_job = RestContext {
            job_id: Uuid::from_u128(99),
            ..rest()
        };
        assert!(conflict(&done, &other_job).contains("not a run of this job"));
        let full = history(
            vec![
                DomainEvent::RunRequested(RunRequested::import(JOB)),
                finished("succeeded", 0),
            ],
            vec![],
        );
        assert!(conflict(&full, &rest()).contains("not a trial"));
        let working = history(vec![trial(Some(UPLOAD))], vec![]);
        assert!(conflict(&working, &rest()).contains("has not finished"));
        let query = history(vec![trial(None), finished("succeeded", 0)], vec![]);
        assert!(conflict(&query, &rest()).contains("read a query"));
        let moved = RestContext {
            upload_id: Some(Uuid::from_u128(98)),
            ..rest()
        };
        assert!(conflict(&done, &moved).contains("source changed"));
        let twice = RestContext {
            asked: Some(rest_id(RUN)),
            ..rest()
        };
        assert!(conflict(&done, &twice).contains("asked already"));
        let rolled_back = history(
            vec![trial(Some(UPLOAD)), finished("succeeded", 0)],
            vec![vec![
                DomainEvent::RunRequested(RunRequested {
                    rollback_of: Some(RUN),
                    ..RunRequested::import(JOB)
                }),
                finished("rolled_back", 0),
            ]],
        );
        assert!(conflict(&rolled_back, &rest()).contains("rolled back"));
        assert_eq!(
            done.request_rest(AccountId(Uuid::from_u128(5)), &rest()),
            Err(Refusal::NotFound)
        );
    }

    #[test]
    fn the_rest_and_a_retry_are_gone_with_the_result_files() {
        let expired = RestContext {
            files: FilesContext {
                results_expire_at: Some(Utc::now() - chrono::Duration::days(1)),
                ..files()
            },
            ..rest()
        };
        let done = history(vec![trial(Some(UPLOAD)), finished("succeeded", 2)], vec![]);
        assert!(matches!(
            done.request_rest(ACCOUNT, &expired),
            Err(Refusal::Gone(_))
        ));
        assert!(matches!(
            done.request_retry(ACCOUNT, &expired.files),
            Err(Refusal::Gone(_))
        ));
        let nothing = FilesContext {
            store_results: false,
            ..files()
        };
        assert_eq!(
            done.request_retry(ACCOUNT, &nothing),
            Err(Refusal::Gone(NOTHING_KEPT.into()))
        );
        let removed = history(
            vec![
                trial(Some(UPLOAD)),
                finished("succeeded", 2),
                DomainEvent::RunResultsRemoved(RunResultsRemoved {}),
            ],
            vec![],
        );
        assert!(matches!(
            removed.request_retry(ACCOUNT, &files()),
            Err(Refusal::Gone(_))
        ));
    }

    #[test]
    fn a_retry_needs_a_finished_import_with_failed_rows() {
        let failed = history(
            vec![trial(Some(UPLOAD)), finished("partially_succeeded", 2)],
            vec![],
        );
        let asked = failed.request_retry(ACCOUNT, &files()).unwrap();
        assert_eq!(asked.retry_of, Some(RUN));
        assert_eq!(asked.sample, None);
        let conflict = |history: &RunHistory| match history.request_retry(ACCOUNT, &files()) {
            Err(Refusal::Conflict(message)) => message,
            other => panic!("not a conflict: {other:?}"),
        };
        let clean = history(vec![trial(Some(UPLOAD)), finished("succeeded", 0)], vec![]);
        assert!(conflict(&clean).contains("no failed rows"));
        let working = history(vec![trial(Some(UPLOAD))], vec![]);
        assert!(conflict(&working).contains("has not finished"));
        let rollback = history(
            vec![
                DomainEvent::RunRequested(RunRequested {
                    rollback_of: Some(Uuid::from_u128(3)),
                    ..RunRequested::import(JOB)
                }),
                finished("failed", 2),
            ],
            vec![],
        );
        assert!(conflict(&rollback).contains("a rollback"));
    }
}
