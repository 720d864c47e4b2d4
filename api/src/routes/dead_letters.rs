//! `GET /v1/ops/dead-letters`: deliveries that exhausted their retries.

use crate::error::ApiError;
use crate::operator::Operator;
use crate::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    limit: Option<i64>,
}

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
    let pool = state.platform.pool.clone();
    let rows = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get()?;
        Ok(sluice_schema::repo::list_dead_letters(&mut conn, limit)?)
    })
    .await??;
    let items: Vec<_> = rows
        .into_iter()
        .map(|r| {
            json!({
                "event_id": r.event_id,
                "event_type": r.event_type,
                "queue": r.queue,
                "reason": r.reason,
                "delivery_count": r.delivery_count,
                "dead_lettered_at": r.dead_lettered_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "dead_letters": items })))
}
