//! The recycle bin: a delete moves a live record there (`IsDeleted: true`),
//! an undelete brings it back, a hard delete removes it for good.

use super::ids;
use super::org::{Found, Store};
use super::save::{deleted, no_such_record, Errors, SaveError};
use serde_json::json;

impl Store {
    /// Moves a live record to the recycle bin.
    pub fn delete(&mut self, raw_id: &str) -> Result<String, Errors> {
        self.remove(raw_id, false)
    }

    /// Removes a live record for good, bypassing the recycle bin.
    pub fn hard_delete(&mut self, raw_id: &str) -> Result<String, Errors> {
        self.remove(raw_id, true)
    }

    fn remove(&mut self, raw_id: &str, hard: bool) -> Result<String, Errors> {
        let id = ids::normalize(raw_id).ok_or_else(|| vec![SaveError::malformed(raw_id)])?;
        let object = match self.find(&id) {
            Found::Live(object) => object,
            Found::Deleted(_) | Found::Purged => return Err(vec![deleted()]),
            Found::Missing => return Err(vec![no_such_record()]),
        };
        let now = self.now();
        let Some(table) = self.table_mut(&object) else {
            return Err(vec![no_such_record()]);
        };
        let Some(mut record) = table.take(&id) else {
            return Err(vec![no_such_record()]);
        };
        if hard {
            self.purge(&id);
        } else {
            record.insert("IsDeleted".into(), json!(true));
            record.insert("LastModifiedDate".into(), json!(now));
            record.insert("SystemModstamp".into(), json!(now));
            table.bin.insert(id.clone(), record);
        }
        Ok(id)
    }

    /// Restores a record from the recycle bin.
    pub fn undelete(&mut self, raw_id: &str) -> Result<String, Errors> {
        let id = ids::normalize(raw_id).ok_or_else(|| vec![SaveError::malformed(raw_id)])?;
        let Found::Deleted(object) = self.find(&id) else {
            return Err(vec![SaveError::new(
                "UNDELETE_FAILED",
                "Entity is not in the recycle bin",
                vec![],
            )]);
        };
        let Some((def, mut record)) = self
            .table(&object)
            .and_then(|t| Some((t.def.clone(), t.bin.get(&id)?.clone())))
        else {
            return Err(vec![no_such_record()]);
        };
        self.check_unique(&def, &record, Some(&id))?;
        let now = self.now();
        record.insert("IsDeleted".into(), json!(false));
        record.insert("LastModifiedDate".into(), json!(now));
        record.insert("SystemModstamp".into(), json!(now));
        if let Some(table) = self.table_mut(&object) {
            table.bin.remove(&id);
            table.put(&id, record);
        }
        Ok(id)
    }
}
