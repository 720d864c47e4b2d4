//! Bulk results matched back to the rows uploaded.
//!
//! Salesforce returns a job's results in an order of its own, each row
//! echoing the uploaded columns, but as the fields' types read them rather
//! than as sent: `1.50` comes back `1.5`, `retail` as the picklist's
//! `Retail`, a 15-character id in its 18-character form. A result is
//! matched to an input row by, in turn:
//!
//! 1. the echoed values exactly;
//! 2. the echoed values as [`loose`] reads them (numbers by value, dates
//!    and times by the instant, text without regard to case or the
//!    whitespace around it);
//! 3. the row's key alone, when the upload has one: the record id of an
//!    update or delete (its first 15 characters) or an upsert's external
//!    id;
//! 4. what is left, each result to the remaining row it shares the most
//!    values with (loosely), the earliest on a tie.
//!
//! Rows with the same values are interchangeable. Every result finds a row
//! (Salesforce gives one result for each row it was sent), so every record
//! a job wrote is journalled; results beyond the rows uploaded are
//! counted, not matched.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Above this many rows left for step 4, a result takes the first row left
/// instead of the most similar one (a comparison of every pair would cost
/// too much, and so many differences mean the echo is unlike any row).
const MOST_SIMILAR_UP_TO: usize = 2_000;

/// How results were matched to rows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Matched {
    /// For each result, in the order given, the row it belongs to.
    pub rows: Vec<Option<usize>>,
    /// Results matched by their key or by likeness (steps 3 and 4).
    pub inferred: usize,
    /// Results for which no row was left.
    pub unmatched: usize,
}

/// Matches `results` (each the echoed values of one row) to `rows` (the
/// values uploaded); `key` is the column that names a row's record, and
/// whether it is a record id.
pub fn match_results<R: AsRef<[String]>>(
    rows: &[R],
    results: &[Vec<String>],
    key: Option<(usize, bool)>,
) -> Matched {
    let mut state = State {
        by_result: vec![None; results.len()],
        taken: vec![false; rows.len()],
    };
    state.pass(rows, results, |values| Some(values.to_vec()));
    state.pass(rows, results, |values| {
        Some(values.iter().map(|v| loose(v)).collect::<Vec<_>>())
    });
    let exact = state.by_result.iter().flatten().count();
    if let Some((column, is_id)) = key {
        state.pass(rows, results, |values| {
            let value = values.get(column)?.trim();
            match (value.is_empty(), is_id) {
                (true, _) => None,
                (false, true) => Some(value.chars().take(15).collect::<String>()),
                (false, false) => Some(loose(value)),
            }
        });
    }
    state.most_similar(rows, results);
    let matched = state.by_result.iter().flatten().count();
    Matched {
        inferred: matched - exact,
        unmatched: results.len() - matched,
        rows: state.by_result,
    }
}

struct State {
    by_result: Vec<Option<usize>>,
    taken: Vec<bool>,
}

impl State {
    /// Matches each result left to the first row left with the same `key`.
    fn pass<K: Hash + Eq, R: AsRef<[String]>>(
        &mut self,
        rows: &[R],
        results: &[Vec<String>],
        key: impl Fn(&[String]) -> Option<K>,
    ) {
        if self.by_result.iter().all(Option::is_some) {
            return;
        }
        let mut waiting: HashMap<K, VecDeque<usize>> = HashMap::new();
        for (at, row) in rows.iter().enumerate().filter(|(at, _)| !self.taken[*at]) {
            if let Some(k) = key(row.as_ref()) {
                waiting.entry(k).or_default().push_back(at);
            }
        }
        for (result, values) in results.iter().enumerate() {
            if self.by_result[result].is_some() {
                continue;
            }
            let Some(at) = key(values).and_then(|k| waiting.get_mut(&k)?.pop_front()) else {
                continue;
            };
            self.by_result[result] = Some(at);
            self.taken[at] = true;
        }
    }

