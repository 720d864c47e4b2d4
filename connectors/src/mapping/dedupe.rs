//! A job's de-duplication: rows whose mapped values of some fields are the
//! same are duplicates, and only one of them (the first or the last) is
//! written; the others are skipped with a reason that names the row kept
//! and the fields, never a value.
//!
//! Only a 128-bit hash of each distinct key is kept (SipHash-1-3 with a
//! fixed key, so every worker and every attempt of a run agrees), with the
//! number of the row kept: about 40 bytes a key. A blank in any of the
//! fields makes the row no duplicate at all, as SQL treats NULL in a unique
//! key.

use siphasher::sip128::{Hasher128, SipHasher13};
use sluice_schema::job::{Dedupe, FieldMapping, Keep, MAX_DEDUPE_FIELDS};
use std::collections::HashMap;
use std::hash::Hasher;

/// The most distinct keys a run remembers (about 200 MB of worker memory):
/// a run whose rows have more fails with [`too_many_keys`]'s reason.
pub const MAX_DEDUPE_KEYS: usize = 5_000_000;

/// Why a run with more distinct keys than it may remember fails.
pub fn too_many_keys(cap: usize) -> String {
    format!(
        "the job de-duplicates on more than {cap} distinct values; de-duplicate the file \
         before uploading it, or split it"
    )
}

/// Checks a job's de-duplication against its mapping: the request field
/// and the message when a field is not one of the mapping's targets, or
/// there are none or too many.
pub fn check_dedupe(dedupe: &Dedupe, mapping: &[FieldMapping]) -> Result<(), (String, String)> {
    let refuse = |field: String, what: &str| Err((field.clone(), format!("{field}: {what}")));
    if dedupe.fields.is_empty() {
        return refuse("dedupe.fields".into(), "name at least one mapped field");
    }
    if dedupe.fields.len() > MAX_DEDUPE_FIELDS {
        return refuse(
            "dedupe.fields".into(),
            &format!("at most {MAX_DEDUPE_FIELDS} fields"),
        );
    }
    for (i, field) in dedupe.fields.iter().enumerate() {
        if !mapping.iter().any(|m| &m.target == field) {
            return refuse(
                format!("dedupe.fields[{i}]"),
                "not a target field of the mapping",
            );
        }
        if dedupe.fields[..i].contains(field) {
            return refuse(format!("dedupe.fields[{i}]"), "named twice");
        }
    }
    Ok(())
}

/// The keys seen so far of one run (or preview), and the row kept for each.
#[derive(Debug)]
pub struct Duplicates {
    /// Where the fields are among the mapped values.
    positions: Vec<usize>,
    /// The fields, as the reason names them (`Email, Name`).
    names: String,
    case_insensitive: bool,
    keep: Keep,
    /// A key's hash and the row kept: the first seen, or (keeping the
    /// last) the last the first pass saw.
    rows: HashMap<u128, u64>,
    cap: usize,
}

impl Duplicates {
    /// A job's de-duplication over the mapping's `targets`, in their order.
    pub fn new(dedupe: &Dedupe, targets: &[&str]) -> Result<Self, String> {
        let positions = dedupe
            .fields
            .iter()
            .map(|field| {
                targets
                    .iter()
                    .position(|t| t == field)
                    .ok_or_else(|| format!("dedupe: {field} is not a mapped field"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            positions,
            names: dedupe.fields.join(", "),
            case_insensitive: dedupe.case_insensitive,
            keep: dedupe.keep,
            rows: HashMap::new(),
            cap: MAX_DEDUPE_KEYS,
        })
    }

    /// The same with at most `cap` distinct keys (a smaller one in tests).
    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap;
        self
    }

    /// Whether the last of duplicates is kept: a run then reads its rows
    /// once with [`Duplicates::note`] before it writes.
    pub fn keeps_last(&self) -> bool {
        self.keep == Keep::Last
    }

    /// The hash of a row's key, from its mapped values by position; none
    /// when one of them is blank.
    fn key<'v>(&self, value: impl Fn(usize) -> Option<&'v str>) -> Option<u128> {
        let mut hasher = SipHasher13::new();
        for at in &self.positions {
            let text = value(*at).filter(|v| !v.is_empty())?;
            let lowered;
            let text = if self.case_insensitive {
                lowered = text.to_lowercase();
                lowered.as_str()
            } else {
                text
            };
            // Each value's length first: ("ab", "c") is not ("a", "bc").
            hasher.write_u64(text.len() as u64);
            hasher.write(text.as_bytes());
        }
        Some(hasher.finish128().as_u128())
    }

    /// Remembers `number` as the row kept for `hash`, unless the cap is
    /// reached.
    fn remember(&mut self, hash: u128, number: u64) -> Result<(), String> {
        if self.rows.len() >= self.cap && !self.rows.contains_key(&hash) {
            return Err(too_many_keys(self.cap));
        }
        self.rows.insert(hash, number);
        Ok(())
    }

