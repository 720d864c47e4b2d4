//! `POST/GET /v1/users`, `PATCH/DELETE /v1/users/{id}`: the people of an
//! account. Owners add admins and members, admins add members; only the owner
//! changes roles; owners and admins remove users below their own role. The
//! owner stays.

use crate::auth::{AuthUser, Role};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::{self, Person};
use crate::views::account as view;
use crate::AppState;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use secrecy::SecretString;
use serde::Deserialize;
use sluice_events::event::{UserRemoved, UserRoleChanged};
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::UserId;
use sluice_schema::models::UserRow;
use sluice_schema::repo::accounts as repo;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    first_name: String,
    last_name: String,
    email: String,
    /// `admin` or `member`.
    role: String,
    /// The first password; the user should change it.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 128)]
    password: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `admin` or `member`.
    role: String,
}

/// A role someone may be given (never `owner`: an account has one).
fn assignable(role: &str) -> Result<Role, ApiError> {
    match role.parse() {
        Ok(role @ (Role::Admin | Role::Member)) => Ok(role),
        _ => Err(people::invalid("role", "role must be admin or member")),
    }
}

fn forbidden() -> ApiError {
    ApiError::Forbidden("your role does not allow this".into())
}

fn account_request(by: &AuthUser, event: DomainEvent, state: &AppState) -> AppendRequest {
    let event = NewEvent::new(event, state.metadata(format!("user:{}", by.user_id)))
        .for_account(by.account_id);
    AppendRequest::new(
        "account",
        by.account_id.0,
        ExpectedVersion::Any,
        vec![event],
    )
}

/// Adds someone to the account: owners add admins and members, admins add
/// members.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The user.", body = view::UserRole),
        (status = 403, description = "`forbidden`: the role is not below the caller's.", body = ErrorBody),
        (status = 409, description = "`conflict`: the email has an account already.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: a role other than admin or \
            member, an empty name, an unusable email, a weak password; or a field is missing, \
            unknown or of the wrong type.", body = ErrorBody),
    )
)]
#[post("/v1/users")]
pub async fn create(
    by: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let role = assignable(&body.role)?;
    if role >= by.role {
        return Err(forbidden());
    }
    let subject = people::subject_key(&state, by.account_id).await?;
    let person = Person {
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        password: body.password,
    };
    let registration =
        people::register(&state, by.account_id, &subject, person, role.as_str()).await?;
    let user = registration.user;
    let request = account_request(&by, registration.event, &state)
        .with_secret(registration.password_hash)
        .with_claim(registration.email);
    state
        .platform
        .appender
        .append(request)
        .await
        .map_err(people::claim_conflict)?;
    Ok(HttpResponse::Created().json(view::UserRole {
        id: user.0,
        role: role.as_str().into(),
    }))
}

/// The account's people.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The people.", body = view::Users))
)]
#[get("/v1/users")]
pub async fn list(by: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let users = people_of(&state, by.account_id).await?;
    Ok(HttpResponse::Ok().json(view::Users { users }))
}

/// The account's people, their names and emails opened.
pub(crate) async fn people_of(
    state: &AppState,
    account: sluice_schema::ids::AccountId,
) -> Result<Vec<view::User>, ApiError> {
    let rows = state
        .db(move |conn| Ok(repo::list_users(conn, account)?))
        .await?;
    let subject = people::subject_key(state, account).await?;
    rows.iter()
        .map(|row| people::user_view(&subject, row))
        .collect()
}

/// The account's user with this id, or 404.
async fn target(state: &AppState, by: &AuthUser, id: Uuid) -> Result<UserRow, ApiError> {
    let account = by.account_id;
    state
        .db(move |conn| Ok(repo::find_user(conn, account, UserId(id))?))
        .await?
        .ok_or(ApiError::NotFound)
}

/// The owner changes someone's role.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The user.")),
    responses(
        Authenticated,
        JsonBody,
        (status = 200, description = "The user's role, changed.", body = view::UserRole),
        (status = 403, description = "`forbidden`: the caller is not the owner, or the user is.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user in the account.", body = ErrorBody),
        (status = 422, description = "`invalid`: a role other than admin or member; or a field \
            is missing, unknown or of the wrong type.", body = ErrorBody),
    )
)]
#[patch("/v1/users/{id}")]
pub async fn change_role(
    by: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Json<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    let user = target(&state, &by, path.into_inner()).await?;
    let role = assignable(&body.role)?;
    if by.role != Role::Owner || user.role == Role::Owner.as_str() {
        return Err(forbidden());
    }
    let event = DomainEvent::UserRoleChanged(UserRoleChanged {
        user_id: user.user_id,
        role: role.as_str().into(),
    });
    state
        .platform
        .appender
        .append(account_request(&by, event, &state))
        .await?;
    Ok(HttpResponse::Ok().json(view::UserRole {
        id: user.user_id,
        role: role.as_str().into(),
    }))
}

/// Removes someone below the caller's role: their sessions, tokens and
/// password end.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The user.")),
    responses(
        Authenticated,
        (status = 204, description = "The user is removed."),
        (status = 403, description = "`forbidden`: the user's role is not below the caller's.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user in the account.", body = ErrorBody),
    )
)]
#[delete("/v1/users/{id}")]
pub async fn remove(
    by: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = target(&state, &by, path.into_inner()).await?;
    let role: Role = user
        .role
        .parse()
        .map_err(|e| ApiError::Internal(format!("user: {e}")))?;
    if role >= by.role {
        return Err(forbidden());
    }
    let event = DomainEvent::UserRemoved(UserRemoved {
        user_id: user.user_id,
    });
    let request = account_request(&by, event, &state)
        .with_secret(SecretWrite::DestroyUserSecrets {
            user_id: user.user_id,
        })
        .with_claim(people::release_email(
            &user,
            &state,
            &format!("user:{}", by.user_id),
        ));
    state.platform.appender.append(request).await?;
    Ok(HttpResponse::NoContent().finish())
}
