//! Receiving an upload: the body checked against the format its name
//! promises as its first bytes arrive, encrypted chunk by chunk on its way
//! to disk, then described and recorded.

use super::{
    details_aad, file_name, file_owner, promised_format, show_view, Details, RawUpload,
    ShapeDetails, KIND,
};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::people::{invalid, subject_key};
use crate::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest};
use chrono::SubsecRound;
use futures_util::{Stream, StreamExt};
use sluice_connectors::detect::{self, DetectError, Format, Shape, HEAD};
use sluice_events::event::UploadReceived;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::UploadId;
use sluice_schema::key_version::KeyVersion;
use sluice_vault::FileKey;
use std::io::{BufReader, BufWriter, Write};
use uuid::Uuid;

/// Bytes looked at before the format is judged (the longest magic number).
const SNIFF: usize = 512;

/// Bytes gathered from the body before they are encrypted and written.
const WRITE_AT: usize = 1024 * 1024;

/// Encrypts and writes `bytes` on the blocking pool; gives the writer and
/// the emptied buffer back.
async fn write_out<W: Write + Send + 'static>(
    writer: Option<W>,
    mut bytes: Vec<u8>,
) -> std::io::Result<(W, Vec<u8>)> {
    let mut writer = writer.ok_or_else(|| std::io::Error::other("the upload's writer is gone"))?;
    if bytes.is_empty() {
        return Ok((writer, bytes));
    }
    web::block(move || {
        writer.write_all(&bytes)?;
        bytes.clear();
        Ok((writer, bytes))
    })
    .await
    .map_err(std::io::Error::other)?
}

fn detect_error(e: DetectError) -> ApiError {
    match e {
        DetectError::Unsupported(message) => ApiError::UnsupportedMediaType(message),
        DetectError::Invalid(message) => invalid("file", message),
    }
}

pub(super) async fn accept(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<RawUpload>,
    payload: web::Payload,
) -> Result<crate::views::imports::Upload, ApiError> {
    let limit = state.upload_max_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let received = if multipart {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        let mut received = None;
        let idle = state.body_idle_timeout;
        while let Some(field) = tokio::time::timeout(idle, form.next())
            .await
            .map_err(|_| stalled(idle))?
        {
            let field = field.map_err(|e| ApiError::BadRequest(format!("multipart body: {e}")))?;
            if field.name() != Some("file") {
                return Err(ApiError::BadRequest(
                    "the form may only carry the field `file`".into(),
                ));
            }
            if received.is_some() {
                return Err(ApiError::BadRequest("upload one file per request".into()));
            }
            let given = field
                .content_disposition()
                .and_then(|d| d.get_filename().map(str::to_owned))
                .or_else(|| query.filename.clone())
                .ok_or_else(|| invalid("filename", "the file part carries no file name"))?;
            let filename = file_name(&given)?;
            let format = promised_format(&filename)?;
            let stream = field.map(|chunk| chunk.map_err(|e| e.to_string()));
            received = Some(receive(&state, &user, filename, format, stream).await?);
        }
        received.ok_or_else(|| invalid("file", "the form carries no field `file`"))?
    } else {
        let given = query.filename.clone().ok_or_else(|| {
            invalid(
                "filename",
                "name the file with ?filename=, or send a multipart form with the field `file`",
            )
        })?;
        let filename = file_name(&given)?;
        let format = promised_format(&filename)?;
        let stream = payload.map(|chunk| chunk.map_err(|e| e.to_string()));
        receive(&state, &user, filename, format, stream).await?
    };
    Ok(received)
}

/// A body that sent nothing for `idle`.
fn stalled(idle: std::time::Duration) -> ApiError {
    ApiError::Timeout(format!(
        "the upload sent nothing for {} s; send the file again",
        idle.as_secs()
    ))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::PayloadTooLarge {
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    }
}

