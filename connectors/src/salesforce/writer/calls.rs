//! The calls a write makes: the before-images read just before it, the
//! write itself (200 records a call), and the record versions read after.

use super::{BeforeImages, Prepared, Saved, Writer, Written};
use crate::journal::Action;
use crate::salesforce::{Operation, Salesforce, SalesforceError};
use serde_json::Value;
use std::collections::HashMap;

impl Writer {
    /// Writes a batch of rows (source row number and mapped values): rows
    /// that cannot become records fail first; updates and upserts read the
    /// records they change before writing them.
    pub async fn write(
        &self,
        sf: &Salesforce,
        rows: &[(u64, Vec<Option<String>>)],
    ) -> Result<Written, SalesforceError> {
        let mut prepared = self.prepare(rows);
        let keys = prepared.keys();
        prepared.before = self.before_images(sf, &keys).await?;
        self.send(sf, prepared, false).await
    }

    /// Writes prepared records, 200 a call. `again` says an earlier attempt
    /// may have written them already: a record it deleted counts as
    /// deleted.
    pub async fn send(
        &self,
        sf: &Salesforce,
        prepared: Prepared,
        again: bool,
    ) -> Result<Written, SalesforceError> {
        let Prepared {
            records,
            failed,
            before,
        } = prepared;
        let mut written = Written {
            saved: Vec::new(),
            failed,
        };
        let mut numbers: Vec<(u64, Option<String>, Vec<Value>)> = Vec::new();
        let mut sent = Vec::with_capacity(records.len());
        for (number, record, key, wrote) in records {
            numbers.push((number, key, wrote));
            sent.push(record);
        }
        let records = sent;
        let external = match self.operation {
            Operation::Upsert => self.key.as_ref().map(|(key, _)| key.as_str()),
            _ => None,
        };
        let results = sf
            .save(self.operation, &self.object, external, records)
            .await?;
        for ((number, key, wrote), result) in numbers.into_iter().zip(results) {
            let gone = again
                && self.operation == Operation::Delete
                && result
                    .errors
                    .iter()
                    .any(|e| e.status_code == "ENTITY_IS_DELETED");
            let id = match (result.id.clone().filter(|_| result.success), gone) {
                (Some(id), _) => id,
                (None, true) => key.clone().unwrap_or_default(),
                (None, false) => {
                    written.failed.push((number, result.reason()));
                    continue;
                }
            };
            let saved = self.saved(number, id, key.as_deref(), result.created, &before);
            written.saved.push(Saved { wrote, ..saved });
        }
        written.failed.sort_by_key(|(n, _)| *n);
        Ok(written)
    }

    /// What a write did to one record: `created` as Salesforce says for an
    /// upsert; a record without a before-image was not there before the
    /// write (it was created, by this write or by an earlier attempt).
    pub fn saved(
        &self,
        number: u64,
        id: String,
        key: Option<&str>,
        created: Option<bool>,
        before: &BeforeImages,
    ) -> Saved {
        let image = match self.operation {
            Operation::Update => before.get(&id).cloned(),
            Operation::Upsert => key.and_then(|k| before.get(&self.matched_by(k)).cloned()),
            _ => None,
        };
        let action = match self.operation {
            Operation::Insert => Action::Created,
            Operation::Delete => Action::Deleted,
            Operation::Upsert if created == Some(true) || image.is_none() => Action::Created,
            _ => Action::Updated,
        };
        Saved {
            number,
            id,
            action,
            before: image.filter(|_| action == Action::Updated),
            wrote: Vec::new(),
        }
    }

    /// The record version (`SystemModstamp`) of each record in `ids`, read
    /// after a write: a rollback that finds another one knows the record
    /// changed since.
    pub async fn versions(
        &self,
        sf: &Salesforce,
        ids: &[String],
    ) -> Result<HashMap<String, String>, SalesforceError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let found = sf
            .records_by(&self.object, "Id", ids, &["Id", "SystemModstamp"], false)
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|r| {
                let id = r.get("Id")?.as_str()?.to_owned();
                let stamp = r.get("SystemModstamp")?.as_str()?.to_owned();
                Some((id, stamp))
            })
            .collect())
    }

    /// A key value as before-images are found by: an upsert's in lower
    /// case when Salesforce matches its key without regard to case (a
    /// unique external id that is not case sensitive), as it is otherwise
    /// (`ABC` and `abc` are two records).
    fn matched_by(&self, key: &str) -> String {
        if self.key_ignores_case {
            key.to_lowercase()
        } else {
            key.to_owned()
        }
    }

    /// The records an update or upsert is about to change, with the fields
    /// it writes: an update's by their `Id` (as Salesforce gives it, 18
    /// characters), an upsert's by their external id as Salesforce matches
    /// it (see [`Writer::matched_by`]).
    pub async fn before_images(
        &self,
        sf: &Salesforce,
        keys: &[String],
    ) -> Result<BeforeImages, SalesforceError> {
        let Some((key, _)) = self
            .key
            .as_ref()
            .filter(|_| matches!(self.operation, Operation::Update | Operation::Upsert))
        else {
            return Ok(HashMap::new());
        };
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut fields: Vec<&str> = vec!["Id"];
        for target in &self.targets {
            if !fields
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&target.field.name))
            {
                fields.push(&target.field.name);
            }
        }
        let found = sf
            .records_by(&self.object, key, keys, &fields, false)
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|record| {
                let value = self.matched_by(record.get(key.as_str())?.as_str()?);
                Some((value, record))
            })
            .collect())
    }
}
