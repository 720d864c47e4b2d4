//! What a serving process (`sluice api`, `worker` or `all`) runs with: the
//! settings checked once at start-up and turned into the configuration
//! each crate takes. The external services (the Salesforce connected app,
//! the Dropbox app, billing through Stripe) are configured here once and
//! handed to the API and the worker alike.

use crate::settings::Settings;
use anyhow::Context;
use secrecy::ExposeSecret;
use sluice_api::auth::dropbox::DropboxConfig;
use sluice_api::auth::salesforce::SalesforceConfig;
use sluice_api::billing::BillingConfig;
use sluice_api::client_address::TrustedProxies;
use sluice_api::tls::{CertResolver, TlsFiles};
use sluice_api::ApiConfig;
use sluice_events::{PlatformConfig, Topology};
use sluice_vault::{FileStore, SharedKeyring};
use sluice_worker::{SalesforceApp, WorkerConfig};
use std::sync::Arc;

/// Rows per batch of an import run.
const BATCH_ROWS: usize = 5_000;

/// Which roles a serving process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub api: bool,
    pub worker: bool,
}

impl Roles {
    pub const API: Self = Self {
        api: true,
        worker: false,
    };
    pub const WORKER: Self = Self {
        api: false,
        worker: true,
    };
    pub const ALL: Self = Self {
        api: true,
        worker: true,
    };
}

/// The settings of a serving process, checked.
pub struct ServeConfig<'a> {
    settings: &'a Settings,
    /// "Log in with Salesforce", connected orgs, and runs to them.
    salesforce: Option<SalesforceConfig>,
    /// Dropbox connections (checked only when the process serves the API,
    /// the one role that uses them).
    dropbox: Option<DropboxConfig>,
    /// Billing, and with it the plans' limits.
    billing: Option<BillingConfig>,
    /// HTTPS: the API's certificate and key, loaded (only when the process
    /// serves the API).
    tls: Option<Arc<CertResolver>>,
    trusted_proxies: TrustedProxies,
    upload_ttl: chrono::Duration,
    result_ttl: chrono::Duration,
}

impl<'a> ServeConfig<'a> {
    /// Checks what `roles` need of `settings`: an external service is
    /// configured in full or not at all.
    pub fn check(settings: &'a Settings, roles: Roles) -> anyhow::Result<Self> {
        Ok(Self {
            settings,
            salesforce: salesforce(settings)?,
            dropbox: if roles.api { dropbox(settings)? } else { None },
            billing: billing(settings)?,
            tls: if roles.api { tls(settings)? } else { None },
            trusted_proxies: TrustedProxies::new(settings.trusted_proxies.clone())
                .map_err(|e| anyhow::anyhow!("SLUICE_TRUSTED_PROXIES: {e}"))?,
            upload_ttl: chrono::Duration::from_std(*settings.upload_ttl)
                .context("SLUICE_UPLOAD_TTL is too long")?,
            result_ttl: chrono::Duration::from_std(*settings.result_ttl)
                .context("SLUICE_RESULT_TTL is too long")?,
        })
    }

    /// The system of record and the broker.
    pub fn platform(&self) -> PlatformConfig {
        let settings = self.settings;
        let mut topology = Topology::new(settings.amqp_namespace.clone());
        topology.delivery_limit = settings.delivery_limit;
        PlatformConfig {
            region: settings.region.clone(),
            database_url: settings.database_url.expose_secret().to_owned(),
            database_pool_size: settings.database_pool_size,
            amqp_url: settings.amqp_url.expose_secret().to_owned(),
            topology,
        }
    }

    /// The worker's configuration, with the files and keys it works with.
    pub fn worker(&self, store: FileStore, keyring: Arc<SharedKeyring>) -> WorkerConfig {
        let settings = self.settings;
        WorkerConfig {
            name: settings
                .worker_name
                .clone()
                .unwrap_or_else(default_worker_name),
            prefetch: settings.worker_prefetch,
            retry_for: std::time::Duration::from_secs(settings.worker_retry_seconds),
            store: Some(store),
            scheduler: true,
            rotate_keys_after_days: settings.key_rotation_days,
            batch_rows: BATCH_ROWS,
            result_ttl: self.result_ttl,
            keyring: Some(keyring),
            salesforce: self.salesforce.as_ref().map(|app| {
                SalesforceApp::new(
                    app.login_url.clone(),
                    app.client_id.clone(),
                    zeroize::Zeroizing::new(app.client_secret.expose_secret().to_owned()),
                )
            }),
            plan_limits: self.billing.is_some(),
            max_runs: usize::from(settings.worker_runs),
            target_connections: usize::from(settings.worker_target_connections),
        }
    }

    /// The API's configuration, with the files and keys it works with.
    pub fn api(&self, store: FileStore, keyring: Arc<SharedKeyring>) -> ApiConfig {
        let settings = self.settings;
        let workers = match settings.http_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        ApiConfig {
            bind: settings.bind.clone(),
            ops_token: settings.ops_token.clone(),
            workers,
            region: settings.region.clone(),
            keyring,
            session_ttl: chrono::Duration::hours(settings.session_hours),
            public_url: settings.public_url.clone(),
            tls: self.tls.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            salesforce: self.salesforce.clone(),
            dropbox: self.dropbox.clone(),
            allow_local_connections: settings.allow_local_connections,
            store,
            upload_ttl: self.upload_ttl,
            upload_max_bytes: settings.upload_max_bytes,
            body_idle_timeout: *settings.body_idle_timeout,
            uploads_per_user: usize::try_from(settings.uploads_per_user).unwrap_or(usize::MAX),
            relay_max_lag: *settings.relay_max_lag,
            result_ttl: self.result_ttl,
            billing: self.billing.clone(),
        }
    }
}

