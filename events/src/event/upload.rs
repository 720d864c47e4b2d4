//! Uploaded files: received, removed.

use super::DomainEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadReceived {
    pub user_id: Uuid,
    /// `csv`, `xlsx`, `xls` or `ods`.
    pub format: String,
    pub size_bytes: i64,
    /// Sealed: the file name, columns and sheets (JSON).
    pub details: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRemoved {
    /// `deleted` (by a user) or `expired` (by the retention sweep).
    pub reason: String,
}

impl UploadRemoved {
    /// Removes upload `id` of `account`: the event, and the destruction of
    /// its data key in the same transaction (the file is then unreadable;
    /// the caller deletes it afterwards).
    pub fn request(
        account: Uuid,
        id: Uuid,
        reason: &str,
        metadata: crate::Metadata,
    ) -> crate::AppendRequest {
        let event = crate::NewEvent::new(
            DomainEvent::UploadRemoved(Self {
                reason: reason.into(),
            }),
            metadata,
        )
        .for_account(sluice_schema::ids::AccountId(account));
        crate::AppendRequest::new("upload", id, crate::ExpectedVersion::Any, vec![event])
            .with_secret(crate::SecretWrite::DestroyUploadKey { upload_id: id })
    }
}
