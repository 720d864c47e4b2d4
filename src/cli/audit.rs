//! `sluice audit`: checks of the event log.

use crate::database::with_connection;
use crate::settings::Settings;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first altered, missing or reordered event.
    Verify,
}

pub async fn audit(settings: &Settings, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => verify(settings).await,
    }
}

/// Walks the hash chain; fails when an event was altered, removed or
/// reordered.
async fn verify(settings: &Settings) -> anyhow::Result<ExitCode> {
    let report = with_connection(settings, |conn| Ok(sluice_events::verify::verify(conn)?)).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
