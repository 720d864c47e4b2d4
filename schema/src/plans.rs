//! What each plan allows. A deployment that bills through Stripe enforces
//! the row and schedule limits; one without billing has nothing to sell and
//! enforces none of them (see [`Limits::of`]). Retention control is an
//! Enterprise setting either way.

use crate::kinds::Plan;
use chrono::{DateTime, Datelike, TimeZone, Utc};

/// What a plan allows; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows the account's imports may read from their sources in a
    /// calendar month (UTC). Rollbacks do not count.
    pub rows_per_month: Option<i64>,
    /// Jobs that may have a schedule at once.
    pub schedules: Option<i64>,
    /// Whether the account chooses how long result files are kept.
    pub retention_control: bool,
}

impl Limits {
    /// The limits of `plan`, where `billing` says whether the deployment
    /// bills through Stripe.
    pub fn of(plan: Plan, billing: bool) -> Self {
        let retention_control = plan == Plan::Enterprise;
        if !billing {
            return Self {
                rows_per_month: None,
                schedules: None,
                retention_control,
            };
        }
        let (rows_per_month, schedules) = match plan {
            Plan::Enterprise => (None, None),
            Plan::Pro => (Some(1_000_000), Some(10)),
            Plan::Free => (Some(10_000), Some(0)),
        };
        Self {
            rows_per_month,
            schedules,
            retention_control,
        }
    }

    /// The plan's name as people read it.
    pub fn title(plan: Plan) -> &'static str {
        match plan {
            Plan::Enterprise => "Enterprise",
            Plan::Pro => "Pro",
            Plan::Free => "Free",
        }
    }
}

/// The first instant of the calendar month (UTC) that `now` is in: monthly
/// row counts start there.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// The first instant of the next month: when the monthly count starts anew.
pub fn next_month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_on_the_first_at_midnight_utc() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(
            month_start(now),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            next_month_start(now),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn without_billing_only_retention_depends_on_the_plan() {
        let free = Limits::of(Plan::Free, false);
        assert_eq!(free.rows_per_month, None);
        assert_eq!(free.schedules, None);
        assert!(!free.retention_control);
        assert!(Limits::of(Plan::Enterprise, false).retention_control);
        assert_eq!(Limits::of(Plan::Free, true).rows_per_month, Some(10_000));
        // A plan the code does not know is refused where it is read.
        assert!("unknown".parse::<Plan>().is_err());
    }
}
