//! `sluice api`, `worker` and `all`: the roles that serve until stopped.
//! Each relays events to RabbitMQ; `worker` consumes the work queues;
//! `api` serves HTTP.

use crate::config::{Roles, ServeConfig};
use crate::settings::Settings;
use crate::LOG_TARGET;
use anyhow::Context;
use sluice_api::Application;
use sluice_events::Platform;
use sluice_vault::{FileStore, Keyring, KeyringSource, ObjectStoreConfig, SharedKeyring};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Serves `roles` until SIGINT or SIGTERM, then stops them in turn.
pub async fn serve(settings: &Settings, roles: Roles) -> anyhow::Result<ExitCode> {
    let config = ServeConfig::check(settings, roles)?;
    // Checking the bucket waits on the network: on the blocking pool.
    let store = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || open_store(&settings)).await??
    };
    let keyring = Arc::new(SharedKeyring::new(
        load_keyring(settings)?,
        Some(settings.keyring.clone()),
    ));
    let platform = Platform::start(config.platform())?;
    let shutdown = CancellationToken::new();
    let mut tasks = vec![tokio::spawn(platform.relay().run(shutdown.clone()))];
    if roles.worker {
        let worker = config.worker(store.clone(), keyring.clone());
        tasks.extend(sluice_worker::spawn(&platform, &worker, &shutdown));
    }
    let server = if roles.api {
        let app = Application::build(&config.api(store, keyring), platform)
            .with_context(|| format!("binding {}", settings.bind))?;
        tracing::info!(target: LOG_TARGET, bind = %settings.bind, port = app.port(), "API listening");
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Some(handle)
    } else {
        None
    };
    wait_for_signal().await;
    tracing::info!(target: LOG_TARGET, "shutting down");
    shutdown.cancel();
    if let Some(handle) = server {
        handle.stop(true).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The file store: the local directory, or the object store with the
/// directory as its staging area (its bucket checked).
pub fn open_store(settings: &Settings) -> anyhow::Result<FileStore> {
    let Some(url) = &settings.storage_url else {
        return FileStore::open(&settings.storage).with_context(|| {
            format!(
                "opening the storage directory {}",
                settings.storage.display()
            )
        });
    };
    let config = ObjectStoreConfig {
        url: url.clone(),
        endpoint: settings.storage_endpoint.clone(),
        region: settings.storage_region.clone(),
        access_key_id: settings.storage_access_key_id.clone(),
        secret_access_key: settings.storage_secret_access_key.clone(),
        allow_http: settings.storage_allow_http,
        part_size: settings.storage_part_mib as usize * 1024 * 1024,
    };
    FileStore::open_object_store(&settings.storage, &config)
        .context("SLUICE_STORAGE_URL and the SLUICE_STORAGE_* settings")
}

/// The keyring; in development a missing one is created (with a warning).
fn load_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let create = settings.environment == "development";
    let (keyring, source) =
        Keyring::load_or_create(&settings.keyring, create).with_context(|| {
            format!(
                "SLUICE_KEYRING={} (in production the keyring must exist)",
                settings.keyring.display()
            )
        })?;
    if source == KeyringSource::Created {
        tracing::warn!(
            target: LOG_TARGET,
            path = %settings.keyring.display(),
            "created a new keyring for development: back it up, or everything encrypted with it is lost"
        );
    }
    Ok(keyring)
}

/// Returns on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
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
