//! The scheduler, in every worker: once a second it looks at every schedule
//! (each job's, and the system's: the retention sweep every 5 minutes, the
//! key-rotation reminder every day) and fires the slots that came, as
//! `schedule.fired` events. The import workers act on them (see
//! [`ScheduleHandler`]): a job's slot requests a run, the retention slot
//! sweeps, the reminder slot checks the primary key's age.
//!
//! **Each slot fires once**, however many workers run: a schedule is a
//! stream of its own (its id derived from the schedule's name), and a slot
//! is appended at the version the schedule's last slot left. Of two workers
//! that see the same slot, one appends it; the other's append conflicts and
//! it lets the slot go.
//!
//! **Missed slots fire once.** After a time with no worker running, a
//! schedule fires its latest slot, once, and skips the earlier ones: a
//! daily import missed for three days runs once, not three times. A job's
//! schedule fires no slot from before it was set.
//!
//! A job's slot requests no run while another run of the job is queued or
//! working: the slot is recorded, and the run skipped (logged).

use crate::retry_on;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sluice_events::consumer::{Handler, HandlerError, Incoming};
use sluice_events::event::{KeyRotationDue, RetentionPurged, RunRequested, ScheduleFired};
use sluice_events::schedule::{self, Schedule};
use sluice_events::{
    AppendError, AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent, Platform,
};
use sluice_schema::ids::AccountId;
use sluice_schema::kinds::RunKind;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often each worker looks at the schedules.
pub const TICK: Duration = Duration::from_secs(1);

/// The system's schedules: name and crontab expression.
pub const SYSTEM: &[(&str, &str)] = &[
    ("retention", schedule::RETENTION),
    ("key_rotation_reminder", schedule::KEY_ROTATION_REMINDER),
];

/// The namespace schedule stream ids are derived in.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_3f5e_2a47_4c1b_9d1e_5c0a_7b6e_9e21);

/// The stream of the schedule named `name` (`job:<id>`, `retention`...).
pub fn stream_id(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// A job's schedule as stored: job, account, expression, since when.
type JobSchedule = (Uuid, Uuid, Option<String>, Option<DateTime<Utc>>);

/// A schedule to look at.
struct Due {
    name: String,
    schedule: Schedule,
    since: Option<DateTime<Utc>>,
    job: Option<(Uuid, Uuid)>,
}

/// Looks at the schedules every [`TICK`] until `shutdown`.
pub async fn run(platform: Platform, worker: String, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = fire_due(&platform, &worker).await {
            tracing::warn!(error = %e, "the scheduler could not look at the schedules; it tries again");
        }
    }
}

