//! A run's result files (success.csv, skipped.csv, errors.csv and the
//! journal) and
//! their key.

use super::{RunHandler, Stop};
use crate::results::{Note, Outcome, Results, SourceRows};
use sluice_connectors::postgres as pg;
use sluice_schema::ids::{AccountId, RunId};
use sluice_schema::key_version::KeyVersion;
use sluice_schema::repo::jobs;
use sluice_vault::{owner, FileKey};
use std::sync::Arc;

impl RunHandler {
    /// The run's result files (and journal), under `key`; `header` is the
    /// source's columns.
    pub(super) fn results(
        &self,
        key: Arc<FileKey>,
        account: AccountId,
        run: RunId,
        header: Vec<String>,
    ) -> Arc<Results> {
        Arc::new(Results {
            store: self.store.clone(),
            key,
            account,
            run,
            header,
        })
    }

    /// The run's result-file key: made on its first start, the same on resume.
    pub(super) async fn result_key(
        &self,
        account: AccountId,
        run: RunId,
    ) -> Result<Arc<FileKey>, Stop> {
        let fresh = FileKey::generate();
        let key_owner = owner::result_key(account, run);
        let (version, wrapped) = fresh.wrap(&self.keyring.get(), &key_owner);
        let version = KeyVersion(version);
        let (version, wrapped) = self
            .db(move |c| jobs::keep_result_key(c, account, run, version, &wrapped))
            .await?;
        let key = self
            .keyring
            .file_key(&key_owner, version.get(), &wrapped)
            .map_err(|e| Stop::Retry(format!("result key: {e}")))?;
        Ok(Arc::new(key))
    }
}

/// What a batch's result pieces and journal are written from.
pub(super) struct Pieces {
    pub(super) index: i64,
    /// The rows as read.
    pub(super) raw: SourceRows,
    /// The rows the job's filter set aside, and why.
    pub(super) skipped: Vec<(u64, String)>,
    /// The rows refused before the write.
    pub(super) refused: Vec<(u64, String)>,
    pub(super) results: Arc<Results>,
    pub(super) journal: Arc<sluice_connectors::journal::Columns>,
}

impl Pieces {
    /// Rows of the batch with why they were not written (refused or
    /// skipped), as result rows.
    fn noted<'a>(&'a self, rows: impl Iterator<Item = &'a (u64, String)>) -> Vec<Outcome<'a>> {
        rows.map(|(number, reason)| Outcome {
            number: *number,
            note: Note::Text(reason),
            status: "",
            fields: self.raw.get(*number),
        })
        .collect()
    }

    /// Writes the batch's pieces of success.csv, skipped.csv and errors.csv,
    /// and its
    /// journal, for what the target is about to commit.
    pub(super) fn write(&self, done: &pg::Written) -> Result<(), String> {
        let success: Vec<Outcome> = done
            .ok
            .iter()
            .map(|change| Outcome {
                number: change.number,
                note: Note::Key(&change.key),
                status: change.action.as_str(),
                fields: self.raw.get(change.number),
            })
            .collect();
        let mut errors = self.noted(self.refused.iter().chain(done.failed.iter()));
        errors.sort_by_key(|o| o.number);
        let skipped = self.noted(self.skipped.iter());
        self.results
            .write_part(self.index, &success, &skipped, &errors)
            .and_then(|()| {
                self.results.write_changes(
                    self.index,
                    &self.journal,
                    &done.ok,
                    done.copied.as_deref(),
                )
            })
            .map_err(|e| format!("result files: {e}"))
    }
}
