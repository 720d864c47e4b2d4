//! The batches under way to a PostgreSQL target, oldest first: each is a
//! task that writes and commits the batch on a connection of its own, and
//! gives the connection back with the outcome.

use crate::runs::{retry, Stop};
use sluice_connectors::postgres::{self as pg, Checkpoint, TargetError};

/// A batch on its way to the target: its connection comes back with the
/// outcome.
pub(super) type Landing = (pg::Client, Result<Checkpoint, TargetError>);

/// The batches under way, oldest first.
#[derive(Default)]
pub(super) struct Flying(std::collections::VecDeque<(i64, tokio::task::JoinHandle<Landing>)>);

impl Flying {
    pub(super) fn push(&mut self, index: i64, task: tokio::task::JoinHandle<Landing>) {
        self.0.push_back((index, task));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits for the oldest batch: its index and its checkpoint, or why it
    /// failed; its connection goes back to `free`.
    pub(super) async fn land(
        &mut self,
        free: &mut Vec<pg::Client>,
    ) -> Option<(i64, Result<Checkpoint, Stop>)> {
        let (index, task) = self.0.pop_front()?;
        Some(match task.await {
            Ok((client, outcome)) => {
                free.push(client);
                (index, outcome.map_err(Stop::from))
            }
            Err(e) => (index, Err(retry(e))),
        })
    }
}
