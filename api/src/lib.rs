//! The HTTP API (actix-web). Handlers validate, append events through the
//! appender, and read projections; long work happens in the workers.

pub mod auth;
pub mod billing;
mod body_timeout;
pub mod client_address;
pub mod error;
mod failure_words;
mod limits;
mod openapi;
mod operator;
mod pages;
pub mod people;
mod request_id;
mod response_check;
mod routes;
mod streams;
pub mod telemetry;
pub mod tls;
mod views;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use error::ApiError;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sluice_events::Platform;
use sluice_vault::SharedKeyring;
use std::net::TcpListener;
use std::sync::Arc;
use telemetry::Metrics;

/// Largest JSON body accepted by any endpoint.
pub const JSON_LIMIT: usize = 256 * 1024;

/// The most rows a preview reads to find the last of each duplicate.
pub use routes::jobs::previews::LAST_PASS_ROWS as PREVIEW_LAST_PASS_ROWS;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `host:port`; port 0 picks a free port (tests).
    pub bind: String,
    /// Bearer token for the operator endpoints; none disables them.
    pub ops_token: Option<SecretString>,
    pub workers: usize,
    /// This deployment's region: accounts are created in it, and tokens of
    /// other regions are refused.
    pub region: String,
    pub keyring: Arc<SharedKeyring>,
    /// How long a log-in session lasts.
    pub session_ttl: chrono::Duration,
    /// The address users reach this API at (for OAuth redirect URIs); by
    /// default `https://` (with `tls`) or `http://` and the bound address.
    /// An `https://` address also turns on HSTS (a TLS proxy in front).
    pub public_url: Option<String>,
    /// Proxies (a TLS proxy in front) whose `X-Forwarded-For` names the
    /// client address the log-in throttle counts.
    pub trusted_proxies: client_address::TrustedProxies,
    /// Serve HTTPS with this certificate and key (reloaded when the files
    /// change); none serves plain HTTP.
    pub tls: Option<Arc<tls::CertResolver>>,
    /// Log in with Salesforce and connect orgs, when configured.
    pub salesforce: Option<auth::salesforce::SalesforceConfig>,
    /// Connect Dropbox accounts, when configured.
    pub dropbox: Option<auth::dropbox::DropboxConfig>,
    /// Allow connections to this machine's addresses and Unix sockets
    /// (development and tests only: it lets users reach local services).
    pub allow_local_connections: bool,
    /// Where encrypted files are kept.
    pub store: sluice_vault::FileStore,
    /// How long an upload is kept.
    pub upload_ttl: chrono::Duration,
    /// The largest upload accepted.
    pub upload_max_bytes: u64,
    /// How long a request's body may send nothing before it is refused.
    pub body_idle_timeout: std::time::Duration,
    /// How many uploads one user may be sending at once.
    pub uploads_per_user: usize,
    /// How old the oldest event the relay has not published may be
    /// before `/readyz` answers 503.
    pub relay_max_lag: std::time::Duration,
    /// How long a run's result files are kept, unless an Enterprise
    /// account chose otherwise.
    pub result_ttl: chrono::Duration,
    /// Billing through Stripe, when configured; then plans' row and
    /// schedule limits are enforced.
    pub billing: Option<billing::BillingConfig>,
}

/// Shared by every handler.
pub struct AppState {
    pub platform: Platform,
    pub region: String,
    pub keyring: Arc<SharedKeyring>,
    pub session_ttl: chrono::Duration,
    pub public_url: String,
    pub salesforce: Option<auth::salesforce::SalesforceConfig>,
    pub dropbox: Option<auth::dropbox::DropboxConfig>,
    pub allow_local_connections: bool,
    pub trusted_proxies: client_address::TrustedProxies,
    pub store: sluice_vault::FileStore,
    pub upload_ttl: chrono::Duration,
    pub upload_max_bytes: u64,
    pub body_idle_timeout: std::time::Duration,
    /// Uploads being received, by user: bounded by `uploads_per_user`.
    pub uploads_in_flight: routes::uploads::InFlight,
    pub relay_max_lag: std::time::Duration,
    pub result_ttl: chrono::Duration,
    pub billing: Option<billing::BillingConfig>,
    /// The Stripe API client of `billing`, made once.
    pub stripe: Option<stripe::Client>,
    /// For calls to identity providers.
    pub http: oauth2::reqwest::Client,
    /// Password hashing, a few at a time.
    pub hashing: auth::hashing::Hashing,
    /// Checked when an email is unknown, so that it costs a wrong password's time.
    dummy_hash: String,
    ops_token_sha256: Option<[u8; 32]>,
}

