//! `POST /v1/uploads/dropbox` `{connection_id, path}`: a file of a connected
//! Dropbox account becomes an upload. It is downloaded with the
//! connection's token (renewed once if it expired, and the new one kept)
//! and streamed through what `POST /v1/uploads` does with a file: its
//! format judged by its content, encrypted as it arrives, kept for
//! `SLUICE_UPLOAD_TTL`. A job then imports it by its `upload_id`.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::{invalid, text};
use crate::routes::{connections, provider_connect, uploads};
use crate::views::imports as views;
use crate::AppState;
use actix_web::{post, web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use sluice_connectors::dropbox::{Dropbox, DropboxError};
use sluice_schema::ids::ConnectionId;
use sluice_schema::kinds::ConnectionKind;
use utoipa::ToSchema;
use uuid::Uuid;
use zeroize::Zeroizing;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromDropbox {
    /// A Dropbox connection of the account.
    connection_id: Uuid,
    /// The file's path in the Dropbox account, such as
    /// `/Exports/contacts.csv` (Dropbox matches paths without regard to
    /// case).
    path: String,
}

/// A file of a connected Dropbox account becomes an upload: downloaded,
/// judged by its content and encrypted as it arrives, like `POST
/// /v1/uploads`.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The upload, described.", body = views::Upload),
        (status = 404, description = "`not_found`: this deployment has no Dropbox app.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the file is over \
            `SLUICE_UPLOAD_MAX_BYTES`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not a CSV or a spreadsheet, or \
            content that is not what the name says.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: no such Dropbox connection, \
            no such file, a connection Dropbox no longer accepts, a file that is empty, broken or \
            a compression bomb; or a field is missing, unknown or of the wrong type.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Dropbox failed, or is limiting requests.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "When Dropbox is limiting requests: seconds to wait."))),
    )
)]
#[post("/v1/uploads/dropbox")]
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<FromDropbox>,
) -> Result<HttpResponse, ApiError> {
    let config = state.dropbox.as_ref().ok_or(ApiError::NotFound)?;
    let path = text("path", &body.path, 1024)?;
    let row = match connections::find(&state, &user, body.connection_id).await {
        Err(ApiError::NotFound) => return Err(invalid("connection_id", "no such connection")),
        other => other?,
    };
    if row.kind != ConnectionKind::Dropbox {
        return Err(invalid("connection_id", "this is not a Dropbox connection"));
    }
    let account = user.account_id;
    let id = ConnectionId(row.connection_id);
    let sealed = connections::sealed_secret(&state, account, id).await?;
    let mut tokens = provider_connect::tokens::open_tokens(&state, account, id, sealed)?;
    let mut dropbox = Dropbox::new(
        state.http.clone(),
        config.app(),
        Zeroizing::new(tokens.access_token.clone()),
        tokens.refresh_token.clone().map(Zeroizing::new),
    );
    let opened = dropbox.open(&path).await;
    if let Some(renewed) = dropbox.renewed_access_token() {
        tokens.access_token = renewed.to_string();
        provider_connect::tokens::keep(&state, account, id, &tokens).await?;
    }
    let (info, content) = opened.map_err(|e| match e {
        DropboxError::NotFound(_) => invalid("path", e.to_string()),
        DropboxError::Reconnect => invalid("connection_id", e.to_string()),
        DropboxError::RateLimited(seconds) => ApiError::Upstream {
            message: e.to_string(),
            retry_after_secs: Some(seconds),
        },
        other => ApiError::Upstream {
            message: other.to_string(),
            retry_after_secs: None,
        },
    })?;
    let filename = uploads::file_name(&info.name)?;
    let format = uploads::promised_format(&filename)?;
    let content = content.map(|piece| piece.map_err(|e| e.to_string()));
    let created = uploads::receive(&state, &user, filename, format, content).await?;
    tracing::info!(connection = %id, "a Dropbox file was stored as an upload");
    Ok(HttpResponse::Created().json(created))
}
