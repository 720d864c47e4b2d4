//! `sluice replay`: rebuilds every projection from the event log and
//! compares it with the live tables; it fails when they differ.

use crate::database::with_connection;
use crate::settings::Settings;
use std::process::ExitCode;

pub async fn replay(settings: &Settings, keep: bool) -> anyhow::Result<ExitCode> {
    let report = with_connection(settings, move |conn| {
        Ok(sluice_events::replay::replay(conn, keep)?)
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.is_equal() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
