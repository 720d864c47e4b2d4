//! The system's slots: the retention sweep, and the reminder that the
//! primary key is due for rotation.

use super::{stream_id, CONSUMER};
use crate::retry_on;
use chrono::{DateTime, Utc};
use sluice_events::consumer::HandlerError;
use sluice_events::event::{KeyRotationDue, RetentionPurged};
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent, Platform};
use std::sync::Arc;

/// The retention slot: the sweep, and a record of what it destroyed.
pub(super) async fn sweep(
    platform: &Platform,
    cause: &sluice_events::RecordedEvent,
    store: &sluice_vault::FileStore,
    worker: &str,
) -> Result<(), HandlerError> {
    let report = crate::retention::sweep_uploads(platform, store, worker)
        .await
        .map_err(|e| HandlerError::Retry(e.to_string()))?;
    if report.uploads.is_empty() && report.runs.is_empty() {
        return Ok(());
    }
    tracing::info!(
        uploads = report.uploads.len(),
        runs = report.runs.len(),
        leftovers = report.leftovers,
        "retention sweep"
    );
    let purged = NewEvent::new(
        DomainEvent::RetentionPurged(RetentionPurged {
            uploads: report.uploads,
            runs: report.runs,
        }),
        Metadata::caused_by(cause, format!("worker:{worker}")),
    );
    // A stream of its own: the schedule's stream holds its slots alone.
    let request = AppendRequest::new(
        "retention",
        stream_id("retention.purged"),
        ExpectedVersion::Any,
        vec![purged],
    )
    .processing(CONSUMER, cause.event_id);
    platform.appender.append(request).await.map_err(retry_on)?;
    Ok(())
}

/// The reminder slot: a `keys.rotation_due` event (and a warning) when the
/// primary key has been primary for longer than `rotate_after_days`: since
/// the last rotation finished, or since the log's first event.
pub(super) async fn remind(
    platform: &Platform,
    cause: &sluice_events::RecordedEvent,
    keyring: Option<Arc<sluice_vault::SharedKeyring>>,
    rotate_after_days: i64,
    actor: &str,
) -> Result<(), HandlerError> {
    let pool = platform.pool.clone();
    let since = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use sluice_schema::schema::{events, key_rotations};
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        let rotated: Option<Option<DateTime<Utc>>> = key_rotations::table
            .filter(key_rotations::finished_at.is_not_null())
            .order(key_rotations::finished_at.desc())
            .select(key_rotations::finished_at)
            .first(&mut conn)
            .optional()
            .map_err(|e| e.to_string())?;
        match rotated.flatten() {
            Some(at) => Ok(Some(at)),
            None => events::table
                .order(events::global_seq.asc())
                .select(events::recorded_at)
                .first(&mut conn)
                .optional()
                .map_err(|e| e.to_string()),
        }
    })
    .await
    .map_err(|e| HandlerError::Retry(e.to_string()))?
    .map_err(HandlerError::Retry)?;
    let Some(since) = since else {
        return Ok(());
    };
    let age_days = (platform.clock.now() - since).num_days();
    if age_days < rotate_after_days {
        return Ok(());
    }
    let primary = keyring
        .map(|k| k.get().primary_version())
        .unwrap_or_default();
    tracing::warn!(
        primary,
        age_days,
        "the primary key has been in use for {age_days} days: run `sluice keys rotate`"
    );
    let due = NewEvent::new(
        DomainEvent::KeyRotationDue(KeyRotationDue {
            primary,
            since,
            age_days,
        }),
        Metadata::caused_by(cause, actor),
    );
    let request = AppendRequest::new(
        "keys",
        stream_id("keys.rotation_due"),
        ExpectedVersion::Any,
        vec![due],
    )
    .processing(CONSUMER, cause.event_id);
    platform.appender.append(request).await.map_err(retry_on)?;
    Ok(())
}
