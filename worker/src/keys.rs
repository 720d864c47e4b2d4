//! Key rotation: rewrapping every data key under the keyring's primary key,
//! and counting what a key version still wraps before it may be retired.
//!
//! Covered: `subject_keys`, `oauth_tokens`, `oauth_states`,
//! `connection_secrets`, `upload_keys` and `result_keys`. A new table holding sealed secrets must be added
//! here, to both [`rewrap_all`] and [`usage`], or retiring a key would make
//! its secrets unreadable.
//!
//! Only the small wrapped keys change; the data they protect (personal data,
//! files, provider tokens) is never re-encrypted. Rows are rewrapped in small
//! transactions, each row locked while it changes, so readers and writers
//! carry on: a reader meets either the old wrapping (the old key still
//! decrypts until it is retired) or the new one.

use diesel::prelude::*;
use diesel::sql_types::{Bytea, Integer};
use serde::Serialize;
use sluice_schema::key_version::KeyVersion;
use sluice_schema::schema::{
    connection_secrets, oauth_states, oauth_tokens, result_keys, subject_keys, upload_keys,
};
use sluice_vault::{Aad, Keyring, Sealed, VaultError};
use uuid::Uuid;

const BATCH: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum RewrapError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("{table} row {row}: {source}")]
    Vault {
        table: &'static str,
        row: String,
        source: VaultError,
    },
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RewrapReport {
    pub primary: u32,
    pub subject_keys: u64,
    pub oauth_tokens: u64,
    pub oauth_states: u64,
    pub connection_secrets: u64,
    pub upload_keys: u64,
    pub result_keys: u64,
}

/// `(user, provider, account, sealed access token, sealed refresh token)`.
type TokenRow = (Uuid, String, Uuid, Vec<u8>, Option<Vec<u8>>);

/// The 4 bytes a sealed secret carries its key version in, for SQL.
fn version_bytes(version: u32) -> Vec<u8> {
    version.to_be_bytes().to_vec()
}

