//! The whole service (API, relay, worker) in the test's runtime, on a free port,
//! with its own database and broker namespace.

use crate::{BrokerProxy, TestBroker, TestDb, TestObjectStore};
use secrecy::{ExposeSecret, SecretString};
use sluice_api::{ApiConfig, Application};
use sluice_events::{Platform, PlatformConfig};
use sluice_vault::{FileStore, Keyring, SharedKeyring};
use sluice_worker::WorkerConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const OPS_TOKEN: &str = "test-operator-token-0123456789abcdef";
pub const REGION: &str = "eu-frankfurt";

#[derive(Debug, Clone)]
pub struct AppOptions {
    pub worker: bool,
    pub relay: bool,
    /// Route the service's broker connections through a [`BrokerProxy`].
    pub proxy: bool,
    /// Configure the operator token.
    pub ops_token: bool,
    /// The worker's in-place retry window.
    pub retry_for: Duration,
    pub region: String,
    /// Log in with Salesforce against this stand-in.
    pub salesforce: Option<sluice_api::auth::salesforce::SalesforceConfig>,
    /// Connect Dropbox accounts against this stand-in.
    pub dropbox: Option<sluice_api::auth::dropbox::DropboxConfig>,
    /// The largest upload accepted.
    pub upload_max_bytes: u64,
    /// Runs to Salesforce of more rows than this use the Bulk API.
    pub salesforce_bulk_above_rows: usize,
    /// Run the workers' schedulers (jobs' schedules, the retention sweep).
    pub scheduler: bool,
    /// The most CSV one Bulk job of a run takes.
    pub salesforce_bulk_upload_bytes: usize,
    /// Bill through this Stripe stand-in (and enforce the plans' limits).
    pub billing: Option<sluice_api::billing::BillingConfig>,
    /// How long a request's body may send nothing.
    pub body_idle_timeout: Duration,
    /// How many uploads one user may send at once.
    pub uploads_per_user: usize,
    /// How old an unpublished event may be before `/readyz` says 503.
    pub relay_max_lag: Duration,
    /// Connections a run writes to a PostgreSQL target with.
    pub target_connections: usize,
    /// The address users reach the API at (default: the bound one).
    pub public_url: Option<String>,
    /// Proxies whose X-Forwarded-For names the client address.
    pub trusted_proxies: sluice_api::client_address::TrustedProxies,
    /// Keep the files in a [`TestObjectStore`] (the local directory only
    /// stages them).
    pub object_store: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            worker: true,
            relay: true,
            proxy: false,
            ops_token: true,
            retry_for: Duration::from_secs(30),
            region: REGION.into(),
            salesforce: None,
            dropbox: None,
            upload_max_bytes: 64 * 1024 * 1024,
            salesforce_bulk_above_rows: 2_000,
            scheduler: false,
            salesforce_bulk_upload_bytes: sluice_worker::MAX_UPLOAD,
            billing: None,
            body_idle_timeout: Duration::from_secs(30),
            uploads_per_user: 4,
            relay_max_lag: Duration::from_secs(60),
            target_connections: 2,
            public_url: None,
            trusted_proxies: Default::default(),
            object_store: false,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub ops_token: String,
    pub platform: Platform,
    pub proxy: Option<BrokerProxy>,
    pub shutdown: CancellationToken,
    /// The keyring the API seals with, and the file it follows.
    pub keyring: Arc<SharedKeyring>,
    pub keyring_file: std::path::PathBuf,
    /// Where the service keeps its encrypted files.
    pub store: FileStore,
    /// How long an upload is kept.
    pub upload_ttl: chrono::Duration,
    /// How the worker reaches Salesforce.
    pub salesforce: Option<sluice_worker::SalesforceApp>,
    /// Whether workers run their schedulers.
    pub scheduler: bool,
    /// Whether the plans' limits apply (billing is configured).
    pub plan_limits: bool,
    /// Connections a run writes to a PostgreSQL target with.
    pub target_connections: usize,
    _keyring_dir: tempfile::TempDir,
    server: actix_web::dev::ServerHandle,
    /// The S3-compatible server the files are kept in, if any.
    pub object_store: Option<TestObjectStore>,
    // Dropped last: the service must stop before its database goes.
    pub broker: TestBroker,
    pub db: TestDb,
}

/// How tests poll Bulk jobs: stand-in jobs end after a few polls, so
/// they are polled quickly.
pub fn fast_polling() -> sluice_worker::Polling {
    sluice_worker::Polling {
        first: Duration::from_millis(20),
        longest: Duration::from_millis(200),
        give_up_after: Duration::from_secs(60),
    }
}

