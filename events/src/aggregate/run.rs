//! The run aggregate: a run and the rollbacks asked of it, and the one
//! place where a rollback is decided.
//!
//! A rollback is a run of its own; its id is derived from the run it
//! undoes and how many rollbacks of that run were asked before
//! ([`rollback_id`]), and its `run.requested` opens its stream. Two
//! requests decided at the same moment derive one id, so only one opens
//! the stream; the other is a version conflict and, decided again, finds
//! the rollback under way.

use super::{owned_by, read_stream, Aggregate, LoadError, Loaded, Refusal};
use crate::envelope::RecordedEvent;
use crate::event::{DomainEvent, RunRequested, Sample};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sluice_schema::ids::AccountId;
use sluice_schema::kinds::{RunKind, RunStatus};
use sluice_schema::schema::events;
use uuid::Uuid;

/// The stream type of runs.
const RUNS: &str = "run";

/// Why a run cannot be rolled back once its journal is gone (the worker
/// says the same when it finds it gone).
pub const JOURNAL_EXPIRED: &str = "the run's record of what it changed expired with its result \
                                   files, so it can no longer be rolled back";

/// Why no run of an account that stores nothing can be rolled back.
pub const NOTHING_KEPT: &str = "this account keeps no record of what its runs changed (its \
                                settings say to store nothing), so runs cannot be rolled back; \
                                keep result files for some days to roll back";

/// Whether a run's journal (its record of what it changed) is still kept:
/// it goes with the run's result files, removed or expired. The one rule
/// both the API (deciding a rollback) and the worker (starting one) apply.
pub fn journal_kept(
    results_removed: bool,
    results_expire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let live = results_expire_at.is_some_and(|at| at > now);
    if results_removed || !live {
        return Err(Refusal::Gone(JOURNAL_EXPIRED.into()));
    }
    Ok(())
}

/// A run as its stream holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub account: Option<AccountId>,
    pub job_id: Option<Uuid>,
    /// The run this one undoes (a rollback).
    pub rollback_of: Option<Uuid>,
    /// What a trial run writes.
    pub sample: Option<Sample>,
    pub finished: Option<Finished>,
    pub results_removed: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub status: RunStatus,
    pub rows_ok: i64,
    pub rows_failed: i64,
}

impl Aggregate for Run {
    const STREAM_TYPE: &'static str = RUNS;

    fn apply(&mut self, event: &RecordedEvent) {
        match &event.event {
            DomainEvent::RunRequested(requested) => {
                self.account = event.account_id;
                self.job_id = Some(requested.job_id);
                self.rollback_of = requested.rollback_of;
                self.sample = requested.sample;
            }
            DomainEvent::RunFinished(f) => {
                self.finished = Some(Finished {
                    status: f.status,
                    rows_ok: f.rows_ok,
                    rows_failed: f.rows_failed,
                });
            }
            DomainEvent::RunFinishedV2(f) => {
                self.finished = Some(Finished {
                    status: f.status,
                    rows_ok: f.rows_ok,
                    rows_failed: f.rows_failed,
                });
            }
            DomainEvent::RunResultsRemoved(_) => self.results_removed = true,
            _ => {}
        }
    }
}

/// A run with the rollbacks asked of it, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHistory {
    pub run: Loaded<Run>,
    pub rollbacks: Vec<Loaded<Run>>,
}

/// What a rollback decision needs that is not the run's to hold.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackContext {
    pub now: DateTime<Utc>,
    /// Whether the account keeps result files (and journals) at all.
    pub store_results: bool,
    /// When the run's result files (and journal) expire, as the account's
    /// retention has it now.
    pub results_expire_at: Option<DateTime<Utc>>,
    /// Undo rows changed since the run all the same.
    pub force: bool,
}

/// A rollback decided: the new run's id and the `run.requested` that
/// opens its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackDecided {
    pub id: Uuid,
    pub requested: RunRequested,
}

/// The id of the rollback of `run` asked after `asked` others.
pub fn rollback_id(run: Uuid, asked: usize) -> Uuid {
    Uuid::new_v5(&run, format!("rollback:{asked}").as_bytes())
}