/// Rewraps everything not yet under the primary key; `progress(table, done)`
/// is called after each batch.
pub fn rewrap_all(
    conn: &mut PgConnection,
    keyring: &Keyring,
    mut progress: impl FnMut(&str, u64),
) -> Result<RewrapReport, RewrapError> {
    let primary = keyring.primary_version();
    let primary_version = KeyVersion(primary);
    let mut report = RewrapReport {
        primary,
        ..RewrapReport::default()
    };

    loop {
        let done = conn.transaction(|conn| -> Result<u64, RewrapError> {
            let rows: Vec<(Uuid, KeyVersion, Vec<u8>)> = subject_keys::table
                .filter(subject_keys::kek_version.ne(primary_version))
                .select((
                    subject_keys::account_id,
                    subject_keys::kek_version,
                    subject_keys::wrapped_key,
                ))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)?;
            for (account, version, wrapped) in &rows {
                let account_text = account.to_string();
                let owner = Aad::new(&account_text, "subject_keys", &account_text, "key");
                let (new_version, rewrapped) = keyring
                    .rewrap(version.get(), wrapped, &owner)
                    .map_err(|source| RewrapError::Vault {
                        table: "subject_keys",
                        row: account_text.clone(),
                        source,
                    })?;
                diesel::update(subject_keys::table.find(account))
                    .set((
                        subject_keys::kek_version.eq(KeyVersion(new_version)),
                        subject_keys::wrapped_key.eq(rewrapped),
                    ))
                    .execute(conn)?;
            }
            Ok(rows.len() as u64)
        })?;
        if done == 0 {
            break;
        }
        report.subject_keys += done;
        progress("subject_keys", report.subject_keys);
    }

    loop {
        let done = conn.transaction(|conn| -> Result<u64, RewrapError> {
            let rows: Vec<TokenRow> = oauth_tokens::table
                .filter(not_under(oauth_tokens::access_token, primary))
                .select((
                    oauth_tokens::user_id,
                    oauth_tokens::provider,
                    oauth_tokens::account_id,
                    oauth_tokens::access_token,
                    oauth_tokens::refresh_token,
                ))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)?;
            for (user, provider, account, access, refresh) in &rows {
                let owner = |field| Aad::new(account, "oauth_tokens", user, field);
                let fail = |source| RewrapError::Vault {
                    table: "oauth_tokens",
                    row: user.to_string(),
                    source,
                };
                let access = keyring
                    .rewrap_sealed(&Sealed(access.clone()), &owner("access_token"))
                    .map_err(fail)?;
                let refresh = refresh
                    .as_ref()
                    .map(|r| keyring.rewrap_sealed(&Sealed(r.clone()), &owner("refresh_token")))
                    .transpose()
                    .map_err(fail)?;
                diesel::update(oauth_tokens::table.find((user, provider)))
                    .set((
                        oauth_tokens::access_token.eq(access.0),
                        oauth_tokens::refresh_token.eq(refresh.map(|r| r.0)),
                    ))
                    .execute(conn)?;
            }
            Ok(rows.len() as u64)
        })?;
        if done == 0 {
            break;
        }
        report.oauth_tokens += done;
        progress("oauth_tokens", report.oauth_tokens);
    }

    loop {
        let done = conn.transaction(|conn| -> Result<u64, RewrapError> {
            let rows: Vec<(Vec<u8>, Vec<u8>)> = oauth_states::table
                .filter(not_under(oauth_states::verifier, primary))
                .select((oauth_states::state_sha256, oauth_states::verifier))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)?;
            for (state, verifier) in &rows {
                let owner = Aad::new("-", "oauth_states", hex::encode(state), "verifier");
                let moved = keyring
                    .rewrap_sealed(&Sealed(verifier.clone()), &owner)
                    .map_err(|source| RewrapError::Vault {
                        table: "oauth_states",
                        row: hex::encode(state),
                        source,
                    })?;
                diesel::update(oauth_states::table.find(state))
                    .set(oauth_states::verifier.eq(moved.0))
                    .execute(conn)?;
            }
            Ok(rows.len() as u64)
        })?;
        if done == 0 {
            break;
        }
        report.oauth_states += done;
        progress("oauth_states", report.oauth_states);
    }
    loop {
        let done = conn.transaction(|conn| -> Result<u64, RewrapError> {
            let rows: Vec<(Uuid, Uuid, Vec<u8>)> = connection_secrets::table
                .filter(not_under(connection_secrets::secret, primary))
                .select((
                    connection_secrets::connection_id,
                    connection_secrets::account_id,
                    connection_secrets::secret,
                ))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)?;
            for (connection, account, sealed) in &rows {
                let owner = sluice_vault::owner::connection_secret(account, connection);
                let moved = keyring
                    .rewrap_sealed(&Sealed(sealed.clone()), &owner)
                    .map_err(|source| RewrapError::Vault {
                        table: "connection_secrets",
                        row: connection.to_string(),
                        source,
                    })?;
                diesel::update(connection_secrets::table.find(connection))
                    .set(connection_secrets::secret.eq(moved.0))
                    .execute(conn)?;
            }
            Ok(rows.len() as u64)
        })?;
        if done == 0 {
            break;
        }
        report.connection_secrets += done;
        progress("connection_secrets", report.connection_secrets);
    }
    loop {
        let done = conn.transaction(|conn| -> Result<u64, RewrapError> {
            let rows: Vec<(Uuid, Uuid, KeyVersion, Vec<u8>)> = upload_keys::table
                .filter(upload_keys::kek_version.ne(primary_version))
                .select((
                    upload_keys::upload_id,
                    upload_keys::account_id,
                    upload_keys::kek_version,
                    upload_keys::wrapped_key,
                ))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)?;
            for (upload, account, version, wrapped) in &rows {
                let owner = sluice_vault::owner::upload_file(account, upload);
                let (new_version, rewrapped) = keyring
                    .rewrap(version.get(), wrapped, &owner)
                    .map_err(|source| RewrapError::Vault {
                        table: "upload_keys",
                        row: upload.to_string(),
                        source,
                    })?;
                diesel::update(upload_keys::table.find(upload))
                    .set((
                        upload_keys::kek_version.eq(KeyVersion(new_version)),
                        upload_keys::wrapped_key.eq(rewrapped),
                    ))
                    .execute(conn)?;
            }
            Ok(rows.len() as u64)
        })?;
        if done == 0 {
            break;
        }
        report.upload_keys += done;
        progress("upload_keys", report.upload_keys);
    }
    loop {
        let done = conn.transaction(|conn| -> Result<u64, RewrapError> {
            let rows: Vec<(Uuid, Uuid, KeyVersion, Vec<u8>)> = result_keys::table
                .filter(result_keys::kek_version.ne(primary_version))
                .select((
                    result_keys::run_id,
                    result_keys::account_id,
                    result_keys::kek_version,
                    result_keys::wrapped_key,
                ))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)?;
            for (run, account, version, wrapped) in &rows {
                let owner = sluice_vault::owner::result_key(account, run);
                let (new_version, rewrapped) = keyring
                    .rewrap(version.get(), wrapped, &owner)
                    .map_err(|source| RewrapError::Vault {
                        table: "result_keys",
                        row: run.to_string(),
                        source,
                    })?;
                diesel::update(result_keys::table.find(run))
                    .set((
                        result_keys::kek_version.eq(KeyVersion(new_version)),
                        result_keys::wrapped_key.eq(rewrapped),
                    ))
                    .execute(conn)?;
            }
            Ok(rows.len() as u64)
        })?;
        if done == 0 {
            break;
        }
        report.result_keys += done;
        progress("result_keys", report.result_keys);
    }
    Ok(report)
}

