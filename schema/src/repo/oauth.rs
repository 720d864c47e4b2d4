//! OAuth flows in progress.

use crate::ids::{AccountId, UserId};
use crate::schema::{oauth_states, oauth_tokens};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

pub fn save_state(
    conn: &mut PgConnection,
    provider: &str,
    state_sha256: &[u8],
    sealed_verifier: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(oauth_states::table)
        .values((
            oauth_states::state_sha256.eq(state_sha256),
            oauth_states::provider.eq(provider),
            oauth_states::verifier.eq(sealed_verifier),
            oauth_states::created_at.eq(now),
            oauth_states::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes a state out (it works once): its sealed verifier, if it was issued
/// for `provider` and has not expired.
pub fn take_state(
    conn: &mut PgConnection,
    provider: &str,
    state_sha256: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<Vec<u8>>> {
    let taken: Option<(Vec<u8>, DateTime<Utc>)> = diesel::delete(
        oauth_states::table
            .filter(oauth_states::state_sha256.eq(state_sha256))
            .filter(oauth_states::provider.eq(provider)),
    )
    .returning((oauth_states::verifier, oauth_states::expires_at))
    .get_result(conn)
    .optional()?;
    // Expired states are cleared whenever one is taken.
    diesel::delete(oauth_states::table.filter(oauth_states::expires_at.le(now))).execute(conn)?;
    Ok(taken.filter(|(_, expires)| *expires > now).map(|(v, _)| v))
}

/// A user's provider tokens, each sealed by the keyring.
#[derive(Debug, Queryable)]
pub struct SealedTokens {
    pub access: Vec<u8>,
    pub refresh: Option<Vec<u8>>,
}

/// A user's sealed provider tokens.
pub fn find_tokens(
    conn: &mut PgConnection,
    account: AccountId,
    user: UserId,
    provider: &str,
) -> QueryResult<Option<SealedTokens>> {
    oauth_tokens::table
        .filter(oauth_tokens::account_id.eq(account.0))
        .filter(oauth_tokens::user_id.eq(user.0))
        .filter(oauth_tokens::provider.eq(provider))
        .select((oauth_tokens::access_token, oauth_tokens::refresh_token))
        .first(conn)
        .optional()
}

/// Replaces a refreshed access token (sealed).
pub fn update_access_token(
    conn: &mut PgConnection,
    account: AccountId,
    user: UserId,
    provider: &str,
    sealed: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        oauth_tokens::table
            .filter(oauth_tokens::account_id.eq(account.0))
            .filter(oauth_tokens::user_id.eq(user.0))
            .filter(oauth_tokens::provider.eq(provider)),
    )
    .set((
        oauth_tokens::access_token.eq(sealed),
        oauth_tokens::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}
