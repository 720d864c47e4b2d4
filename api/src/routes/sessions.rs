//! `POST /v1/login`, `POST /v1/logout`, and issuing and revoking tokens.

use crate::auth::{password, token, AuthUser};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, Failures, JsonBody};
use crate::people::normalize_email;
use crate::views::account as view;
use crate::AppState;
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sluice_events::event::{TokenIssuedV2, TokenRevoked};
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::{AccountId, TokenId, UserId};
use sluice_schema::repo::throttle::{self, Limit};
use utoipa::ToSchema;

/// Failures per account before it is blocked, and per client address.
const PER_ACCOUNT: Limit = Limit {
    failures: 5,
    window: Duration::minutes(15),
};
const PER_ADDRESS: Limit = Limit {
    failures: 50,
    window: Duration::minutes(15),
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Logs in by password: a session token. Failures are throttled per
/// account and per client address.
#[utoipa::path(
    responses(
        Failures,
        JsonBody,
        (status = 200, description = "The session.", body = view::SessionToken),
        (status = 401, description = "`invalid_credentials`: the email or the password is wrong \
            (the answer does not say which).", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many failures lately.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a log-in is tried again."))),
    )
)]
#[post("/v1/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (token, expires_at) = log_in(&req, &state, &body.email, body.password).await?;
    Ok(HttpResponse::Ok().json(view::SessionToken {
        token,
        token_type: "Bearer".into(),
        expires_at,
    }))
}

/// Checks a log-in by password, throttled per account and per client
/// address, and opens a session: its token and when it expires.
pub async fn log_in(
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    password: SecretString,
) -> Result<(String, DateTime<Utc>), ApiError> {
    // A malformed email cannot belong to anyone: the same answer as a wrong one.
    let email = normalize_email(email).unwrap_or_default();
    let index = state.keyring.get().blind_index("email", &email);
    let address = state
        .trusted_proxies
        .client_of(req)
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let keys = vec![
        format!("account:{}", hex::encode(index)),
        format!("address:{address}"),
    ];

    let lookup_keys = keys.clone();
    let (blocked, found) = state
        .db(move |conn| {
            let blocked = throttle::blocked_for(conn, &lookup_keys, Utc::now())?;
            let found = sluice_schema::repo::accounts::find_login(conn, &index)?;
            Ok((blocked, found))
        })
        .await?;
    if let Some(left) = blocked {
        return Err(too_many(left));
    }

    // An unknown email is checked against a dummy hash: it costs the same
    // time. The throttle is read again once it is this log-in's turn to
    // hash, and its outcome counted in the same turn, so that log-ins sent
    // all at once cannot slip more guesses past the limit than hash at a
    // time.
    let (user, phc) = match found {
        Some((user, phc)) => (Some(user), phc),
        None => (None, state.dummy_hash.clone()),
    };
    let known = user.is_some();
    let secret = password;
    let pool = state.platform.pool.clone();
    let checked = state
        .hashing
        .run(move || -> Result<Result<bool, Duration>, ApiError> {
            let mut conn = pool.get()?;
            if let Some(left) = throttle::blocked_for(&mut conn, &keys, Utc::now())? {
                return Ok(Err(left));
            }
            let matches = password::verify(secret.expose_secret(), &phc) && known;
            let now = Utc::now();
            if matches {
                throttle::clear(&mut conn, &keys[0])?;
            } else {
                throttle::record_failure(&mut conn, &keys[0], PER_ACCOUNT, now)?;
                throttle::record_failure(&mut conn, &keys[1], PER_ADDRESS, now)?;
            }
            Ok(Ok(matches))
        })
        .await??;
    let user = match checked {
        Err(left) => return Err(too_many(left)),
        Ok(true) => user.ok_or(ApiError::InvalidCredentials)?,
        Ok(false) => return Err(ApiError::InvalidCredentials),
    };

    let owner = (AccountId(user.account_id), UserId(user.user_id));
    let (_, token, expires_at) = issue(state, owner, Grant::session(state.session_ttl)).await?;
    Ok((token, expires_at))
}

/// Ends the session (or revokes the API token) the request came with.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 204, description = "The token is revoked."))
)]
#[post("/v1/logout")]
pub async fn logout(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    revoke(&state, &user, user.token_id, "logout").await?;
    Ok(HttpResponse::NoContent().finish())
}

/// 429 for a throttled log-in, with when to try again.
fn too_many(left: Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_secs: u64::try_from(left.num_seconds()).unwrap_or(0) + 1,
    }
}

/// What a new token is for.
pub struct Grant {
    pub kind: &'static str,
    pub name: Option<String>,
    pub ttl: Duration,
    /// How the user signed in, when not by password.
    pub via: Option<&'static str>,
    /// Secrets to write with the token (a provider's tokens).
    pub secrets: Vec<SecretWrite>,
}

impl Grant {
    pub fn session(ttl: Duration) -> Self {
        Self {
            kind: "session",
            name: None,
            ttl,
            via: None,
            secrets: Vec::new(),
        }
    }
}

/// Issues a token to `owner`: records `token.issued.v2` (an API token's
/// name sealed under the account's subject key) and the token's hash.
pub async fn issue(
    state: &AppState,
    (account, user): (AccountId, UserId),
    grant: Grant,
) -> Result<(TokenId, String, DateTime<Utc>), ApiError> {
    let id = TokenId::new();
    let name = match grant.name {
        Some(name) => {
            let subject = crate::people::subject_key(state, account).await?;
            Some(subject.encrypt(&name, &sluice_vault::owner::token_name(account, id)))
        }
        None => None,
    };
    let token = token::generate(&state.region);
    let expires_at = Utc::now() + grant.ttl;
    let event = NewEvent::new(
        DomainEvent::TokenIssuedV2(TokenIssuedV2 {
            user_id: user.0,
            kind: grant.kind.into(),
            name,
            expires_at,
            via: grant.via.map(str::to_owned),
        }),
        state.metadata(format!("user:{user}")),
    )
    .for_account(account);
    let mut request = AppendRequest::new("token", id.0, ExpectedVersion::NoStream, vec![event])
        .with_secret(SecretWrite::TokenHash {
            token_id: id.0,
            account_id: account.0,
            sha256: token::sha256(&token),
        });
    request.secrets.extend(grant.secrets);
    state.platform.appender.append(request).await?;
    Ok((id, token, expires_at))
}

/// Revokes a token of the caller's account: records `token.revoked` and
/// destroys the token's hash.
pub async fn revoke(
    state: &AppState,
    by: &AuthUser,
    id: TokenId,
    reason: &str,
) -> Result<(), ApiError> {
    let event = NewEvent::new(
        DomainEvent::TokenRevoked(TokenRevoked {
            reason: reason.into(),
        }),
        state.metadata(format!("user:{}", by.user_id)),
    )
    .for_account(by.account_id);
    let request = AppendRequest::new("token", id.0, ExpectedVersion::Any, vec![event])
        .with_secret(SecretWrite::DestroyTokenHash { token_id: id.0 });
    state.platform.appender.append(request).await?;
    Ok(())
}
