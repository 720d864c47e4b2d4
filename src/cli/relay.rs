//! `sluice relay`: the events the relay could not publish and moved past
//! (quarantined), listed, published after all, or left unpublished.

use crate::database::with_connection;
use crate::settings::Settings;
use clap::Subcommand;
use secrecy::ExposeSecret;
use sluice_events::event::QuarantineOutcome;
use sluice_events::{quarantine, Topology};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RelayCommand {
    /// The quarantined events, settled or not (JSON).
    Quarantined,
    /// Publish a quarantined event to the broker after all.
    Republish {
        /// The event's position in the log (`global_seq`).
        seq: i64,
    },
    /// Leave a quarantined event unpublished for good.
    Discard {
        /// The event's position in the log (`global_seq`).
        seq: i64,
    },
}

pub async fn relay(settings: &Settings, command: RelayCommand) -> anyhow::Result<ExitCode> {
    match command {
        RelayCommand::Quarantined => quarantined(settings).await?,
        RelayCommand::Republish { seq } => {
            settle(settings, seq, QuarantineOutcome::Republished).await?;
        }
        RelayCommand::Discard { seq } => {
            settle(settings, seq, QuarantineOutcome::Discarded).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints every quarantined event, settled or not.
async fn quarantined(settings: &Settings) -> anyhow::Result<()> {
    let rows = with_connection(settings, |conn| Ok(quarantine::list(conn)?)).await?;
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "global_seq": r.global_seq,
                "event_id": r.event_id,
                "event_type": r.event_type,
                "reason": r.reason,
                "quarantined_at": r.quarantined_at,
                "released_at": r.released_at,
                "outcome": r.outcome,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&rows)?);
    Ok(())
}

/// Settles the quarantined event at `seq`: published to the broker first
/// when it is to be republished.
async fn settle(settings: &Settings, seq: i64, outcome: QuarantineOutcome) -> anyhow::Result<()> {
    let (quarantined, row) =
        with_connection(settings, move |conn| Ok(quarantine::waiting(conn, seq)?)).await?;
    if outcome == QuarantineOutcome::Republished {
        let topology = Topology::new(settings.amqp_namespace.clone());
        quarantine::publish(settings.amqp_url.expose_secret(), &topology, &row).await?;
    }
    with_connection(settings, move |conn| {
        Ok(quarantine::settle(conn, &quarantined, outcome, "operator")?)
    })
    .await?;
    println!(
        "{}",
        serde_json::json!({ "global_seq": seq, "outcome": outcome.as_str() })
    );
    Ok(())
}
