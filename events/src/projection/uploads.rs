//! The `uploads` table: uploaded files (their name, columns and sheets
//! sealed), when they expire, and when and why they were removed.

use crate::envelope::RecordedEvent;
use crate::event::{UploadReceived, UploadRemoved};
use diesel::prelude::*;
use sluice_schema::models::UploadRow;
use sluice_schema::schema::uploads;

pub(super) fn received(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    upload: &UploadReceived,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(uploads::table)
        .values(UploadRow {
            upload_id: event.stream_id,
            account_id: account.0,
            user_id: upload.user_id,
            format: upload.format.clone(),
            size_bytes: upload.size_bytes,
            details: upload.details.clone(),
            created_at: event.recorded_at,
            expires_at: upload.expires_at,
            removed_at: None,
            removed_reason: None,
        })
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// What is left is the shape of a file that no longer exists (the first
/// removal is the one kept).
pub(super) fn removed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    removed: &UploadRemoved,
) -> QueryResult<()> {
    diesel::update(uploads::table.find(event.stream_id))
        .filter(uploads::removed_at.is_null())
        .set((
            uploads::removed_at.eq(event.recorded_at),
            uploads::removed_reason.eq(&removed.reason),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(uploads::table.filter(uploads::account_id.eq(account))).execute(conn)?;
    Ok(())
}
