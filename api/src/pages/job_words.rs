//! How the jobs pages say a job to a person: its schedule ("Every day at
//! 06:00 UTC", or the cron text when it is not a common shape), its
//! operation, and its transforms, in plain words.

use sluice_schema::job::{Operation, Transforms};

/// The days of the week as a schedule names them, and as a person does.
pub const DAYS: [(&str, &str); 7] = [
    ("MON", "Monday"),
    ("TUE", "Tuesday"),
    ("WED", "Wednesday"),
    ("THU", "Thursday"),
    ("FRI", "Friday"),
    ("SAT", "Saturday"),
    ("SUN", "Sunday"),
];

/// A schedule's shape, as the schedule form's presets make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `M * * * *`: every hour at minute M.
    Hourly { minute: u32 },
    /// `M H * * *`.
    Daily { hour: u32, minute: u32 },
    /// `M H * * DAY`, one named day.
    Weekly {
        day: &'static str,
        hour: u32,
        minute: u32,
    },
    /// Any other cron expression.
    Cron,
}

/// A field that is one number below `below`.
fn number(field: &str, below: u32) -> Option<u32> {
    let n: u32 = field.parse().ok()?;
    (n < below && field.chars().all(|c| c.is_ascii_digit())).then_some(n)
}

/// The shape of `expression` (five fields, as the API keeps them).
pub fn shape(expression: &str) -> Shape {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [minute, hour, "*", "*", day] = fields.as_slice() else {
        return Shape::Cron;
    };
    let Some(minute) = number(minute, 60) else {
        return Shape::Cron;
    };
    match (*hour, *day) {
        ("*", "*") => Shape::Hourly { minute },
        (hour, "*") => number(hour, 24).map_or(Shape::Cron, |hour| Shape::Daily { hour, minute }),
        (hour, day) => {
            let day = DAYS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(day))
                .map(|(name, _)| *name);
            match (number(hour, 24), day) {
                (Some(hour), Some(day)) => Shape::Weekly { day, hour, minute },
                _ => Shape::Cron,
            }
        }
    }
}

/// A schedule in plain words: "Every day at 06:00 UTC"; a cron expression
/// of another shape is shown as it is.
pub fn schedule_words(expression: &str) -> String {
    match shape(expression) {
        Shape::Hourly { minute: 0 } => "Every hour, on the hour".into(),
        Shape::Hourly { minute } => format!("Every hour at {minute} minutes past"),
        Shape::Daily { hour, minute } => format!("Every day at {hour:02}:{minute:02} UTC"),
        Shape::Weekly { day, hour, minute } => {
            let day = DAYS
                .iter()
                .find(|(name, _)| *name == day)
                .map_or(day, |(_, words)| words);
            format!("Every {day} at {hour:02}:{minute:02} UTC")
        }
        Shape::Cron if expression == "* * * * *" => "Every minute".into(),
        Shape::Cron => format!("On the cron schedule \u{201c}{expression}\u{201d} (UTC)"),
    }
}

/// What an operation does, in words.
pub fn operation_words(operation: Operation) -> &'static str {
    match operation {
        Operation::Insert => "Add new rows",
        Operation::Update => "Update existing rows",
        Operation::Upsert => "Update existing rows and add the missing ones",
        Operation::Delete => "Delete rows",
    }
}

/// A field's transforms in words: "trim, then lower" ("" for none).
pub fn transform_words(transforms: &Transforms) -> String {
    let value = serde_json::to_value(transforms).unwrap_or_default();
    let each = match &value {
        serde_json::Value::Array(many) => many.iter().collect(),
        serde_json::Value::Object(_) => vec![&value],
        _ => Vec::new(),
    };
    each.iter()
        .filter_map(|t| t.get("type").and_then(|k| k.as_str()))
        .map(|kind| kind.replace('_', " "))
        .collect::<Vec<_>>()
        .join(", then ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_schedules_are_said_in_words_and_others_shown_as_cron() {
        assert_eq!(schedule_words("0 6 * * *"), "Every day at 06:00 UTC");
        assert_eq!(schedule_words("30 18 * * FRI"), "Every Friday at 18:30 UTC");
        assert_eq!(schedule_words("0 * * * *"), "Every hour, on the hour");
        assert_eq!(
            schedule_words("15 * * * *"),
            "Every hour at 15 minutes past"
        );
        assert_eq!(schedule_words("* * * * *"), "Every minute");
        assert_eq!(
            schedule_words("0 6 * * MON-FRI"),
            "On the cron schedule \u{201c}0 6 * * MON-FRI\u{201d} (UTC)"
        );
        assert_eq!(shape("*/5 * * * *"), Shape::Cron);
        assert_eq!(shape("0 6 1 * *"), Shape::Cron);
    }

    #[test]
    fn transforms_are_listed_in_order() {
        let transforms: Transforms = serde_json::from_value(serde_json::json!([
            {"type": "trim"}, {"type": "lower"}
        ]))
        .unwrap();
        assert_eq!(transform_words(&transforms), "trim, then lower");
        assert_eq!(transform_words(&Transforms::None), "");
    }
}
