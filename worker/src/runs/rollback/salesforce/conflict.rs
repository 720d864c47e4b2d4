//! The conflict rule of a rollback on Salesforce, in one place: whether a
//! record was changed by someone since the run, and so is left as it is.
//!
//! A record in which a field the run wrote no longer holds what Sluice
//! last wrote there (the run, or this rollback restoring a record two
//! batches of the run touched) was changed by someone since: it is
//! reported as a conflict naming those fields (never their values) and
//! left as it is, unless the rollback is forced. Fields the run did not
//! write may change, and `SystemModstamp` may move, without a conflict:
//! flows, triggers, @future and queueable jobs, roll-up summaries and
//! managed packages touch records after a run. Values are compared as
//! Salesforce gives them back against what was sent: numbers by their
//! exact decimal value (sent as text or as a JSON number, read back
//! exactly), date-times by instant, a cleared field (`null`) as an empty one
//! (a cleared checkbox as false). A reference set by an external id, and a
//! field a run left out, are not compared.
//!
//! A journal written before the values were recorded keeps the rule it
//! was written under: a record whose `SystemModstamp` is later than the
//! version the run left is a conflict (one that cannot be read counts as
//! later), but for records the rollback itself changed; a rollback that
//! resumes after a crash no longer knows those of the attempt before, and
//! reports them as conflicts (a forced rollback then undoes them).

use super::{Batch, Own};
use serde_json::{Map, Value};
use sluice_connectors::journal::Change;
use sluice_connectors::salesforce::decimal::canonical;

/// The fields of record `id` (as it is `now`) that changed since the run
/// wrote `change`: `Some` if it is a conflict (empty under the old rule,
/// which names none), `None` if the record may be undone.
pub(super) fn changed_since(
    batch: &Batch<'_>,
    change: &Change,
    id: &str,
    now: &Map<String, Value>,
    own: &Own,
) -> Option<Vec<String>> {
    if batch.force {
        return None;
    }
    match &change.wrote {
        Some(wrote) => Some(changed_fields(batch, id, wrote, now, own)).filter(|f| !f.is_empty()),
        None => (!own.changed.contains(id)
            && now
                .get("SystemModstamp")
                .and_then(Value::as_str)
                .is_some_and(|stamp| later(stamp, &change.version)))
        .then(Vec::new),
    }
}

/// Why a record changed since the run was left as it is: `fields`, those
/// the run wrote that hold something else now (none named under the old
/// rule), and what a forced rollback does.
pub(super) fn conflict(fields: &[String], forced_does: &str) -> String {
    if fields.is_empty() {
        return format!(
            "changed in Salesforce since the run, so it was left as it is (a forced rollback \
             {forced_does} it)"
        );
    }
    format!(
        "changed in Salesforce since the run: {} no longer {} what the run wrote, so it was \
         left as it is (a forced rollback {forced_does} it)",
        fields.join(", "),
        if fields.len() == 1 { "holds" } else { "hold" }
    )
}

/// The fields a change's written values can be compared in.
pub(super) fn compared<'c>(
    set: &'c [String],
    wrote: &'c [Value],
) -> impl Iterator<Item = (&'c str, &'c Value)> {
    set.iter()
        .zip(wrote)
        .filter(|(name, sent)| {
            !sent.is_object() && !name.eq_ignore_ascii_case("Id") && !name.contains(':')
        })
        .map(|(name, sent)| (name.as_str(), sent))
}

/// The fields the run wrote to record `id` that hold neither what it
/// wrote nor what this rollback wrote there since.
fn changed_fields(
    batch: &Batch<'_>,
    id: &str,
    wrote: &[Value],
    now: &Map<String, Value>,
    own: &Own,
) -> Vec<String> {
    let restored = own.wrote.get(id);
    compared(batch.set, wrote)
        .filter(|(name, sent)| {
            let value = field(now, name);
            !same(sent, value)
                && !restored.is_some_and(|r| {
                    r.iter()
                        .any(|(k, v)| k.eq_ignore_ascii_case(name) && same(v, value))
                })
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Whether stamp `now` (a `SystemModstamp`) is later than `version`.
fn later(now: &str, version: &str) -> bool {
    let parse = |s: &str| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z");
    match (parse(now), parse(version)) {
        (Ok(now), Ok(version)) => now > version,
        // A version that cannot be read proves nothing: a conflict.
        _ => true,
    }
}

/// Whether `now`, a field's value as Salesforce gives it, is what `sent`
/// wrote there.
pub(super) fn same(sent: &Value, now: &Value) -> bool {
    let decimal = |value: &Value| match value {
        Value::Number(n) => canonical(&n.to_string()),
        Value::String(s) => canonical(s),
        _ => None,
    };
    let instant = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .ok()
    };
    match (sent, now) {
        (a, b) if a == b => true,
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        // A checkbox set to null holds false.
        (Value::Null, Value::Bool(b)) => !b,
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::Number(_))
        | (Value::Number(_), Value::String(_)) => {
            decimal(sent).is_some_and(|sent| decimal(now) == Some(sent))
        }
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => s
            .trim()
            .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        (Value::String(a), Value::String(b)) => match (instant(a), instant(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// A field of `record`, its name in any case.
pub(super) fn field<'r>(record: &'r Map<String, Value>, name: &str) -> &'r Value {
    record
        .get(name)
        .or_else(|| {
            record
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

/// Whether `record` holds `before`'s values (its fields but `Id`): an
/// updated record an earlier attempt already restored.
pub(super) fn holds(record: &Map<String, Value>, before: &Map<String, Value>) -> bool {
    before
        .iter()
        .filter(|(name, _)| name.as_str() != "Id")
        .all(|(name, value)| same(value, record.get(name).unwrap_or(&Value::Null)))
}