/// "Log in with Salesforce", when the connected app's key and secret are both set.
fn salesforce(settings: &Settings) -> anyhow::Result<Option<SalesforceConfig>> {
    match (
        &settings.salesforce_client_id,
        &settings.salesforce_client_secret,
    ) {
        (Some(id), Some(secret)) => Ok(Some(SalesforceConfig {
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

/// Connecting Dropbox accounts, when the app's key and secret are both set.
fn dropbox(settings: &Settings) -> anyhow::Result<Option<DropboxConfig>> {
    match (&settings.dropbox_client_id, &settings.dropbox_client_secret) {
        (Some(id), Some(secret)) => Ok(Some(DropboxConfig {
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

/// HTTPS, when the certificate and key are both set: both files are read
/// and checked now, so that a wrong one stops the start with its reason.
fn tls(settings: &Settings) -> anyhow::Result<Option<Arc<CertResolver>>> {
    match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => {
            let files = TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            let resolver = CertResolver::load(files).context(
                "SLUICE_TLS_CERT and SLUICE_TLS_KEY must be a PEM certificate and its key",
            )?;
            Ok(Some(resolver))
        }
        (None, None) => Ok(None),
        _ => anyhow::bail!("set both SLUICE_TLS_CERT and SLUICE_TLS_KEY, or neither"),
    }
}

/// Billing through Stripe, when its key, webhook secret and both plans'
/// prices are set.
fn billing(settings: &Settings) -> anyhow::Result<Option<BillingConfig>> {
    match (
        &settings.stripe_secret_key,
        &settings.stripe_webhook_secret,
        &settings.stripe_price_pro,
        &settings.stripe_price_enterprise,
    ) {
        (Some(key), Some(webhook), Some(pro), Some(enterprise)) => Ok(Some(BillingConfig {
            api_url: settings.stripe_api_url.clone(),
            secret_key: key.clone(),
            webhook_secret: webhook.clone(),
            price_pro: pro.clone(),
            price_enterprise: enterprise.clone(),
        })),
        (None, None, None, None) => Ok(None),
        _ => anyhow::bail!(
            "set all of SLUICE_STRIPE_SECRET_KEY, SLUICE_STRIPE_WEBHOOK_SECRET, \
             SLUICE_STRIPE_PRICE_PRO and SLUICE_STRIPE_PRICE_ENTERPRISE, or none"
        ),
    }
}

/// This worker's name in the events it records: the host's name and the
/// process's id.
fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use secrecy::ExposeSecret;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        settings: Settings,
    }

    fn settings(flags: &[&str]) -> Settings {
        let args = std::iter::once("sluice").chain(flags.iter().copied());
        Flags::try_parse_from(args).unwrap().settings
    }

    #[test]
    fn a_service_set_up_by_half_is_refused_naming_what_to_set() {
        let half = settings(&["--salesforce-client-id", "app"]);
        let refused = ServeConfig::check(&half, Roles::WORKER).err().unwrap();
        assert!(refused
            .to_string()
            .contains("SLUICE_SALESFORCE_CLIENT_SECRET"));

        let stripe = settings(&["--stripe-secret-key", "sk_test"]);
        let refused = ServeConfig::check(&stripe, Roles::API).err().unwrap();
        assert!(refused.to_string().contains("SLUICE_STRIPE_PRICE_PRO"));
    }

    #[test]
    fn dropbox_set_up_by_half_stops_only_the_api_that_uses_it() {
        let half = settings(&["--dropbox-client-id", "app"]);
        assert!(ServeConfig::check(&half, Roles::WORKER).is_ok());
        assert!(ServeConfig::check(&half, Roles::API).is_err());
        assert!(ServeConfig::check(&half, Roles::ALL).is_err());
    }

    #[test]
    fn https_set_up_by_half_stops_only_the_roles_that_serve_it() {
        let half = settings(&["--tls-cert", "/nonexistent/cert.pem"]);
        assert!(ServeConfig::check(&half, Roles::WORKER).is_ok());
        for roles in [Roles::API, Roles::ALL] {
            let refused = ServeConfig::check(&half, roles).err().unwrap();
            assert!(refused.to_string().contains("SLUICE_TLS_KEY"), "{refused}");
        }
    }

    #[test]
    fn the_api_and_the_worker_get_the_same_salesforce_app_and_billing() {
        let settings = settings(&[
            "--salesforce-client-id",
            "app",
            "--salesforce-client-secret",
            "shh",
            "--salesforce-login-url",
            "https://test.salesforce.com",
            "--stripe-secret-key",
            "sk_test",
            "--stripe-webhook-secret",
            "whsec",
            "--stripe-price-pro",
            "price_pro",
            "--stripe-price-enterprise",
            "price_ent",
        ]);
        let config = ServeConfig::check(&settings, Roles::ALL).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let keyring = Arc::new(SharedKeyring::new(sluice_vault::Keyring::generate(), None));

        let worker = config.worker(store.clone(), keyring.clone());
        let api = config.api(store, keyring);
        let (Some(run_app), Some(login_app)) = (worker.salesforce, api.salesforce) else {
            panic!("both roles reach Salesforce");
        };
        assert_eq!(run_app.login_url, login_app.login_url);
        assert_eq!(run_app.client_id, login_app.client_id);
        assert_eq!(
            run_app.client_secret.as_str(),
            login_app.client_secret.expose_secret()
        );
        assert!(worker.plan_limits);
        assert_eq!(api.billing.unwrap().price_pro, "price_pro");
    }
}
