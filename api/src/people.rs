//! People in an account: validating who signs up or is added, registering
//! them (their personal data sealed under the account's subject key, their
//! password hashed), and reading them back.

use crate::auth::password;
use crate::error::ApiError;
use crate::AppState;
use actix_web::web;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sluice_events::event::UserRegistered;
use sluice_events::{DomainEvent, SecretWrite};
use sluice_schema::ids::{AccountId, UserId};
use sluice_schema::models::UserRow;
use sluice_schema::repo::accounts as repo;
use sluice_vault::{Aad, SubjectKey};

pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Trimmed, non-empty, at most `max` printable characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, format!("{field} is required")));
    }
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("{field} must be at most {max} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Lower-cased and trimmed; one `@`, a dotted domain, at most 254 characters.
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split('@').count() == 2
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(invalid("email", "email is not a valid address"))
    }
}

/// A person to register, as given.
pub struct Person {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub password: SecretString,
}

/// Checks `person`, refuses an email that has an account, hashes the
/// password: the `user.registered` event and the password hash to write.
pub async fn register(
    state: &AppState,
    account: AccountId,
    subject: &SubjectKey,
    person: Person,
    role: &str,
) -> Result<(UserId, DomainEvent, SecretWrite), ApiError> {
    let first_name = text("first_name", &person.first_name, 100)?;
    let last_name = text("last_name", &person.last_name, 100)?;
    let email = normalize_email(&person.email)?;
    password::check(person.password.expose_secret(), &email).map_err(|m| invalid("password", m))?;

    let email_index = state.keyring.get().blind_index("email", &email);
    let pool = state.platform.pool.clone();
    let taken = web::block(move || -> Result<bool, ApiError> {
        Ok(repo::email_taken(&mut *pool.get()?, &email_index)?)
    })
    .await??;
    if taken {
        return Err(ApiError::Conflict(
            "an account with this email already exists".into(),
        ));
    }
    let secret = person.password;
    let hash = state
        .hashing
        .run(move || password::hash(secret.expose_secret()))
        .await?
        .map_err(ApiError::Internal)?;

    let user = UserId::new();
    let seal =
        |field, value: &str| subject.encrypt(value, &Aad::new(account, "users", user, field));
    let event = DomainEvent::UserRegistered(UserRegistered {
        user_id: user.0,
        role: role.into(),
        email_index: hex::encode(email_index),
        email: seal("email", &email),
        first_name: seal("first_name", &first_name),
        last_name: seal("last_name", &last_name),
    });
    let secret = SecretWrite::PasswordHash {
        user_id: user.0,
        account_id: account.0,
        hash,
    };
    Ok((user, event, secret))
}

/// The account's subject key, unwrapped.
pub async fn subject_key(state: &AppState, account: AccountId) -> Result<SubjectKey, ApiError> {
    let pool = state.platform.pool.clone();
    let (version, wrapped) = web::block(move || -> Result<_, ApiError> {
        Ok(repo::subject_key(&mut *pool.get()?, account)?)
    })
    .await??
    .ok_or(ApiError::NotFound)?;
    let version = u32::try_from(version).unwrap_or_default();
    state
        .keyring
        .with(|k| SubjectKey::unwrap(k, &account.to_string(), version, &wrapped))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Opens one sealed field of `row` in `table`.
pub fn open(
    subject: &SubjectKey,
    account: AccountId,
    table: &'static str,
    row: impl ToString,
    field: &'static str,
    sealed: &str,
) -> Result<String, ApiError> {
    subject
        .decrypt(sealed, &Aad::new(account, table, row, field))
        .map(|v| v.to_string())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A user as the API shows them.
pub fn user_json(subject: &SubjectKey, row: &UserRow) -> Result<Value, ApiError> {
    let account = AccountId(row.account_id);
    let field = |name, sealed: &str| open(subject, account, "users", row.user_id, name, sealed);
    Ok(json!({
        "id": row.user_id,
        "email": field("email", &row.email)?,
        "first_name": field("first_name", &row.first_name)?,
        "last_name": field("last_name", &row.last_name)?,
        "role": row.role,
    }))
}