diesel::define_sql_function! {
    /// `substring(bytes from start for count)`.
    #[sql_name = "substring"]
    fn byte_slice(bytes: Bytea, start: Integer, count: Integer) -> Bytea;
}

/// Sealed secrets whose key version (bytes 2 to 5) is not `version`.
fn not_under<C>(
    column: C,
    version: u32,
) -> diesel::dsl::IsDistinctFrom<byte_slice<C, i32, i32>, Vec<u8>>
where
    C: Expression<SqlType = Bytea>,
{
    byte_slice(column, 2, 4).is_distinct_from(version_bytes(version))
}

/// How many data keys `version` still wraps.
pub fn usage(conn: &mut PgConnection, version: u32) -> QueryResult<i64> {
    let as_column = KeyVersion(version);
    let subject: i64 = subject_keys::table
        .filter(subject_keys::kek_version.eq(as_column))
        .count()
        .get_result(conn)?;
    let bytes = version_bytes(version);
    let access: i64 = oauth_tokens::table
        .filter(byte_slice(oauth_tokens::access_token, 2, 4).eq(&bytes))
        .count()
        .get_result(conn)?;
    let refresh: i64 = oauth_tokens::table
        .filter(byte_slice(oauth_tokens::refresh_token.assume_not_null(), 2, 4).eq(&bytes))
        .count()
        .get_result(conn)?;
    let states: i64 = oauth_states::table
        .filter(byte_slice(oauth_states::verifier, 2, 4).eq(&bytes))
        .count()
        .get_result(conn)?;
    let connections: i64 = connection_secrets::table
        .filter(byte_slice(connection_secrets::secret, 2, 4).eq(&bytes))
        .count()
        .get_result(conn)?;
    let uploads: i64 = upload_keys::table
        .filter(upload_keys::kek_version.eq(as_column))
        .count()
        .get_result(conn)?;
    let results: i64 = result_keys::table
        .filter(result_keys::kek_version.eq(as_column))
        .count()
        .get_result(conn)?;
    Ok(subject + access + refresh + states + connections + uploads + results)
}