/// How tests try failed Salesforce calls again: as often as in
/// production, milliseconds apart.
pub fn fast_backoff() -> sluice_worker::Backoff {
    sluice_worker::Backoff {
        tries: 5,
        first: Duration::from_millis(5),
        longest: Duration::from_millis(40),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    crate::init_logging();
    let db = TestDb::new();
    let broker = TestBroker::new();
    let proxy = if options.proxy {
        Some(BrokerProxy::start(&broker.url).await)
    } else {
        None
    };
    let amqp_url = proxy
        .as_ref()
        .map_or_else(|| broker.url.clone(), |p| p.url(&broker.url));
    let platform = Platform::start(PlatformConfig {
        region: options.region.clone(),
        database_url: db.url.clone(),
        database_pool_size: 8,
        amqp_url,
        topology: broker.topology.clone(),
    })
    .expect("platform");
    let shutdown = CancellationToken::new();
    if options.relay {
        tokio::spawn(platform.relay().run(shutdown.clone()));
    }
    let keyring_dir = tempfile::tempdir().expect("a directory for the keyring");
    let keyring_file = keyring_dir.path().join("keyring.json");
    Keyring::generate()
        .save(&keyring_file)
        .expect("write the keyring");
    let staging = keyring_dir.path().join("storage");
    let object_store = options.object_store.then(TestObjectStore::start);
    let store = match &object_store {
        Some(server) => {
            FileStore::open_object_store(&staging, &server.config("app")).expect("the object store")
        }
        None => FileStore::open(staging).expect("the file store"),
    };
    let upload_ttl = chrono::Duration::hours(1);
    let keyring = Arc::new(SharedKeyring::new(
        Keyring::load(&keyring_file).expect("read the keyring"),
        Some(keyring_file.clone()),
    ));
    let app = Application::build(
        &ApiConfig {
            bind: "127.0.0.1:0".into(),
            ops_token: options
                .ops_token
                .then(|| SecretString::from(OPS_TOKEN.to_owned())),
            workers: 2,
            region: options.region.clone(),
            keyring: keyring.clone(),
            session_ttl: chrono::Duration::hours(12),
            public_url: options.public_url.clone(),
            tls: None,
            trusted_proxies: options.trusted_proxies.clone(),
            salesforce: options.salesforce.clone(),
            dropbox: options.dropbox.clone(),
            allow_local_connections: true,
            store: store.clone(),
            upload_ttl,
            upload_max_bytes: options.upload_max_bytes,
            body_idle_timeout: options.body_idle_timeout,
            uploads_per_user: options.uploads_per_user,
            relay_max_lag: options.relay_max_lag,
            result_ttl: chrono::Duration::days(14),
            billing: options.billing.clone(),
        },
        platform.clone(),
    )
    .expect("build the API");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.handle();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        // A connection idle for longer than the server keeps it open
        // (actix closes it after 5 s) is not reused: on a busy machine a
        // test that blocks for seconds (starting a TLS server) would
        // otherwise send its next request down a connection being closed.
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("the test client builds"),
        ops_token: OPS_TOKEN.into(),
        platform,
        proxy,
        shutdown,
        keyring,
        keyring_file,
        store,
        upload_ttl,
        salesforce: options
            .salesforce
            .as_ref()
            .map(|app| sluice_worker::SalesforceApp {
                login_url: app.login_url.clone(),
                client_id: app.client_id.clone(),
                client_secret: zeroize::Zeroizing::new(
                    app.client_secret.expose_secret().to_owned(),
                ),
                bulk_above_rows: options.salesforce_bulk_above_rows,
                bulk_upload_bytes: options.salesforce_bulk_upload_bytes,
                polling: fast_polling(),
                backoff: fast_backoff(),
            }),
        scheduler: options.scheduler,
        plan_limits: options.billing.is_some(),
        target_connections: options.target_connections,
        _keyring_dir: keyring_dir,
        server,
        object_store,
        broker,
        db,
    };
    if options.worker {
        app.start_worker(options.retry_for);
    }
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request with the operator token.
    pub fn ops(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.ops_token)
    }

    /// Starts the worker's consumers (when the app was spawned without them).
    pub fn start_worker(&self, retry_for: Duration) {
        let config = WorkerConfig {
            name: "test-worker".into(),
            prefetch: 64,
            retry_for,
            store: Some(self.store.clone()),
            // Tests run the sweep themselves, at the time they choose,
            // unless they test the scheduler.
            scheduler: self.scheduler,
            rotate_keys_after_days: 90,
            batch_rows: 1_000,
            result_ttl: chrono::Duration::days(14),
            keyring: Some(self.keyring.clone()),
            salesforce: self.salesforce.clone(),
            plan_limits: self.plan_limits,
            max_runs: 4,
            target_connections: self.target_connections,
        };
        sluice_worker::spawn(&self.platform, &config, &self.shutdown);
    }

    pub fn conn(&self) -> diesel::PgConnection {
        self.db.connect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let stopping = self.server.stop(false);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(stopping);
        }
    }
}