    /// Matches each result left to the row left it shares the most values
    /// with.
    fn most_similar<R: AsRef<[String]>>(&mut self, rows: &[R], results: &[Vec<String>]) {
        let mut left: Vec<usize> = (0..rows.len()).filter(|at| !self.taken[*at]).collect();
        let loosened = |values: &[String]| values.iter().map(|v| loose(v)).collect::<Vec<_>>();
        let left_values: HashMap<usize, Vec<String>> = if left.len() <= MOST_SIMILAR_UP_TO {
            left.iter()
                .map(|at| (*at, loosened(rows[*at].as_ref())))
                .collect()
        } else {
            HashMap::new()
        };
        for (result, values) in results.iter().enumerate() {
            if self.by_result[result].is_some() || left.is_empty() {
                continue;
            }
            let echoed = loosened(values);
            let best = left
                .iter()
                .enumerate()
                .max_by_key(|(place, at)| {
                    let shared = left_values.get(at).map_or(0, |row| {
                        row.iter().zip(&echoed).filter(|(a, b)| a == b).count()
                    });
                    // The earliest row wins a tie.
                    (shared, std::cmp::Reverse(*place))
                })
                .map(|(place, _)| place)
                .unwrap_or_default();
            let at = left.remove(best);
            self.by_result[result] = Some(at);
            self.taken[at] = true;
        }
    }
}

/// A value as Salesforce's field types could echo it, made comparable: a
/// number by its digits (`+007.50` as `7.5`), a date and time as the UTC
/// instant, anything else without the whitespace around it and in lower
/// case (a picklist's case, `TRUE`).
pub fn loose(value: &str) -> String {
    let text = value.trim();
    if let Some(number) = decimal(text) {
        return number;
    }
    if text.len() > 10 && text.as_bytes().get(10) == Some(&b'T') {
        let parsed = chrono::DateTime::parse_from_rfc3339(text)
            .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"));
        if let Ok(at) = parsed {
            return at
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        }
    }
    text.to_lowercase()
}

/// A plain decimal (`-12.50`, `+007`, `.5`) in its shortest form; `None`
/// for anything else.
fn decimal(text: &str) -> Option<String> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !is_digits(whole) || !is_digits(fraction) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let mut out = String::new();
    if negative && (whole != "0" || !fraction.is_empty()) {
        out.push('-');
    }
    out.push_str(whole);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[&[&str]]) -> Vec<Vec<String>> {
        values
            .iter()
            .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
            .collect()
    }

    #[test]
    fn numbers_dates_and_case_are_compared_as_salesforce_reads_them() {
        assert_eq!(loose("+007.50"), "7.5");
        assert_eq!(loose("-0.0"), "0");
        assert_eq!(loose("12345678901234567.890"), "12345678901234567.89");
        assert_eq!(
            loose("2024-05-01T12:00:00+02:00"),
            loose("2024-05-01T10:00:00.000+0000")
        );
        assert_eq!(loose(" Closed Won "), "closed won");
        assert_eq!(loose("1e5"), "1e5");
        assert_eq!(loose("."), ".");
    }

    #[test]
    fn normalised_echoes_find_their_rows() {
        let uploaded = rows(&[
            &["Ada", "1.50", "retail"],
            &["Bob", "2.00", "banking"],
            &["Ada", "1.50", "retail"],
        ]);
        let echoed = rows(&[
            &["Bob", "2", "Banking"],
            &["Ada", "1.5", "Retail"],
            &["Ada", "1.5", "Retail"],
        ]);
        let matched = match_results(&uploaded, &echoed, None);
        assert_eq!(matched.rows, vec![Some(1), Some(0), Some(2)]);
        assert_eq!((matched.inferred, matched.unmatched), (0, 0));
    }

    #[test]
    fn a_key_or_likeness_matches_what_values_cannot() {
        let uploaded = rows(&[
            &["001000000000001", "Ada  Lovelace"],
            &["001000000000002", "Bob"],
        ]);
        let echoed = rows(&[
            &["001000000000002AAA", "Robert"],
            &["001000000000001AAA", "Ada Lovelace"],
        ]);
        let matched = match_results(&uploaded, &echoed, Some((0, true)));
        assert_eq!(matched.rows, vec![Some(1), Some(0)]);
        assert_eq!(matched.inferred, 2);

        // Without a key, each result takes the row most like it.
        let uploaded = rows(&[&["Ada", "x", "1"], &["Bob", "y", "2"], &["Cy", "z", "3"]]);
        let echoed = rows(&[
            &["Bob", "Y!", "2"],
            &["Cy", "z", "3!"],
            &["Ada", "X!", "1!"],
            &["Dee", "w", "4"],
        ]);
        let matched = match_results(&uploaded, &echoed, None);
        assert_eq!(matched.rows, vec![Some(1), Some(2), Some(0), None]);
        assert_eq!((matched.inferred, matched.unmatched), (3, 1));
    }
}
