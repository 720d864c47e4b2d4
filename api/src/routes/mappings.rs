//! `POST /v1/mappings/suggest`: what auto-match would make of a source
//! and a target, before a job is defined, for a wizard to show and let its
//! user correct. The source and target are given as a job gives them; the
//! matches are those `"mapping": "auto"` would keep (see
//! `sluice_connectors::mapping::auto` for the rules and confidences).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::routes::jobs::{choice, definition};
use crate::views::targets as views;
use crate::AppState;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use sluice_schema::job::{Source, Target};
use utoipa::ToSchema;

/// A source and a target, as a job names them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestRequest {
    source: Source,
    target: Target,
}

/// The source's columns matched to the target's fields: each match with
/// its rule and confidence, the columns matched to nothing, and the
/// fields a new row or record needs that no column went to.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 200, description = "What auto-match found.", body = views::MappingSuggestion),
        (status = 422, description = "`invalid`, naming the field: an upload or connection \
            that is not there, a query that does not prepare, a table or object the target \
            lacks; `connection_failed`: the target refused the stored credentials.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: the target could not be reached.", body = ErrorBody),
    )
)]
#[post("/v1/mappings/suggest")]
pub async fn suggest(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<SuggestRequest>,
) -> Result<HttpResponse, ApiError> {
    let (_, columns) = definition::read_source(&state, &user, &body.source).await?;
    let found = choice::matched(&state, &user, &body.target, &columns).await?;
    Ok(HttpResponse::Ok().json(views::MappingSuggestion::from(found)))
}
