//! Connection pool and embedded migrations.

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

/// Every migration in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
}

/// A pool that does not block start-up on an unreachable database: connections are
/// made on demand, a checkout waits at most two seconds, and every checkout is
/// tested first, so connections cut by a database restart are replaced rather
/// than handed out again.
pub fn pool(url: &str, max_size: u32) -> Result<PgPool, DbError> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    let pool = Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(2))
        .test_on_check_out(true)
        .connection_customizer(Box::new(SessionSettings))
        .build_unchecked(manager);
    Ok(pool)
}

/// Settings every Sluice session needs (pooled or not).
///
/// `plan_cache_mode`: diesel prepares its statements, and PostgreSQL may
/// settle on a generic plan while a table is still small (a sequential scan
/// of `events`) and keep it until the next ANALYZE, so an append would slow
/// down with every event recorded. Planning each execution with its actual
/// parameters keeps every lookup on its index.
pub fn configure_session(conn: &mut PgConnection) -> diesel::QueryResult<()> {
    conn.batch_execute("SET plan_cache_mode = force_custom_plan")
}

#[derive(Debug)]
struct SessionSettings;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        configure_session(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Applies every pending migration; returns the versions applied.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}
