//! A batch written to Salesforce with one sObject Collections call (up to
//! 200 records), for runs of up to `bulk_above_rows` rows.

use super::landing::Landed;
use super::org::failed;
use super::Writing;
use crate::runs::source::Batch;
use crate::runs::Stop;
use sluice_connectors::journal::Action;
use sluice_connectors::salesforce::{self as sf, Operation, SalesforceError};

/// Why an insert batch in doubt is not sent again.
const IN_DOUBT: &str = "the worker stopped while this row was being written to Salesforce, so \
                        it may or may not have been created: look for it before importing it again";

impl Writing<'_> {
    /// Writes one batch with sObject Collections.
    pub(super) async fn collections(&mut self, batch: Batch) -> Result<(), Stop> {
        let Batch {
            index,
            raw,
            inserts,
            skipped,
            mut refused,
            ..
        } = batch;
        let rows: Vec<(u64, Vec<Option<String>>)> =
            inserts.into_iter().map(|i| (i.number, i.values)).collect();
        let mut prepared = self.state.writer.prepare(&rows);
        refused.append(&mut prepared.failed);
        let again = self.in_doubt(index).is_some();
        let mut stopped = None;
        let done = if prepared.is_empty() {
            sf::Written::default()
        } else if again && self.state.writer.operation() == Operation::Insert {
            refused.extend(
                prepared
                    .numbers()
                    .into_iter()
                    .map(|n| (n, IN_DOUBT.to_owned())),
            );
            sf::Written::default()
        } else {
            prepared.before = self.before_images(index, &prepared.keys(), again).await?;
            if !again {
                self.sending(index, index, None).await?;
            }
            let numbers = prepared.numbers();
            match self.state.writer.send(self.sf, prepared, again).await {
                Ok(done) => done,
                // No answer: the records may have been written.
                Err(e @ SalesforceError::Unreachable(_)) => {
                    let reason = "Salesforce did not answer while this row was being written, so \
                                  it may or may not have been: look for it before importing it \
                                  again";
                    refused.extend(numbers.into_iter().map(|n| (n, reason.to_owned())));
                    stopped = Some(failed(e));
                    sf::Written::default()
                }
                Err(e) => return Err(failed(e)),
            }
        };
        refused.extend(done.failed);
        let ids: Vec<String> = done
            .saved
            .iter()
            .filter(|s| s.action != Action::Deleted)
            .map(|s| s.id.clone())
            .collect();
        // Without the versions the batch is still recorded; a rollback then
        // treats its records as changed since (and leaves them, unless forced).
        let versions = match self.state.writer.versions(self.sf, &ids).await {
            Ok(versions) => versions,
            Err(e) => {
                stopped.get_or_insert(failed(e));
                Default::default()
            }
        };
        let landed = Landed {
            index,
            raw,
            skipped,
            failed: refused,
            saved: done.saved,
        };
        self.land(vec![landed], |id| {
            versions.get(id).cloned().unwrap_or_default()
        })
        .await?;
        self.done(index, index).await?;
        stopped.map_or(Ok(()), Err)
    }
}
