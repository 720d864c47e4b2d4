//! `POST /v1/signup` and `GET /v1/me`.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, Failures, JsonBody};
use crate::people::{self, invalid, text, Person};
use crate::views::account as view;
use crate::AppState;
use actix_web::{get, post, web, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;
use sluice_events::event::AccountCreated;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::AccountId;
use sluice_schema::key_version::KeyVersion;
use sluice_schema::kinds::Plan;
use sluice_schema::repo::accounts as repo;
use sluice_vault::{Aad, SubjectKey};
use utoipa::ToSchema;

/// Exactly these fields: anything else is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub company: String,
    /// ISO 3166-1 alpha-2, such as `DE`.
    pub country: String,
    /// 12 to 128 characters, not a common one, not the email.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 128)]
    pub password: SecretString,
}

/// Opens an account in this deployment's region, with the person who signs
/// up as its owner.
#[utoipa::path(
    responses(
        Failures,
        JsonBody,
        (status = 201, description = "The account is open; log in next.", body = view::SignedUp),
        (status = 409, description = "`conflict`: the email has an account already.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: a name, company or country \
            that is empty or too long, an unusable email, a weak password; or a field is \
            missing, unknown or of the wrong type.", body = ErrorBody),
    )
)]
#[post("/v1/signup")]
pub async fn signup(
    state: web::Data<AppState>,
    body: web::Json<Signup>,
) -> Result<HttpResponse, ApiError> {
    let (user, account) = open_account(&state, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view::SignedUp {
        user_id: user.0,
        account_id: account.0,
        region: state.region.clone(),
    }))
}

/// Opens an account, with the person who signs up as its owner.
pub async fn open_account(
    state: &AppState,
    body: Signup,
) -> Result<(sluice_schema::ids::UserId, AccountId), ApiError> {
    let company = text("company", &body.company, 200)?;
    let country = body.country.trim().to_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid(
            "country",
            "country must be an ISO 3166-1 alpha-2 code, such as DE",
        ));
    }
    let account = AccountId::new();
    let subject = SubjectKey::generate();
    let person = Person {
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        password: body.password,
    };
    let registration = people::register(state, account, &subject, person, "owner").await?;
    let user = registration.user;

    let (kek_version, wrapped_key) = subject.wrap(&state.keyring.get(), &account.to_string());
    let metadata = state.metadata(format!("user:{user}"));
    let created = DomainEvent::AccountCreated(AccountCreated {
        region: state.region.clone(),
        country,
        plan: Plan::Free,
        company: subject.encrypt(&company, &Aad::new(account, "accounts", account, "company")),
    });
    let request = AppendRequest::new(
        "account",
        account.0,
        ExpectedVersion::NoStream,
        vec![
            NewEvent::new(created, metadata.clone()).for_account(account),
            NewEvent::new(registration.event, metadata).for_account(account),
        ],
    )
    .with_secret(SecretWrite::SubjectKey {
        account_id: account.0,
        kek_version: KeyVersion(kek_version),
        wrapped_key,
    })
    .with_secret(registration.password_hash)
    .with_claim(registration.email);
    state
        .platform
        .appender
        .append(request)
        .await
        .map_err(people::claim_conflict)?;
    Ok((user, account))
}

/// The caller and their account.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The caller and their account.", body = view::Me))
)]
#[get("/v1/me")]
pub async fn me(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (account, me) = state
        .db(move |conn| {
            let account = repo::find_account(conn, user.account_id)?.ok_or(ApiError::NotFound)?;
            let me =
                repo::find_user(conn, user.account_id, user.user_id)?.ok_or(ApiError::NotFound)?;
            Ok((account, me))
        })
        .await?;
    let account_id = AccountId(account.account_id);
    let subject = people::subject_key(&state, account_id).await?;
    let company = people::open(
        &subject,
        account_id,
        "accounts",
        account_id,
        "company",
        &account.company,
    )?;
    Ok(HttpResponse::Ok().json(view::Me {
        user: people::user_view(&subject, &me)?,
        account: view::Account {
            id: account.account_id,
            company,
            country: account.country,
            plan: account.plan.to_string(),
            region: account.region,
        },
    }))
}
