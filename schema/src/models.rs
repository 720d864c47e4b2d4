//! Rows as diesel reads and writes them.

pub use crate::job::JobDetails;
use crate::job::Operation;
use crate::schema::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub global_seq: i64,
    pub event_id: Uuid,
    pub stream_type: String,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub account_id: Option<Uuid>,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = probes, check_for_backend(diesel::pg::Pg))]
pub struct ProbeRow {
    pub probe_id: Uuid,
    pub status: String,
    pub requested_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = dead_letters, check_for_backend(diesel::pg::Pg))]
pub struct DeadLetterRow {
    pub event_id: Uuid,
    pub event_type: String,
    pub queue: String,
    pub reason: String,
    pub delivery_count: i64,
    pub dead_lettered_at: DateTime<Utc>,
}

/// An event the relay could not publish, and what the operator did with it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = relay_quarantine, check_for_backend(diesel::pg::Pg))]
pub struct QuarantineRow {
    pub global_seq: i64,
    pub cursor_name: String,
    pub event_id: Uuid,
    pub event_type: String,
    pub reason: String,
    pub quarantined_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg))]
pub struct AccountRow {
    pub account_id: Uuid,
    pub region: String,
    /// Encrypted under the account's subject key.
    pub company: String,
    pub country: String,
    pub plan: crate::kinds::Plan,
    pub created_at: DateTime<Utc>,
    /// Days result files are kept, when the account chose (Enterprise).
    pub result_retention_days: Option<i32>,
    /// False: the account keeps no result files, and runs cannot be rolled
    /// back (Enterprise).
    pub store_results: bool,
    /// When the account was erased (its data destroyed).
    pub erased_at: Option<DateTime<Utc>>,
}

/// Names and email are encrypted under the account's subject key.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub email_index: Vec<u8>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

/// A session or an API token. An API token's name is sealed in
/// `sealed_name` under the account's subject key; one issued before
/// sealing has it in clear in `name`: read it through
/// [`TokenRow::opened_name`].
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens, check_for_backend(diesel::pg::Pg))]
pub struct TokenRow {
    pub token_id: Uuid,
    pub account_id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    /// In clear only for a token issued before sealing.
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The name, sealed under the account's subject key.
    pub sealed_name: Option<String>,
}

impl TokenRow {
    /// The token's name (none for a session): opened from `sealed_name` by
    /// `open` (the subject key), or, for a token issued before sealing, its
    /// clear column.
    pub fn opened_name<E>(
        &self,
        open: impl FnOnce(&str) -> Result<String, E>,
    ) -> Result<Option<String>, E> {
        match &self.sealed_name {
            Some(sealed) => open(sealed).map(Some),
            None => Ok(self.name.clone()),
        }
    }
}

/// A connection. Its name and parameters are sealed in `details` under the
/// account's subject key; `params` keeps only what is Sluice's own (the TLS
/// mode). A connection recorded before sealing has `name` and `params` in
/// clear and no `details`: read it through [`ConnectionRow::details`].
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = connections, check_for_backend(diesel::pg::Pg))]
pub struct ConnectionRow {
    pub connection_id: Uuid,
    pub account_id: Uuid,
    /// In clear only for a connection recorded before sealing.
    pub name: Option<String>,
    pub kind: crate::kinds::ConnectionKind,
    pub params: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// The last test's time, whether it passed, and why not (a code);
    /// none until the connection is first tested.
    pub last_tested_at: Option<DateTime<Utc>>,
    pub last_test_ok: Option<bool>,
    pub last_test_reason: Option<String>,
    /// [`ConnectionDetails`] as JSON, sealed under the account's subject key.
    pub details: Option<String>,
}

/// What a customer typed of a connection: sealed as one JSON blob.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionDetails {
    pub name: String,
    /// PostgreSQL: host, port, dbname, user, sslmode and ca_cert;
    /// Salesforce: instance_url and login_url; Dropbox: account_id.
    pub params: serde_json::Value,
}

/// Why sealed customer text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DetailsError<E> {
    /// The subject key did not open it (erased, or not this row's).
    #[error("the sealed details cannot be opened: {0}")]
    Open(E),
    #[error("the sealed details are not what they should be: {0}")]
    Shape(#[from] serde_json::Error),
}

/// Opens `sealed` with `open` and reads it as `T`.
fn opened<T: serde::de::DeserializeOwned, E>(
    sealed: &str,
    open: impl FnOnce(&str) -> Result<String, E>,
) -> Result<T, DetailsError<E>> {
    let plain = open(sealed).map_err(DetailsError::Open)?;
    Ok(serde_json::from_str(&plain)?)
}

