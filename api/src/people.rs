//! People in an account: validating who signs up or is added, registering
//! them (their personal data sealed under the account's subject key, their
//! password hashed), and reading them back.

use crate::auth::password;
use crate::error::ApiError;
use crate::views::account as view;
use crate::AppState;
use secrecy::{ExposeSecret, SecretString};
use sluice_events::event::{EmailClaim, UserRegistered};
use sluice_events::{AppendError, Claim, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
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

/// A registration to append: the new user, their `user.registered` event,
/// their password hash, and the claim of their email, which the request
/// must carry (see [`claim_conflict`]).
pub struct Registration {
    pub user: UserId,
    pub event: DomainEvent,
    pub password_hash: SecretWrite,
    pub email: Claim,
}

/// The namespace of the email streams' ids.
const EMAIL_STREAMS: uuid::Uuid = uuid::Uuid::from_u128(0x736c_7569_6365_656d_6169_6c00_0000_0001);

/// The stream that holds the claims of the email with this blind index.
fn email_stream(email_index: &[u8]) -> uuid::Uuid {
    uuid::Uuid::new_v5(&EMAIL_STREAMS, email_index)
}

/// The version of an email's stream and whether its last event claims it.
fn email_claimed(
    conn: &mut diesel::PgConnection,
    stream: uuid::Uuid,
) -> diesel::QueryResult<(i64, bool)> {
    use diesel::prelude::*;
    use sluice_schema::schema::events;
    let last: Option<(i64, String)> = events::table
        .filter(events::stream_id.eq(stream))
        .order(events::stream_version.desc())
        .select((events::stream_version, events::event_type))
        .first(conn)
        .optional()?;
    Ok(match last {
        Some((version, kind)) => (version, kind == "email.claimed"),
        None => (0, false),
    })
}

/// The refusal of an email that has an account.
fn email_taken() -> ApiError {
    ApiError::Conflict("an account with this email already exists".into())
}

/// Maps the failure of appending a [`Registration`]: a version conflict is
/// another sign-up that claimed the same email first.
pub fn claim_conflict(e: AppendError) -> ApiError {
    match e {
        AppendError::Conflict { .. } => email_taken(),
        other => other.into(),
    }
}

/// What frees the email of `row` (its user removed or erased).
pub fn release_email(row: &UserRow, state: &AppState, actor: &str) -> Claim {
    Claim {
        stream_type: "email".into(),
        stream_id: email_stream(&row.email_index),
        expected: ExpectedVersion::Any,
        event: NewEvent::new(
            DomainEvent::EmailReleased(EmailClaim {
                user_id: row.user_id,
            }),
            state.metadata(actor),
        )
        .for_account(AccountId(row.account_id)),
    }
}

/// Checks `person`, refuses an email that has an account, hashes the
/// password. Two sign-ups with one email at once both pass the check; the
/// email's claim, appended with the registration at the version read here,
/// lets only one of them be recorded.
pub async fn register(
    state: &AppState,
    account: AccountId,
    subject: &SubjectKey,
    person: Person,
    role: &str,
) -> Result<Registration, ApiError> {
    let first_name = text("first_name", &person.first_name, 100)?;
    let last_name = text("last_name", &person.last_name, 100)?;
    let email = normalize_email(&person.email)?;
    password::check(person.password.expose_secret(), &email).map_err(|m| invalid("password", m))?;

    let email_index = state.keyring.get().blind_index("email", &email);
    let stream = email_stream(&email_index);
    let index = email_index;
    let (version, taken) = state
        .db(move |conn| {
            let (version, claimed) = email_claimed(conn, stream)?;
            // Users registered before emails were claimed have no stream.
            Ok((version, claimed || repo::email_taken(conn, &index)?))
        })
        .await?;
    if taken {
        return Err(email_taken());
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
    let password_hash = SecretWrite::PasswordHash {
        user_id: user.0,
        account_id: account.0,
        hash,
    };
    let email = Claim {
        stream_type: "email".into(),
        stream_id: stream,
        expected: if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exactly(version)
        },
        event: NewEvent::new(
            DomainEvent::EmailClaimed(EmailClaim { user_id: user.0 }),
            state.metadata(format!("user:{user}")),
        )
        .for_account(account),
    };
    Ok(Registration {
        user,
        event,
        password_hash,
        email,
    })
}

/// The account's subject key, unwrapped.
pub async fn subject_key(state: &AppState, account: AccountId) -> Result<SubjectKey, ApiError> {
    let (version, wrapped) = state
        .db(move |conn| Ok(repo::subject_key(conn, account)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    state
        .keyring
        .with(|k| SubjectKey::unwrap(k, &account.to_string(), version.get(), &wrapped))
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
pub fn user_view(subject: &SubjectKey, row: &UserRow) -> Result<view::User, ApiError> {
    let account = AccountId(row.account_id);
    let field = |name, sealed: &str| open(subject, account, "users", row.user_id, name, sealed);
    Ok(view::User {
        id: row.user_id,
        email: field("email", &row.email)?,
        first_name: field("first_name", &row.first_name)?,
        last_name: field("last_name", &row.last_name)?,
        role: row.role.clone(),
        created_at: row.created_at,
    })
}
