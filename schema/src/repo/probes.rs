//! Read-side queries over the projections.

use crate::ids::ProbeId;
use crate::models::{DeadLetterRow, ProbeRow};
use crate::schema::{dead_letters, probes};
use diesel::prelude::*;

pub fn find_probe(conn: &mut PgConnection, id: ProbeId) -> QueryResult<Option<ProbeRow>> {
    probes::table
        .find(id.0)
        .select(ProbeRow::as_select())
        .first(conn)
        .optional()
}

/// The most recent dead letters first.
pub fn list_dead_letters(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<DeadLetterRow>> {
    dead_letters::table
        .order(dead_letters::dead_lettered_at.desc())
        .limit(limit)
        .select(DeadLetterRow::as_select())
        .load(conn)
}
