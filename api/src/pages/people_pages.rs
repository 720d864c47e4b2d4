//! The account's people (invite, change a role, remove) and the signed-in
//! user's API tokens (create, shown once; revoke). Each page shows only the
//! controls the viewer's role may use; the changes go through `/v1`.

use super::render::{self, Viewer};
use super::words::time;
use crate::auth::Role;
use crate::error::ApiError;
use crate::routes::{api_tokens::tokens_of, users::people_of};
use crate::AppState;
use actix_web::{web, HttpResponse};
use askama::Template;

/// A person as the people page lists them, with what the viewer may do.
pub struct PersonLine {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub added: String,
    /// The owner may change anyone's role but their own (admin or member).
    pub can_change_role: bool,
    /// Owners and admins remove people below their own role.
    pub can_remove: bool,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    csrf: String,
    people: Vec<PersonLine>,
    /// Owners and admins add people; the roles they may give.
    can_invite: bool,
    may_give_admin: bool,
}

pub async fn people(viewer: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let me = viewer.user.role;
    let people = people_of(&state, viewer.user.account_id)
        .await?
        .into_iter()
        .map(|u| {
            let role = u.role.parse::<Role>().unwrap_or(Role::Owner);
            PersonLine {
                id: u.id.to_string(),
                name: format!("{} {}", u.first_name, u.last_name),
                email: u.email,
                role: u.role,
                added: time(&u.created_at),
                can_change_role: me == Role::Owner && role != Role::Owner,
                can_remove: role < me,
            }
        })
        .collect();
    Ok(render::ok(&PeoplePage {
        csrf: viewer.csrf,
        people,
        can_invite: me >= Role::Admin,
        may_give_admin: me == Role::Owner,
    }))
}

/// A live API token as the tokens page lists it.
pub struct TokenLine {
    pub id: String,
    pub name: String,
    pub created: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    csrf: String,
    tokens: Vec<TokenLine>,
}

pub async fn tokens(viewer: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.platform.clock.now();
    let tokens = tokens_of(&state, &viewer.user)
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none() && t.expires_at > now)
        .map(|t| TokenLine {
            id: t.id.to_string(),
            name: t.name.unwrap_or_else(|| "(no name)".into()),
            created: time(&t.created_at),
            expires: time(&t.expires_at),
        })
        .collect();
    Ok(render::ok(&TokensPage {
        csrf: viewer.csrf,
        tokens,
    }))
}
