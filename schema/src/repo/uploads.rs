//! Uploaded files and their wrapped data keys.

use crate::ids::{AccountId, UploadId};
use crate::key_version::KeyVersion;
use crate::models::UploadRow;
use crate::schema::{upload_keys, uploads};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

pub fn find(
    conn: &mut PgConnection,
    account: AccountId,
    id: UploadId,
) -> QueryResult<Option<UploadRow>> {
    uploads::table
        .filter(uploads::account_id.eq(account.0))
        .filter(uploads::upload_id.eq(id.0))
        .select(UploadRow::as_select())
        .first(conn)
        .optional()
}

/// An upload by id alone (for the worker reading it for a run).
pub fn find_any(conn: &mut PgConnection, id: UploadId) -> QueryResult<Option<UploadRow>> {
    uploads::table
        .find(id.0)
        .select(UploadRow::as_select())
        .first(conn)
        .optional()
}

/// The upload's data key: `(kek version, wrapped key)`.
pub fn key(
    conn: &mut PgConnection,
    account: AccountId,
    id: UploadId,
) -> QueryResult<Option<(KeyVersion, Vec<u8>)>> {
    upload_keys::table
        .filter(upload_keys::account_id.eq(account.0))
        .filter(upload_keys::upload_id.eq(id.0))
        .select((upload_keys::kek_version, upload_keys::wrapped_key))
        .first(conn)
        .optional()
}

/// Uploads past their expiry whose file has not been destroyed yet, with
/// their accounts, oldest first.
pub fn expired(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<(Uuid, Uuid)>> {
    uploads::table
        .filter(uploads::removed_at.is_null())
        .filter(uploads::expires_at.le(now))
        .order(uploads::expires_at.asc())
        .select((uploads::upload_id, uploads::account_id))
        .limit(limit)
        .load(conn)
}

/// What is recorded of an upload: `None` if nothing (a file on disk without
/// a record is left over from an upload that failed part-way), else whether
/// it has been removed.
pub fn removed(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<bool>> {
    uploads::table
        .find(id)
        .select(uploads::removed_at.is_not_null())
        .first(conn)
        .optional()
}
