//! `sluice`: one binary for every role.

mod settings;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use settings::Settings;
use sluice_api::{ApiConfig, Application};
use sluice_events::{Platform, PlatformConfig, Topology};
use sluice_worker::WorkerConfig;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Self-hostable, security-first data imports"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
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
        command: AuditCommand,
    },
    /// Keyring commands.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Events the relay could not publish and moved past.
    Relay {
        #[command(subcommand)]
        command: RelayCommand,
    },
}

#[derive(Subcommand)]
enum RelayCommand {
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

#[derive(Subcommand)]
enum KeysCommand {
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

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and report the first altered, missing or reordered event.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.settings.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "sluice stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings;
    match cli.command {
        Command::Api => serve(&settings, true, false).await,
        Command::Worker => serve(&settings, false, true).await,
        Command::All => serve(&settings, true, true).await,
        Command::Migrate => {
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
        Command::Replay { keep } => {
            let report = with_connection(&settings, move |conn| {
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
        Command::Keys { command } => keys(&settings, command).await,
        Command::Relay { command } => relay(&settings, command).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let report =
                with_connection(&settings, |conn| Ok(sluice_events::verify::verify(conn)?)).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    use sluice_vault::Keyring;
    let path = settings.keyring.clone();
    let read =
        || Keyring::load(&path).with_context(|| format!("SLUICE_KEYRING={}", path.display()));
    match command {
        KeysCommand::Init => {
            if path.exists() {
                anyhow::bail!("{} exists already; it is left as it is", path.display());
            }
            Keyring::generate().save(&path)?;
            println!("{}", serde_json::json!({ "created": path }));
        }
        KeysCommand::Rotate { wait } => {
            let mut keyring = read()?;
            let primary = keyring.rotate();
            keyring.save(&path)?;
            tracing::info!(primary, "new primary key written");
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
                return Ok(ExitCode::SUCCESS);
            }
            loop {
                let row = with_connection(settings, move |conn| {
                    Ok(sluice_schema::repo::keys::rotation(conn, rotation)?)
                })
                .await?;
                if let Some(row) = row.filter(|r| r.finished_at.is_some()) {
                    println!("{}", serde_json::to_string_pretty(&rotation_json(&row))?);
                    return Ok(ExitCode::SUCCESS);
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
        KeysCommand::Status => {
            let keyring = read()?;
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
        }
        KeysCommand::Rewrap => {
            let keyring = read()?;
            let report = with_connection(settings, move |conn| {
                Ok(sluice_worker::keys::rewrap_all(
                    conn,
                    &keyring,
                    |table, done| {
                        tracing::info!(table, done, "rewrapped");
                    },
                )?)
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        KeysCommand::Retire { version } => {
            let mut keyring = read()?;
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
            keyring.save(&path)?;
            println!(
                "{}",
                serde_json::json!({ "retired": version, "versions": keyring.versions() })
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn relay(settings: &Settings, command: RelayCommand) -> anyhow::Result<ExitCode> {
    use sluice_events::event::QuarantineOutcome;
    use sluice_events::quarantine;
    let (seq, outcome) = match command {
        RelayCommand::Quarantined => {
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
            return Ok(ExitCode::SUCCESS);
        }
        RelayCommand::Republish { seq } => (seq, QuarantineOutcome::Republished),
        RelayCommand::Discard { seq } => (seq, QuarantineOutcome::Discarded),
    };
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
    Ok(ExitCode::SUCCESS)
}

async fn with_connection<T: Send + 'static>(
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

async fn serve(settings: &Settings, api: bool, worker: bool) -> anyhow::Result<ExitCode> {
    let keyring = Arc::new(sluice_vault::SharedKeyring::new(
        load_keyring(settings)?,
        Some(settings.keyring.clone()),
    ));
    let mut topology = Topology::new(settings.amqp_namespace.clone());
    topology.delivery_limit = settings.delivery_limit;
    let platform = Platform::start(PlatformConfig {
        region: settings.region.clone(),
        database_url: settings.database_url.expose_secret().to_owned(),
        database_pool_size: settings.database_pool_size,
        amqp_url: settings.amqp_url.expose_secret().to_owned(),
        topology,
    })?;
    let store = sluice_vault::FileStore::open(&settings.storage).with_context(|| {
        format!(
            "opening the storage directory {}",
            settings.storage.display()
        )
    })?;
    let shutdown = CancellationToken::new();
    let mut tasks = vec![tokio::spawn(platform.relay().run(shutdown.clone()))];
    if worker {
        let config = WorkerConfig {
            name: settings
                .worker_name
                .clone()
                .unwrap_or_else(default_worker_name),
            prefetch: settings.worker_prefetch,
            retry_for: std::time::Duration::from_secs(settings.worker_retry_seconds),
            store: Some(store.clone()),
            scheduler: true,
            rotate_keys_after_days: settings.key_rotation_days,
            batch_rows: 5_000,
            result_ttl: chrono::Duration::from_std(*settings.result_ttl)
                .context("SLUICE_RESULT_TTL is too long")?,
            keyring: Some(keyring.clone()),
            salesforce: salesforce(settings)?.map(|app| sluice_worker::SalesforceApp {
                login_url: app.login_url,
                client_id: app.client_id,
                client_secret: zeroize::Zeroizing::new(
                    app.client_secret.expose_secret().to_owned(),
                ),
                bulk_above_rows: 2_000,
                bulk_upload_bytes: sluice_worker::MAX_UPLOAD,
                polling: Default::default(),
                backoff: Default::default(),
            }),
            plan_limits: billing(settings)?.is_some(),
            max_runs: usize::from(settings.worker_runs),
        };
        tasks.extend(sluice_worker::spawn(&platform, &config, &shutdown));
    }
    let server = if api {
        let workers = match settings.http_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let app = Application::build(
            &ApiConfig {
                bind: settings.bind.clone(),
                ops_token: settings.ops_token.clone(),
                workers,
                region: settings.region.clone(),
                keyring,
                session_ttl: chrono::Duration::hours(settings.session_hours),
                public_url: settings.public_url.clone(),
                salesforce: salesforce(settings)?,
                dropbox: dropbox(settings)?,
                allow_local_connections: settings.allow_local_connections,
                store,
                upload_ttl: chrono::Duration::from_std(*settings.upload_ttl)
                    .context("SLUICE_UPLOAD_TTL is too long")?,
                upload_max_bytes: settings.upload_max_bytes,
                body_idle_timeout: *settings.body_idle_timeout,
                uploads_per_user: usize::try_from(settings.uploads_per_user).unwrap_or(usize::MAX),
                relay_max_lag: *settings.relay_max_lag,
                result_ttl: chrono::Duration::from_std(*settings.result_ttl)
                    .context("SLUICE_RESULT_TTL is too long")?,
                billing: billing(settings)?,
            },
            platform,
        )
        .with_context(|| format!("binding {}", settings.bind))?;
        tracing::info!(bind = %settings.bind, port = app.port(), "API listening");
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Some(handle)
    } else {
        None
    };
    wait_for_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    if let Some(handle) = server {
        handle.stop(true).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// "Log in with Salesforce", when the connected app's key and secret are both set.
fn salesforce(
    settings: &Settings,
) -> anyhow::Result<Option<sluice_api::auth::salesforce::SalesforceConfig>> {
    match (
        &settings.salesforce_client_id,
        &settings.salesforce_client_secret,
    ) {
        (Some(id), Some(secret)) => Ok(Some(sluice_api::auth::salesforce::SalesforceConfig {
            login_url: settings.salesforce_login_url.clone(),
            client_id: id.clone(),
            client_secret: secret.clone(),
        })),
        (None, None) => Ok(None),
        _ => anyhow::bail!(
            "set both SLUICE_SALESFORCE_CLIENT_ID and SLUICE_SALESFORCE_CLIENT_SECRET, or neither"
        ),
    }
}

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

/// Connecting Dropbox accounts, when the app's key and secret are both set.
fn dropbox(
    settings: &Settings,
) -> anyhow::Result<Option<sluice_api::auth::dropbox::DropboxConfig>> {
    match (&settings.dropbox_client_id, &settings.dropbox_client_secret) {
        (Some(id), Some(secret)) => Ok(Some(sluice_api::auth::dropbox::DropboxConfig {
            authorize_url: settings.dropbox_authorize_url.clone(),
            api_url: settings.dropbox_api_url.clone(),
            content_url: settings.dropbox_content_url.clone(),
            client_id: id.clone(),
            client_secret: secret.clone(),
        })),
        (None, None) => Ok(None),
        _ => anyhow::bail!(
            "set both SLUICE_DROPBOX_CLIENT_ID and SLUICE_DROPBOX_CLIENT_SECRET, or neither"
        ),
    }
}

/// Billing through Stripe, when its key, webhook secret and both plans'
/// prices are set.
fn billing(settings: &Settings) -> anyhow::Result<Option<sluice_api::billing::BillingConfig>> {
    match (
        &settings.stripe_secret_key,
        &settings.stripe_webhook_secret,
        &settings.stripe_price_pro,
        &settings.stripe_price_enterprise,
    ) {
        (Some(key), Some(webhook), Some(pro), Some(enterprise)) => {
            Ok(Some(sluice_api::billing::BillingConfig {
                api_url: settings.stripe_api_url.clone(),
                secret_key: key.clone(),
                webhook_secret: webhook.clone(),
                price_pro: pro.clone(),
                price_enterprise: enterprise.clone(),
            }))
        }
        (None, None, None, None) => Ok(None),
        _ => anyhow::bail!(
            "set all of SLUICE_STRIPE_SECRET_KEY, SLUICE_STRIPE_WEBHOOK_SECRET, \
             SLUICE_STRIPE_PRICE_PRO and SLUICE_STRIPE_PRICE_ENTERPRISE, or none"
        ),
    }
}

/// The keyring; in development a missing one is created (with a warning).
fn load_keyring(settings: &Settings) -> anyhow::Result<sluice_vault::Keyring> {
    let create = settings.environment == "development";
    let (keyring, source) = sluice_vault::Keyring::load_or_create(&settings.keyring, create)
        .with_context(|| {
            format!(
                "SLUICE_KEYRING={} (in production the keyring must exist)",
                settings.keyring.display()
            )
        })?;
    if source == sluice_vault::KeyringSource::Created {
        tracing::warn!(
            path = %settings.keyring.display(),
            "created a new keyring for development: back it up, or everything encrypted with it is lost"
        );
    }
    Ok(keyring)
}

fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let spec =
        std::env::var("SLUICE_LOG").unwrap_or_else(|_| "info,lapin=warn,amq_protocol=warn".into());
    let filter = EnvFilter::try_new(sluice_api::telemetry::log_filter(&spec))
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=warn,amq_protocol=warn"));
    // Logs go to stderr: stdout carries the JSON reports of the maintenance commands.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
