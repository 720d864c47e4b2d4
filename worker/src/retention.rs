//! The retention sweep: every upload past its expiry has its data key
//! destroyed (with an `upload.removed` event, reason `expired`) and then its
//! file deleted; every run whose result files are past `SLUICE_RESULT_TTL`
//! has its result key destroyed (`run.results_removed`) and the files
//! deleted. Files left on disk without a live upload (an
//! upload that failed part-way, or a crash between the event and the file's
//! deletion) are deleted too. The API refuses an expired upload even before
//! the sweep reaches it. The scheduler runs the sweep every 5 minutes (see
//! `scheduler`), which records what it destroyed (`retention.purged`).

use sluice_events::event::UploadRemoved;
use sluice_events::{Metadata, Platform};
use sluice_schema::repo::uploads as repo;
use sluice_vault::FileStore;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// The store's directory for uploads.
pub const UPLOADS: &str = "uploads";

/// Files idle this long without a live upload are left-overs (an upload in
/// progress writes to its staging file continuously).
const LEFTOVER_AFTER: Duration = Duration::from_secs(15 * 60);

const BATCH: i64 = 100;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Expired uploads whose key and file were destroyed.
    pub uploads: Vec<Uuid>,
    /// Runs whose result files, journal and key were destroyed.
    pub runs: Vec<Uuid>,
    /// Left-over files deleted.
    pub leftovers: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("database: {0}")]
    Database(String),
    #[error("event log: {0}")]
    Append(#[from] sluice_events::AppendError),
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
}

/// A query for what has expired by a time, at most so many: ids and their
/// accounts.
type Expired = fn(
    &mut diesel::PgConnection,
    chrono::DateTime<chrono::Utc>,
    i64,
) -> diesel::QueryResult<Vec<(Uuid, Uuid)>>;

/// What has expired at the platform clock's time (at most [`BATCH`]).
async fn due(platform: &Platform, expired: Expired) -> Result<Vec<(Uuid, Uuid)>, SweepError> {
    let pool = platform.pool.clone();
    let now = platform.clock.now();
    let database = |e: String| SweepError::Database(e);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(|e| database(e.to_string()))?;
        expired(&mut conn, now, BATCH).map_err(|e| database(e.to_string()))
    })
    .await
    .map_err(|e| database(e.to_string()))?
}

/// Destroys a run's result files, journal and their key, with a
/// `run.results_removed` event; `stored` lists the store's result files
/// (their ids), as read once by the caller.
pub async fn destroy_results(
    platform: &Platform,
    store: &FileStore,
    stored: &[String],
    account: Uuid,
    run: Uuid,
    worker: &str,
) -> Result<(), SweepError> {
    let event = sluice_events::NewEvent::new(
        sluice_events::DomainEvent::RunResultsRemoved(sluice_events::event::RunResultsRemoved {}),
        Metadata::actor(format!("worker:{worker}")),
    )
    .for_account(sluice_schema::ids::AccountId(account));
    let request = sluice_events::AppendRequest::new(
        "run",
        run,
        sluice_events::ExpectedVersion::Any,
        vec![event],
    )
    .with_secret(sluice_events::SecretWrite::DestroyResultKey { run_id: run });
    platform.appender.append(request).await?;
    // Every file of the run: the result files, their pieces, the journal.
    let prefix = format!("{run}.");
    let names: Vec<String> = stored
        .iter()
        .filter(|n| n.starts_with(&prefix))
        .cloned()
        .collect();
    blocking(store, move |store| {
        names
            .iter()
            .try_for_each(|name| store.remove(crate::results::KIND, name).map(drop))
    })
    .await
}

/// Runs `work` on the store on the blocking pool (an object store waits on
/// the network).
async fn blocking<T: Send + 'static>(
    store: &FileStore,
    work: impl FnOnce(&FileStore) -> std::io::Result<T> + Send + 'static,
) -> Result<T, SweepError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| SweepError::Storage(std::io::Error::other(e)))?
        .map_err(SweepError::Storage)
}

/// Runs one sweep at the platform clock's time.
pub async fn sweep_uploads(
    platform: &Platform,
    store: &FileStore,
    worker: &str,
) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    loop {
        let due = due(platform, repo::expired).await?;
        if due.is_empty() {
            break;
        }
        for (upload, account) in due {
            platform
                .appender
                .append(UploadRemoved::request(
                    account,
                    upload,
                    "expired",
                    Metadata::actor(format!("worker:{worker}")),
                ))
                .await?;
            blocking(store, move |store| {
                store.remove(UPLOADS, &upload.to_string())
            })
            .await?;
            report.uploads.push(upload);
        }
    }

    loop {
        let due = due(platform, sluice_schema::repo::jobs::expired_results).await?;
        if due.is_empty() {
            break;
        }
        let stored: Vec<String> = blocking(store, |store| store.list(crate::results::KIND))
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        for (run, account) in due {
            destroy_results(platform, store, &stored, account, run, worker).await?;
            report.runs.push(run);
        }
    }

    let store = store.clone();
    let pool = platform.pool.clone();
    report.leftovers = tokio::task::spawn_blocking(move || -> Result<u64, SweepError> {
        let mut conn = pool
            .get()
            .map_err(|e| SweepError::Database(e.to_string()))?;
        let mut deleted = 0;
        for (name, modified) in store.list(UPLOADS)? {
            let idle = SystemTime::now()
                .duration_since(modified)
                .unwrap_or_default();
            let Ok(id) = Uuid::parse_str(&name) else {
                continue;
            };
            let removed =
                repo::removed(&mut conn, id).map_err(|e| SweepError::Database(e.to_string()))?;
            let leftover = match removed {
                Some(true) => true,
                Some(false) => false,
                None => idle >= LEFTOVER_AFTER,
            };
            if leftover && store.remove(UPLOADS, &name)? {
                deleted += 1;
            }
        }
        Ok(deleted)
    })
    .await
    .map_err(|e| SweepError::Database(e.to_string()))??;
    Ok(report)
}
