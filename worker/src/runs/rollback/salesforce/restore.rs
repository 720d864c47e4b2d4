//! Updated records get their before-images back, by one update of up to
//! 200 records a call. A field Salesforce does not let an update set
//! (describe's `updateable: false`: a master-detail parent that cannot be
//! reparented, an audit field set only on create, a field made read-only
//! since the run) is left out of the update: sent, it would fail the whole
//! record (`INVALID_FIELD_FOR_INSERT_UPDATE`). Such a field that still
//! holds its before-image's value needs no restoring; one that holds
//! another is reported, by name (never its values): the record is
//! restored but for it, and the row goes to errors.csv.

use super::conflict::{field, same};
use super::{Own, Undone};
use serde_json::{Map, Value};
use sluice_connectors::salesforce::{Operation, Salesforce, SalesforceError};
use std::collections::{HashMap, HashSet};
use tokio::sync::OnceCell;

/// The fields of an object an update cannot set (their names in lower
/// case), read from its description the first time a rollback restores
/// records, then kept for the rest of it.
#[derive(Default)]
pub(super) struct Fixed(OnceCell<HashSet<String>>);

impl Fixed {
    async fn of(&self, sf: &Salesforce, object: &str) -> Result<&HashSet<String>, SalesforceError> {
        self.0
            .get_or_try_init(|| async {
                let describe = sf.describe(object).await?;
                Ok(describe
                    .fields
                    .iter()
                    .filter(|f| !f.updateable && f.name != "Id")
                    .map(|f| f.name.to_lowercase())
                    .collect())
            })
            .await
    }
}

/// A record to restore: its row number, id and before-image.
pub(super) type Restore = (u64, String, Map<String, Value>);

/// Why a record was restored but for `fields`.
fn not_restored(fields: &[String]) -> String {
    let (them, keep) = if fields.len() == 1 {
        ("it", "it keeps the value it holds")
    } else {
        ("them", "they keep the values they hold")
    };
    format!(
        "restored, except {}: Salesforce does not let an update change {them}, so {keep} now",
        fields.join(", ")
    )
}

/// Restores `restores` (records of `object` as they are `now`) to their
/// before-images, leaving out the fields an update cannot set.
pub(super) async fn restore(
    sf: &Salesforce,
    object: &str,
    fixed: &Fixed,
    restores: Vec<Restore>,
    now: &HashMap<String, Map<String, Value>>,
    own: &mut Own,
    undone: &mut Undone,
) -> Result<(), SalesforceError> {
    if restores.is_empty() {
        return Ok(());
    }
    let fixed = fixed.of(sf, object).await?;
    let mut sent = Vec::with_capacity(restores.len());
    let mut records = Vec::with_capacity(restores.len());
    for (number, id, before) in restores {
        let (settable, kept): (Map<String, Value>, Map<String, Value>) = before
            .into_iter()
            .filter(|(name, _)| name != "Id" && name != "attributes")
            .partition(|(name, _)| !fixed.contains(&name.to_lowercase()));
        let stuck: Vec<String> = match now.get(&id) {
            Some(record) => kept
                .iter()
                .filter(|(name, value)| !same(value, field(record, name)))
                .map(|(name, _)| name.clone())
                .collect(),
            None => kept.keys().cloned().collect(),
        };
        let mut record = settable.clone();
        record.insert("Id".into(), Value::String(id.clone()));
        records.push(record);
        sent.push((number, id, settable, stuck));
    }
    let results = sf.save(Operation::Update, object, None, records).await?;
    for ((number, id, settable, stuck), result) in sent.into_iter().zip(results) {
        if !result.success {
            undone.failed.push((number, id, result.reason()));
            continue;
        }
        own.changed.insert(id.clone());
        // What the rollback wrote: a change of the record in an older
        // batch compares with it too.
        own.wrote.entry(id.clone()).or_default().extend(settable);
        if stuck.is_empty() {
            undone.ok.push((number, id, "restored"));
        } else {
            undone.failed.push((number, id, not_restored(&stuck)));
        }
    }
    Ok(())
}