/// Fires every slot that came by the platform clock's time: the names of
/// the schedules this worker fired.
pub async fn fire_due(platform: &Platform, worker: &str) -> Result<Vec<String>, String> {
    let now = platform.clock.now();
    let pool = platform.pool.clone();
    let (jobs, fired) = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use sluice_schema::schema::{jobs, schedules};
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        let jobs: Vec<JobSchedule> = jobs::table
            .filter(jobs::schedule.is_not_null())
            .filter(jobs::deleted_at.is_null())
            .select((
                jobs::job_id,
                jobs::account_id,
                jobs::schedule,
                jobs::schedule_since,
            ))
            .load(&mut conn)
            .map_err(|e| e.to_string())?;
        let fired: Vec<(Uuid, DateTime<Utc>, i64)> = schedules::table
            .select((
                schedules::schedule_id,
                schedules::last_slot,
                schedules::version,
            ))
            .load(&mut conn)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((jobs, fired))
    })
    .await
    .map_err(|e| e.to_string())??;
    let fired: HashMap<Uuid, (DateTime<Utc>, i64)> = fired
        .into_iter()
        .map(|(id, slot, version)| (id, (slot, version)))
        .collect();

    let mut schedules: Vec<Due> = SYSTEM
        .iter()
        .filter_map(|(name, expression)| {
            Some(Due {
                name: (*name).to_owned(),
                schedule: Schedule::parse(expression).ok()?,
                since: None,
                job: None,
            })
        })
        .collect();
    for (job, account, expression, since) in jobs {
        let Some(expression) = expression else {
            continue;
        };
        match Schedule::parse(&expression) {
            Ok(schedule) => schedules.push(Due {
                name: format!("job:{job}"),
                schedule,
                since,
                job: Some((job, account)),
            }),
            Err(e) => tracing::warn!(job = %job, error = %e, "a job's schedule cannot be read"),
        }
    }

    let mut done = Vec::new();
    for due in schedules {
        let id = stream_id(&due.name);
        let last = fired.get(&id).copied();
        let Some(slot) = schedule::due(&due.schedule, now, last.map(|(slot, _)| slot), due.since)
        else {
            continue;
        };
        let expected = match last {
            Some((_, version)) => ExpectedVersion::Exactly(version),
            None => ExpectedVersion::NoStream,
        };
        let mut event = NewEvent::new(
            DomainEvent::ScheduleFired(ScheduleFired {
                schedule: if due.job.is_some() {
                    "job".into()
                } else {
                    due.name.clone()
                },
                slot,
                job_id: due.job.map(|(job, _)| job),
            }),
            Metadata::actor(format!("scheduler:{worker}")),
        );
        if let Some((_, account)) = due.job {
            event = event.for_account(AccountId(account));
        }
        let request = AppendRequest::new("schedule", id, expected, vec![event]);
        match platform.appender.append(request).await {
            Ok(_) => {
                tracing::info!(schedule = %due.name, slot = %slot, "schedule fired");
                done.push(due.name);
            }
            // Another worker fired it first.
            Err(AppendError::Conflict { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(done)
}

pub const CONSUMER: &str = "imports";

/// Does what a fired slot asks.
pub struct ScheduleHandler {
    pub platform: Platform,
    pub worker: String,
    /// Where files are kept (the retention sweep needs it).
    pub store: Option<sluice_vault::FileStore>,
    pub keyring: Option<Arc<sluice_vault::SharedKeyring>>,
    /// How old the primary key may grow before the reminder speaks up.
    pub rotate_after_days: i64,
    /// Whether plans' limits apply (the deployment bills through Stripe).
    pub plan_limits: bool,
}

impl Handler for ScheduleHandler {
    fn handle(&self, incoming: Incoming) -> BoxFuture<'static, Result<(), HandlerError>> {
        let platform = self.platform.clone();
        let worker = self.worker.clone();
        let store = self.store.clone();
        let keyring = self.keyring.clone();
        let rotate_after_days = self.rotate_after_days;
        let plan_limits = self.plan_limits;
        Box::pin(async move {
            let cause = incoming.event;
            let DomainEvent::ScheduleFired(fired) = &cause.event else {
                return Err(HandlerError::Reject(format!(
                    "{} is not a schedule's slot",
                    cause.event.event_type()
                )));
            };
            let actor = format!("worker:{worker}");
            match (fired.schedule.as_str(), fired.job_id) {
                ("job", Some(job)) => {
                    request_run(&platform, &cause, job, &actor, plan_limits).await
                }
                ("retention", _) => match store {
                    Some(store) => sweep(&platform, &cause, &store, &worker).await,
                    None => Ok(()),
                },
                ("key_rotation_reminder", _) => {
                    remind(&platform, &cause, keyring, rotate_after_days, &actor).await
                }
                (other, _) => Err(HandlerError::Reject(format!(
                    "no schedule is named {other}"
                ))),
            }
        })
    }
}

/// A job's slot: the run is requested, under the slot's event id (so a
/// slot delivered twice requests one run), unless the job is gone or a run
/// of it is still queued or working.
async fn request_run(
    platform: &Platform,
    cause: &sluice_events::RecordedEvent,
    job: Uuid,
    actor: &str,
    plan_limits: bool,
) -> Result<(), HandlerError> {
    let Some(account) = cause.account_id else {
        return Err(HandlerError::Reject("a job's slot names no account".into()));
    };
    let pool = platform.pool.clone();
    let (live, busy, over) = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use sluice_schema::schema::{jobs, runs};
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        let over = over_plan(&mut conn, plan_limits, account, job).map_err(|e| e.to_string())?;
        let live = jobs::table
            .find(job)
            .filter(jobs::account_id.eq(account.0))
            .filter(jobs::deleted_at.is_null())
            .filter(jobs::schedule.is_not_null())
            .count()
            .get_result::<i64>(&mut conn)
            .map_err(|e| e.to_string())?
            > 0;
        let busy = runs::table
            .filter(runs::job_id.eq(job))
            .filter(runs::finished_at.is_null())
            .count()
            .get_result::<i64>(&mut conn)
            .map_err(|e| e.to_string())?
            > 0;
        Ok::<_, String>((live, busy, over))
    })
    .await
    .map_err(|e| HandlerError::Retry(e.to_string()))?
    .map_err(HandlerError::Retry)?;
    if !live {
        return Ok(());
    }
    if busy {
        tracing::info!(job = %job, "a scheduled run is skipped: the job's last run has not finished");
        return Ok(());
    }
    if over {
        tracing::info!(job = %job, "a scheduled run is skipped: the account's plan allows fewer scheduled jobs");
        return Ok(());
    }
    let requested = NewEvent::new(
        DomainEvent::RunRequested(RunRequested {
            job_id: job,
            kind: RunKind::Import,
            rollback_of: None,
            force: false,
        }),
        Metadata::caused_by(cause, actor),
    )
    .for_account(account);
    let request = AppendRequest::new(
        "run",
        cause.event_id.0,
        ExpectedVersion::NoStream,
        vec![requested],
    )
    .processing(CONSUMER, cause.event_id);
    match platform.appender.append(request).await {
        Ok(_) | Err(AppendError::Conflict { .. }) => Ok(()),
        Err(e) => Err(retry_on(e)),
    }
}

