//! Undoing one journal batch in a Salesforce org: the records are read as
//! they are now (one query), each is checked against the conflict rule
//! (`conflict`), then the created records are deleted, the updated ones
//! restored (`restore`), and the deleted ones brought back out of the
//! recycle bin (SOAP `undelete()`).

use super::conflict::{changed_since, compared, conflict, holds};
use super::{restore, Batch, Own, Undone};
use serde_json::{Map, Value};
use sluice_connectors::journal::{Action, Change};
use sluice_connectors::salesforce::{Operation, Salesforce, SalesforceError};
use std::collections::HashMap;

/// The records as they are now, by id.
type Now = HashMap<String, Map<String, Value>>;

/// A batch's changes by what the run did.
#[derive(Default)]
struct Sorted {
    created: Vec<(Change, String)>,
    updated: Vec<(Change, String, Map<String, Value>)>,
    deleted: Vec<(u64, String)>,
}

impl Sorted {
    /// Sorts `changes`; an update without its before-image fails here.
    fn of(changes: Vec<Change>, undone: &mut Undone) -> Self {
        let mut sorted = Sorted::default();
        for change in changes {
            let id = change.key.first().cloned().unwrap_or_default();
            match change.action {
                Action::Created => sorted.created.push((change, id)),
                Action::Updated => {
                    let before = change
                        .before
                        .as_deref()
                        .and_then(|b| serde_json::from_str::<Map<String, Value>>(b).ok());
                    match before {
                        Some(before) => sorted.updated.push((change, id, before)),
                        None => undone.failed.push((
                            change.number,
                            id,
                            "the record's before-image is missing".into(),
                        )),
                    }
                }
                Action::Deleted => sorted.deleted.push((change.number, id)),
            }
        }
        sorted
    }
}

/// Undoes one batch's changes.
pub(super) async fn undo(
    sf: &Salesforce,
    batch: &Batch<'_>,
    changes: Vec<Change>,
    own: &mut Own,
) -> Result<Undone, SalesforceError> {
    let mut undone = Undone::default();
    let sorted = Sorted::of(changes, &mut undone);
    let now = records_now(sf, batch, &sorted).await?;
    delete_created(sf, batch, sorted.created, &now, own, &mut undone).await?;
    restore_updated(sf, batch, sorted.updated, &now, own, &mut undone).await?;
    undelete(sf, sorted.deleted, own, &mut undone).await?;
    Ok(undone)
}

/// The created and updated records as they are now: their version, the
/// fields the run wrote, and the fields a restore puts back.
async fn records_now(
    sf: &Salesforce,
    batch: &Batch<'_>,
    sorted: &Sorted,
) -> Result<Now, SalesforceError> {
    let mut fields: Vec<String> = vec!["Id".into(), "SystemModstamp".into()];
    let mut want = |name: &str| {
        if !fields.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            fields.push(name.to_owned());
        }
    };
    for (_, _, before) in &sorted.updated {
        before.keys().for_each(|name| want(name));
    }
    for change in sorted
        .created
        .iter()
        .map(|(c, _)| c)
        .chain(sorted.updated.iter().map(|(c, _, _)| c))
    {
        if let Some(wrote) = &change.wrote {
            compared(batch.set, wrote).for_each(|(name, _)| want(name));
        }
    }
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let ids: Vec<String> = sorted
        .created
        .iter()
        .map(|(_, id)| id.clone())
        .chain(sorted.updated.iter().map(|(_, id, _)| id.clone()))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(sf
        .records_by(batch.object, "Id", &ids, &fields, false)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.get("Id")?.as_str()?.to_owned(), r)))
        .collect())
}

/// The fields of record `id` changed since the run, if it is a conflict
/// (a record no longer there is none).
fn conflicting(
    batch: &Batch<'_>,
    change: &Change,
    id: &str,
    now: &Now,
    own: &Own,
) -> Option<Vec<String>> {
    changed_since(batch, change, id, now.get(id)?, own)
}

/// Created records are deleted.
async fn delete_created(
    sf: &Salesforce,
    batch: &Batch<'_>,
    created: Vec<(Change, String)>,
    now: &Now,
    own: &mut Own,
    undone: &mut Undone,
) -> Result<(), SalesforceError> {
    let mut deletes = Vec::new();
    for (change, id) in created {
        if !now.contains_key(&id) {
            // Already gone (deleted by someone, or by an earlier attempt).
            undone.ok.push((change.number, id, "already_deleted"));
        } else if let Some(fields) = conflicting(batch, &change, &id, now, own) {
            undone
                .failed
                .push((change.number, id, conflict(&fields, "deletes")));
        } else {
            deletes.push((change.number, id));
        }
    }
    if deletes.is_empty() {
        return Ok(());
    }
    let records = deletes.iter().map(|(_, id)| id_record(id)).collect();
    let results = sf
        .save(Operation::Delete, batch.object, None, records)
        .await?;
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
    Ok(())
}

/// Updated records get their before-images back.
async fn restore_updated(
    sf: &Salesforce,
    batch: &Batch<'_>,
    updated: Vec<(Change, String, Map<String, Value>)>,
    now: &Now,
    own: &mut Own,
    undone: &mut Undone,
) -> Result<(), SalesforceError> {
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
            Some(_) => match conflicting(batch, &change, &id, now, own) {
                Some(fields) => {
                    undone
                        .failed
                        .push((change.number, id, conflict(&fields, "restores")))
                }
                None => restores.push((change.number, id, before)),
            },
        }
    }
    restore::restore(sf, batch.object, batch.fixed, restores, now, own, undone).await
}

/// Deleted records come back out of the recycle bin.
async fn undelete(
    sf: &Salesforce,
    deleted: Vec<(u64, String)>,
    own: &mut Own,
    undone: &mut Undone,
) -> Result<(), SalesforceError> {
    if deleted.is_empty() {
        return Ok(());
    }
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
    Ok(())
}

fn id_record(id: &str) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert("Id".into(), Value::String(id.to_owned()));
    record
}
