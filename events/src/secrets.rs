//! Secrets written in the same transaction as the events that need them.
//! They never enter an event: the events carry ids, these tables the secrets.
//! Every table holding a sealed secret must also be known to key rotation
//! (`worker/src/keys.rs`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sluice_schema::key_version::KeyVersion;
use sluice_schema::schema::{
    connection_secrets, login_throttle, oauth_states, oauth_tokens, password_hashes, result_keys,
    subject_keys, token_hashes, tokens, upload_keys, users,
};
use uuid::Uuid;

#[derive(Clone, PartialEq)]
pub enum SecretWrite {
    /// An account's subject key, wrapped by the keyring's primary key.
    SubjectKey {
        account_id: Uuid,
        kek_version: KeyVersion,
        wrapped_key: Vec<u8>,
    },
    /// An argon2id password hash (PHC string).
    PasswordHash {
        user_id: Uuid,
        account_id: Uuid,
        hash: String,
    },
    /// The SHA-256 of a session or API token.
    TokenHash {
        token_id: Uuid,
        account_id: Uuid,
        sha256: Vec<u8>,
    },
    /// Forget a token's hash: the token can never be used again.
    DestroyTokenHash { token_id: Uuid },
    /// A connection's secret, sealed by the keyring.
    ConnectionSecret {
        connection_id: Uuid,
        account_id: Uuid,
        sealed: Vec<u8>,
    },
    /// Disconnect: the connection's secret is destroyed.
    DestroyConnectionSecret { connection_id: Uuid },
    /// An upload's data key, wrapped by the keyring.
    UploadKey {
        upload_id: Uuid,
        account_id: Uuid,
        kek_version: KeyVersion,
        wrapped_key: Vec<u8>,
    },
    /// Destroy an upload's data key: its file can never be read again.
    DestroyUploadKey { upload_id: Uuid },
    /// Destroy a run's result key: its result files can never be read again.
    DestroyResultKey { run_id: Uuid },
    /// Forget everything secret of a removed user: password hash, token
    /// hashes, provider tokens.
    DestroyUserSecrets { user_id: Uuid },
    /// Erasure: every secret of the account, its subject key among them,
    /// and its people's failed-login counters.
    EraseAccount { account_id: Uuid },
    /// A user's provider tokens, each sealed by the keyring.
    OAuthTokens {
        user_id: Uuid,
        account_id: Uuid,
        provider: String,
        access_token: Vec<u8>,
        refresh_token: Option<Vec<u8>>,
    },
}

impl std::fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SubjectKey { account_id, .. } => write!(f, "SubjectKey({account_id})"),
            Self::PasswordHash { user_id, .. } => write!(f, "PasswordHash({user_id})"),
            Self::TokenHash { token_id, .. } => write!(f, "TokenHash({token_id})"),
            Self::DestroyTokenHash { token_id } => write!(f, "DestroyTokenHash({token_id})"),
            Self::DestroyUserSecrets { user_id } => write!(f, "DestroyUserSecrets({user_id})"),
            Self::ConnectionSecret { connection_id, .. } => {
                write!(f, "ConnectionSecret({connection_id})")
            }
            Self::DestroyConnectionSecret { connection_id } => {
                write!(f, "DestroyConnectionSecret({connection_id})")
            }
            Self::OAuthTokens {
                user_id, provider, ..
            } => write!(f, "OAuthTokens({provider}, {user_id})"),
            Self::UploadKey { upload_id, .. } => write!(f, "UploadKey({upload_id})"),
            Self::DestroyUploadKey { upload_id } => write!(f, "DestroyUploadKey({upload_id})"),
            Self::DestroyResultKey { run_id } => write!(f, "DestroyResultKey({run_id})"),
            Self::EraseAccount { account_id } => write!(f, "EraseAccount({account_id})"),
        }
    }
}

