//! `sluice migrate`: applies the pending database migrations and prints
//! those applied.

use crate::settings::Settings;
use anyhow::Context;
use secrecy::ExposeSecret;
use std::process::ExitCode;

pub async fn migrate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let url = settings.database_url.expose_secret().to_owned();
    let applied = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        use diesel::Connection;
        let mut conn =
            diesel::PgConnection::establish(&url).context("connecting to the database")?;
        Ok(sluice_schema::run_migrations(&mut conn)?)
    })
    .await??;
    println!("{}", serde_json::json!({ "applied": applied }));
    Ok(ExitCode::SUCCESS)
}
