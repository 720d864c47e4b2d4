//! The `users` table: the people of each account, their role and their
//! email (sealed, with its blind index for look-ups).

use crate::envelope::RecordedEvent;
use crate::event::{UserRegistered, UserRoleChanged};
use diesel::prelude::*;
use sluice_schema::models::UserRow;
use sluice_schema::schema::users;

pub(super) fn registered(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    user: &UserRegistered,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    let email_index = hex::decode(&user.email_index).unwrap_or_default();
    diesel::insert_into(users::table)
        .values(UserRow {
            user_id: user.user_id,
            account_id: account.0,
            email_index,
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            role: user.role.clone(),
            created_at: event.recorded_at,
        })
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

pub(super) fn role_changed(conn: &mut PgConnection, changed: &UserRoleChanged) -> QueryResult<()> {
    diesel::update(users::table.find(changed.user_id))
        .set(users::role.eq(&changed.role))
        .execute(conn)?;
    Ok(())
}

pub(super) fn removed(conn: &mut PgConnection, user: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(users::table.find(user)).execute(conn)?;
    Ok(())
}

pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(users::table.filter(users::account_id.eq(account))).execute(conn)?;
    Ok(())
}
