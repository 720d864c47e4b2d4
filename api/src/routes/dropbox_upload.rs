//! `POST /v1/uploads/dropbox` `{connection_id, path}`: a file of a connected
//! Dropbox account becomes an upload. It is downloaded with the
//! connection's token (renewed once if it expired, and the new one kept)
//! and streamed through what `POST /v1/uploads` does with a file: its
//! format judged by its content, encrypted as it arrives, kept for
//! `SLUICE_UPLOAD_TTL`. A job then imports it by its `upload_id`.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::people::{invalid, text};
use crate::routes::{connections, provider_connect, uploads};
use crate::AppState;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use sluice_connectors::dropbox::{Dropbox, DropboxError};
use sluice_schema::ids::ConnectionId;
use uuid::Uuid;
use zeroize::Zeroizing;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromDropbox {
    connection_id: Uuid,
    path: String,
}

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
    if row.kind != "dropbox" {
        return Err(invalid("connection_id", "this is not a Dropbox connection"));
    }
    let account = user.account_id;
    let id = ConnectionId(row.connection_id);
    let sealed = connections::sealed_secret(&state, account, id).await?;
    let mut tokens = provider_connect::open_tokens(&state, account, id, sealed)?;
    let mut dropbox = Dropbox::new(
        state.http.clone(),
        config.app(),
        Zeroizing::new(tokens.access_token.clone()),
        tokens.refresh_token.clone().map(Zeroizing::new),
    );
    let opened = dropbox.open(&path).await;
    if let Some(renewed) = dropbox.renewed_access_token() {
        tokens.access_token = renewed.to_string();
        provider_connect::keep(&state, account, id, &tokens).await?;
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
