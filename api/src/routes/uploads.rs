//! `/v1/uploads`: files to import, kept encrypted for `SLUICE_UPLOAD_TTL`.
//!
//! The body (multipart field `file`, or the raw body with `?filename=`) is
//! streamed: its first bytes are checked against the format its name
//! promises, and every chunk is encrypted under the upload's own data key
//! as it arrives, so neither memory nor disk ever holds the whole file in
//! clear. Past the size limit the upload stops at once with 413; content
//! that is not what the name says, or not a supported format, gets 415.
//! The file name, columns and sheets are sealed under the account's subject
//! key; the data key is wrapped by the keyring and kept apart from the file,
//! and destroying it destroys the file.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody};
use crate::people::{invalid, subject_key};
use crate::views::imports as views;
use crate::AppState;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use sluice_connectors::detect::{Format, ACCEPTED};
use sluice_events::event::UploadRemoved;
use sluice_schema::ids::{AccountId, UploadId};
use sluice_schema::key_version::KeyVersion;
use sluice_schema::models::UploadRow;
use sluice_schema::repo::uploads as repo;
use sluice_vault::{Aad, FileStore};
use std::io::BufReader;
use utoipa::IntoParams;
use uuid::Uuid;

mod in_flight;
mod receive;

pub use in_flight::InFlight;

use receive::accept;
pub(crate) use receive::receive;

/// The store's directory for uploads.
pub const KIND: &str = "uploads";

/// What binds an upload's file and data key to it.
pub fn file_owner(account: AccountId, id: UploadId) -> Aad {
    sluice_vault::owner::upload_file(account, id)
}

fn details_aad(account: AccountId, id: UploadId) -> Aad {
    sluice_vault::owner::upload_details(account, id)
}

/// What is sealed about an upload: its name and shape.
#[derive(Serialize, Deserialize)]
struct Details {
    filename: String,
    #[serde(flatten)]
    shape: ShapeDetails,
}

#[derive(Serialize, Deserialize)]
struct ShapeDetails {
    columns: Vec<String>,
    sheets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    csv: Option<views::CsvDialect>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RawUpload {
    /// The file's name, for a raw body (a form's part names its file
    /// itself): `.csv`, `.tsv`, `.txt`, `.xlsx`, `.xlsm`, `.xls` or `.ods`.
    filename: Option<String>,
}

/// A file name as given by a browser or a client: its last path component,
/// printable, at most 255 characters.
pub(crate) fn file_name(given: &str) -> Result<String, ApiError> {
    let base = given.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base.is_empty() || base == "." || base == ".." {
        return Err(invalid("filename", "the file needs a name"));
    }
    if base.chars().count() > 255 || base.chars().any(char::is_control) {
        return Err(invalid(
            "filename",
            "the file name must be at most 255 printable characters",
        ));
    }
    Ok(base.to_owned())
}

pub(crate) fn promised_format(name: &str) -> Result<Format, ApiError> {
    Format::from_name(name).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "only CSV and spreadsheet files can be imported: name the file {ACCEPTED}"
        ))
    })
}

/// Uploads a file to import, streamed and encrypted as it arrives, and
/// describes it. It is kept for `SLUICE_UPLOAD_TTL` (an hour by default).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(RawUpload),
    request_body(
        description = "The file: a `multipart/form-data` part `file`, or the raw body with \
            `?filename=`.",
        content(
            (views::UploadForm = "multipart/form-data"),
            (Vec<u8> = "application/octet-stream"),
        )
    ),
    responses(
        Authenticated,
        (status = 201, description = "The upload, described.", body = views::Upload),
        (status = 400, description = "`bad_request`: a broken form, a part other than `file`, \
            more than one file, a body that broke off; or the query string is unreadable.", body = ErrorBody),
        (status = 408, description = "`request_timeout`: the body stopped coming for longer \
            than `SLUICE_BODY_IDLE_TIMEOUT`; the connection closes.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `SLUICE_UPLOAD_MAX_BYTES`; the \
            connection closes.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a name that is not a CSV or a \
            spreadsheet, or content that is not what the name says.", body = ErrorBody),
        (status = 422, description = "`invalid`: no file name, no file, or a file that is \
            empty, broken or a compression bomb.", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: the caller is sending as many \
            uploads at once as one user may.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying (5)."))),
    )
)]
#[post("/v1/uploads")]
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<RawUpload>,
    payload: web::Payload,
) -> HttpResponse {
    match accept(user, state, req, query, payload).await {
        Ok(created) => HttpResponse::Created().json(created),
        Err(e) => {
            // The rest of a refused body is not read: the connection closes
            // rather than wait for it.
            let mut response = actix_web::ResponseError::error_response(&e);
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
            response
        }
    }
}

