//! Schedules: when a job's runs start by themselves, and when the system's
//! own work is done (the retention sweep, the key-rotation reminder).
//!
//! A job's schedule is a crontab expression of five fields, in UTC: minute,
//! hour, day of the month, month, day of the week (`0 6 * * MON-FRI`: at
//! 06:00 on weekdays). Days of the week are named: crontab counts Sunday as
//! 0 and the `cron` crate as 1, so a number there would mean another day to
//! one reader or the other.

use chrono::{DateTime, Duration, Utc};
use std::str::FromStr;

/// The retention sweep: every 5 minutes.
pub const RETENTION: &str = "*/5 * * * *";

/// The key-rotation reminder: every day at 06:00 UTC.
pub const KEY_ROTATION_REMINDER: &str = "0 6 * * *";

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule(cron::Schedule);

/// The longest schedule expression accepted.
pub const MAX_CHARS: usize = 200;

impl Schedule {
    /// Reads a crontab expression; the reason, for the user, otherwise.
    pub fn parse(expression: &str) -> Result<Self, String> {
        if expression.chars().count() > MAX_CHARS {
            return Err(format!("a schedule is at most {MAX_CHARS} characters"));
        }
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(
                "a schedule has five fields: minute hour day-of-month month day-of-week (UTC), \
                 such as \"0 6 * * MON-FRI\""
                    .into(),
            );
        }
        if fields[4].chars().any(|c| c.is_ascii_digit()) {
            return Err(
                "name the days of the week (MON-FRI, SUN): crontab and other tools number them \
                 differently"
                    .into(),
            );
        }
        cron::Schedule::from_str(&format!("0 {}", fields.join(" ")))
            .map(Self)
            .map_err(|e| format!("the schedule cannot be read: {e}"))
    }

    /// The latest slot at or before `now`.
    pub fn latest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Slots fall on whole minutes; the one at `now` itself counts.
        self.0.after(&(now + Duration::seconds(1))).next_back()
    }

    /// The first slot after `after`.
    pub fn next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.after(&after).next()
    }
}

/// What a schedule has to fire at `now`, having fired `last` (or never)
/// and holding since `since`: the latest slot, if it is newer than both.
/// Slots missed while no worker ran fire once, as that latest one: a
/// schedule does not catch up slot by slot.
pub fn due(
    schedule: &Schedule,
    now: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let slot = schedule.latest(now)?;
    let newer = |bound: Option<DateTime<Utc>>| bound.is_none_or(|b| slot > b);
    (newer(last) && newer(since)).then_some(slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
    }

    #[test]
    fn expressions_are_crontab_with_named_days() {
        assert!(Schedule::parse("0 6 * * MON-FRI").is_ok());
        assert!(Schedule::parse("*/15 * * * *").is_ok());
        assert!(Schedule::parse("0 6 * * 1-5")
            .unwrap_err()
            .contains("name the days"));
        assert!(Schedule::parse("0 0 6 * * *")
            .unwrap_err()
            .contains("five fields"));
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse(RETENTION).is_ok());
        assert!(Schedule::parse(KEY_ROTATION_REMINDER).is_ok());
    }

    #[test]
    fn the_latest_slot_counts_the_one_at_now() {
        let every5 = Schedule::parse(RETENTION).unwrap();
        assert_eq!(every5.latest(at(10, 7, 30)), Some(at(10, 5, 0)));
        assert_eq!(every5.latest(at(10, 10, 0)), Some(at(10, 10, 0)));
        assert_eq!(every5.next(at(10, 10, 0)), Some(at(10, 15, 0)));
        // 2026-12-01 is a Tuesday.
        let weekdays = Schedule::parse("0 6 * * MON-FRI").unwrap();
        assert_eq!(weekdays.latest(at(7, 0, 0)), Some(at(6, 0, 0)));
    }

    #[test]
    fn missed_slots_fire_once_and_none_from_before_the_schedule() {
        let every5 = Schedule::parse(RETENTION).unwrap();
        // Down from 10:02 to 10:31: the 10:30 slot fires, once.
        assert_eq!(
            due(&every5, at(10, 31, 0), Some(at(10, 0, 0)), None),
            Some(at(10, 30, 0))
        );
        assert_eq!(due(&every5, at(10, 31, 0), Some(at(10, 30, 0)), None), None);
        // A schedule set at 10:33 does not fire 10:30.
        assert_eq!(due(&every5, at(10, 34, 0), None, Some(at(10, 33, 0))), None);
        assert_eq!(
            due(&every5, at(10, 35, 0), None, Some(at(10, 33, 0))),
            Some(at(10, 35, 0))
        );
    }
}
