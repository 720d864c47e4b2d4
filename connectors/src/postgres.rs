//! PostgreSQL as a target: connecting with a stored connection's settings,
//! describing a table, validating values against its columns, and writing
//! batches with COPY, each batch committed together with its checkpoint
//! marker in the target database, so that a run resumed after a crash never
//! writes a batch twice.
//!
//! The checkpoint markers live in `_sluice_checkpoints`, created beside the
//! target table (in its schema) on the first run.

use futures_util::SinkExt;
use std::sync::Arc;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls};
use uuid::Uuid;
use zeroize::Zeroizing;

/// How to reach a database (a connection's `params` and its password).
pub struct PgParams {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Zeroizing<String>,
    /// libpq's modes: disable, allow, prefer, require, verify-ca, verify-full.
    pub sslmode: String,
}

impl PgParams {
    /// From a connection's stored `params` (host, port, dbname, user,
    /// sslmode) and its password.
    pub fn from_json(params: &serde_json::Value, password: Zeroizing<String>) -> Self {
        let text = |k: &str| {
            params
                .get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            host: text("host"),
            port: params
                .get("port")
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(5432),
            dbname: text("dbname"),
            user: text("user"),
            password,
            sslmode: Some(text("sslmode"))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "require".into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The database cannot be reached or refused the credentials.
    #[error("{0}")]
    Connect(String),
    /// The table or the mapping does not fit.
    #[error("{0}")]
    Invalid(String),
    /// A statement failed for a reason other than the data.
    #[error("{0}")]
    Database(String),
    /// The caller's own step before the commit failed; nothing was committed.
    #[error("{0}")]
    Aborted(String),
}

/// A failure of a statement that carries no row (described without the
/// server's detail, which can quote values).
fn db_error(e: tokio_postgres::Error) -> TargetError {
    TargetError::Database(match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    })
}

/// A row's database error as a user can act on it: its message, detail and
/// column. The detail can quote the row's values: it goes to the run's
/// encrypted errors.csv, never to an event or a log.
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(column) = db.column() {
                text = format!("{column}: {text}");
            }
            if let Some(detail) = db.detail() {
                text.push_str(" (");
                text.push_str(detail);
                text.push(')');
            }
            text
        }
        None => e.to_string(),
    }
}

