//! A batch's transaction: begun without waiting for the disk, each row
//! under a savepoint when rows are written one at a time, committed only
//! once the caller's step before the commit agreed.

use super::error::{db_error, TargetError};
use std::future::Future;
use tokio_postgres::Client;

/// A batch's transaction. Its commit does not wait for the disk: should
/// the server crash, the batch and its checkpoint are lost together and the
/// run redoes them; [`flush`](super::flush) makes everything durable at the end.
pub(super) async fn begin(
    client: &mut Client,
) -> Result<tokio_postgres::Transaction<'_>, TargetError> {
    let transaction = client.transaction().await.map_err(db_error)?;
    transaction
        .batch_execute("SET LOCAL synchronous_commit TO off")
        .await
        .map_err(db_error)?;
    Ok(transaction)
}

/// Waits for the caller's step before a commit; its failure aborts.
pub(super) async fn agreed(
    step: impl Future<Output = Result<(), String>>,
) -> Result<(), TargetError> {
    step.await.map_err(TargetError::Aborted)
}

/// Runs a row's statements under a savepoint. A failure of the data (an
/// error from the server) undoes them and is given back; any other failure
/// ends the batch.
pub(super) async fn under_savepoint<T>(
    transaction: &tokio_postgres::Transaction<'_>,
    step: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<Result<T, tokio_postgres::Error>, TargetError> {
    transaction
        .batch_execute("SAVEPOINT row")
        .await
        .map_err(db_error)?;
    match step.await {
        Ok(done) => {
            transaction
                .batch_execute("RELEASE SAVEPOINT row")
                .await
                .map_err(db_error)?;
            Ok(Ok(done))
        }
        Err(e) if e.as_db_error().is_some() => {
            transaction
                .batch_execute("ROLLBACK TO SAVEPOINT row")
                .await
                .map_err(db_error)?;
            Ok(Err(e))
        }
        Err(e) => Err(db_error(e)),
    }
}
