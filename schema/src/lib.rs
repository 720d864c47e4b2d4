//! The PostgreSQL side of Sluice: the diesel schema, row models, typed ids, the
//! connection pool and the embedded migrations. Repository functions that read
//! tenant data take the caller's [`ids::AccountId`].

pub mod db;
pub mod ids;
pub mod job;
pub mod key_version;
pub mod kinds;
pub mod models;
pub mod plans;
pub mod repo;
pub mod schema;

pub use db::{pool, run_migrations, DbError, PgPool};