impl AppState {
    /// The state every handler shares, made from the API's configuration
    /// (the one place that copies it): the Stripe and identity providers'
    /// HTTP clients are built here, once. `local` is the address bound,
    /// the public address by default.
    fn new(
        config: &ApiConfig,
        platform: Platform,
        local: std::net::SocketAddr,
    ) -> std::io::Result<Self> {
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{local}"))
            .trim_end_matches('/')
            .to_owned();
        let dummy_hash =
            auth::password::hash(&auth::token::generate("dummy")).map_err(std::io::Error::other)?;
        Ok(Self {
            platform,
            region: config.region.clone(),
            keyring: config.keyring.clone(),
            session_ttl: config.session_ttl,
            public_url,
            salesforce: config.salesforce.clone(),
            dropbox: config.dropbox.clone(),
            allow_local_connections: config.allow_local_connections,
            trusted_proxies: config.trusted_proxies.clone(),
            store: config.store.clone(),
            upload_ttl: config.upload_ttl,
            upload_max_bytes: config.upload_max_bytes,
            body_idle_timeout: config.body_idle_timeout,
            uploads_in_flight: routes::uploads::InFlight::new(config.uploads_per_user),
            relay_max_lag: config.relay_max_lag,
            result_ttl: config.result_ttl,
            billing: config.billing.clone(),
            stripe: config
                .billing
                .as_ref()
                .map(billing::BillingConfig::client)
                .transpose()
                .map_err(|e| std::io::Error::other(billing::describe(&e)))?,
            http: auth::oauth::http_client().map_err(std::io::Error::other)?,
            hashing: auth::hashing::Hashing::for_this_machine(),
            dummy_hash,
            ops_token_sha256: config
                .ops_token
                .as_ref()
                .map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()),
        })
    }

    /// Metadata for an event recorded by this request.
    pub fn metadata(&self, actor: impl Into<String>) -> sluice_events::Metadata {
        sluice_events::Metadata {
            request_id: Some(request_id::current()),
            region: Some(self.region.clone()),
            ..sluice_events::Metadata::actor(actor)
        }
    }

    /// Runs `work` with a pooled connection on the blocking threads, off the
    /// async executor: the one way a handler reaches the database. A pool
    /// that has no connection to give is a 503, diesel's errors map as
    /// [`ApiError`] says.
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut diesel::PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.platform.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
    }
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds the listener and builds the server; it runs once awaited.
    pub fn build(config: &ApiConfig, platform: Platform) -> std::io::Result<Self> {
        let listener = TcpListener::bind(&config.bind)?;
        let local = listener.local_addr()?;
        let port = local.port();
        let state = web::Data::new(AppState::new(config, platform.clone(), local)?);
        let metrics = web::Data::new(Metrics::new(&platform.metrics));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_LIMIT)
                        .error_handler(|e, _| ApiError::from(e).into()),
                )
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest(format!("invalid query string: {e}")).into()
                }))
                .wrap(from_fn(body_timeout::middleware))
                .wrap(from_fn(error::json_errors))
                .wrap(from_fn(pages::html_errors))
                .wrap(from_fn(response_check::middleware))
                .wrap(from_fn(pages::headers))
                .wrap(from_fn(telemetry::middleware))
                .configure(routes)
                .configure(pages::routes)
                .default_service(web::to(unrouted))
        })
        .workers(config.workers.max(1))
        .disable_signals();
        let server = match &config.tls {
            Some(resolver) => {
                let tls = resolver.server_config().map_err(std::io::Error::other)?;
                tokio::spawn(tls::watch(Arc::downgrade(resolver)));
                server.listen_rustls_0_23(listener, tls)?
            }
            None => server.listen(listener)?,
        }
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// A request no route took: 405 with `Allow` when the document has its
/// path under other methods, else 404.
async fn unrouted(req: actix_web::HttpRequest) -> Result<&'static str, ApiError> {
    let methods = openapi::methods_of(req.path());
    if methods.is_empty() {
        Err(ApiError::NotFound)
    } else {
        Err(ApiError::MethodNotAllowed(methods.join(", ")))
    }
}

/// Every endpoint of the API. They are all registered by
/// `openapi::register`, from the one list the OpenAPI document is made of:
/// an endpoint registered here instead would be served undocumented.
fn routes(cfg: &mut web::ServiceConfig) {
    openapi::register(cfg);
}