/// Connects; the connection's task runs until the client is dropped.
pub async fn connect(params: &PgParams) -> Result<Client, TargetError> {
    let mut config = Config::new();
    config
        .host(&params.host)
        .port(params.port)
        .dbname(&params.dbname)
        .user(&params.user)
        .password(params.password.as_bytes())
        .application_name("sluice")
        .connect_timeout(std::time::Duration::from_secs(10));
    let unreachable = |e: tokio_postgres::Error| TargetError::Connect(describe_error(&e));
    match params.sslmode.as_str() {
        "disable" => {
            let (client, connection) = config.connect(NoTls).await.map_err(unreachable)?;
            tokio::spawn(connection);
            Ok(client)
        }
        mode => {
            config.ssl_mode(match mode {
                "allow" | "prefer" => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
            let tls = tls(mode)?;
            let (client, connection) = config.connect(tls).await.map_err(unreachable)?;
            tokio::spawn(connection);
            Ok(client)
        }
    }
}

/// TLS as libpq's `sslmode` means it: `require` (and `prefer`) encrypt
/// without checking the certificate; `verify-ca` and `verify-full` check it
/// against the web's roots (`verify-full` also checks the host name).
fn tls(mode: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, TargetError> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for EncryptOnly {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TargetError::Connect(e.to_string()))?;
    let config = if matches!(mode, "verify-ca" | "verify-full") {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth()
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A column of the target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type's name (`int4`, `text`, `timestamptz`...).
    pub type_name: String,
    pub nullable: bool,
    pub has_default: bool,
    /// For `varchar(n)` and `char(n)`.
    pub max_length: Option<i32>,
}

/// What a run needs to know of its target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
    /// The sequence behind a one-column primary key, if it has one.
    pub key_sequence: Option<String>,
}

impl Table {
    /// `"schema"."name"`, quoted.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The one-column primary key, if the table has one.
    pub fn single_key(&self) -> Option<&str> {
        match self.primary_key.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// An identifier, quoted for SQL.
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Describes `object` (`table` in `public`, or `schema.table`).
pub async fn describe(client: &Client, object: &str) -> Result<Table, TargetError> {
    let (schema, name) = match object.split_once('.') {
        Some((schema, name)) => (schema.to_owned(), name.to_owned()),
        None => ("public".to_owned(), object.to_owned()),
    };
    let rows = client
        .query(
            "SELECT a.attname::text, t.typname::text, NOT a.attnotnull, a.atthasdef OR a.attidentity <> '', \
                    CASE WHEN a.atttypmod > 4 AND t.typname IN ('varchar', 'bpchar') THEN a.atttypmod - 4 END \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
               AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    if rows.is_empty() {
        return Err(TargetError::Invalid(format!(
            "the database has no table {schema}.{name} (or this user cannot see it)"
        )));
    }
    let columns = rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            type_name: r.get(1),
            nullable: r.get(2),
            has_default: r.get(3),
            max_length: r.get(4),
        })
        .collect();
    let key_rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary \
             ORDER BY array_position(i.indkey, a.attnum)",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    let primary_key: Vec<String> = key_rows.iter().map(|r| r.get(0)).collect();
    let key_sequence = match primary_key.as_slice() {
        [one] => client
            .query_one(
                "SELECT pg_get_serial_sequence($1, $2)",
                &[&format!("{}.{}", quote(&schema), quote(&name)), one],
            )
            .await
            .map_err(db_error)?
            .get::<_, Option<String>>(0),
        _ => None,
    };
    Ok(Table {
        schema,
        name,
        columns,
        primary_key,
        key_sequence,
    })
}

/// Checks a mapping's target fields against the table: each exists and is
/// written once, and every column that needs a value gets one.
pub fn check_fields(table: &Table, targets: &[&str]) -> Result<(), TargetError> {
    let mut seen = std::collections::BTreeSet::new();
    for target in targets {
        if table.column(target).is_none() {
            return Err(TargetError::Invalid(format!(
                "{} has no column \"{target}\"",
                table.name
            )));
        }
        if !seen.insert(*target) {
            return Err(TargetError::Invalid(format!(
                "\"{target}\" is mapped twice"
            )));
        }
    }
    let missing: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| !c.nullable && !c.has_default && !seen.contains(c.name.as_str()))
        .map(|c| c.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(TargetError::Invalid(format!(
            "{} needs a value for {}: map them",
            table.name,
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Checks one value against its column; the message says what is wrong.
pub fn check_value(column: &Column, value: Option<&str>) -> Result<(), String> {
    let Some(value) = value else {
        return if column.nullable || column.has_default {
            Ok(())
        } else {
            Err(format!("{}: a value is required", column.name))
        };
    };
    let fits = match column.type_name.as_str() {
        "int2" => value.trim().parse::<i16>().is_ok(),
        "int4" => value.trim().parse::<i32>().is_ok(),
        "int8" => value.trim().parse::<i64>().is_ok(),
        "float4" | "float8" => value.trim().parse::<f64>().is_ok(),
        "numeric" => {
            let v = value.trim().trim_start_matches(['-', '+']);
            !v.is_empty()
                && v.matches('.').count() <= 1
                && v.chars().all(|c| c.is_ascii_digit() || c == '.')
        }
        "bool" => matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "t" | "f" | "true" | "false" | "yes" | "no" | "y" | "n" | "1" | "0" | "on" | "off"
        ),
        "uuid" => Uuid::parse_str(value.trim()).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").is_ok(),
        _ => true,
    };
    if !fits {
        return Err(format!(
            "{}: \"{}\" is not a valid {}",
            column.name,
            value.chars().take(40).collect::<String>(),
            type_label(&column.type_name)
        ));
    }
    if let Some(max) = column.max_length {
        let n = value.chars().count();
        if n > usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(format!(
                "{}: {n} characters, more than the {max} allowed",
                column.name
            ));
        }
    }
    if value.contains('\0') {
        return Err(format!(
            "{}: the value contains a NUL character",
            column.name
        ));
    }
    Ok(())
}

fn type_label(type_name: &str) -> &str {
    match type_name {
        "int2" | "int4" | "int8" => "whole number",
        "float4" | "float8" | "numeric" => "number",
        "bool" => "true/false value",
        "date" => "date (YYYY-MM-DD)",
        other => other,
    }
}

/// The last batch committed for a run: `(batch, rows written, rows failed)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    pub batch: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
}

fn checkpoints(table: &Table) -> String {
    format!("{}.\"_sluice_checkpoints\"", quote(&table.schema))
}

/// Creates the checkpoint table if needed and reads the run's last marker.
pub async fn last_checkpoint(
    client: &Client,
    table: &Table,
    run: Uuid,
) -> Result<Checkpoint, TargetError> {
    let markers = checkpoints(table);
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {markers} (\
                run_id UUID NOT NULL, batch BIGINT NOT NULL, rows_ok BIGINT NOT NULL, \
                rows_failed BIGINT NOT NULL, committed_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
                PRIMARY KEY (run_id, batch))"
        ))
        .await
        .map_err(|e| {
            TargetError::Invalid(format!(
                "Sluice keeps its progress in {markers} and could not create it: {}",
                describe_error(&e)
            ))
        })?;
    let row = client
        .query_opt(
            &format!("SELECT batch, rows_ok, rows_failed FROM {markers} WHERE run_id = $1 ORDER BY batch DESC LIMIT 1"),
            &[&run],
        )
        .await
        .map_err(db_error)?;
    Ok(row
        .map(|r| Checkpoint {
            batch: r.get(0),
            rows_ok: r.get(1),
            rows_failed: r.get(2),
        })
        .unwrap_or_default())
}

/// A batch's transaction. Its commit does not wait for the disk: should
/// the server crash, the batch and its checkpoint are lost together and the
/// run redoes them; [`flush`] makes everything durable at the end.
async fn begin(client: &mut Client) -> Result<tokio_postgres::Transaction<'_>, TargetError> {
    let transaction = client.transaction().await.map_err(db_error)?;
    transaction
        .batch_execute("SET LOCAL synchronous_commit TO off")
        .await
        .map_err(db_error)?;
    Ok(transaction)
}

/// Makes every batch of the run durable: a committed transaction that waits
/// for the disk also flushes all that were committed before it.
pub async fn flush(
    client: &Client,
    table: &Table,
    run: Uuid,
    checkpoint: Checkpoint,
) -> Result<(), TargetError> {
    client
        .execute(
            &format!(
                "UPDATE {} SET committed_at = now() WHERE run_id = $1 AND batch = $2",
                checkpoints(table)
            ),
            &[&run, &checkpoint.batch],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

/// One row to insert: its source row number and its values.
pub struct Insert {
    pub number: u64,
    pub values: Vec<Option<String>>,
}

/// What happened to a batch's rows.
#[derive(Debug, Default)]
pub struct Written {
    /// Source row number and the new row's key (empty without a one-column key).
    pub ok: Vec<(u64, String)>,
    /// Source row number and why it was refused.
    pub failed: Vec<(u64, String)>,
}

/// Inserts a batch with COPY and records its checkpoint, in one
/// transaction. Without the one-column key mapped, keys are taken from its
/// sequence first, so every new row's key is known. Should COPY fail (a
/// constraint the checks could not see), the batch is written again row by
/// row, each under a savepoint, and the refused rows are reported.
///
/// `refused` counts the batch's rows already refused before writing (they
/// count in the checkpoint's failed rows). `before_commit` sees what is
/// about to be committed and can still stop it.
#[expect(clippy::too_many_arguments, reason = "the batch's whole context")]
pub async fn insert_batch(
    client: &mut Client,
    table: &Table,
    targets: &[&str],
    rows: Vec<Insert>,
    refused: i64,
    run: Uuid,
    checkpoint: Checkpoint,
    before_commit: impl FnOnce(&Written) -> Result<(), String>,
) -> Result<Written, TargetError> {
    if rows.is_empty() {
        let transaction = begin(client).await?;
        mark(&transaction, table, run, checkpoint, 0, refused).await?;
        let written = Written::default();
        before_commit(&written).map_err(TargetError::Aborted)?;
        transaction.commit().await.map_err(db_error)?;
        return Ok(written);
    }
    let mut columns: Vec<String> = targets.iter().map(|t| quote(t)).collect();
    let key = table.single_key();
    let key_index = key.and_then(|k| targets.iter().position(|t| *t == k));
    let mut keys: Vec<String> = Vec::new();
    let generated = key_index.is_none() && key.is_some() && table.key_sequence.is_some();
    let transaction = begin(client).await?;
    if let (true, Some(key), Some(sequence)) = (generated, key, &table.key_sequence) {
        let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let taken = transaction
            .query(
                "SELECT nextval($1::text::regclass)::text FROM generate_series(1, $2::int8)",
                &[sequence, &n],
            )
            .await
            .map_err(db_error)?;
        keys = taken.iter().map(|r| r.get(0)).collect();
        columns.push(quote(key));
    }
    let copy = format!(
        "COPY {} ({}) FROM STDIN",
        table.qualified(),
        columns.join(", ")
    );
    let mut buffer = Vec::with_capacity(rows.len() * 64);
    for (i, row) in rows.iter().enumerate() {
        let generated_key = keys.get(i).map(|k| Some(k.as_str()));
        let values = row.values.iter().map(|v| v.as_deref()).chain(generated_key);
        for (j, value) in values.enumerate() {
            if j > 0 {
                buffer.push(b'\t');
            }
            match value {
                None => buffer.extend_from_slice(b"\\N"),
                Some(v) => escape_copy(v, &mut buffer),
            }
        }
        buffer.push(b'\n');
    }
    let key_of = |i: usize, row: &Insert| -> String {
        match key_index {
            Some(k) => row.values.get(k).cloned().flatten().unwrap_or_default(),
            None => keys.get(i).cloned().unwrap_or_default(),
        }
    };
    let copied = async {
        let sink = transaction.copy_in(&copy).await?;
        futures_util::pin_mut!(sink);
        sink.send(bytes_of(buffer)).await?;
        sink.finish().await
    }
    .await;
    let written = match copied {
        Ok(_) => {
            let ok = rows
                .iter()
                .enumerate()
                .map(|(i, r)| (r.number, key_of(i, r)))
                .collect();
            mark(
                &transaction,
                table,
                run,
                checkpoint,
                rows.len() as i64,
                refused,
            )
            .await?;
            let written = Written {
                ok,
                failed: Vec::new(),
            };
            before_commit(&written).map_err(TargetError::Aborted)?;
            transaction.commit().await.map_err(db_error)?;
            written
        }
        Err(_) => {
            transaction.rollback().await.map_err(db_error)?;
            one_by_one(
                client,
                table,
                &columns,
                &rows,
                &keys,
                key_index,
                refused,
                run,
                checkpoint,
                before_commit,
            )
            .await?
        }
    };
    Ok(written)
}

fn bytes_of(buffer: Vec<u8>) -> bytes::Bytes {
    bytes::Bytes::from(buffer)
}

#[expect(clippy::too_many_arguments, reason = "the batch's whole context")]
async fn one_by_one(
    client: &mut Client,
    table: &Table,
    columns: &[String],
    rows: &[Insert],
    keys: &[String],
    key_index: Option<usize>,
    refused: i64,
    run: Uuid,
    checkpoint: Checkpoint,
    before_commit: impl FnOnce(&Written) -> Result<(), String>,
) -> Result<Written, TargetError> {
    let transaction = begin(client).await?;
    let types: Vec<String> = columns
        .iter()
        .map(|c| {
            let bare = c.trim_matches('"').replace("\"\"", "\"");
            table
                .column(&bare)
                .map(|col| col.type_name.clone())
                .unwrap_or_else(|| "text".into())
        })
        .collect();
    let placeholders: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::text::{}", i + 1, quote(t)))
        .collect();
    let insert = transaction
        .prepare_typed(
            &format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.qualified(),
                columns.join(", "),
                placeholders.join(", ")
            ),
            &vec![Type::TEXT; columns.len()],
        )
        .await
        .map_err(db_error)?;
    let mut written = Written::default();
    for (i, row) in rows.iter().enumerate() {
        let mut values: Vec<Option<String>> = row.values.clone();
        if let Some(key) = keys.get(i) {
            values.push(Some(key.clone()));
        }
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        transaction
            .batch_execute("SAVEPOINT row")
            .await
            .map_err(db_error)?;
        match transaction.execute(&insert, &params).await {
            Ok(_) => {
                let key = match key_index {
                    Some(k) => row.values.get(k).cloned().flatten().unwrap_or_default(),
                    None => keys.get(i).cloned().unwrap_or_default(),
                };
                written.ok.push((row.number, key));
                transaction
                    .batch_execute("RELEASE SAVEPOINT row")
                    .await
                    .map_err(db_error)?;
            }
            Err(e) if e.as_db_error().is_some() => {
                written.failed.push((row.number, describe_error(&e)));
                transaction
                    .batch_execute("ROLLBACK TO SAVEPOINT row")
                    .await
                    .map_err(db_error)?;
            }
            Err(e) => return Err(db_error(e)),
        }
    }
    let ok = written.ok.len() as i64;
    let failed = written.failed.len() as i64 + refused;
    mark(&transaction, table, run, checkpoint, ok, failed).await?;
    before_commit(&written).map_err(TargetError::Aborted)?;
    transaction.commit().await.map_err(db_error)?;
    Ok(written)
}

async fn mark(
    transaction: &tokio_postgres::Transaction<'_>,
    table: &Table,
    run: Uuid,
    previous: Checkpoint,
    ok: i64,
    failed: i64,
) -> Result<(), TargetError> {
    transaction
        .execute(
            &format!(
                "INSERT INTO {} (run_id, batch, rows_ok, rows_failed) VALUES ($1, $2, $3, $4)",
                checkpoints(table)
            ),
            &[
                &run,
                &(previous.batch + 1),
                &(previous.rows_ok + ok),
                &(previous.rows_failed + failed),
            ],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A value in COPY's text format.
fn escape_copy(value: &str, out: &mut Vec<u8>) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_values_are_escaped() {
        let mut out = Vec::new();
        escape_copy("a\tb\\c\nd\re", &mut out);
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
    }

    #[test]
    fn values_are_checked_against_their_column() {
        let column = |type_name: &str, nullable: bool| Column {
            name: "c".into(),
            type_name: type_name.into(),
            nullable,
            has_default: false,
            max_length: None,
        };
        assert!(check_value(&column("int4", false), Some("42")).is_ok());
        assert!(check_value(&column("int4", false), Some("4.2")).is_err());
        assert!(check_value(&column("int4", false), None)
            .unwrap_err()
            .contains("required"));
        assert!(check_value(&column("int4", true), None).is_ok());
        assert!(check_value(&column("date", true), Some("2025-13-01")).is_err());
        assert!(check_value(&column("bool", true), Some("yes")).is_ok());
        let short = Column {
            max_length: Some(3),
            ..column("varchar", true)
        };
        assert!(check_value(&short, Some("abcd"))
            .unwrap_err()
            .contains("more than the 3"));
    }
}
