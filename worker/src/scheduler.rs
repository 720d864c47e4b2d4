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
//! **A paused schedule fires nothing**: its slots pass unrecorded. Resumed,
//! it goes on from the next slot; the ones it missed while paused do not
//! fire (resuming holds the schedule afresh, as changing it does).
//!
//! A job's slot requests no run while another run of the job is queued or
//! working: the slot is recorded, and the run skipped (logged).

mod job_slot;
mod system_slots;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use job_slot::request_run;
use sluice_events::consumer::{Handler, HandlerError, Incoming};
use sluice_events::event::ScheduleFired;
use sluice_events::schedule::{self, Schedule};
use sluice_events::{
    AppendError, AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent, Platform,
};
use sluice_schema::ids::AccountId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use system_slots::{remind, sweep};
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
            .filter(jobs::schedule_paused.eq(false))
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
