//! A run's result files (success.csv, errors.csv and the journal) and
//! their key.

use super::{RunHandler, Stop};
use crate::results::Results;
use sluice_schema::ids::{AccountId, RunId};
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
        let version = i32::try_from(version).unwrap_or(i32::MAX);
        let (version, wrapped) = self
            .db(move |c| jobs::keep_result_key(c, account, run, version, &wrapped))
            .await?;
        let key = self
            .keyring
            .file_key(&key_owner, version, &wrapped)
            .map_err(|e| Stop::Retry(format!("result key: {e}")))?;
        Ok(Arc::new(key))
    }
}
