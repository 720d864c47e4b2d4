//! `sluice keys`: the keyring (the key-encryption keys) and the rewrapping
//! of data keys under its primary key.

use crate::database::with_connection;
use crate::settings::Settings;
use crate::LOG_TARGET;
use anyhow::Context;
use clap::Subcommand;
use sluice_vault::Keyring;
use std::path::Path;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create the keyring file named by SLUICE_KEYRING (never overwrites one).
    Init,
    /// Add a new primary key; the workers then rewrap every data key under
    /// it in the background (see `keys status`).
    Rotate {
        /// Wait until the rewrapping is finished and print its report.
        #[arg(long)]
        wait: bool,
    },
    /// The rotations recorded, with their progress, and what each key
    /// version in the keyring still wraps.
    Status,
    /// Rewrap every data key still under an older key (after an interrupted rotation).
    Rewrap,
    /// Remove an old key from the keyring; refused while it still wraps anything.
    Retire {
        /// The key version to remove.
        version: u32,
    },
}

pub async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let path = settings.keyring.as_path();
    match command {
        KeysCommand::Init => init(path)?,
        KeysCommand::Rotate { wait } => rotate(settings, wait).await?,
        KeysCommand::Status => status(settings).await?,
        KeysCommand::Rewrap => rewrap(settings).await?,
        KeysCommand::Retire { version } => retire(settings, version).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The keyring at `path`, named in the error should it not load.
fn read(path: &Path) -> anyhow::Result<Keyring> {
    Keyring::load(path).with_context(|| format!("SLUICE_KEYRING={}", path.display()))
}

/// Creates the keyring; one that exists already is left as it is.
fn init(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        anyhow::bail!("{} exists already; it is left as it is", path.display());
    }
    Keyring::generate().save(path)?;
    println!("{}", serde_json::json!({ "created": path }));
    Ok(())
}

/// Adds a new primary key and queues the rewrap job; with `wait`, prints
/// the rotation's report once the workers have finished it.
async fn rotate(settings: &Settings, wait: bool) -> anyhow::Result<()> {
    let path = settings.keyring.as_path();
    let mut keyring = read(path)?;
    let primary = keyring.rotate();
    keyring.save(path)?;
    tracing::info!(target: LOG_TARGET, primary, "new primary key written");
    let rotation = uuid::Uuid::now_v7();
    let region = settings.region.clone();
    with_connection(settings, move |conn| {
        use sluice_events::event::KeyRotationRequested;
        use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
        let event = NewEvent::new(
            DomainEvent::KeyRotationRequested(KeyRotationRequested { primary }),
            Metadata {
                region: Some(region),
                ..Metadata::actor("operator:sluice keys rotate")
            },
        );
        let request =
            AppendRequest::new("key_rotation", rotation, ExpectedVersion::NoStream, vec![event]);
        sluice_events::append(conn, &request)?;
        Ok(())
    })
    .await
    .context("the new key is in the keyring, but the rewrap job could not be queued; run `sluice keys rewrap`")?;
    if !wait {
        println!(
            "{}",
            serde_json::json!({ "primary": primary, "rotation": rotation, "status": "queued" })
        );
        return Ok(());
    }
    loop {
        let row = with_connection(settings, move |conn| {
            Ok(sluice_schema::repo::keys::rotation(conn, rotation)?)
        })
        .await?;
        if let Some(row) = row.filter(|r| r.finished_at.is_some()) {
            println!("{}", serde_json::to_string_pretty(&rotation_json(&row))?);
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Prints the rotations recorded and how many data keys each key version
/// still wraps.
async fn status(settings: &Settings) -> anyhow::Result<()> {
    let keyring = read(&settings.keyring)?;
    let versions = keyring.versions();
    let primary = keyring.primary_version();
    let (rotations, usage) = with_connection(settings, move |conn| {
        let rotations = sluice_schema::repo::keys::rotations(conn)?;
        let mut usage = serde_json::Map::new();
        for version in versions {
            usage.insert(
                version.to_string(),
                sluice_worker::keys::usage(conn, version)?.into(),
            );
        }
        Ok((rotations, usage))
    })
    .await?;
    let rotations: Vec<_> = rotations.iter().map(rotation_json).collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "primary": primary,
            "data_keys_by_version": usage,
            "rotations": rotations,
        }))?
    );
    Ok(())
}

/// Rewraps every data key still under an older key, here and now.
async fn rewrap(settings: &Settings) -> anyhow::Result<()> {
    let keyring = read(&settings.keyring)?;
    let report = with_connection(settings, move |conn| {
        Ok(sluice_worker::keys::rewrap_all(
            conn,
            &keyring,
            |table, done| {
                tracing::info!(target: LOG_TARGET, table, done, "rewrapped");
            },
        )?)
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Removes key `version` from the keyring, unless it still wraps a data key.
async fn retire(settings: &Settings, version: u32) -> anyhow::Result<()> {
    let path = settings.keyring.as_path();
    let mut keyring = read(path)?;
    let used = with_connection(settings, move |conn| {
        Ok(sluice_worker::keys::usage(conn, version)?)
    })
    .await?;
    if used > 0 {
        anyhow::bail!(
            "key version {version} still wraps {used} data keys; run `sluice keys rewrap` first"
        );
    }
    keyring.retire(version)?;
    keyring.save(path)?;
    println!(
        "{}",
        serde_json::json!({ "retired": version, "versions": keyring.versions() })
    );
    Ok(())
}

/// A key rotation as the commands print it.
fn rotation_json(row: &sluice_schema::models::KeyRotationRow) -> serde_json::Value {
    serde_json::json!({
        "rotation": row.rotation_id,
        "primary": row.primary_key,
        "requested_at": row.requested_at,
        "finished_at": row.finished_at,
        "finished_by": row.finished_by,
        "rewrapped": row.progress,
    })
}
