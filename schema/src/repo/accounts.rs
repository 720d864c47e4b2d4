//! Accounts and users.

use crate::ids::{AccountId, UserId};
use crate::key_version::KeyVersion;
use crate::models::{AccountRow, UserRow};
use crate::schema::{accounts, password_hashes, subject_keys, users};
use diesel::prelude::*;

/// Whether any user has this email (by its blind index).
pub fn email_taken(conn: &mut PgConnection, email_index: &[u8]) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::email_index.eq(email_index)),
    ))
    .get_result(conn)
}

/// The user with this email and their password hash, to check a log-in.
pub fn find_login(
    conn: &mut PgConnection,
    email_index: &[u8],
) -> QueryResult<Option<(UserRow, String)>> {
    users::table
        .inner_join(password_hashes::table.on(password_hashes::user_id.eq(users::user_id)))
        .filter(users::email_index.eq(email_index))
        .select((UserRow::as_select(), password_hashes::hash))
        .first(conn)
        .optional()
}

/// The user with this email (by its blind index).
pub fn find_by_email(conn: &mut PgConnection, email_index: &[u8]) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email_index.eq(email_index))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_user(
    conn: &mut PgConnection,
    account: AccountId,
    user: UserId,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::account_id.eq(account.0))
        .filter(users::user_id.eq(user.0))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_account(
    conn: &mut PgConnection,
    account: AccountId,
) -> QueryResult<Option<AccountRow>> {
    accounts::table
        .find(account.0)
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
}

/// The account's wrapped subject key: `(kek version, wrapped key)`.
pub fn subject_key(
    conn: &mut PgConnection,
    account: AccountId,
) -> QueryResult<Option<(KeyVersion, Vec<u8>)>> {
    subject_keys::table
        .find(account.0)
        .select((subject_keys::kek_version, subject_keys::wrapped_key))
        .first(conn)
        .optional()
}

/// The account's users, oldest first.
pub fn list_users(conn: &mut PgConnection, account: AccountId) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::account_id.eq(account.0))
        .order(users::created_at.asc())
        .select(UserRow::as_select())
        .load(conn)
}