/// Streams a file into the store, encrypting as it goes, reads its shape,
/// and records it. The upload as the API shows it.
pub(crate) async fn receive(
    state: &AppState,
    user: &AuthUser,
    filename: String,
    format: Format,
    mut body: impl Stream<Item = Result<Bytes, String>> + Unpin,
) -> Result<crate::views::imports::Upload, ApiError> {
    let _slot = state.uploads_in_flight.acquire(user.user_id)?;
    let account = user.account_id;
    let id = UploadId(Uuid::now_v7());
    let owner = file_owner(account, id);
    let key = FileKey::generate();
    let store = state.store.clone();
    let (staged, file) = store
        .stage(KIND, &id.to_string())
        .map_err(|e| ApiError::Internal(format!("upload storage: {e}")))?;
    let mut writer = Some(
        key.writer(&owner, BufWriter::with_capacity(256 * 1024, file))
            .map_err(|e| ApiError::Internal(format!("upload storage: {e}")))?,
    );
    let storage = |e: std::io::Error| ApiError::Internal(format!("upload storage: {e}"));

    // Chunks are gathered in memory up to WRITE_AT bytes, then encrypted and
    // written on the blocking pool; no thread waits there for the client,
    // and a client that sends nothing for the idle timeout is refused.
    let limit = state.upload_max_bytes;
    let idle = state.body_idle_timeout;
    let mut head: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut pending: Vec<u8> = Vec::with_capacity(WRITE_AT);
    let mut size = 0u64;
    let mut judged = false;
    loop {
        let chunk = match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(chunk)) => {
                chunk.map_err(|e| ApiError::BadRequest(format!("the upload broke off: {e}")))?
            }
            Ok(None) => break,
            Err(_) => return Err(stalled(idle)),
        };
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        if head.len() < HEAD {
            let take = (HEAD - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        if !judged && head.len() >= SNIFF {
            detect::check(format, detect::sniff(&head)).map_err(detect_error)?;
            judged = true;
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= WRITE_AT {
            let (back, emptied) = write_out(writer.take(), pending).await.map_err(storage)?;
            writer = Some(back);
            pending = emptied;
        }
    }
    if !judged {
        detect::check(format, detect::sniff(&head)).map_err(detect_error)?;
    }
    let (writer, _) = write_out(writer.take(), pending).await.map_err(storage)?;
    let written = web::block(move || -> std::io::Result<u64> {
        let (buffered, size) = writer.finish().map_err(std::io::Error::other)?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(size)
    })
    .await?
    .map_err(storage)?;
    // A refused upload leaves nothing: the staging file goes with `staged`.
    if written != size {
        return Err(ApiError::Internal("upload storage: size mismatch".into()));
    }

    let (kek_version, wrapped_key) = key.wrap(&state.keyring.get(), &owner);
    let shape = match format {
        Format::Csv => detect::csv_shape(&head, size <= HEAD as u64).map_err(detect_error)?,
        _ => {
            let path = staged.path().to_owned();
            let owner = owner.clone();
            web::block(move || -> Result<Shape, ApiError> {
                let file = std::fs::File::open(&path)
                    .map_err(|e| ApiError::Internal(format!("upload storage: {e}")))?;
                let reader = key
                    .reader(&owner, file)
                    .map_err(|e| ApiError::Internal(format!("upload storage: {e}")))?;
                detect::spreadsheet_shape(format, BufReader::with_capacity(64 * 1024, reader))
                    .map_err(detect_error)
            })
            .await??
        }
    };
    drop(head);

    let subject = subject_key(state, account).await?;
    let details = Details {
        filename: filename.clone(),
        shape: ShapeDetails {
            columns: shape.columns.clone(),
            sheets: shape.sheets.clone(),
            csv: shape
                .csv
                .as_ref()
                .map(|c| crate::views::imports::CsvDialect {
                    encoding: c.encoding.clone(),
                    delimiter: c.delimiter.clone(),
                }),
        },
    };
    let plain = serde_json::to_string(&details).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed_details = subject.encrypt(&plain, &details_aad(account, id));
    let expires_at = (state.platform.clock.now() + state.upload_ttl).trunc_subsecs(0);
    let size_bytes = i64::try_from(size).unwrap_or(i64::MAX);

    // Renamed into place, or uploaded to the object store.
    let committing = store.clone();
    web::block(move || committing.commit(staged, KIND, &id.to_string()))
        .await?
        .map_err(storage)?;
    let event = NewEvent::new(
        DomainEvent::UploadReceived(UploadReceived {
            user_id: user.user_id.0,
            format: format.as_str().into(),
            size_bytes,
            details: sealed_details,
            expires_at,
        }),
        state.metadata(format!("user:{}", user.user_id)),
    )
    .for_account(account);
    let request = AppendRequest::new("upload", id.0, ExpectedVersion::NoStream, vec![event])
        .with_secret(SecretWrite::UploadKey {
            upload_id: id.0,
            account_id: account.0,
            kek_version: KeyVersion(kek_version),
            wrapped_key,
        });
    let recorded = match state.platform.appender.append(request).await {
        Ok(recorded) => recorded,
        Err(e) => {
            let _ = web::block(move || store.remove(KIND, &id.to_string())).await;
            return Err(e.into());
        }
    };
    tracing::info!(upload = %id, format = format.as_str(), size_bytes, "upload stored");
    let created_at = recorded
        .events()
        .first()
        .map(|e| e.recorded_at)
        .unwrap_or_else(|| state.platform.clock.now());
    Ok(show_view(
        id,
        &filename,
        format.as_str(),
        size_bytes,
        &details.shape,
        created_at,
        expires_at,
    ))
}
