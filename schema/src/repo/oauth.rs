//! OAuth flows in progress.

use crate::ids::{AccountId, UserId};
use crate::schema::{oauth_states, oauth_tokens};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// What a flow in progress is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Log a user in.
    Login,
    /// Connect a system to `account`, as `user` asked, under `label`.
    Connect {
        account: AccountId,
        user: UserId,
        label: String,
    },
}

/// A flow taken out by its callback.
#[derive(Debug)]
pub struct TakenState {
    pub sealed_verifier: Vec<u8>,
    pub purpose: Purpose,
}

pub fn save_state(
    conn: &mut PgConnection,
    provider: &str,
    state_sha256: &[u8],
    sealed_verifier: &[u8],
    purpose: &Purpose,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    let (kind, account, user, label) = match purpose {
        Purpose::Login => ("login", None, None, None),
        Purpose::Connect {
            account,
            user,
            label,
        } => (
            "connect",
            Some(account.0),
            Some(user.0),
            Some(label.as_str()),
        ),
    };
    diesel::insert_into(oauth_states::table)
        .values((
            oauth_states::state_sha256.eq(state_sha256),
            oauth_states::provider.eq(provider),
            oauth_states::verifier.eq(sealed_verifier),
            oauth_states::created_at.eq(now),
            oauth_states::expires_at.eq(expires_at),
            oauth_states::purpose.eq(kind),
            oauth_states::account_id.eq(account),
            oauth_states::user_id.eq(user),
            oauth_states::label.eq(label),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes a state out (it works once), if it was issued for `provider` and
/// has not expired.
pub fn take_state(
    conn: &mut PgConnection,
    provider: &str,
    state_sha256: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<TakenState>> {
    type Row = (
        Vec<u8>,
        DateTime<Utc>,
        String,
        Option<Uuid>,
        Option<Uuid>,
        Option<String>,
    );
    let taken: Option<Row> = diesel::delete(
        oauth_states::table
            .filter(oauth_states::state_sha256.eq(state_sha256))
            .filter(oauth_states::provider.eq(provider)),
    )
    .returning((
        oauth_states::verifier,
        oauth_states::expires_at,
        oauth_states::purpose,
        oauth_states::account_id,
        oauth_states::user_id,
        oauth_states::label,
    ))
    .get_result(conn)
    .optional()?;
    // Expired states are cleared whenever one is taken.
    diesel::delete(oauth_states::table.filter(oauth_states::expires_at.le(now))).execute(conn)?;
    Ok(
        taken.and_then(|(verifier, expires, purpose, account, user, label)| {
            if expires <= now {
                return None;
            }
            let purpose = match (purpose.as_str(), account, user, label) {
                ("login", ..) => Purpose::Login,
                ("connect", Some(account), Some(user), Some(label)) => Purpose::Connect {
                    account: AccountId(account),
                    user: UserId(user),
                    label,
                },
                _ => return None,
            };
            Some(TakenState {
                sealed_verifier: verifier,
                purpose,
            })
        }),
    )
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

/// Replaces a user's sealed provider tokens under a lock on their row:
/// `decide` sees the tokens stored now (re-read once the lock is held) and
/// answers their replacement, or `None` to keep them. The tokens stored
/// when the lock is released are answered.
pub fn renew_tokens<E: From<diesel::result::Error>>(
    conn: &mut PgConnection,
    account: AccountId,
    user: UserId,
    provider: &str,
    now: DateTime<Utc>,
    decide: impl FnOnce(SealedTokens) -> Result<Option<SealedTokens>, E>,
) -> Result<SealedTokens, E> {
    conn.transaction(|conn| {
        let row = || {
            oauth_tokens::table
                .filter(oauth_tokens::account_id.eq(account.0))
                .filter(oauth_tokens::user_id.eq(user.0))
                .filter(oauth_tokens::provider.eq(provider))
        };
        let stored: SealedTokens = row()
            .select((oauth_tokens::access_token, oauth_tokens::refresh_token))
            .for_update()
            .first(conn)?;
        let keep = SealedTokens {
            access: stored.access.clone(),
            refresh: stored.refresh.clone(),
        };
        match decide(stored)? {
            Some(next) => {
                diesel::update(row())
                    .set((
                        oauth_tokens::access_token.eq(&next.access),
                        oauth_tokens::refresh_token.eq(&next.refresh),
                        oauth_tokens::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                Ok(next)
            }
            None => Ok(keep),
        }
    })
}
