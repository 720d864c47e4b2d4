//! `sluice replay`: rebuilds every projection from the log into fresh tables
//! and reports whether they equal the live ones.
//!
//! The rebuild runs in one transaction, in a new schema whose tables copy the
//! live definitions (`LIKE … INCLUDING ALL`). With `search_path` pointing at
//! that schema first, the same projection code that serves appends writes the
//! copies. Unless asked to keep them, the transaction is rolled back, so a
//! replay changes nothing.

use crate::envelope::RecordedEvent;
use crate::event::DecodeError;
use crate::projection::{self, TABLES};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;
use sluice_schema::models::EventRow;
use sluice_schema::schema::events;

const PAGE: i64 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableComparison {
    pub table: String,
    pub live_rows: i64,
    pub replayed_rows: i64,
    /// Rows in the live table that the replay did not produce.
    pub only_live: i64,
    /// Rows the replay produced that the live table lacks.
    pub only_replayed: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub events_replayed: i64,
    /// The schema holding the rebuilt tables, if they were kept.
    pub kept_in: Option<String>,
    pub tables: Vec<TableComparison>,
}

impl ReplayReport {
    pub fn is_equal(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.only_live == 0 && t.only_replayed == 0)
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rebuilds the projections; `keep` commits them into a schema named in the report.
pub fn replay(conn: &mut PgConnection, keep: bool) -> Result<ReplayReport, ReplayError> {
    let mut report = None;
    let outcome = conn.transaction::<(), ReplayError, _>(|conn| {
        let live = quote(
            &diesel::sql_query("SELECT current_schema() AS name")
                .get_result::<Name>(conn)?
                .name,
        );
        let target = format!(
            "sluice_replay_{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S%6f")
        );
        conn.batch_execute(&format!("CREATE SCHEMA {target}"))?;
        for table in TABLES {
            conn.batch_execute(&format!(
                "CREATE TABLE {target}.{table} (LIKE {live}.{table} INCLUDING ALL)"
            ))?;
        }
        conn.batch_execute(&format!("SET LOCAL search_path TO {target}, {live}"))?;
        let replayed = rebuild(conn)?;
        conn.batch_execute(&format!("SET LOCAL search_path TO {live}"))?;

        let mut tables = Vec::new();
        for table in TABLES {
            tables.push(compare(conn, &live, &target, table)?);
        }
        report = Some(ReplayReport {
            events_replayed: replayed,
            kept_in: keep.then(|| target.clone()),
            tables,
        });
        if keep {
            Ok(())
        } else {
            Err(diesel::result::Error::RollbackTransaction.into())
        }
    });
    match (outcome, report) {
        (Ok(()), Some(report)) => Ok(report),
        (Err(ReplayError::Database(diesel::result::Error::RollbackTransaction)), Some(report)) => {
            Ok(report)
        }
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(diesel::result::Error::NotFound.into()),
    }
}

/// Quotes an identifier for SQL.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn rebuild(conn: &mut PgConnection) -> Result<i64, ReplayError> {
    let mut after = 0_i64;
    let mut count = 0_i64;
    loop {
        let page: Vec<EventRow> = events::table
            .filter(events::global_seq.gt(after))
            .order(events::global_seq.asc())
            .limit(PAGE)
            .select(EventRow::as_select())
            .load(conn)?;
        let Some(last) = page.last().map(|r| r.global_seq) else {
            return Ok(count);
        };
        let events = page
            .into_iter()
            .map(RecordedEvent::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        projection::apply_all(conn, &events.iter().collect::<Vec<_>>())?;
        count += events.len() as i64;
        after = last;
    }
}

fn compare(
    conn: &mut PgConnection,
    live: &str,
    replayed: &str,
    table: &str,
) -> Result<TableComparison, ReplayError> {
    let count = |conn: &mut PgConnection, sql: String| -> Result<i64, ReplayError> {
        Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n)
    };
    let (a, b) = (format!("{live}.{table}"), format!("{replayed}.{table}"));
    Ok(TableComparison {
        table: table.to_owned(),
        live_rows: count(conn, format!("SELECT count(*) AS n FROM {a}"))?,
        replayed_rows: count(conn, format!("SELECT count(*) AS n FROM {b}"))?,
        only_live: count(
            conn,
            format!("SELECT count(*) AS n FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) d"),
        )?,
        only_replayed: count(
            conn,
            format!("SELECT count(*) AS n FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}) d"),
        )?,
    })
}
