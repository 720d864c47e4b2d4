//! Pipeline probes: an operator's no-op command that travels API → log →
//! relay → RabbitMQ → worker → log, to check and measure the whole path.

use crate::error::ApiError;
use crate::openapi::{account_bodies as doc, OperatorOnly};
use crate::operator::Operator;
use crate::AppState;
use actix_web::{get, post, web, HttpResponse};
use serde_json::json;
use sluice_events::event::ProbeRequested;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use sluice_schema::ids::ProbeId;
use uuid::Uuid;

/// Sends a no-op command through the whole path; `GET
/// /v1/ops/probes/{id}` then tells when a worker completed it.
#[utoipa::path(
    security(("operator" = [])),
    responses(
        OperatorOnly,
        (status = 202, description = "`probe.requested` is recorded.", body = doc::ProbeQueued),
    )
)]
#[post("/v1/ops/probes")]
pub async fn create(_: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let probe = ProbeId::new();
    let metadata = state.metadata("operator");
    let event = NewEvent::new(DomainEvent::ProbeRequested(ProbeRequested {}), metadata);
    let request = AppendRequest::new("probe", probe.0, ExpectedVersion::NoStream, vec![event]);
    state.platform.appender.append(request).await?;
    Ok(HttpResponse::Accepted().json(json!({ "probe_id": probe, "status": "queued" })))
}

/// A probe: queued, or completed and by which worker.
#[utoipa::path(
    security(("operator" = [])),
    responses(OperatorOnly, (status = 200, description = "The probe.", body = doc::Probe))
)]
#[get("/v1/ops/probes/{id}")]
pub async fn show(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ProbeId(path.into_inner());
    let pool = state.platform.pool.clone();
    let row = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get()?;
        Ok(sluice_schema::repo::find_probe(&mut conn, id)?)
    })
    .await??
    .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(json!({
        "probe_id": row.probe_id,
        "status": row.status,
        "requested_at": row.requested_at,
        "completed_at": row.completed_at,
        "completed_by": row.completed_by,
    })))
}