impl ConnectionRow {
    /// The connection's name and parameters: opened from `details` by
    /// `open` (the subject key), or, for a connection recorded before
    /// sealing, its clear columns.
    pub fn details<E>(
        &self,
        open: impl FnOnce(&str) -> Result<String, E>,
    ) -> Result<ConnectionDetails, DetailsError<E>> {
        match &self.details {
            Some(sealed) => opened(sealed, open),
            None => Ok(ConnectionDetails {
                name: self.name.clone().unwrap_or_default(),
                params: self.params.clone(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = uploads, check_for_backend(diesel::pg::Pg))]
pub struct UploadRow {
    pub upload_id: Uuid,
    pub account_id: Uuid,
    pub user_id: Uuid,
    pub format: String,
    pub size_bytes: i64,
    /// File name, columns and sheets, sealed under the account's subject key.
    pub details: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
    pub removed_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = key_rotations, check_for_backend(diesel::pg::Pg))]
pub struct KeyRotationRow {
    pub rotation_id: Uuid,
    pub primary_key: crate::key_version::KeyVersion,
    pub requested_at: DateTime<Utc>,
    /// Rows rewrapped so far, by table.
    pub progress: serde_json::Value,
    pub finished_at: Option<DateTime<Utc>>,
    pub finished_by: Option<String>,
}

/// A job. What the customer typed of it is sealed in `details` under the
/// account's subject key; `source` and `target` keep only ids in clear. A
/// job recorded before sealing has `name`, `key_fields`, `mapping` and the
/// whole `source` and `target` in clear and no `details`: read it through
/// [`JobRow::details`].
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    pub job_id: Uuid,
    pub account_id: Uuid,
    /// In clear only for a job recorded before sealing.
    pub name: Option<String>,
    /// `{"upload_id"}` or `{"connection_id"}` (ids only, unless recorded
    /// before sealing).
    pub source: serde_json::Value,
    /// `{"connection_id"}` (likewise).
    pub target: serde_json::Value,
    pub operation: Operation,
    /// In clear only for a job recorded before sealing.
    pub key_fields: Option<serde_json::Value>,
    /// In clear only for a job recorded before sealing.
    pub mapping: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// When runs start by themselves: a cron expression, in UTC.
    pub schedule: Option<String>,
    /// Since when the schedule holds (its earlier slots never fire).
    pub schedule_since: Option<DateTime<Utc>>,
    /// [`JobDetails`] as JSON, sealed under the account's subject key.
    pub details: Option<String>,
    /// A scheduled job's runs first retry the rows its previous run failed.
    pub retry_failed: bool,
    /// The schedule's slots pass without a run until it is resumed.
    pub schedule_paused: bool,
}

impl JobRow {
    /// The job's name, source, target, key fields and mapping: opened from
    /// `details` by `open` (the subject key), or, for a job recorded before
    /// sealing, read from its clear columns. Either is an error when it does
    /// not read as a job's definition (nothing is made up).
    pub fn details<E>(
        &self,
        open: impl FnOnce(&str) -> Result<String, E>,
    ) -> Result<JobDetails, DetailsError<E>> {
        match &self.details {
            Some(sealed) => opened(sealed, open),
            None => Ok(serde_json::from_value(serde_json::json!({
                "name": self.name,
                "source": self.source,
                "target": self.target,
                "key_fields": self.key_fields.clone().unwrap_or_else(|| serde_json::json!([])),
                "mapping": self.mapping,
            }))?),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = runs, check_for_backend(diesel::pg::Pg))]
pub struct RunRow {
    pub run_id: Uuid,
    pub account_id: Uuid,
    pub job_id: Uuid,
    pub kind: crate::kinds::RunKind,
    pub status: crate::kinds::RunStatus,
    pub rows_read: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    pub rows_total: Option<i64>,
    pub message: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub worker: Option<String>,
    /// When success.csv and errors.csv are deleted.
    pub results_expire_at: Option<DateTime<Utc>>,
    pub results_removed_at: Option<DateTime<Utc>>,
    /// For a rollback: the run it undoes.
    pub rollback_of: Option<Uuid>,
    /// For a run rolled back: its (latest) rollback.
    pub rolled_back_by: Option<Uuid>,
    /// Calls the run made to its target's API (Salesforce).
    pub api_calls: Option<i64>,
    /// Why the run failed, sealed under the account's subject key (`message`
    /// holds it in clear only for a run that ended before sealing).
    pub sealed_message: Option<String>,
    /// Rows the job's filter set aside (in skipped.csv).
    pub rows_skipped: i64,
    /// For a trial run: the rows it was asked to write.
    pub sample_rows: Option<i32>,
    /// For a trial run: which rows (random or the first).
    pub sample_order: Option<crate::kinds::SampleOrder>,
    /// For the rest of a trial: the trial.
    pub remaining_of: Option<Uuid>,
    /// For a retry: the run whose failed rows it writes again.
    pub retry_of: Option<Uuid>,
}

impl RunRow {
    /// Why the run failed as a whole: opened from `sealed_message` by `open`
    /// (the subject key), or, for a run that ended before sealing, its clear
    /// column.
    pub fn opened_message<E>(
        &self,
        open: impl FnOnce(&str) -> Result<String, E>,
    ) -> Result<Option<String>, E> {
        match &self.sealed_message {
            Some(sealed) => open(sealed).map(Some),
            None => Ok(self.message.clone()),
        }
    }
}

/// An account's billing at Stripe (see `migrations/…_billing`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = billing, check_for_backend(diesel::pg::Pg))]
pub struct BillingRow {
    pub account_id: Uuid,
    /// The Stripe customer (`cus_…`).
    pub customer_id: String,
    /// The subscription the account is on (`sub_…`), if any.
    pub subscription_id: Option<String>,
    /// Stripe's status of it: `active`, `past_due`, `canceled`…
    pub subscription_status: Option<String>,
    /// When Stripe changed the subscription last (of the events applied).
    pub subscription_at: Option<DateTime<Utc>>,
    /// Sealed under the account's subject key: the card's brand, last 4,
    /// expiry month and year, as JSON.
    pub card: Option<String>,
    pub card_at: Option<DateTime<Utc>>,
    /// When a payment last failed, until the subscription is paid again.
    pub payment_failed_at: Option<DateTime<Utc>>,
}

/// An account's saved mapping: its name and entries sealed under the
/// account's subject key (`details`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::mapping_templates, check_for_backend(diesel::pg::Pg))]
pub struct MappingTemplateRow {
    pub template_id: Uuid,
    pub account_id: Uuid,
    pub details: String,
    pub created_at: DateTime<Utc>,
}
