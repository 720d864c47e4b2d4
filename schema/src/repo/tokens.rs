//! Sessions and API tokens.

use crate::ids::{AccountId, TokenId, UserId};
use crate::models::{TokenRow, UserRow};
use crate::schema::{token_hashes, tokens, users};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

/// The live token with this SHA-256 and its user: how a request finds its tenant.
pub fn authenticate(
    conn: &mut PgConnection,
    sha256: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<(TokenRow, UserRow)>> {
    token_hashes::table
        .inner_join(tokens::table.on(tokens::token_id.eq(token_hashes::token_id)))
        .inner_join(
            users::table.on(users::user_id
                .eq(tokens::user_id)
                .and(users::account_id.eq(tokens::account_id))),
        )
        .filter(token_hashes::token_sha256.eq(sha256))
        .filter(tokens::revoked_at.is_null())
        .filter(tokens::expires_at.gt(now))
        .select((TokenRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}

/// A user's API tokens, newest first (sessions are not listed).
pub fn list_api_tokens(
    conn: &mut PgConnection,
    account: AccountId,
    user: UserId,
) -> QueryResult<Vec<TokenRow>> {
    tokens::table
        .filter(tokens::account_id.eq(account.0))
        .filter(tokens::user_id.eq(user.0))
        .filter(tokens::kind.eq("api"))
        .order(tokens::created_at.desc())
        .select(TokenRow::as_select())
        .load(conn)
}

pub fn find_token(
    conn: &mut PgConnection,
    account: AccountId,
    token: TokenId,
) -> QueryResult<Option<TokenRow>> {
    tokens::table
        .filter(tokens::account_id.eq(account.0))
        .filter(tokens::token_id.eq(token.0))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
}
