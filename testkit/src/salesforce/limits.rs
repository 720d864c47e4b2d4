//! The REST API's Limits resource (`GET /services/data/vXX.X/limits`), as
//! Salesforce documents it: each limit by name, with its `Max` and
//! `Remaining`. The stand-in keeps one, the org's daily API requests.

use super::org;
use super::session::{method_not_allowed, ApiCall, DAILY_REQUESTS};
use actix_web::{web, HttpResponse};
use serde_json::json;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    for path in ["/limits", "/limits/"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(limits))
                .default_service(web::to(method_not_allowed("GET,HEAD"))),
        );
    }
}

async fn limits(_: ApiCall, org: web::Data<org::Shared>) -> HttpResponse {
    let org = org.lock().expect("stand-in state");
    let used = org.calls.total;
    let max = org.remaining.map_or(DAILY_REQUESTS, |left| used + left);
    HttpResponse::Ok().json(json!({
        "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
    }))
}
