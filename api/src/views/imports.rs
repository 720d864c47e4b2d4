//! What the operations about connections, uploads, jobs and runs answer.
//! A job's source, target, operation and mapping are sent as the types of
//! `sluice_schema::job`, which the document describes too. A connection's
//! parameters are sent as they were stored; the types here that describe
//! them (`ConnectionParams`) only describe them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_schema::job::{FieldMapping, Operation, Source, Target};
use utoipa::ToSchema;
use uuid::Uuid;

/// A connection's metadata: never its password or tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct Connection {
    pub id: Uuid,
    pub name: String,
    /// `postgres`, `salesforce` or `dropbox`.
    pub kind: String,
    #[schema(value_type = ConnectionParams)]
    pub params: serde_json::Value,
    pub created_at: Option<DateTime<Utc>>,
    /// The last test (when it was added, or on request); `null`: never
    /// tested (saved with `"test": false`, or connected through a provider).
    pub last_test: Option<LastTest>,
}

/// A connection's last test.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastTest {
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// Why not, when `ok` is false: `unreachable`, `authentication_failed`,
    /// `no_such_database`, `tls_failed` or `provider_refused`.
    pub reason: Option<String>,
    /// The reason in words.
    pub message: Option<String>,
}

/// What identifies the system, by the connection's kind.
#[expect(
    dead_code,
    reason = "describes `Connection::params` in the document; nothing builds it"
)]
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ConnectionParams {
    Postgres(PostgresParams),
    Salesforce(SalesforceParams),
    Dropbox(DropboxParams),
}

/// A PostgreSQL database (the password is kept sealed, apart).
#[derive(Serialize, ToSchema)]
pub struct PostgresParams {
    host: String,
    port: u16,
    dbname: String,
    user: String,
    /// `verify-full`, `verify-ca`, `require` or `disable` (connections
    /// saved before these four were the only choices may show `allow` or
    /// `prefer`).
    sslmode: String,
    /// Whether a CA certificate of the connection's own is trusted instead
    /// of the system's roots (the certificate is not shown).
    has_ca_cert: bool,
    /// Whether the server's certificate is checked: false for `require`
    /// (anyone on the network path could pose as the server) and `disable`.
    verifies_server: bool,
    /// What the TLS mode protects against, in words.
    tls: String,
}

/// A Salesforce org.
#[derive(Serialize, ToSchema)]
pub struct SalesforceParams {
    instance_url: String,
    /// The login host it was connected through.
    login_url: Option<String>,
}

