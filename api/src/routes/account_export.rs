//! `POST /v1/account/export`: a ZIP archive of everything Sluice keeps of
//! the account, decrypted for it: the account and its people, connections
//! (never their secrets), jobs, mapping templates, runs, the result files still kept, and the
//! account's whole event history with its sealed fields opened.
//!
//! The archive is written as it is sent (a blocking thread writes it into
//! the response through a bounded channel): nothing decrypted is held whole
//! in memory or written to disk. The export itself is recorded
//! (`account.exported`).

use crate::auth::{AccountAdmin, ExportData};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody};
use crate::people;
use crate::routes::account_settings::record;
use crate::routes::jobs::{job_view, open_job, open_run, run_view};
use crate::AppState;
use actix_web::{post, web, HttpResponse};
use serde_json::{json, Value};
use sluice_events::event::AccountExported;
use sluice_events::DomainEvent;
use sluice_schema::ids::AccountId;
use sluice_schema::models::EventRow;
use sluice_vault::{Aad, SubjectKey};
use std::io::Write;
use std::sync::Arc;

/// Events read from the log at a time.
const PAGE: i64 = 1000;

/// A `Write` that sends what it is given to the response.
struct Sending(tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>);

impl Write for Sending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(web::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Owners and admins: a ZIP of the account's data and event history,
/// decrypted for it, streamed as it is written (`account.exported`).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        (status = 200, description = "The archive: `account.json`, `billing.json`, `users.json`, \
            `connections.json` (never a secret), `jobs.json`, `mapping_templates.json`, `runs.json`, \
            `results/<run>/success.csv` and `errors.csv` still kept, and `events.jsonl`.",
            body = Vec<u8>, content_type = "application/zip",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"sluice-export-<account>.zip\"`"))),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
    )
)]
#[post("/v1/account/export")]
pub async fn export(
    admin: AccountAdmin<ExportData>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = admin.user;
    let account = user.account_id;
    let subject = people::subject_key(&state, account).await?;
    let exported = DomainEvent::AccountExported(AccountExported {});
    record(&state, account, format!("user:{}", user.user_id), exported).await?;

    let (chunks, inbox) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(8);
    let state = state.into_inner();
    let writing = Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let failed = chunks.clone();
        if let Err(e) = write_archive(&writing, account, &subject, Sending(chunks)) {
            tracing::warn!(account = %account, error = %e, "an export was cut short");
            let _ = failed.blocking_send(Err(std::io::Error::other("the export was cut short")));
        }
    });
    let body = futures_util::stream::unfold(inbox, |mut inbox| async move {
        inbox.recv().await.map(|chunk| (chunk, inbox))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"sluice-export-{account}.zip\""),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes the archive (on a blocking thread).
fn write_archive(
    state: &AppState,
    account: AccountId,
    subject: &SubjectKey,
    out: Sending,
) -> std::io::Result<()> {
    use diesel::prelude::*;
    use sluice_schema::repo;
    use sluice_schema::schema::{events, runs};
    let mut conn = state.platform.pool.get().map_err(other)?;
    let mut zip = zip::ZipWriter::new_stream(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let json_file = |zip: &mut zip::ZipWriter<_>, name: &str, value: &Value| {
        zip.start_file(name, options).map_err(other)?;
        serde_json::to_writer_pretty(&mut *zip, value).map_err(other)
    };

    let row = repo::accounts::find_account(&mut conn, account)
        .map_err(other)?
        .ok_or_else(|| other("the account is gone"))?;
    let company = people::open(
        subject,
        account,
        "accounts",
        account,
        "company",
        &row.company,
    )
    .unwrap_or_default();
    json_file(
        &mut zip,
        "account.json",
        &json!({
            "id": row.account_id,
            "company": company,
            "country": row.country,
            "plan": row.plan,
            "region": row.region,
            "created_at": row.created_at,
            "result_retention_days": row.result_retention_days,
            "store_results": row.store_results,
        }),
    )?;
    if let Some(billing) = repo::billing::find(&mut conn, account).map_err(other)? {
        let card = billing.card.as_deref().and_then(|sealed| {
            let opened = subject.decrypt(sealed, &crate::routes::billing::card_aad(account));
            serde_json::from_str::<Value>(&opened.ok()?).ok()
        });
        json_file(
            &mut zip,
            "billing.json",
            &json!({
                "stripe_customer_id": billing.customer_id,
                "subscription_id": billing.subscription_id,
                "subscription_status": billing.subscription_status,
                "card": card,
                "payment_failed_at": billing.payment_failed_at,
            }),
        )?;
    }
    let users: Vec<_> = repo::accounts::list_users(&mut conn, account)
        .map_err(other)?
        .iter()
        .map(|u| people::user_view(subject, u).map_err(other))
        .collect::<Result<_, _>>()?;
    json_file(&mut zip, "users.json", &json!(users))?;
    let connections = repo::connections::list(&mut conn, account).map_err(other)?;
    let connections: Vec<Value> = crate::routes::connection_details::open_all(subject, connections)
        .map_err(other)?
        .iter()
        .map(|c| {
            json!({
                "id": c.connection_id,
                "name": c.name,
                "kind": c.kind,
                "params": c.params,
                "created_at": c.created_at,
            })
        })
        .collect();
    json_file(&mut zip, "connections.json", &json!(connections))?;
    let jobs: Vec<_> = repo::jobs::list(&mut conn, account)
        .map_err(other)?
        .into_iter()
        .map(|row| {
            open_job(subject, row)
                .map(|job| job_view(&job, state.platform.clock.now()))
                .map_err(other)
        })
        .collect::<Result<_, _>>()?;
    json_file(&mut zip, "jobs.json", &json!(jobs))?;
    let templates = repo::mapping_templates::list(&mut conn, account).map_err(other)?;
    let templates =
        crate::routes::mapping_templates::open_all(subject, templates).map_err(other)?;
    json_file(&mut zip, "mapping_templates.json", &json!(templates))?;
    let run_rows: Vec<sluice_schema::models::RunRow> = runs::table
        .filter(runs::account_id.eq(account.0))
        .order(runs::requested_at.asc())
        .select(sluice_schema::models::RunRow::as_select())
        .load(&mut conn)
        .map_err(other)?;
    let runs: Vec<_> = run_rows
        .iter()
        .map(|row| {
            open_run(subject, row.clone())
                .map(|run| run_view(&run))
                .map_err(other)
        })
        .collect::<Result<_, _>>()?;
    json_file(&mut zip, "runs.json", &json!(runs))?;

    // The result files still kept, decrypted as they are copied in.
    let now = state.platform.clock.now();
    for run in &run_rows {
        let live =
            run.results_removed_at.is_none() && run.results_expire_at.is_some_and(|at| at > now);
        if !live {
            continue;
        }
        let id = sluice_schema::ids::RunId(run.run_id);
        let Some((version, wrapped)) =
            repo::jobs::result_key(&mut conn, account, id).map_err(other)?
        else {
            continue;
        };
        let key = state
            .keyring
            .file_key(
                &sluice_vault::owner::result_key(account, id),
                version.get(),
                &wrapped,
            )
            .map_err(other)?;
        for name in ["success", "skipped", "errors"] {
            let owner = sluice_vault::owner::result_file(account, id, name, None);
            let file_id = sluice_vault::owner::result_file_id(id, name, None);
            let Ok(mut reader) = state.store.reader("results", &file_id, &key, &owner) else {
                continue;
            };
            zip.start_file(format!("results/{}/{name}.csv", run.run_id), options)
                .map_err(other)?;
            std::io::copy(&mut reader, &mut zip)?;
        }
    }

    // The event history, a page at a time, its sealed fields opened.
    zip.start_file("events.jsonl", options).map_err(other)?;
    let mut after = 0_i64;
    loop {
        let page: Vec<EventRow> = events::table
            .filter(events::account_id.eq(account.0))
            .filter(events::global_seq.gt(after))
            .order(events::global_seq.asc())
            .limit(PAGE)
            .select(EventRow::as_select())
            .load(&mut conn)
            .map_err(other)?;
        let Some(last) = page.last().map(|e| e.global_seq) else {
            break;
        };
        for event in page {
            let line = json!({
                "global_seq": event.global_seq,
                "event_id": event.event_id,
                "stream_type": event.stream_type,
                "stream_id": event.stream_id,
                "stream_version": event.stream_version,
                "event_type": event.event_type,
                "recorded_at": event.recorded_at,
                "metadata": event.metadata,
                "payload": opened(subject, account, &event),
            });
            serde_json::to_writer(&mut zip, &line).map_err(other)?;
            zip.write_all(b"\n")?;
        }
        after = last;
    }
    zip.finish().map_err(other)?;
    Ok(())
}

/// An event's payload with the fields sealed under the subject key opened
/// (a field that does not open is left sealed).
fn opened(subject: &SubjectKey, account: AccountId, event: &EventRow) -> Value {
    let mut payload = event.payload.clone();
    let mut open = |field: &str, table: &'static str, row: String, name: &'static str| {
        let Some(sealed) = payload.get(field).and_then(Value::as_str) else {
            return;
        };
        if let Ok(plain) = subject.decrypt(sealed, &Aad::new(account, table, row, name)) {
            payload[field] = Value::String(plain.to_string());
        }
    };
    match event.event_type.as_str() {
        "account.created" => open("company", "accounts", account.to_string(), "company"),
        "user.registered" => {
            let user = event.payload["user_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            for field in ["email", "first_name", "last_name"] {
                open(field, "users", user.clone(), field);
            }
        }
        "upload.received" => open("details", "uploads", event.stream_id.to_string(), "details"),
        "job.created.v2" | "job.updated.v2" => {
            open("details", "jobs", event.stream_id.to_string(), "details");
        }
        "connection.created.v2" => open(
            "details",
            "connections",
            event.stream_id.to_string(),
            "details",
        ),
        "run.finished.v2" => open("message", "runs", event.stream_id.to_string(), "message"),
        "mapping_template.saved" => open(
            "details",
            "mapping_templates",
            event.stream_id.to_string(),
            "details",
        ),
        "token.issued.v2" => open("name", "tokens", event.stream_id.to_string(), "name"),
        "billing.card_changed" => open("card", "billing", account.to_string(), "card"),
        _ => {}
    }
    payload
}