/// Run `id` and every rollback asked of it, from the log.
pub fn load_history(
    conn: &mut PgConnection,
    account: AccountId,
    id: Uuid,
) -> Result<RunHistory, LoadError> {
    let run = super::load::<Run>(conn, id)?;
    let mut rollbacks = Vec::new();
    if run.state.account == Some(account) {
        let ids: Vec<Uuid> = events::table
            .filter(events::account_id.eq(account.0))
            .filter(events::stream_type.eq(RUNS))
            .filter(events::event_type.eq("run.requested"))
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("payload->>'rollback_of' = ")
                    .bind::<diesel::sql_types::Text, _>(id.to_string()),
            )
            .order(events::global_seq.asc())
            .select(events::stream_id)
            .load(conn)?;
        for rollback in ids {
            rollbacks.push(super::fold(rollback, &read_stream(conn, RUNS, rollback)?));
        }
    }
    Ok(RunHistory { run, rollbacks })
}

impl RunHistory {
    /// Decides a rollback of the run for `account`: refused (with today's
    /// words) for a rollback, a run still working or that changed nothing,
    /// an account that keeps nothing, an expired journal, or a run rolled
    /// back already or being rolled back.
    pub fn request_rollback(
        &self,
        account: AccountId,
        context: &RollbackContext,
    ) -> Result<RollbackDecided, Refusal> {
        let run = &self.run.state;
        owned_by(run.account, account)?;
        let job_id = run.job_id.ok_or(Refusal::NotFound)?;
        if run.rollback_of.is_some() {
            return Err(Refusal::Conflict("a rollback cannot be rolled back".into()));
        }
        let Some(finished) = &run.finished else {
            return Err(Refusal::Conflict(
                "the run has not finished; roll it back once it has".into(),
            ));
        };
        if finished.rows_ok == 0 {
            return Err(Refusal::Conflict(
                "the run changed no rows: there is nothing to roll back".into(),
            ));
        }
        if !context.store_results {
            return Err(Refusal::Conflict(NOTHING_KEPT.into()));
        }
        journal_kept(run.results_removed, context.results_expire_at, context.now)?;
        if let Some(previous) = self.rollbacks.last() {
            match &previous.state.finished {
                None => {
                    return Err(Refusal::Conflict(format!(
                        "rollback {} of this run is under way",
                        previous.id
                    )))
                }
                Some(ended) if ended.status == RunStatus::RolledBack => {
                    return Err(Refusal::Conflict(format!(
                        "the run was rolled back by {}",
                        previous.id
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(RollbackDecided {
            id: rollback_id(self.run.id, self.rollbacks.len()),
            requested: RunRequested {
                job_id,
                kind: RunKind::Rollback,
                rollback_of: Some(self.run.id),
                force: context.force,
                ..RunRequested::import(job_id)
            },
        })
    }
}

/// Run `id` of `events` with rollbacks of `rollbacks`, for unit tests.
#[cfg(test)]
pub(crate) fn history_of(
    id: Uuid,
    events: Vec<DomainEvent>,
    rollbacks: Vec<Vec<DomainEvent>>,
) -> RunHistory {
    use super::fold;
    use super::testing::recorded;
    RunHistory {
        run: fold(id, &recorded(id, events)),
        rollbacks: rollbacks
            .into_iter()
            .enumerate()
            .map(|(i, events)| {
                let rollback = rollback_id(id, i);
                fold(rollback, &recorded(rollback, events))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::ACCOUNT;
    use crate::event::{RunFinishedV2, RunResultsRemoved};

    const RUN: Uuid = Uuid::from_u128(11);
    const JOB: Uuid = Uuid::from_u128(12);

    #[test]
    fn a_journal_is_kept_until_its_result_files_expire_or_are_removed() {
        let now = Utc::now();
        let later = now + chrono::Duration::days(1);
        assert_eq!(journal_kept(false, Some(later), now), Ok(()));
        let gone = Err(Refusal::Gone(JOURNAL_EXPIRED.into()));
        assert_eq!(journal_kept(false, Some(now), now), gone);
        assert_eq!(journal_kept(false, None, now), gone);
        assert_eq!(journal_kept(true, Some(later), now), gone);
    }

    fn requested(rollback_of: Option<Uuid>) -> DomainEvent {
        DomainEvent::RunRequested(RunRequested {
            job_id: JOB,
            kind: if rollback_of.is_some() {
                RunKind::Rollback
            } else {
                RunKind::Import
            },
            rollback_of,
            ..RunRequested::import(JOB)
        })
    }

    fn finished(status: &str, rows_ok: i64) -> DomainEvent {
        DomainEvent::RunFinishedV2(RunFinishedV2 {
            status: status.parse().unwrap(),
            rows_total: rows_ok,
            rows_ok,
            rows_failed: 0,
            rows_skipped: 0,
            message: None,
            results_expire_at: None,
            api_calls: None,
        })
    }

    fn history(run: Vec<DomainEvent>, rollbacks: Vec<Vec<DomainEvent>>) -> RunHistory {
        history_of(RUN, run, rollbacks)
    }

    fn context() -> RollbackContext {
        let now = Utc::now();
        RollbackContext {
            now,
            store_results: true,
            results_expire_at: Some(now + chrono::Duration::days(1)),
            force: false,
        }
    }

    fn refusal(history: &RunHistory, context: &RollbackContext) -> Refusal {
        history.request_rollback(ACCOUNT, context).unwrap_err()
    }

    fn conflict(text: &str) -> Refusal {
        Refusal::Conflict(text.into())
    }

    #[test]
    fn a_finished_run_that_changed_rows_is_rolled_back_by_a_derived_id() {
        let done = history(vec![requested(None), finished("succeeded", 3)], vec![]);
        let decided = done.request_rollback(ACCOUNT, &context()).unwrap();
        assert_eq!(decided.id, rollback_id(RUN, 0));
        assert_eq!(decided.requested.rollback_of, Some(RUN));
        assert_eq!(decided.requested.kind, RunKind::Rollback);
        assert_eq!(decided.requested.job_id, JOB);
        // A second request decided on the same history derives the same id.
        assert_eq!(done.request_rollback(ACCOUNT, &context()).unwrap(), decided);
    }

    #[test]
    fn runs_that_cannot_be_rolled_back_are_refused_with_the_reason() {
        let ctx = context();
        let rollback = history(vec![requested(Some(Uuid::from_u128(5)))], vec![]);
        assert_eq!(
            refusal(&rollback, &ctx),
            conflict("a rollback cannot be rolled back")
        );
        let working = history(vec![requested(None)], vec![]);
        assert_eq!(
            refusal(&working, &ctx),
            conflict("the run has not finished; roll it back once it has")
        );
        let nothing = history(vec![requested(None), finished("failed", 0)], vec![]);
        assert_eq!(
            refusal(&nothing, &ctx),
            conflict("the run changed no rows: there is nothing to roll back")
        );
        let done = history(vec![requested(None), finished("succeeded", 3)], vec![]);
        let keeps_nothing = RollbackContext {
            store_results: false,
            ..ctx.clone()
        };
        assert_eq!(refusal(&done, &keeps_nothing), conflict(NOTHING_KEPT));
        let expired = RollbackContext {
            results_expire_at: Some(ctx.now),
            ..ctx.clone()
        };
        assert_eq!(
            refusal(&done, &expired),
            Refusal::Gone(JOURNAL_EXPIRED.into())
        );
        let removed = history(
            vec![
                requested(None),
                finished("succeeded", 3),
                DomainEvent::RunResultsRemoved(RunResultsRemoved {}),
            ],
            vec![],
        );
        assert_eq!(
            refusal(&removed, &ctx),
            Refusal::Gone(JOURNAL_EXPIRED.into())
        );
        assert_eq!(
            Some(Refusal::NotFound),
            done.request_rollback(AccountId(Uuid::from_u128(99)), &ctx)
                .err()
        );
    }

    #[test]
    fn a_rollback_under_way_or_done_is_not_asked_again_but_a_failed_one_is() {
        let ctx = context();
        let run = vec![requested(None), finished("succeeded", 3)];
        let first = rollback_id(RUN, 0);
        let under_way = history(run.clone(), vec![vec![requested(Some(RUN))]]);
        assert_eq!(
            refusal(&under_way, &ctx),
            conflict(&format!("rollback {first} of this run is under way"))
        );
        let done = history(
            run.clone(),
            vec![vec![requested(Some(RUN)), finished("rolled_back", 3)]],
        );
        assert_eq!(
            refusal(&done, &ctx),
            conflict(&format!("the run was rolled back by {first}"))
        );
        let failed = history(run, vec![vec![requested(Some(RUN)), finished("failed", 0)]]);
        let again = failed.request_rollback(ACCOUNT, &ctx).unwrap();
        assert_eq!(again.id, rollback_id(RUN, 1));
        assert_ne!(again.id, first);
    }
}
