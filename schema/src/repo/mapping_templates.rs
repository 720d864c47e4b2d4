//! An account's mapping templates.

use crate::ids::{AccountId, MappingTemplateId};
use crate::models::MappingTemplateRow;
use crate::schema::mapping_templates;
use diesel::prelude::*;

pub fn list(conn: &mut PgConnection, account: AccountId) -> QueryResult<Vec<MappingTemplateRow>> {
    mapping_templates::table
        .filter(mapping_templates::account_id.eq(account.0))
        .order((
            mapping_templates::created_at.asc(),
            mapping_templates::template_id.asc(),
        ))
        .select(MappingTemplateRow::as_select())
        .load(conn)
}

pub fn find(
    conn: &mut PgConnection,
    account: AccountId,
    id: MappingTemplateId,
) -> QueryResult<Option<MappingTemplateRow>> {
    mapping_templates::table
        .filter(mapping_templates::account_id.eq(account.0))
        .filter(mapping_templates::template_id.eq(id.0))
        .select(MappingTemplateRow::as_select())
        .first(conn)
        .optional()
}

pub fn count(conn: &mut PgConnection, account: AccountId) -> QueryResult<i64> {
    mapping_templates::table
        .filter(mapping_templates::account_id.eq(account.0))
        .count()
        .get_result(conn)
}
