//! A database per test, cloned from a template migrated once per migration set.

use crate::{database_server_url, with_database};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use sha2::{Digest, Sha256};
use std::path::Path;

pub struct TestDb {
    pub name: String,
    pub url: String,
}

#[derive(QueryableByName)]
struct Datname {
    #[diesel(sql_type = Text)]
    datname: String,
}

impl TestDb {
    /// A fresh, migrated database of its own.
    pub fn new() -> Self {
        let server = database_server_url();
        let mut admin = PgConnection::establish(&server).expect("connect to the test PostgreSQL");
        let name = format!("sluice_test_{}", uuid::Uuid::new_v4().simple());
        // Another checkout's tests on the same server, with other
        // migrations, replace the template; it is then built again.
        let mut attempts = 0;
        loop {
            let template = ensure_template(&mut admin, &server);
            match admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")) {
                Ok(()) => break,
                Err(e) if attempts < 3 && e.to_string().contains("does not exist") => {
                    attempts += 1;
                }
                Err(e) => panic!("create the test database: {e}"),
            }
        }
        Self {
            url: with_database(&server, &name),
            name,
        }
    }

    /// An empty database (no migrations), for testing `sluice migrate`.
    pub fn empty() -> Self {
        let server = database_server_url();
        let mut admin = PgConnection::establish(&server).expect("connect to the test PostgreSQL");
        let name = format!("sluice_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        Self {
            url: with_database(&server, &name),
            name,
        }
    }

    /// A connection set up as Sluice sets up its own.
    pub fn connect(&self) -> PgConnection {
        let mut conn = PgConnection::establish(&self.url).expect("connect to the test database");
        sluice_schema::db::configure_session(&mut conn).expect("configure the session");
        conn
    }
}

impl TestDb {
    /// Cuts every connection to this database and refuses new ones, as an
    /// outage would, without touching other tests' databases.
    pub fn refuse_connections(&self) {
        let mut admin = PgConnection::establish(&database_server_url())
            .expect("connect to the test PostgreSQL");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
                self.name
            ))
            .expect("refuse connections");
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind::<Text, _>(&self.name)
        .execute(&mut admin)
        .expect("terminate connections");
    }

    pub fn allow_connections(&self) {
        let mut admin = PgConnection::establish(&database_server_url())
            .expect("connect to the test PostgreSQL");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
                self.name
            ))
            .expect("allow connections");
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&database_server_url()) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The template's name carries a digest of the migrations, so a changed
/// migration gets a new template; building it is serialised by an advisory lock.
fn ensure_template(admin: &mut PgConnection, server: &str) -> String {
    let digest = migrations_digest();
    let template = format!("sluice_tpl_{}", &digest[..16]);
    let lock = i64::from_str_radix(&digest[..15], 16).expect("hex digest");
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(lock)
        .execute(admin)
        .expect("lock the template");
    let existing: Vec<Datname> = diesel::sql_query(
        "SELECT datname::text AS datname FROM pg_database WHERE datname LIKE 'sluice_tpl_%'",
    )
    .load(admin)
    .expect("list templates");
    if !existing.iter().any(|d| d.datname == template) {
        let building = format!("{template}_building");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .expect("drop a half-built template");
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .expect("create the template");
        {
            let mut conn = PgConnection::establish(&with_database(server, &building))
                .expect("connect to the template");
            sluice_schema::run_migrations(&mut conn).expect("migrate the template");
        }
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .expect("publish the template");
        for stale in existing
            .iter()
            .filter(|d| !d.datname.ends_with("_building"))
        {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                stale.datname
            ));
        }
    }
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(lock)
        .execute(admin)
        .expect("unlock the template");
    template
}

fn migrations_digest() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).expect("read a migration"));
    }
    hex::encode(hasher.finalize())
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read migrations").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
