//! Rollbacks of runs to a Salesforce org, newest batch first: records the
//! run created are deleted, records it updated get their before-images
//! back (but for the fields an update cannot set, see `restore.rs`),
//! records it deleted come back out of the recycle bin (SOAP
//! `undelete()`).
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
//!
//! As for imports, each batch undone is recorded as sent (`run.batch_sent`)
//! and then as done (`run.progressed`). A worker that resumes a batch in
//! doubt undoes it again: a created record already gone counts as deleted,
//! an updated record that already holds its before-image as restored.

use crate::results::{Note, Outcome, Results, RowFields};
use crate::runs::target::salesforce::org::{calls, failed};
use crate::runs::{retry, JobSpec, RunHandler, Stop, Totals, Written};
use serde_json::{Map, Value};
use sluice_connectors::journal::{Action, Change};
use sluice_connectors::postgres::Checkpoint;
use sluice_connectors::salesforce::decimal::canonical;
use sluice_connectors::salesforce::{Operation, Salesforce, SalesforceError};
use sluice_events::event::{RunBatchSent, RunProgressed};
use sluice_events::{DomainEvent, RecordedEvent};
use sluice_schema::ids::{AccountId, RunId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

mod restore;

/// Why a record changed since the run was left as it is: `fields`, those
/// the run wrote that hold something else now (none named under the old
/// rule), and what a forced rollback does.
fn conflict(fields: &[String], forced_does: &str) -> String {
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

/// What undoing one batch did: the rows undone (number, record id, what
/// was done) and those not undone (number, record id, why).
#[derive(Default)]
struct Undone {
    ok: Vec<(u64, String, &'static str)>,
    failed: Vec<(u64, String, String)>,
}

impl RunHandler {
    #[allow(clippy::too_many_arguments)]
    pub(in crate::runs) async fn roll_back_org(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        written: &mut Written,
        account: AccountId,
        force: bool,
        undone: RunId,
        journal: Arc<Results>,
        job: JobSpec,
    ) -> Result<Totals, Stop> {
        let mut org = self.org(account, job.connection).await?;
        let resume = self.resume(run).await?;
        let before = resume.api_calls;
        let mut own = Own::default();
        let fixed = restore::Fixed::default();
        let outcome = async {
            let batches = self.resume(undone).await?.checkpoint.batch;
            let key = self.result_key(account, run).await?;
            let results = self.results(key, account, run, Vec::new());
            written.results = Some(results.clone());
            let mut checkpoint = resume.checkpoint;
            written.batches = checkpoint.batch;
            written.totals = totals_of(checkpoint);
            self.started(cause, run, account, checkpoint).await?;
            // Step 1 undoes the run's last batch.
            for step in (checkpoint.batch + 1)..=batches {
                let (columns, changes) = super::journal_piece(&journal, batches + 1 - step).await?;
                let again = resume.sent.as_ref().is_some_and(|s| s.batch == step);
                if !again {
                    let sent = RunBatchSent {
                        batch: step,
                        through: step,
                        bulk_job: None,
                    };
                    self.record(cause, account, run, DomainEvent::RunBatchSent(sent))
                        .await?;
                }
                let batch = Batch {
                    object: &job.object,
                    set: &columns.set,
                    force,
                    again,
                    fixed: &fixed,
                };
                let done = undo(&org.sf, &batch, changes, &mut own)
                    .await
                    .map_err(failed)?;
                write_part(&results, step, done.ok.clone(), done.failed.clone()).await?;
                checkpoint = Checkpoint {
                    batch: step,
                    rows_ok: checkpoint.rows_ok + done.ok.len() as i64,
                    rows_failed: checkpoint.rows_failed + done.failed.len() as i64,
                };
                written.batches = step;
                written.totals = totals_of(checkpoint);
                let calls = before + calls(&org.sf);
                self.record(
                    cause,
                    account,
                    run,
                    DomainEvent::RunProgressed(RunProgressed {
                        batch: step,
                        rows_read: written.totals.read,
                        rows_ok: checkpoint.rows_ok,
                        rows_failed: checkpoint.rows_failed,
                        api_calls: Some(calls),
                    }),
                )
                .await?;
                crate::crash::at(crate::crash::Phase::BatchCommitted);
            }
            Ok::<_, Stop>(written.totals)
        }
        .await;
        written.api_calls = Some(before + calls(&org.sf));
        let kept = self.keep_tokens(&mut org).await;
        let totals = outcome?;
        kept?;
        Ok(totals)
    }
}

fn totals_of(checkpoint: Checkpoint) -> Totals {
    Totals {
        read: checkpoint.rows_ok + checkpoint.rows_failed,
        ok: checkpoint.rows_ok,
        failed: checkpoint.rows_failed,
    }
}

/// Writes a rollback batch's pieces of success.csv (the record id and what
/// was done) and errors.csv (why a record was not undone, with its id).
async fn write_part(
    results: &Arc<Results>,
    step: i64,
    mut ok: Vec<(u64, String, &'static str)>,
    mut failed: Vec<(u64, String, String)>,
) -> Result<(), Stop> {
    ok.sort_by_key(|(n, _, _)| *n);
    failed.sort_by_key(|(n, _, _)| *n);
    let results = results.clone();
    tokio::task::spawn_blocking(move || {
        let success: Vec<Outcome> = ok
            .iter()
            .map(|(number, id, what)| Outcome {
                number: *number,
                note: Note::Text(id),
                status: what,
                fields: RowFields::NONE,
            })
            .collect();
        let reasons: Vec<String> = failed
            .iter()
            .map(|(_, id, reason)| format!("{reason} (record {id})"))
            .collect();
        let errors: Vec<Outcome> = failed
            .iter()
            .zip(&reasons)
            .map(|((number, _, _), reason)| Outcome {
                number: *number,
                note: Note::Text(reason),
                status: "",
                fields: RowFields::NONE,
            })
            .collect();
        results.write_part(step, &success, &errors)
    })
    .await
    .map_err(retry)?
    .map_err(|e| Stop::Retry(format!("result files: {e}")))
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
fn same(sent: &Value, now: &Value) -> bool {
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
fn field<'r>(record: &'r Map<String, Value>, name: &str) -> &'r Value {
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

/// What a rollback has written so far: each record's fields as it
/// restored them, and the records it changed at all (the old rule's).
#[derive(Default)]
struct Own {
    wrote: HashMap<String, Map<String, Value>>,
    changed: HashSet<String>,
}

/// One journal batch to undo, and how.
struct Batch<'a> {
    object: &'a str,
    /// The journal's written fields, in the order of a change's values.
    set: &'a [String],
    force: bool,
    /// An earlier attempt may have undone it already.
    again: bool,
    /// The object's fields an update cannot set.
    fixed: &'a restore::Fixed,
}

impl Batch<'_> {
    /// The fields a change's written values can be compared in.
    fn compared<'c>(&'c self, wrote: &'c [Value]) -> impl Iterator<Item = (&'c str, &'c Value)> {
        self.set
            .iter()
            .zip(wrote)
            .filter(|(name, sent)| {
                !sent.is_object() && !name.eq_ignore_ascii_case("Id") && !name.contains(':')
            })
            .map(|(name, sent)| (name.as_str(), sent))
    }

    /// The fields the run wrote to record `id` that hold neither what it
    /// wrote nor what this rollback wrote there since.
    fn changed_fields(
        &self,
        id: &str,
        wrote: &[Value],
        now: &Map<String, Value>,
        own: &Own,
    ) -> Vec<String> {
        let restored = own.wrote.get(id);
        self.compared(wrote)
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
}

/// Whether `record` holds `before`'s values (its fields but `Id`).
fn holds(record: &Map<String, Value>, before: &Map<String, Value>) -> bool {
    before
        .iter()
        .filter(|(name, _)| name.as_str() != "Id")
        .all(|(name, value)| same(value, record.get(name).unwrap_or(&Value::Null)))
}

/// Undoes one batch's changes.
async fn undo(
    sf: &Salesforce,
    batch: &Batch<'_>,
    changes: Vec<Change>,
    own: &mut Own,
) -> Result<Undone, SalesforceError> {
    let object = batch.object;
    let mut undone = Undone::default();
    let mut created = Vec::new();
    let mut updated = Vec::new();
    let mut deleted = Vec::new();
    for change in changes {
        let id = change.key.first().cloned().unwrap_or_default();
        match change.action {
            Action::Created => created.push((change, id)),
            Action::Updated => {
                let before = change
                    .before
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<Map<String, Value>>(b).ok());
                match before {
                    Some(before) => updated.push((change, id, before)),
                    None => undone.failed.push((
                        change.number,
                        id,
                        "the record's before-image is missing".into(),
                    )),
                }
            }
            Action::Deleted => deleted.push((change.number, id)),
        }
    }

    // The records as they are now: their version, the fields the run
    // wrote, and the fields a restore puts back.
    let mut fields: Vec<String> = vec!["Id".into(), "SystemModstamp".into()];
    let mut want = |name: &str| {
        if !fields.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            fields.push(name.to_owned());
        }
    };
    for (_, _, before) in &updated {
        before.keys().for_each(|name| want(name));
    }
    for change in created
        .iter()
        .map(|(c, _)| c)
        .chain(updated.iter().map(|(c, _, _)| c))
    {
        if let Some(wrote) = &change.wrote {
            batch.compared(wrote).for_each(|(name, _)| want(name));
        }
    }
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let ids: Vec<String> = created
        .iter()
        .map(|(_, id)| id.clone())
        .chain(updated.iter().map(|(_, id, _)| id.clone()))
        .collect();
    let now: HashMap<String, Map<String, Value>> = if ids.is_empty() {
        HashMap::new()
    } else {
        sf.records_by(object, "Id", &ids, &fields, false)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.get("Id")?.as_str()?.to_owned(), r)))
            .collect()
    };
    // The fields of a record that changed since the run: `Some` (empty
    // under the old rule, which names none) if it is a conflict.
    let changed = |change: &Change, id: &str, own: &Own| -> Option<Vec<String>> {
        let record = now.get(id)?;
        if batch.force {
            return None;
        }
        match &change.wrote {
            Some(wrote) => {
                Some(batch.changed_fields(id, wrote, record, own)).filter(|f| !f.is_empty())
            }
            None => (!own.changed.contains(id)
                && record
                    .get("SystemModstamp")
                    .and_then(Value::as_str)
                    .is_some_and(|stamp| later(stamp, &change.version)))
            .then(Vec::new),
        }
    };

    // Created records are deleted.
    let mut deletes = Vec::new();
    for (change, id) in created {
        if !now.contains_key(&id) {
            // Already gone (deleted by someone, or by an earlier attempt).
            undone.ok.push((change.number, id, "already_deleted"));
        } else if let Some(fields) = changed(&change, &id, own) {
            undone
                .failed
                .push((change.number, id, conflict(&fields, "deletes")));
        } else {
            deletes.push((change.number, id));
        }
    }
    if !deletes.is_empty() {
        let records = deletes.iter().map(|(_, id)| id_record(id)).collect();
        let results = sf.save(Operation::Delete, object, None, records).await?;
        for ((number, id), result) in deletes.into_iter().zip(results) {
            let gone = result
                .errors
                .iter()
                .any(|e| e.status_code == "ENTITY_IS_DELETED");
            if result.success || gone {
                own.changed.insert(id.clone());
                undone.ok.push((number, id, "deleted"));
            } else {
                undone.failed.push((number, id, result.reason()));
            }
        }
    }

    // Updated records get their before-images back.
    let mut restores = Vec::new();
    for (change, id, before) in updated {
        match now.get(&id) {
            None => undone.failed.push((
                change.number,
                id,
                "the record is no longer in Salesforce".into(),
            )),
            Some(record) if batch.again && holds(record, &before) => {
                undone.ok.push((change.number, id, "restored"))
            }
            Some(_) => match changed(&change, &id, own) {
                Some(fields) => {
                    undone
                        .failed
                        .push((change.number, id, conflict(&fields, "restores")))
                }
                None => restores.push((change.number, id, before)),
            },
        }
    }
    restore::restore(sf, object, batch.fixed, restores, &now, own, &mut undone).await?;

    // Deleted records come back out of the recycle bin.
    if !deleted.is_empty() {
        let ids: Vec<String> = deleted.iter().map(|(_, id)| id.clone()).collect();
        let results = sf.undelete(&ids).await?;
        for ((number, id), result) in deleted.into_iter().zip(results) {
            if result.success {
                own.changed.insert(id.clone());
                undone.ok.push((number, id, "undeleted"));
            } else {
                undone.failed.push((number, id, result.reason()));
            }
        }
    }
    Ok(undone)
}

fn id_record(id: &str) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert("Id".into(), Value::String(id.to_owned()));
    record
}
