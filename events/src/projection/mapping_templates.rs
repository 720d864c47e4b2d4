//! The `mapping_templates` table: an account's saved mappings, their name
//! and entries sealed; a deleted one is gone.

use crate::envelope::RecordedEvent;
use crate::event::MappingTemplateSaved;
use diesel::prelude::*;
use sluice_schema::schema::mapping_templates;

pub(super) fn saved(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    saved: &MappingTemplateSaved,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(mapping_templates::table)
        .values((
            mapping_templates::template_id.eq(event.stream_id),
            mapping_templates::account_id.eq(account.0),
            mapping_templates::details.eq(&saved.details),
            mapping_templates::created_at.eq(event.recorded_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

pub(super) fn deleted(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    diesel::delete(mapping_templates::table.find(event.stream_id)).execute(conn)?;
    Ok(())
}

pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(mapping_templates::table.filter(mapping_templates::account_id.eq(account)))
        .execute(conn)?;
    Ok(())
}
