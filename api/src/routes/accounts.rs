//! `POST /v1/signup` and `GET /v1/me`.

use crate::auth::{password, AuthUser};
use crate::error::ApiError;
use crate::AppState;
use actix_web::{web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sluice_events::event::{AccountCreated, UserRegistered};
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::{AccountId, UserId};
use sluice_schema::repo::accounts as repo;
use sluice_vault::{Aad, SubjectKey};

/// Exactly these fields: anything else is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    first_name: String,
    last_name: String,
    email: String,
    company: String,
    country: String,
    password: SecretString,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
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

pub async fn signup(
    state: web::Data<AppState>,
    body: web::Json<Signup>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let first_name = text("first_name", &body.first_name, 100)?;
    let last_name = text("last_name", &body.last_name, 100)?;
    let company = text("company", &body.company, 200)?;
    let email = normalize_email(&body.email)?;
    let country = body.country.trim().to_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid(
            "country",
            "country must be an ISO 3166-1 alpha-2 code, such as DE",
        ));
    }
    password::check(body.password.expose_secret(), &email).map_err(|m| invalid("password", m))?;

    let email_index = state.keyring.blind_index("email", &email);
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
    let secret = body.password;
    let hash = web::block(move || password::hash(secret.expose_secret()))
        .await?
        .map_err(ApiError::Internal)?;

    let account = AccountId::new();
    let user = UserId::new();
    let subject = SubjectKey::generate();
    let (kek_version, wrapped_key) = subject.wrap(&state.keyring, &account.to_string());
    let seal = |table, row: &dyn ToString, field, value: &str| {
        subject.encrypt(value, &Aad::new(account, table, row.to_string(), field))
    };
    let metadata = state.metadata(format!("user:{user}"));
    let created = DomainEvent::AccountCreated(AccountCreated {
        region: state.region.clone(),
        country,
        plan: "free".into(),
        company: seal("accounts", &account, "company", &company),
    });
    let registered = DomainEvent::UserRegistered(UserRegistered {
        user_id: user.0,
        role: "owner".into(),
        email_index: hex::encode(email_index),
        email: seal("users", &user, "email", &email),
        first_name: seal("users", &user, "first_name", &first_name),
        last_name: seal("users", &user, "last_name", &last_name),
    });
    let request = AppendRequest::new(
        "account",
        account.0,
        ExpectedVersion::NoStream,
        vec![
            NewEvent::new(created, metadata.clone()).for_account(account),
            NewEvent::new(registered, metadata).for_account(account),
        ],
    )
    .with_secret(SecretWrite::SubjectKey {
        account_id: account.0,
        kek_version: i32::try_from(kek_version).unwrap_or(i32::MAX),
        wrapped_key,
    })
    .with_secret(SecretWrite::PasswordHash {
        user_id: user.0,
        account_id: account.0,
        hash,
    });
    state.platform.appender.append(request).await?;
    Ok(HttpResponse::Created().json(json!({
        "user_id": user,
        "account_id": account,
        "region": state.region,
    })))
}

pub async fn me(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.platform.pool.clone();
    let (account, me, key) = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get()?;
        let account = repo::find_account(&mut conn, user.account_id)?.ok_or(ApiError::NotFound)?;
        let me =
            repo::find_user(&mut conn, user.account_id, user.user_id)?.ok_or(ApiError::NotFound)?;
        let key = repo::subject_key(&mut conn, user.account_id)?.ok_or(ApiError::NotFound)?;
        Ok((account, me, key))
    })
    .await??;
    let account_id = AccountId(account.account_id);
    let subject = SubjectKey::unwrap(
        &state.keyring,
        &account_id.to_string(),
        u32::try_from(key.0).unwrap_or_default(),
        &key.1,
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let open = |table, row: String, field, value: &str| -> Result<String, ApiError> {
        subject
            .decrypt(value, &Aad::new(account_id, table, row, field))
            .map(|v| v.to_string())
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    let user_row = me.user_id.to_string();
    Ok(HttpResponse::Ok().json(json!({
        "user": {
            "id": me.user_id,
            "email": open("users", user_row.clone(), "email", &me.email)?,
            "first_name": open("users", user_row.clone(), "first_name", &me.first_name)?,
            "last_name": open("users", user_row, "last_name", &me.last_name)?,
            "role": me.role,
        },
        "account": {
            "id": account.account_id,
            "company": open("accounts", account_id.to_string(), "company", &account.company)?,
            "country": account.country,
            "plan": account.plan,
            "region": account.region,
        },
    })))
}
