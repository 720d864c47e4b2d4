//! Key rotations and their progress.

use crate::models::KeyRotationRow;
use crate::schema::key_rotations;
use diesel::prelude::*;
use uuid::Uuid;

pub fn rotation(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<KeyRotationRow>> {
    key_rotations::table
        .find(id)
        .select(KeyRotationRow::as_select())
        .first(conn)
        .optional()
}

/// Every rotation, newest first.
pub fn rotations(conn: &mut PgConnection) -> QueryResult<Vec<KeyRotationRow>> {
    key_rotations::table
        .order(key_rotations::requested_at.desc())
        .select(KeyRotationRow::as_select())
        .load(conn)
}
