//! `GET /v1/ops/dead-letters`: deliveries that exhausted their retries.

use crate::error::ApiError;
use crate::openapi::{ErrorBody, OperatorOnly};
use crate::operator::Operator;
use crate::views::account as view;
use crate::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Query {
    /// How many, newest first: 1 to 1000 (100 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Deliveries that reached the dead-letter queue, newest first.
#[utoipa::path(
    security(("operator" = [])),
    params(Query),
    responses(
        OperatorOnly,
        (status = 200, description = "The dead letters.", body = view::DeadLetters),
        (status = 400, description = "`bad_request`: the query string is not `limit=<number>`.", body = ErrorBody),
        (status = 422, description = "`invalid`: `limit` is not between 1 and 1000.", body = ErrorBody),
    )
)]
#[get("/v1/ops/dead-letters")]
pub async fn list(
    _: Operator,
    state: web::Data<AppState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid {
            field: "limit".into(),
            message: "limit must be between 1 and 1000".into(),
        });
    }
    let rows = state
        .db(move |conn| Ok(sluice_schema::repo::list_dead_letters(conn, limit)?))
        .await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|r| view::DeadLetter {
            event_id: r.event_id,
            event_type: r.event_type,
            queue: r.queue,
            reason: r.reason,
            delivery_count: r.delivery_count,
            dead_lettered_at: r.dead_lettered_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(view::DeadLetters {
        dead_letters: items,
    }))
}
