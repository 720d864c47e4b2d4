//! Pipeline probes: an operator's no-op command that travels API → log →
//! relay → RabbitMQ → worker → log, to check and measure the whole path.

use crate::error::ApiError;
use crate::openapi::OperatorOnly;
use crate::operator::Operator;
use crate::views::account as view;
use crate::AppState;
use actix_web::{get, post, web, HttpResponse};
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
        (status = 202, description = "`probe.requested` is recorded.", body = view::ProbeQueued),
    )
)]
#[post("/v1/ops/probes")]
pub async fn create(_: Operator, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let probe = ProbeId::new();
    let metadata = state.metadata("operator");
    let event = NewEvent::new(DomainEvent::ProbeRequested(ProbeRequested {}), metadata);
    let request = AppendRequest::new("probe", probe.0, ExpectedVersion::NoStream, vec![event]);
    state.platform.appender.append(request).await?;
    Ok(HttpResponse::Accepted().json(view::ProbeQueued {
        probe_id: probe.0,
        status: "queued".into(),
    }))
}

/// A probe: queued, or completed and by which worker.
#[utoipa::path(
    security(("operator" = [])),
    responses(OperatorOnly, (status = 200, description = "The probe.", body = view::Probe))
)]
#[get("/v1/ops/probes/{id}")]
pub async fn show(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = ProbeId(path.into_inner());
    let row = state
        .db(move |conn| Ok(sluice_schema::repo::find_probe(conn, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view::Probe {
        probe_id: row.probe_id,
        status: row.status,
        requested_at: row.requested_at,
        completed_at: row.completed_at,
        completed_by: row.completed_by,
    }))
}
