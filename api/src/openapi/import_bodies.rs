//! The shapes of what the operations about connections, uploads, jobs and
//! runs answer, and of a job's mapping (whose types live in
//! `sluice_connectors`, which knows nothing of the document). Like those
//! of [`super::account_bodies`], these types exist only to describe answers.

#![expect(
    dead_code,
    reason = "these types describe answers in the document; nothing builds them"
)]

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// A connection's metadata: never its password or tokens.
#[derive(ToSchema)]
pub struct Connection {
    id: Uuid,
    name: String,
    /// `postgres`, `salesforce` or `dropbox`.
    kind: String,
    params: ConnectionParams,
    created_at: Option<DateTime<Utc>>,
    /// The last test (when it was added, or on request); `null`: never
    /// tested (saved with `"test": false`, or connected through a provider).
    last_test: Option<LastTest>,
}

/// A connection's last test.
#[derive(ToSchema)]
pub struct LastTest {
    at: DateTime<Utc>,
    ok: bool,
    /// Why not, when `ok` is false: `unreachable`, `authentication_failed`,
    /// `no_such_database`, `tls_failed` or `provider_refused`.
    reason: Option<String>,
    /// The reason in words.
    message: Option<String>,
}

/// What identifies the system, by the connection's kind.
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

#[derive(ToSchema)]
pub struct Connections {
    connections: Vec<Connection>,
}

/// Whether the system answered with the stored credentials.
#[derive(ToSchema)]
pub struct ConnectionTest {
    ok: bool,
    /// Why not, when `ok` is false: `unreachable`, `authentication_failed`,
    /// `no_such_database`, `tls_failed` or `provider_refused`.
    #[schema(nullable = false)]
    reason: Option<String>,
    /// The reason in words (never the password nor the server's own text).
    #[schema(nullable = false)]
    message: Option<String>,
}

/// An upload: a file kept encrypted until `expires_at`.
#[derive(ToSchema)]
pub struct Upload {
    id: Uuid,
    filename: String,
    /// `csv`, `xlsx`, `xls` or `ods`.
    format: String,
    size_bytes: i64,
    /// The header row (of the first sheet, for a workbook).
    columns: Vec<String>,
    /// A workbook's sheets, in order; none for a CSV.
    sheets: Vec<String>,
    /// A CSV's dialect.
    #[schema(nullable = false)]
    csv: Option<CsvDialect>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct CsvDialect {
    /// The encoding's WHATWG name (`UTF-8`, `windows-1252`, `UTF-16LE`...).
    encoding: String,
    delimiter: String,
}

/// An import job.
#[derive(ToSchema)]
pub struct Job {
    id: Uuid,
    name: String,
    source: crate::routes::jobs::Source,
    target: crate::routes::jobs::Target,
    /// `insert`, `update`, `upsert` or `delete`.
    operation: String,
    key_fields: Vec<String>,
    mapping: Vec<FieldMapping>,
    /// When the job runs by itself: a cron expression of five fields,
    /// minute hour day-of-month month day-of-week, in UTC, with the days
    /// of the week named (`0 6 * * MON-FRI`); at most 200 characters.
    schedule: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct Jobs {
    jobs: Vec<Job>,
}

/// A run of a job: an import, or the rollback of one.
#[derive(ToSchema)]
pub struct Run {
    id: Uuid,
    job_id: Uuid,
    /// `import` or `rollback`.
    kind: String,
    /// `queued`, `running`, `succeeded`, `partially_succeeded`, `failed`,
    /// `rolling_back` or `rolled_back`.
    status: String,
    /// Rows in the source, once known.
    rows_total: Option<i64>,
    rows_read: i64,
    rows_ok: i64,
    rows_failed: i64,
    /// Why the run failed, or what it noted.
    message: Option<String>,
    requested_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    /// When `success.csv` and `errors.csv` are deleted.
    results_expire_at: Option<DateTime<Utc>>,
    /// For a rollback: the run it undoes.
    rollback_of: Option<Uuid>,
    /// For a run rolled back: its latest rollback.
    rolled_back_by: Option<Uuid>,
    /// Calls the run made to its target's API (Salesforce).
    api_calls: Option<i64>,
}

/// A job's runs, newest first.
#[derive(ToSchema)]
pub struct Runs {
    runs: Vec<Run>,
}

/// A run accepted: the workers take it from the queue.
#[derive(ToSchema)]
pub struct RunQueued {
    run_id: Uuid,
    #[schema(example = "queued")]
    status: String,
}

/// The source's first rows mapped as a run would write them.
#[derive(ToSchema)]
pub struct Preview {
    /// The target's fields, in the mapping's order.
    fields: Vec<String>,
    rows: Vec<PreviewRow>,
}

#[derive(ToSchema)]
pub struct PreviewRow {
    /// The row's number in the source (the header is row 1).
    row: u64,
    /// Each target field's value, null when empty.
    values: BTreeMap<String, Option<String>>,
    /// What stops the row from being written; none when it would be.
    errors: Vec<String>,
}

/// One target field of a job's mapping: its value comes from a source
/// column, through transforms applied in order.
#[derive(ToSchema)]
pub struct FieldMapping {
    /// The source column, by its header; absent with a `constant` or
    /// `default` transform.
    #[schema(nullable = false)]
    source: Option<String>,
    target: String,
    /// One transform, or a list applied in order (a `lookup` last).
    #[schema(nullable = false)]
    transform: Option<Transforms>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Transforms {
    One(Transform),
    Many(Vec<Transform>),
}

/// A transform of a field's value, by its `type`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transform {
    /// Spaces removed at both ends.
    Trim,
    Upper,
    Lower,
    /// Used when there is no value.
    Default {
        value: String,
    },
    /// Always this value.
    Constant {
        value: String,
    },
    /// Replaces the values found in `map`; others become `otherwise` if
    /// given, else stay as they are.
    ValueMap {
        map: BTreeMap<String, String>,
        #[schema(nullable = false)]
        otherwise: Option<String>,
    },
    /// Parses a date or time in `format` (strftime) and gives it in ISO
    /// 8601; a time without an offset is taken in `time_zone` (an IANA
    /// name; UTC by default).
    Date {
        format: String,
        #[schema(nullable = false)]
        time_zone: Option<String>,
    },
    /// Parses a number written the way `locale` writes them (`en`:
    /// 1,234.5; `de`: 1.234,5) and gives it with a point.
    Number {
        locale: String,
    },
    /// Sets a reference by another record's key: the value is looked up in
    /// `object`'s `key` column (a Salesforce object's external id field)
    /// and replaced by that row's `field` (its primary key by default).
    Lookup {
        object: String,
        key: String,
        #[schema(nullable = false)]
        field: Option<String>,
    },
}

/// `POST /v1/uploads` as a form: one part, `file`, with its file name.
#[derive(ToSchema)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}