pub(crate) fn write(
    conn: &mut PgConnection,
    secret: &SecretWrite,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    match secret {
        SecretWrite::SubjectKey {
            account_id,
            kek_version,
            wrapped_key,
        } => diesel::insert_into(subject_keys::table)
            .values((
                subject_keys::account_id.eq(account_id),
                subject_keys::kek_version.eq(kek_version),
                subject_keys::wrapped_key.eq(wrapped_key),
                subject_keys::created_at.eq(now),
            ))
            .execute(conn)?,
        SecretWrite::PasswordHash {
            user_id,
            account_id,
            hash,
        } => diesel::insert_into(password_hashes::table)
            .values((
                password_hashes::user_id.eq(user_id),
                password_hashes::account_id.eq(account_id),
                password_hashes::hash.eq(hash),
                password_hashes::updated_at.eq(now),
            ))
            .on_conflict(password_hashes::user_id)
            .do_update()
            .set((
                password_hashes::hash.eq(hash),
                password_hashes::updated_at.eq(now),
            ))
            .execute(conn)?,
        SecretWrite::TokenHash {
            token_id,
            account_id,
            sha256,
        } => diesel::insert_into(token_hashes::table)
            .values((
                token_hashes::token_id.eq(token_id),
                token_hashes::account_id.eq(account_id),
                token_hashes::token_sha256.eq(sha256),
            ))
            .execute(conn)?,
        SecretWrite::DestroyTokenHash { token_id } => {
            diesel::delete(token_hashes::table.find(token_id)).execute(conn)?
        }
        SecretWrite::ConnectionSecret {
            connection_id,
            account_id,
            sealed,
        } => diesel::insert_into(connection_secrets::table)
            .values((
                connection_secrets::connection_id.eq(connection_id),
                connection_secrets::account_id.eq(account_id),
                connection_secrets::secret.eq(sealed),
            ))
            .execute(conn)?,
        SecretWrite::DestroyConnectionSecret { connection_id } => {
            diesel::delete(connection_secrets::table.find(connection_id)).execute(conn)?
        }
        SecretWrite::UploadKey {
            upload_id,
            account_id,
            kek_version,
            wrapped_key,
        } => diesel::insert_into(upload_keys::table)
            .values((
                upload_keys::upload_id.eq(upload_id),
                upload_keys::account_id.eq(account_id),
                upload_keys::kek_version.eq(kek_version),
                upload_keys::wrapped_key.eq(wrapped_key),
            ))
            .execute(conn)?,
        SecretWrite::DestroyUploadKey { upload_id } => {
            diesel::delete(upload_keys::table.find(upload_id)).execute(conn)?
        }
        SecretWrite::DestroyResultKey { run_id } => {
            diesel::delete(result_keys::table.find(run_id)).execute(conn)?
        }
        SecretWrite::DestroyUserSecrets { user_id } => {
            diesel::delete(password_hashes::table.find(user_id)).execute(conn)?;
            diesel::delete(oauth_tokens::table.filter(oauth_tokens::user_id.eq(user_id)))
                .execute(conn)?;
            diesel::delete(
                token_hashes::table.filter(
                    token_hashes::token_id.eq_any(
                        tokens::table
                            .filter(tokens::user_id.eq(user_id))
                            .select(tokens::token_id),
                    ),
                ),
            )
            .execute(conn)?
        }
        SecretWrite::EraseAccount { account_id } => {
            // The people's failed-login counters, keyed by their email's
            // blind index, go while the people are still known.
            let indexes: Vec<Vec<u8>> = users::table
                .filter(users::account_id.eq(account_id))
                .select(users::email_index)
                .load(conn)?;
            let keys: Vec<String> = indexes
                .iter()
                .map(|index| format!("account:{}", hex::encode(index)))
                .collect();
            diesel::delete(login_throttle::table.filter(login_throttle::key.eq_any(keys)))
                .execute(conn)?;
            diesel::delete(oauth_states::table.filter(oauth_states::account_id.eq(account_id)))
                .execute(conn)?;
            diesel::delete(oauth_tokens::table.filter(oauth_tokens::account_id.eq(account_id)))
                .execute(conn)?;
            diesel::delete(token_hashes::table.filter(token_hashes::account_id.eq(account_id)))
                .execute(conn)?;
            diesel::delete(
                password_hashes::table.filter(password_hashes::account_id.eq(account_id)),
            )
            .execute(conn)?;
            diesel::delete(
                connection_secrets::table.filter(connection_secrets::account_id.eq(account_id)),
            )
            .execute(conn)?;
            diesel::delete(upload_keys::table.filter(upload_keys::account_id.eq(account_id)))
                .execute(conn)?;
            diesel::delete(result_keys::table.filter(result_keys::account_id.eq(account_id)))
                .execute(conn)?;
            diesel::delete(subject_keys::table.filter(subject_keys::account_id.eq(account_id)))
                .execute(conn)?
        }
        SecretWrite::OAuthTokens {
            user_id,
            account_id,
            provider,
            access_token,
            refresh_token,
        } => diesel::insert_into(oauth_tokens::table)
            .values((
                oauth_tokens::user_id.eq(user_id),
                oauth_tokens::provider.eq(provider),
                oauth_tokens::account_id.eq(account_id),
                oauth_tokens::access_token.eq(access_token),
                oauth_tokens::refresh_token.eq(refresh_token),
                oauth_tokens::updated_at.eq(now),
            ))
            .on_conflict((oauth_tokens::user_id, oauth_tokens::provider))
            .do_update()
            .set((
                oauth_tokens::access_token.eq(access_token),
                oauth_tokens::refresh_token.eq(refresh_token),
                oauth_tokens::updated_at.eq(now),
            ))
            .execute(conn)?,
    };
    Ok(())
}
