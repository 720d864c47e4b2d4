//! Rollbacks of runs to a Salesforce org, newest batch first: records the
//! run created are deleted, records it updated get their before-images
//! back, records it deleted come back out of the recycle bin (SOAP
//! `undelete()`).
//!
//! A record whose `SystemModstamp` is later than the version the run left
//! was changed by someone since: it is reported as a conflict and left as
//! it is, unless the rollback is forced. Records the rollback itself
//! changed (a record two batches of the run touched) are not conflicts;
//! a rollback that resumes after a crash no longer knows those of the
//! attempt before, and reports them as conflicts (a forced rollback then
//! undoes them).
//!
//! As for imports, each batch undone is recorded as sent (`run.batch_sent`)
//! and then as done (`run.progressed`). A worker that resumes a batch in
//! doubt undoes it again: a created record already gone counts as deleted,
//! an updated record that already holds its before-image as restored.

use crate::results::{Note, Outcome, Results, RowFields};
use crate::runs::salesforce::{calls, failed};
use crate::runs::{retry, JobSpec, RunHandler, Stop, Totals, Written};
use serde_json::{Map, Value};
use sluice_connectors::journal::{Action, Change};
use sluice_connectors::postgres::Checkpoint;
use sluice_connectors::salesforce::{Operation, Salesforce, SalesforceError};
use sluice_events::event::{RunBatchSent, RunProgressed};
use sluice_events::{DomainEvent, RecordedEvent};
use sluice_schema::ids::{AccountId, RunId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const CONFLICT_DELETE: &str =
    "changed in Salesforce since the run, so it was left as it is (a forced rollback deletes it)";
const CONFLICT_RESTORE: &str =
    "changed in Salesforce since the run, so it was left as it is (a forced rollback restores it)";

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
        let mut own = HashSet::new();
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
                let (_, changes) = super::journal_piece(&journal, batches + 1 - step).await?;
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
                let done = undo(&org.sf, &job.object, changes, force, again, &mut own)
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

/// Whether `record` holds `before`'s values (its fields but `Id`).
fn holds(record: &Map<String, Value>, before: &Map<String, Value>) -> bool {
    before
        .iter()
        .filter(|(name, _)| name.as_str() != "Id")
        .all(|(name, value)| record.get(name).unwrap_or(&Value::Null) == value)
}

/// Undoes one batch's changes.
async fn undo(
    sf: &Salesforce,
    object: &str,
    changes: Vec<Change>,
    force: bool,
    again: bool,
    own: &mut HashSet<String>,
) -> Result<Undone, SalesforceError> {
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

    // The records as they are now: their version, and the fields a
    // restore puts back.
    let mut fields: Vec<String> = vec!["Id".into(), "SystemModstamp".into()];
    for (_, _, before) in &updated {
        for name in before.keys() {
            if !fields.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                fields.push(name.clone());
            }
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
    let changed = |id: &str, version: &str, own: &HashSet<String>| {
        !force
            && !own.contains(id)
            && now
                .get(id)
                .and_then(|r| r.get("SystemModstamp"))
                .and_then(Value::as_str)
                .is_some_and(|stamp| later(stamp, version))
    };

    // Created records are deleted.
    let mut deletes = Vec::new();
    for (change, id) in created {
        if !now.contains_key(&id) {
            // Already gone (deleted by someone, or by an earlier attempt).
            undone.ok.push((change.number, id, "already_deleted"));
        } else if changed(&id, &change.version, own) {
            undone
                .failed
                .push((change.number, id, CONFLICT_DELETE.into()));
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
                own.insert(id.clone());
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
            Some(record) if again && holds(record, &before) => {
                undone.ok.push((change.number, id, "restored"))
            }
            Some(_) if changed(&id, &change.version, own) => {
                undone
                    .failed
                    .push((change.number, id, CONFLICT_RESTORE.into()))
            }
            Some(_) => restores.push((change.number, id, before)),
        }
    }
    if !restores.is_empty() {
        let records = restores
            .iter()
            .map(|(_, id, before)| {
                let mut record = before.clone();
                record.insert("Id".into(), Value::String(id.clone()));
                record
            })
            .collect();
        let results = sf.save(Operation::Update, object, None, records).await?;
        for ((number, id, _), result) in restores.into_iter().zip(results) {
            if result.success {
                own.insert(id.clone());
                undone.ok.push((number, id, "restored"));
            } else {
                undone.failed.push((number, id, result.reason()));
            }
        }
    }

    // Deleted records come back out of the recycle bin.
    if !deleted.is_empty() {
        let ids: Vec<String> = deleted.iter().map(|(_, id)| id.clone()).collect();
        let results = sf.undelete(&ids).await?;
        for ((number, id), result) in deleted.into_iter().zip(results) {
            if result.success {
                own.insert(id.clone());
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
