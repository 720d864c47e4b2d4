//! The instances page (the account's connections, with Disconnect) and the
//! account's settings (retention, billing, export, erasure).

use super::render::{self, Viewer};
use super::words::time;
use crate::error::ApiError;
use crate::routes::billing::{card, live_status, plan};
use crate::AppState;
use actix_web::{web, HttpResponse};
use askama::Template;
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::plans::Limits;
use sluice_schema::repo::connections;

/// A connection as the instances page lists it.
pub struct Instance {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub detail: String,
    /// The TLS mode and what it protects against (PostgreSQL only).
    pub tls: String,
    /// The last test's outcome: "Reached", "Not reachable: why" or "Not
    /// tested".
    pub last_test: String,
    /// When it was last tested.
    pub tested_at: Option<String>,
    /// Whether the last test failed.
    pub unreachable: bool,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ConnectionsPage {
    csrf: String,
    instances: Vec<Instance>,
    salesforce: bool,
    dropbox: bool,
}

pub async fn connections(
    viewer: Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let rows = state
        .db(move |conn| Ok(connections::list(conn, account)?))
        .await?;
    let subject = crate::people::subject_key(&state, account).await?;
    let instances = crate::routes::connection_details::open_all(&subject, rows)?
        .into_iter()
        .map(|c| {
            let p = &c.params;
            let detail = match c.kind {
                ConnectionKind::Postgres => format!(
                    "{}@{}:{}/{}",
                    p["user"].as_str().unwrap_or_default(),
                    p["host"].as_str().unwrap_or_default(),
                    p["port"],
                    p["dbname"].as_str().unwrap_or_default()
                ),
                ConnectionKind::Salesforce => {
                    p["instance_url"].as_str().unwrap_or_default().to_owned()
                }
                ConnectionKind::Dropbox => String::new(),
            };
            let shown = crate::routes::connection_checks::shown_params(&c);
            let tls = match (shown["sslmode"].as_str(), shown["tls"].as_str()) {
                (Some(mode), Some(what)) => format!("{mode}: {what}"),
                _ => String::new(),
            };
            let last_test = match c.last_test_ok {
                Some(true) => "Reached".to_owned(),
                Some(false) => format!(
                    "Not reachable: {}",
                    crate::routes::connection_checks::reason_message(
                        c.last_test_reason.as_deref().unwrap_or_default()
                    )
                ),
                None => "Not tested".to_owned(),
            };
            Instance {
                id: c.connection_id.to_string(),
                name: c.name.unwrap_or_default(),
                kind: c.kind.to_string(),
                detail,
                tls,
                last_test,
                tested_at: c.last_tested_at.as_ref().map(time),
                unreachable: c.last_test_ok == Some(false),
                created_at: time(&c.created_at),
            }
        })
        .collect();
    Ok(render::ok(&ConnectionsPage {
        csrf: viewer.csrf,
        instances,
        salesforce: state.salesforce.is_some(),
        dropbox: state.dropbox.is_some(),
    }))
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    csrf: String,
    owner: bool,
    manager: bool,
    plan: String,
    retention_control: bool,
    store_results: bool,
    retention_days: i64,
    default_days: i64,
    billing: bool,
    subscribed: bool,
    card: String,
    rows_per_month: String,
    payment_failed: bool,
}

pub async fn settings(
    viewer: Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let (row, billing, limits) = plan(&state, account).await?;
    let card = card(&state, account, billing.as_ref()).await?;
    let card = card.map_or_else(String::new, |card| {
        format!(
            "{} ending in {}, expires {:02}/{}",
            card.brand, card.last4, card.exp_month, card.exp_year
        )
    });
    let default_days = state.result_ttl.num_days();
    let role = viewer.user.role;
    Ok(render::ok(&SettingsPage {
        csrf: viewer.csrf,
        owner: role == crate::auth::Role::Owner,
        manager: role >= crate::auth::Role::Admin,
        plan: Limits::title(row.plan).to_owned(),
        retention_control: limits.retention_control,
        store_results: row.store_results,
        retention_days: row.result_retention_days.map_or(default_days, i64::from),
        default_days,
        billing: state.billing.is_some(),
        subscribed: live_status(
            billing
                .as_ref()
                .and_then(|b| b.subscription_status.as_deref()),
        ),
        card,
        rows_per_month: limits
            .rows_per_month
            .map_or_else(|| "no limit".to_owned(), |n| n.to_string()),
        payment_failed: billing.is_some_and(|b| b.payment_failed_at.is_some()),
    }))
}