    /// The first pass of a run that keeps the last of duplicates: row
    /// `number` is the last so far of its key.
    pub fn note<'v>(
        &mut self,
        number: u64,
        value: impl Fn(usize) -> Option<&'v str>,
    ) -> Result<(), String> {
        match self.key(value) {
            Some(hash) => self.remember(hash, number),
            None => Ok(()),
        }
    }

    /// Whether row `number` is a duplicate: the reason it is skipped
    /// (`duplicate of row 12 (Email)`), or none when it is written. Rows
    /// are given in the source's order; the error is the run's failure.
    pub fn check<'v>(
        &mut self,
        number: u64,
        value: impl Fn(usize) -> Option<&'v str>,
    ) -> Result<Option<String>, String> {
        let Some(hash) = self.key(value) else {
            return Ok(None);
        };
        let kept = match (self.keep, self.rows.get(&hash)) {
            (Keep::First, None) => return self.remember(hash, number).map(|()| None),
            (Keep::First, Some(first)) => *first,
            // A row the first pass did not see (a query whose rows
            // changed in between) is written.
            (Keep::Last, None) => return Ok(None),
            (Keep::Last, Some(last)) if *last == number => return Ok(None),
            (Keep::Last, Some(last)) => *last,
        };
        Ok(Some(format!("duplicate of row {kept} ({})", self.names)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn duplicates(spec: serde_json::Value) -> Duplicates {
        let dedupe: Dedupe = serde_json::from_value(spec).unwrap();
        Duplicates::new(&dedupe, &["email", "name", "city"]).unwrap()
    }

    fn run(duplicates: &mut Duplicates, rows: &[[&str; 3]]) -> Vec<Option<String>> {
        if duplicates.keeps_last() {
            for (i, row) in rows.iter().enumerate() {
                duplicates
                    .note(i as u64 + 1, |at| row.get(at).copied())
                    .unwrap();
            }
        }
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                duplicates
                    .check(i as u64 + 1, |at| row.get(at).copied())
                    .unwrap()
            })
            .collect()
    }

    const ROWS: [[&str; 3]; 5] = [
        ["a@x", "Ada", "Paris"],
        ["A@X", "Ada", "Rome"],
        ["a@x", "Ada", "Oslo"],
        ["", "Ada", "Rome"],
        ["", "Ada", "Rome"],
    ];

    #[test]
    fn the_first_is_kept_and_later_ones_name_it() {
        let mut first = duplicates(json!({"fields": ["email", "name"]}));
        let verdicts = run(&mut first, &ROWS);
        assert_eq!(
            verdicts,
            [
                None,
                None,
                Some("duplicate of row 1 (email, name)".into()),
                None,
                None
            ]
        );
    }

    #[test]
    fn the_last_is_kept_and_case_may_be_ignored() {
        let mut last =
            duplicates(json!({"fields": ["email"], "keep": "last", "case_insensitive": true}));
        let verdicts = run(&mut last, &ROWS);
        let dropped = Some("duplicate of row 3 (email)".to_owned());
        assert_eq!(verdicts, [dropped.clone(), dropped, None, None, None]);
    }

    #[test]
    fn values_are_told_apart_by_where_they_end() {
        let mut exact = duplicates(json!({"fields": ["email", "name"]}));
        let verdicts = run(&mut exact, &[["ab", "c", ""], ["a", "bc", ""]]);
        assert_eq!(verdicts, [None, None]);
    }

    #[test]
    fn more_distinct_keys_than_the_cap_fail_the_run() {
        let mut capped = duplicates(json!({"fields": ["city"]})).with_cap(2);
        let mut check = |n: u64, city: &'static str| capped.check(n, move |_| Some(city));
        assert_eq!(check(1, "Paris"), Ok(None));
        assert_eq!(check(2, "Rome"), Ok(None));
        assert!(check(3, "Paris").unwrap().is_some());
        assert_eq!(check(4, "Oslo"), Err(too_many_keys(2)));
    }

    #[test]
    fn fields_must_be_mapped_targets_and_few() {
        let mapping: Vec<FieldMapping> =
            serde_json::from_value(json!([{"source": "Email", "target": "email"}])).unwrap();
        let check = |spec: serde_json::Value| {
            check_dedupe(&serde_json::from_value(spec).unwrap(), &mapping).map_err(|(f, _)| f)
        };
        assert_eq!(check(json!({"fields": ["email"]})), Ok(()));
        assert_eq!(
            check(json!({"fields": ["email", "phone"]})),
            Err("dedupe.fields[1]".into())
        );
        assert_eq!(check(json!({"fields": []})), Err("dedupe.fields".into()));
        let many = vec!["email"; MAX_DEDUPE_FIELDS + 1];
        assert_eq!(
            check(json!({ "fields": many })),
            Err("dedupe.fields".into())
        );
    }
}