/// Whether `job` is past the scheduled jobs the account's plan allows (an
/// account that moved to a smaller plan keeps its schedules, and its
/// oldest scheduled jobs go on running).
fn over_plan(
    conn: &mut diesel::PgConnection,
    plan_limits: bool,
    account: sluice_schema::ids::AccountId,
    job: Uuid,
) -> diesel::QueryResult<bool> {
    use sluice_schema::plans::Limits;
    use sluice_schema::repo::{accounts, billing};
    if !plan_limits {
        return Ok(false);
    }
    let plan =
        accounts::find_account(conn, account)?.map_or(sluice_schema::kinds::Plan::Free, |a| a.plan);
    let Some(allowed) = Limits::of(plan, true).schedules else {
        return Ok(false);
    };
    let scheduled = billing::scheduled_jobs(conn, account, None)?;
    let allowed = usize::try_from(allowed).unwrap_or(0);
    Ok(!scheduled.iter().take(allowed).any(|j| *j == job))
}

/// The retention slot: the sweep, and a record of what it destroyed.
async fn sweep(
    platform: &Platform,
    cause: &sluice_events::RecordedEvent,
    store: &sluice_vault::FileStore,
    worker: &str,
) -> Result<(), HandlerError> {
    let report = crate::retention::sweep_uploads(platform, store, worker)
        .await
        .map_err(|e| HandlerError::Retry(e.to_string()))?;
    if report.uploads.is_empty() && report.runs.is_empty() {
        return Ok(());
    }
    tracing::info!(
        uploads = report.uploads.len(),
        runs = report.runs.len(),
        leftovers = report.leftovers,
        "retention sweep"
    );
    let purged = NewEvent::new(
        DomainEvent::RetentionPurged(RetentionPurged {
            uploads: report.uploads,
            runs: report.runs,
        }),
        Metadata::caused_by(cause, format!("worker:{worker}")),
    );
    // A stream of its own: the schedule's stream holds its slots alone.
    let request = AppendRequest::new(
        "retention",
        stream_id("retention.purged"),
        ExpectedVersion::Any,
        vec![purged],
    )
    .processing(CONSUMER, cause.event_id);
    platform.appender.append(request).await.map_err(retry_on)?;
    Ok(())
}

/// The reminder slot: a `keys.rotation_due` event (and a warning) when the
/// primary key has been primary for longer than `rotate_after_days`: since
/// the last rotation finished, or since the log's first event.
async fn remind(
    platform: &Platform,
    cause: &sluice_events::RecordedEvent,
    keyring: Option<Arc<sluice_vault::SharedKeyring>>,
    rotate_after_days: i64,
    actor: &str,
) -> Result<(), HandlerError> {
    let pool = platform.pool.clone();
    let since = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use sluice_schema::schema::{events, key_rotations};
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        let rotated: Option<Option<DateTime<Utc>>> = key_rotations::table
            .filter(key_rotations::finished_at.is_not_null())
            .order(key_rotations::finished_at.desc())
            .select(key_rotations::finished_at)
            .first(&mut conn)
            .optional()
            .map_err(|e| e.to_string())?;
        match rotated.flatten() {
            Some(at) => Ok(Some(at)),
            None => events::table
                .order(events::global_seq.asc())
                .select(events::recorded_at)
                .first(&mut conn)
                .optional()
                .map_err(|e| e.to_string()),
        }
    })
    .await
    .map_err(|e| HandlerError::Retry(e.to_string()))?
    .map_err(HandlerError::Retry)?;
    let Some(since) = since else {
        return Ok(());
    };
    let age_days = (platform.clock.now() - since).num_days();
    if age_days < rotate_after_days {
        return Ok(());
    }
    let primary = keyring
        .map(|k| k.get().primary_version())
        .unwrap_or_default();
    tracing::warn!(
        primary,
        age_days,
        "the primary key has been in use for {age_days} days: run `sluice keys rotate`"
    );
    let due = NewEvent::new(
        DomainEvent::KeyRotationDue(KeyRotationDue {
            primary,
            since,
            age_days,
        }),
        Metadata::caused_by(cause, actor),
    );
    let request = AppendRequest::new(
        "keys",
        stream_id("keys.rotation_due"),
        ExpectedVersion::Any,
        vec![due],
    )
    .processing(CONSUMER, cause.event_id);
    platform.appender.append(request).await.map_err(retry_on)?;
    Ok(())
}