fn show_view(
    id: UploadId,
    filename: &str,
    format: &str,
    size_bytes: i64,
    shape: &ShapeDetails,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> views::Upload {
    views::Upload {
        id: id.0,
        filename: filename.to_owned(),
        format: format.to_owned(),
        size_bytes,
        columns: shape.columns.clone(),
        sheets: shape.sheets.clone(),
        csv: shape.csv.clone(),
        created_at,
        expires_at,
    }
}

/// The caller's account's upload, if it is still there: an expired one is
/// refused with 410 even before the sweep has destroyed it.
async fn find_live(state: &AppState, user: &AuthUser, id: Uuid) -> Result<UploadRow, ApiError> {
    let account = user.account_id;
    let row = state
        .db(move |conn| Ok(repo::find(conn, account, UploadId(id))?))
        .await?
        .ok_or(ApiError::NotFound)?;
    match row.removed_reason.as_deref() {
        Some("deleted") => return Err(ApiError::NotFound),
        Some(_) => return Err(expired(&row)),
        None => {}
    }
    if row.expires_at <= state.platform.clock.now() {
        return Err(expired(&row));
    }
    Ok(row)
}

fn expired(row: &UploadRow) -> ApiError {
    ApiError::Gone(format!(
        "this upload expired at {} and its file is deleted; upload the file again",
        row.expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ))
}

/// A live upload of the caller's account with its columns and, for a CSV,
/// its dialect (for jobs that read it).
pub(crate) async fn described(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> Result<(UploadRow, Vec<String>), ApiError> {
    let (row, _, columns) = described_named(state, user, id).await?;
    Ok((row, columns))
}

/// A live upload of the account with its file name and header.
pub(crate) async fn described_named(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> Result<(UploadRow, String, Vec<String>), ApiError> {
    let row = find_live(state, user, id).await?;
    let subject = subject_key(state, user.account_id).await?;
    let plain = subject
        .decrypt(
            &row.details,
            &details_aad(user.account_id, UploadId(row.upload_id)),
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let details: Details =
        serde_json::from_str(&plain).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((row, details.filename, details.shape.columns))
}

/// Opens a live upload's file, decrypting as it is read (blocking I/O: call
/// it on the blocking pool).
pub(crate) fn open_file(
    state: &AppState,
    row: &UploadRow,
    key: (KeyVersion, Vec<u8>),
) -> Result<BufReader<sluice_vault::DecryptReader<std::fs::File>>, ApiError> {
    let id = UploadId(row.upload_id);
    let owner = file_owner(AccountId(row.account_id), id);
    let (version, wrapped) = key;
    let key = state
        .keyring
        .file_key(&owner, version.get(), &wrapped)
        .map_err(|e| ApiError::Internal(format!("upload key: {e}")))?;
    let reader = state
        .store
        .reader(KIND, &id.to_string(), &key, &owner)
        .map_err(|e| ApiError::Internal(format!("upload storage: {e}")))?;
    Ok(BufReader::with_capacity(64 * 1024, reader))
}

/// An upload, as described when it was made.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The upload.")),
    responses(
        Authenticated,
        (status = 200, description = "The upload.", body = views::Upload),
        (status = 404, description = "`not_found`: no such upload in the account, or deleted.", body = ErrorBody),
        (status = 410, description = "`gone`: the upload expired (even before the sweep ran).", body = ErrorBody),
    )
)]
#[get("/v1/uploads/{id}")]
pub async fn show(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find_live(&state, &user, path.into_inner()).await?;
    let id = UploadId(row.upload_id);
    let details = opened(&state, &user, &row).await?;
    Ok(HttpResponse::Ok().json(show_view(
        id,
        &details.filename,
        &row.format,
        row.size_bytes,
        &details.shape,
        row.created_at,
        row.expires_at,
    )))
}

/// What the customer sent of `row` (its file name, its shape), opened.
async fn opened(state: &AppState, user: &AuthUser, row: &UploadRow) -> Result<Details, ApiError> {
    let account = user.account_id;
    let subject = subject_key(state, account).await?;
    let plain = subject
        .decrypt(&row.details, &details_aad(account, UploadId(row.upload_id)))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    serde_json::from_str(&plain).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The file name of a live upload of the caller's account; none once it is
/// gone (expired or deleted).
pub(crate) async fn filename(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> Result<Option<String>, ApiError> {
    match find_live(state, user, id).await {
        Ok(row) => Ok(Some(opened(state, user, &row).await?.filename)),
        Err(ApiError::NotFound | ApiError::Gone(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes an upload now: its key is destroyed with the event, then the
/// file. The uploader, owners and admins may.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The upload.")),
    responses(
        Authenticated,
        (status = 204, description = "The upload is gone."),
        (status = 403, description = "`forbidden`: a member who did not upload it.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such upload in the account, or deleted.", body = ErrorBody),
        (status = 410, description = "`gone`: the upload expired already.", body = ErrorBody),
    )
)]
#[delete("/v1/uploads/{id}")]
pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find_live(&state, &user, path.into_inner()).await?;
    if row.user_id != user.user_id.0 && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only the uploader, owners and admins delete an upload".into(),
        ));
    }
    remove(
        &state.platform,
        &state.store,
        user.account_id,
        UploadId(row.upload_id),
        "deleted",
        state.metadata(format!("user:{}", user.user_id)),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Records an upload's removal, destroying its data key in the same
/// transaction, then deletes the file (already unreadable).
pub async fn remove(
    platform: &sluice_events::Platform,
    store: &FileStore,
    account: AccountId,
    id: UploadId,
    reason: &str,
    metadata: sluice_events::Metadata,
) -> Result<(), ApiError> {
    platform
        .appender
        .append(UploadRemoved::request(account.0, id.0, reason, metadata))
        .await?;
    let store = store.clone();
    web::block(move || store.remove(KIND, &id.to_string()))
        .await?
        .map_err(|e| ApiError::Internal(format!("upload storage: {e}")))?;
    Ok(())
}
