//! How the pages say a run's state and numbers to a person: a status in
//! plain words with its tone (the colour the style sheet gives it), counts
//! with thousands separators, times as `<time>` elements that the page's
//! script shows in the viewer's own time zone.

use sluice_schema::kinds::{RunKind, RunStatus};

/// A run's status as a person reads it, and its tone: `pending`, `good`,
/// `warn` or `bad`.
pub struct StatusWords {
    pub text: String,
    pub tone: &'static str,
}

/// `n` with a comma between each group of three digits: 1,234,567.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 error", "1,204 errors".
fn counted(n: i64, one: &str, many: &str) -> String {
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", thousands(n))
}

/// What a run's status says: "Completed with 3 errors" rather than
/// `partially_succeeded`. A run whose rows were all read but which has not
/// ended is finishing (its result files are being written).
pub fn status_words(
    kind: RunKind,
    status: RunStatus,
    rows_failed: i64,
    finishing: bool,
) -> StatusWords {
    let (text, tone) = match (kind, status) {
        (_, RunStatus::Queued) => ("Waiting to start".to_owned(), "pending"),
        (_, RunStatus::Running | RunStatus::RollingBack) if finishing => {
            ("Finishing".to_owned(), "pending")
        }
        (RunKind::Rollback, RunStatus::Running | RunStatus::RollingBack) => {
            ("Rolling back".to_owned(), "pending")
        }
        (_, RunStatus::Running | RunStatus::RollingBack) => ("Running".to_owned(), "pending"),
        (RunKind::Rollback, RunStatus::RolledBack | RunStatus::Succeeded) => {
            ("Rolled back".to_owned(), "good")
        }
        (RunKind::Rollback, RunStatus::PartiallySucceeded) => (
            format!(
                "Rolled back, but {} could not be undone",
                counted(rows_failed, "row", "rows")
            ),
            "warn",
        ),
        (_, RunStatus::Succeeded | RunStatus::RolledBack) => ("Completed".to_owned(), "good"),
        (_, RunStatus::PartiallySucceeded) => (
            format!("Completed with {}", counted(rows_failed, "error", "errors")),
            "warn",
        ),
        (_, RunStatus::Failed) => ("Failed".to_owned(), "bad"),
    };
    StatusWords { text, tone }
}

/// A time as an element the script shows in the viewer's time zone; in
/// UTC until it does (or without scripts).
pub fn time(at: &chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// How long from `from` to `to`, as "2 min 5 s" or "840 ms".
pub fn duration(from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> String {
    let ms = (to - from).num_milliseconds().max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{} s", ms / 1_000),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(200_000), "200,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn a_status_is_said_in_plain_words() {
        let said = |kind, status, failed, finishing| {
            let words = status_words(kind, status, failed, finishing);
            (words.text, words.tone)
        };
        use RunKind::{Import, Rollback};
        assert_eq!(
            said(Import, RunStatus::PartiallySucceeded, 1_204, false),
            ("Completed with 1,204 errors".into(), "warn")
        );
        assert_eq!(
            said(Import, RunStatus::PartiallySucceeded, 1, false),
            ("Completed with 1 error".into(), "warn")
        );
        assert_eq!(
            said(Import, RunStatus::Succeeded, 0, false),
            ("Completed".into(), "good")
        );
        assert_eq!(
            said(Import, RunStatus::Running, 0, true),
            ("Finishing".into(), "pending")
        );
        assert_eq!(
            said(Rollback, RunStatus::RolledBack, 0, false),
            ("Rolled back".into(), "good")
        );
        assert_eq!(
            said(Import, RunStatus::Failed, 0, false),
            ("Failed".into(), "bad")
        );
    }

    #[test]
    fn durations_read_at_their_scale() {
        let start = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let after = |ms| start + chrono::Duration::milliseconds(ms);
        assert_eq!(duration(start, after(840)), "840 ms");
        assert_eq!(duration(start, after(125_000)), "2 min 5 s");
        assert_eq!(duration(start, after(3_900_000)), "1 h 5 min");
    }
}
