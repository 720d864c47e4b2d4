//! What an event means for the read side, as pure functions: the rules the
//! projections follow (what a plan change or a subscription status does,
//! how a shorter retention reaches the files already kept, when a schedule
//! holds from). The projections only write what these say.

use chrono::{DateTime, Duration, Utc};
use sluice_schema::kinds::{Plan, RunStatus};
use sluice_schema::plans::Limits;

/// Whether an account on `plan` keeps its own retention settings; on
/// another plan it has the deployment's (the settings are reset). The
/// plan's limits say so, billed or not.
pub fn plan_keeps_retention_settings(plan: Plan) -> bool {
    Limits::of(plan, false).retention_control
}

/// Whether a Stripe event of `created` still says something: not when a
/// newer one (`last`) was applied already (a webhook delivered late does
/// not undo a newer one).
pub fn stripe_event_is_current(last: Option<DateTime<Utc>>, created: DateTime<Utc>) -> bool {
    last.is_none_or(|last| last <= created)
}

/// Whether a subscription in Stripe's `status` means the account's
/// payments are in order again (a failed payment is forgotten).
pub fn subscription_is_paid(status: &str) -> bool {
    status == "active" || status == "trialing"
}

/// How many days the result files already kept may live after their run
/// finished, once an account's settings change: none when nothing is to
/// be shortened (the deployment's default), 0 when nothing is to be kept.
pub fn retention_cutoff_days(
    store_results: bool,
    result_retention_days: Option<u32>,
) -> Option<i32> {
    if store_results {
        result_retention_days.map(|d| i32::try_from(d).unwrap_or(i32::MAX))
    } else {
        Some(0)
    }
}

/// When a run's result files expire under a shorter retention of `days`:
/// as if it had held when the run finished, but not before `now` (the
/// change), and never later than they were to.
pub fn shortened_expiry(
    expires_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    days: i32,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let held = finished_at
        .map(|finished| finished + Duration::days(i64::from(days)))
        .unwrap_or(now);
    expires_at.min(held.max(now))
}

/// Since when a job's schedule holds after a change: changing it starts
/// afresh at `now`, keeping it keeps its time; no schedule, no time.
pub fn schedule_since(
    before: &Option<String>,
    since: Option<DateTime<Utc>>,
    after: &Option<String>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match after {
        None => None,
        Some(_) if before == after => since,
        Some(_) => Some(now),
    }
}

/// Since when a job's schedule holds once it is paused or resumed: a
/// resumed schedule holds afresh from `now` (the slots it missed while
/// paused never fire: it goes on from the next one); otherwise `since`.
pub fn resumed_since(
    since: Option<DateTime<Utc>>,
    was_paused: bool,
    paused: bool,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match since {
        Some(_) if was_paused && !paused => Some(now),
        other => other,
    }
}

/// The status of a run a worker has started: a rollback is rolling back.
pub fn working_status(rollback: bool) -> RunStatus {
    if rollback {
        RunStatus::RollingBack
    } else {
        RunStatus::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, hour, 0, 0).unwrap()
    }

    #[test]
    fn only_enterprise_keeps_its_retention_settings() {
        assert!(plan_keeps_retention_settings(Plan::Enterprise));
        assert!(!plan_keeps_retention_settings(Plan::Pro));
        assert!(!plan_keeps_retention_settings(Plan::Free));
    }

    #[test]
    fn a_stripe_event_older_than_the_last_applied_says_nothing() {
        assert!(stripe_event_is_current(None, at(1)));
        assert!(stripe_event_is_current(Some(at(1)), at(1)));
        assert!(stripe_event_is_current(Some(at(1)), at(2)));
        assert!(!stripe_event_is_current(Some(at(2)), at(1)));
    }

    #[test]
    fn an_active_or_trialing_subscription_is_paid() {
        assert!(subscription_is_paid("active"));
        assert!(subscription_is_paid("trialing"));
        assert!(!subscription_is_paid("past_due"));
        assert!(!subscription_is_paid("canceled"));
    }

    #[test]
    fn storing_nothing_cuts_every_file_and_the_default_none() {
        assert_eq!(retention_cutoff_days(false, Some(7)), Some(0));
        assert_eq!(retention_cutoff_days(true, Some(7)), Some(7));
        assert_eq!(retention_cutoff_days(true, None), None);
    }

    #[test]
    fn a_shorter_retention_counts_from_the_run_end_but_not_before_now() {
        let finished = Some(at(0));
        // Kept 10 hours more: now (hour 5) is after finished + 0 days.
        assert_eq!(shortened_expiry(at(10), finished, 0, at(5)), at(5));
        // A longer retention never lengthens what was to expire sooner.
        assert_eq!(shortened_expiry(at(10), finished, 30, at(5)), at(10));
    }

    #[test]
    fn a_schedule_keeps_its_time_unless_it_changes() {
        let daily = Some("0 6 * * *".to_owned());
        let hourly = Some("0 * * * *".to_owned());
        assert_eq!(
            schedule_since(&daily, Some(at(1)), &daily, at(3)),
            Some(at(1))
        );
        assert_eq!(
            schedule_since(&daily, Some(at(1)), &hourly, at(3)),
            Some(at(3))
        );
        assert_eq!(schedule_since(&None, None, &hourly, at(3)), Some(at(3)));
        assert_eq!(schedule_since(&daily, Some(at(1)), &None, at(3)), None);
        // Resumed: afresh; paused or left as it was: kept.
        assert_eq!(resumed_since(Some(at(1)), true, false, at(3)), Some(at(3)));
        assert_eq!(resumed_since(Some(at(1)), false, true, at(3)), Some(at(1)));
        assert_eq!(resumed_since(Some(at(1)), true, true, at(3)), Some(at(1)));
        assert_eq!(resumed_since(None, true, false, at(3)), None);
    }

    #[test]
    fn a_started_rollback_is_rolling_back() {
        assert_eq!(working_status(true), RunStatus::RollingBack);
        assert_eq!(working_status(false), RunStatus::Running);
    }
}
