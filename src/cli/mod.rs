//! The command line: the settings every subcommand shares, the
//! subcommands, and one module for each.

mod audit;
mod keys;
mod migrate;
mod relay;
mod replay;
mod serve;

use crate::config::Roles;
use crate::settings::Settings;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Self-hostable, security-first data imports"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (and relay events to RabbitMQ).
    Api,
    /// Consume the work queues (and relay events to RabbitMQ).
    Worker,
    /// API and worker in one process: the default for a single machine.
    All,
    /// Apply pending database migrations.
    Migrate,
    /// Rebuild every projection from the event log and compare with the live tables.
    Replay {
        /// Keep the rebuilt tables (in a schema named in the report).
        #[arg(long)]
        keep: bool,
    },
    /// Audit commands.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Keyring commands.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Events the relay could not publish and moved past.
    Relay {
        #[command(subcommand)]
        command: relay::RelayCommand,
    },
}

/// Runs the command; its exit code, or the error that stopped it.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings;
    match cli.command {
        Command::Api => serve::serve(&settings, Roles::API).await,
        Command::Worker => serve::serve(&settings, Roles::WORKER).await,
        Command::All => serve::serve(&settings, Roles::ALL).await,
        Command::Migrate => migrate::migrate(&settings).await,
        Command::Replay { keep } => replay::replay(&settings, keep).await,
        Command::Audit { command } => audit::audit(&settings, command).await,
        Command::Keys { command } => keys::keys(&settings, command).await,
        Command::Relay { command } => relay::relay(&settings, command).await,
    }
}
