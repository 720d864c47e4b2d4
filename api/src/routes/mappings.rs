//! `POST /v1/mappings/suggest`: what auto-match would make of a source
//! and a target, before a job is defined, for a wizard to show and let its
//! user correct. The source and target are given as a job gives them; the
//! matches are those `"mapping": "auto"` would keep (see
//! `sluice_connectors::mapping::auto` for the rules and confidences).
//! `POST /v1/formulas/check`: a formula tried on a source's first rows,
//! for the wizard's live check as its user types.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::routes::jobs::{choice, definition, previews};
use crate::views::targets as views;
use crate::AppState;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use sluice_connectors::formula::Formula;
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

/// The most source rows a formula is tried on.
pub const FORMULA_CHECK_ROWS: usize = 5;

/// A formula to try on a source's first rows: a field's value, or a
/// condition (a job's filter).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormulaCheck {
    source: Source,
    /// At most 4,096 characters.
    formula: String,
    /// Read the value as a condition, as a job's `filter` is.
    #[serde(default)]
    condition: bool,
}

/// `POST /v1/formulas/check`: a formula checked against the source's
/// header, then evaluated on its first five rows as a run would (`TODAY()`
/// being now), for a wizard to show as its user types. Nothing is kept.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 200, description = "The formula's value, or why it has none, for each of the \
            first rows.", body = views::FormulaTried),
        (status = 422, description = "`invalid`, naming `formula`: where the formula is wrong \
            and what was expected (`at position 1: no column named Emial; did you mean \
            Email?`); or naming `source`: an upload or connection that is not there.", body = ErrorBody),
    )
)]
#[post("/v1/formulas/check")]
pub async fn check_formula(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<FormulaCheck>,
) -> Result<HttpResponse, ApiError> {
    let (source, _) = definition::read_source(&state, &user, &body.source).await?;
    let (header, rows) = previews::first_rows(&state, &user, &source, FORMULA_CHECK_ROWS).await?;
    let formula = Formula::parse(body.formula.trim(), &header)
        .map_err(|e| crate::people::invalid("formula", e.to_string()))?;
    let context = definition::formula_context(&state);
    let rows = rows
        .into_iter()
        .map(|row| {
            let outcome = match &row.fields {
                Err(reason) => Err(reason.to_string()),
                Ok(cells) => {
                    let cell = |i: usize| cells.get(i).map(String::as_str);
                    if body.condition {
                        formula
                            .holds(cell, &context)
                            .map(|kept| Some(if kept { "kept" } else { "skipped" }.to_owned()))
                            .map_err(|e| e.to_string())
                    } else {
                        formula
                            .eval(cell, &context)
                            .map(|value| value.into_text().map(|text| text.into_owned()))
                            .map_err(|e| e.to_string())
                    }
                }
            };
            let (value, error) = match outcome {
                Ok(value) => (value, None),
                Err(reason) => (None, Some(reason)),
            };
            views::FormulaRow {
                row: row.number,
                value,
                error,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(views::FormulaTried { rows }))
}