/// A Dropbox account.
#[derive(Serialize, ToSchema)]
pub struct DropboxParams {
    account_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Connections {
    pub connections: Vec<Connection>,
}

/// Whether the system answered with the stored credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    pub ok: bool,
    /// Why not, when `ok` is false: `unreachable`, `authentication_failed`,
    /// `no_such_database`, `tls_failed` or `provider_refused`.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason in words (never the password nor the server's own text).
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An upload: a file kept encrypted until `expires_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Upload {
    pub id: Uuid,
    pub filename: String,
    /// `csv`, `xlsx`, `xls` or `ods`.
    pub format: String,
    pub size_bytes: i64,
    /// The header row (of the first sheet, for a workbook).
    pub columns: Vec<String>,
    /// A workbook's sheets, in order; none for a CSV.
    pub sheets: Vec<String>,
    /// A CSV's dialect.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvDialect>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// How a CSV is written (kept sealed with the upload, as this JSON).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct CsvDialect {
    /// The encoding's WHATWG name (`UTF-8`, `windows-1252`, `UTF-16LE`...).
    pub encoding: String,
    pub delimiter: String,
}

/// An import job.
#[derive(Debug, Serialize, ToSchema)]
pub struct Job {
    pub id: Uuid,
    pub name: String,
    pub source: Source,
    pub target: Target,
    pub operation: Operation,
    pub key_fields: Vec<String>,
    pub mapping: Vec<FieldMapping>,
    /// A formula over the source's columns that holds for the rows to
    /// write; the others are skipped (skipped.csv).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub filter: Option<String>,
    /// Rows that repeat another on these mapped fields are skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub dedupe: Option<sluice_schema::job::Dedupe>,
    /// What a blank value does to a field an update or upsert changes.
    pub blank_values: sluice_schema::job::BlankValues,
    /// When the job runs by itself: a cron expression of five fields,
    /// minute hour day-of-month month day-of-week, in UTC, with the days
    /// of the week named (`0 6 * * MON-FRI`); at most 200 characters.
    pub schedule: Option<String>,
    /// Each scheduled run first retries the rows the previous one failed.
    pub retry_failed: bool,
    /// The schedule is kept but fires no run until resumed; resumed, it
    /// goes on from its next slot (the ones missed while paused never run).
    pub schedule_paused: bool,
    /// When the schedule next starts a run; `null` without a schedule or
    /// while it is paused.
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Only in the answer to `POST /v1/jobs` with `"mapping": "auto"`:
    /// how each column was matched, and the columns left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub auto_match: Option<super::targets::MappingSuggestion>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Jobs {
    pub jobs: Vec<Job>,
}

/// A run of a job: an import, or the rollback of one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub job_id: Uuid,
    /// `import` or `rollback`.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `partially_succeeded`, `failed`,
    /// `rolling_back` or `rolled_back`.
    pub status: String,
    /// Rows in the source, once known.
    pub rows_total: Option<i64>,
    pub rows_read: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// Rows the job's filter set aside (listed in `skipped.csv`); 0 for a
    /// run before filters existed.
    pub rows_skipped: i64,
    /// Why the run failed, or what it noted.
    pub message: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When `success.csv`, `skipped.csv` and `errors.csv` are deleted.
    pub results_expire_at: Option<DateTime<Utc>>,
    /// For a rollback: the run it undoes.
    pub rollback_of: Option<Uuid>,
    /// For a run rolled back: its latest rollback.
    pub rolled_back_by: Option<Uuid>,
    /// Calls the run made to its target's API (Salesforce).
    pub api_calls: Option<i64>,
    /// For a trial run: the rows it was asked to write, and which. The
    /// rows it wrote are in its success.csv; `rows_total` is the rows it
    /// chose (fewer than asked when the source has fewer).
    pub sample: Option<RunSample>,
    /// For the rest of a trial: the trial, whose written rows it left.
    pub remaining_of: Option<Uuid>,
    /// For a retry: the run whose failed rows it wrote again.
    pub retry_of: Option<Uuid>,
}

/// What a trial run was asked to write.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSample {
    /// 1 to 100,000.
    pub rows: i32,
    /// `random` or `first`.
    #[schema(example = "random")]
    pub order: String,
}

/// A job's runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Runs {
    pub runs: Vec<Run>,
}

/// A run accepted: the workers take it from the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunQueued {
    pub run_id: Uuid,
    #[schema(example = "queued")]
    pub status: String,
}

/// The source's first rows mapped as a run would write them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// The target's fields, in the mapping's order.
    pub fields: Vec<String>,
    pub rows: Vec<PreviewRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewRow {
    /// The row's number in the source (the header is row 1).
    pub row: u64,
    /// Each target field's value, null when empty, in the mapping's order.
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub values: serde_json::Map<String, serde_json::Value>,
    /// What stops the row from being written; none when it would be.
    pub errors: Vec<String>,
    /// Why a run would skip the row (the job's filter is false for it, or
    /// it repeats an earlier row the job's de-duplication keeps): it would
    /// be listed in skipped.csv, not written, and its values are not shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub skipped: Option<String>,
    /// What a run does with each field whose value is blank (not a key
    /// field): `cleared` (set to NULL / null) or `left` (the field keeps
    /// its value, or its default on a new Salesforce record); by the job's
    /// `blank_values` and operation. Absent when no field is blank.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub blanks: std::collections::BTreeMap<String, Blank>,
}

/// What a run does with a blank value (see [`PreviewRow::blanks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Blank {
    /// The field is set to NULL (PostgreSQL) or null (Salesforce).
    Cleared,
    /// The field is not written: it keeps its value, or on a new record
    /// its default.
    Left,
}

/// `POST /v1/uploads` as a form: one part, `file`, with its file name.
#[expect(
    dead_code,
    reason = "describes the form in the document; the handler reads it as multipart"
)]
#[derive(ToSchema)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A row a run could not write, and why in plain words (errors.csv keeps
/// the target's own text).
#[derive(Debug, Serialize, ToSchema)]
pub struct RowFailure {
    /// The row's number in the source (1 is the first row after the header).
    pub row: u64,
    /// The target field the reason concerns, when it names one.
    pub field: Option<String>,
    /// The source column mapped to that field, when the mapping says.
    pub column: Option<String>,
    /// Why, in plain words, without quoting any value of the row:
    /// "Email already exists in contacts", "Email is required".
    pub reason: String,
}

/// The first rows a run could not write.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowFailures {
    pub failures: Vec<RowFailure>,
    /// How many rows failed in all (errors.csv has each of them).
    pub rows_failed: i64,
}
