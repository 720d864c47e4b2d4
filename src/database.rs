//! The maintenance commands' one connection to the system of record.

use crate::settings::Settings;
use anyhow::Context;
use secrecy::ExposeSecret;

/// Runs `f` on a connection of its own, off the async threads.
pub async fn with_connection<T: Send + 'static>(
    settings: &Settings,
    f: impl FnOnce(&mut diesel::PgConnection) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let url = settings.database_url.expose_secret().to_owned();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn =
            diesel::PgConnection::establish(&url).context("connecting to the database")?;
        sluice_schema::db::configure_session(&mut conn)?;
        f(&mut conn)
    })
    .await?
}
