//! Configuration: `SLUICE_*` environment variables (or the matching flags),
//! read and checked once at start-up. Every variable is listed in the README.

use clap::Args;
use secrecy::SecretString;
use sluice_api::client_address::IpRange;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// PostgreSQL, the system of record.
    #[arg(long, env = "SLUICE_DATABASE_URL", default_value = "postgres://localhost/sluice", hide_env_values = true, value_parser = secret)]
    pub database_url: SecretString,

    /// Connections per process in the database pool.
    #[arg(long, env = "SLUICE_DATABASE_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=500))]
    pub database_pool_size: u32,

    /// RabbitMQ.
    #[arg(long, env = "SLUICE_AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f", hide_env_values = true, value_parser = secret)]
    pub amqp_url: SecretString,

    /// Prefix of every exchange and queue name.
    #[arg(long, env = "SLUICE_AMQP_NAMESPACE", default_value = "sluice", value_parser = namespace)]
    pub amqp_namespace: String,

    /// Deliveries of one command before it is dead-lettered.
    #[arg(long, env = "SLUICE_DELIVERY_LIMIT", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=100))]
    pub delivery_limit: i64,

    /// This deployment's region: accounts are created in it; tokens and
    /// commands of any other region are refused.
    #[arg(long, env = "SLUICE_REGION", default_value = "eu-frankfurt", value_parser = region)]
    pub region: String,

    /// The keyring file (key-encryption keys).
    #[arg(long, env = "SLUICE_KEYRING", default_value = "data/keyring.json")]
    pub keyring: std::path::PathBuf,

    /// `development` creates a missing keyring (with a warning); `production`
    /// refuses to start without one.
    #[arg(long, env = "SLUICE_ENVIRONMENT", default_value = "development", value_parser = ["development", "production"])]
    pub environment: String,

    /// Hours a log-in session lasts.
    #[arg(long, env = "SLUICE_SESSION_HOURS", default_value_t = 12, value_parser = clap::value_parser!(i64).range(1..=720))]
    pub session_hours: i64,

    /// The address users reach the API at, used in OAuth redirect URIs
    /// (default: `http://` and SLUICE_BIND).
    #[arg(long, env = "SLUICE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Salesforce's login host: login.salesforce.com, test.salesforce.com or a My Domain.
    #[arg(
        long,
        env = "SLUICE_SALESFORCE_LOGIN_URL",
        default_value = "https://login.salesforce.com"
    )]
    pub salesforce_login_url: String,

    /// The connected app's consumer key; with the secret, enables "log in with Salesforce".
    #[arg(long, env = "SLUICE_SALESFORCE_CLIENT_ID")]
    pub salesforce_client_id: Option<String>,

    /// The connected app's consumer secret.
    #[arg(long, env = "SLUICE_SALESFORCE_CLIENT_SECRET", hide_env_values = true, value_parser = secret)]
    pub salesforce_client_secret: Option<SecretString>,

    /// Where Dropbox users consent to a connection.
    #[arg(
        long,
        env = "SLUICE_DROPBOX_AUTHORIZE_URL",
        default_value = "https://www.dropbox.com"
    )]
    pub dropbox_authorize_url: String,

    /// Dropbox's API host (OAuth tokens and RPC calls).
    #[arg(
        long,
        env = "SLUICE_DROPBOX_API_URL",
        default_value = "https://api.dropboxapi.com"
    )]
    pub dropbox_api_url: String,

    /// Dropbox's content host (file downloads).
    #[arg(
        long,
        env = "SLUICE_DROPBOX_CONTENT_URL",
        default_value = "https://content.dropboxapi.com"
    )]
    pub dropbox_content_url: String,

    /// The Dropbox app's key; with the secret, enables Dropbox connections.
    #[arg(long, env = "SLUICE_DROPBOX_CLIENT_ID")]
    pub dropbox_client_id: Option<String>,

    /// The Dropbox app's secret.
    #[arg(long, env = "SLUICE_DROPBOX_CLIENT_SECRET", hide_env_values = true, value_parser = secret)]
    pub dropbox_client_secret: Option<SecretString>,

    /// Stripe's API (or a stand-in).
    #[arg(
        long,
        env = "SLUICE_STRIPE_API_URL",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_url: String,

    /// The Stripe secret key; with the webhook secret and both prices,
    /// enables billing (and the plans' limits).
    #[arg(long, env = "SLUICE_STRIPE_SECRET_KEY", hide_env_values = true, value_parser = secret)]
    pub stripe_secret_key: Option<SecretString>,

    /// The signing secret of the webhook endpoint `/v1/webhooks/stripe`.
    #[arg(long, env = "SLUICE_STRIPE_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub stripe_webhook_secret: Option<SecretString>,

    /// The Stripe Price (`price_...`) of the Pro plan's subscription.
    #[arg(long, env = "SLUICE_STRIPE_PRICE_PRO")]
    pub stripe_price_pro: Option<String>,

    /// The Stripe Price of the Enterprise plan's subscription.
    #[arg(long, env = "SLUICE_STRIPE_PRICE_ENTERPRISE")]
    pub stripe_price_enterprise: Option<String>,

    /// Allow connections to this machine's addresses and Unix sockets
    /// (development only: it lets users reach the services beside Sluice).
    #[arg(long, env = "SLUICE_ALLOW_LOCAL_CONNECTIONS", default_value_t = false)]
    pub allow_local_connections: bool,

    /// The directory encrypted files (uploads, result files) are kept in;
    /// with SLUICE_STORAGE_URL, only this process's staging area.
    #[arg(long, env = "SLUICE_STORAGE", default_value = "data/storage")]
    pub storage: std::path::PathBuf,

    /// Keep the files in an S3-compatible bucket instead:
    /// `s3://bucket` or `s3://bucket/prefix`.
    #[arg(long, env = "SLUICE_STORAGE_URL")]
    pub storage_url: Option<String>,

    /// The S3-compatible server (`https://minio.example.com:9000`); unset: AWS S3.
    #[arg(long, env = "SLUICE_STORAGE_ENDPOINT")]
    pub storage_endpoint: Option<String>,

    /// The bucket's region.
    #[arg(long, env = "SLUICE_STORAGE_REGION", default_value = "us-east-1")]
    pub storage_region: String,

    /// The object store's access key id (with the secret; neither: the
    /// machine's own credentials, such as an instance role).
    #[arg(long, env = "SLUICE_STORAGE_ACCESS_KEY_ID", hide_env_values = true, value_parser = secret)]
    pub storage_access_key_id: Option<SecretString>,

    /// The object store's secret access key.
    #[arg(long, env = "SLUICE_STORAGE_SECRET_ACCESS_KEY", hide_env_values = true, value_parser = secret)]
    pub storage_secret_access_key: Option<SecretString>,

    /// Allow plain HTTP to an endpoint on another machine (a private
    /// network only); loopback is always allowed.
    #[arg(long, env = "SLUICE_STORAGE_ALLOW_HTTP", default_value_t = false)]
    pub storage_allow_http: bool,

    /// Files larger than this many MiB are uploaded in parts of this size.
    #[arg(long, env = "SLUICE_STORAGE_PART_MIB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(5..=1024))]
    pub storage_part_mib: u32,

    /// How long an upload is kept (`90m`, `1h`...), at most a week.
    #[arg(long, env = "SLUICE_UPLOAD_TTL", default_value = "1h", value_parser = ttl)]
    pub upload_ttl: humantime::Duration,

    /// How long a run's result files (success.csv, errors.csv) are kept.
    #[arg(long, env = "SLUICE_RESULT_TTL", default_value = "14d", value_parser = result_ttl)]
    pub result_ttl: humantime::Duration,

    /// After how many days in use the daily reminder asks for a rotation
    /// of the primary key (`sluice keys rotate`).
    #[arg(long, env = "SLUICE_KEY_ROTATION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub key_rotation_days: i64,

    /// How long a request's body may send nothing before the request is
    /// refused with 408 (`30s`, `2m`...).
    #[arg(long, env = "SLUICE_BODY_IDLE_TIMEOUT", default_value = "30s", value_parser = seconds_to_hour)]
    pub body_idle_timeout: humantime::Duration,

    /// How many uploads one user may be sending at once; more answer 429.
    #[arg(long, env = "SLUICE_UPLOADS_PER_USER", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub uploads_per_user: u64,

    /// How old the oldest event not yet published to RabbitMQ may be
    /// before `/readyz` answers 503.
    #[arg(long, env = "SLUICE_RELAY_MAX_LAG", default_value = "60s", value_parser = seconds_to_hour)]
    pub relay_max_lag: humantime::Duration,

    /// The largest upload accepted, in bytes.
    #[arg(long, env = "SLUICE_UPLOAD_MAX_BYTES", default_value_t = 2 * 1024 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub upload_max_bytes: u64,

    /// Address the HTTP API listens on.
    #[arg(long, env = "SLUICE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// The API's TLS certificate chain (PEM, leaf first): with
    /// SLUICE_TLS_KEY, `sluice api` and `all` serve HTTPS only, and take up
    /// a new pair put in place of the files without a restart.
    #[arg(long, env = "SLUICE_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of SLUICE_TLS_CERT (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SLUICE_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Proxies in front of the API (IP addresses or ranges such as
    /// 172.16.0.0/12, comma-separated) whose X-Forwarded-For names the
    /// client address the log-in throttle counts; unset, it is the TCP peer.
    #[arg(long, env = "SLUICE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = clap::value_parser!(IpRange))]
    pub trusted_proxies: Vec<IpRange>,

    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "SLUICE_HTTP_WORKERS", default_value_t = 0)]
    pub http_workers: usize,

    /// Bearer token for the operator endpoints (`/v1/ops/...`); unset disables them.
    #[arg(long, env = "SLUICE_OPS_TOKEN", hide_env_values = true, value_parser = secret)]
    pub ops_token: Option<SecretString>,

    /// Deliveries in flight per consumer.
    #[arg(long, env = "SLUICE_WORKER_PREFETCH", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_prefetch: u16,

    /// Runs (imports and rollbacks) one worker works at once; each holds up
    /// to three PostgreSQL connections and SLUICE_WORKER_TARGET_CONNECTIONS
    /// to its target.
    #[arg(long, env = "SLUICE_WORKER_RUNS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub worker_runs: u16,

    /// Connections a run writes to a PostgreSQL table with: as many batches
    /// are written at once (parallel COPY streams), committing in order.
    /// More help where the target database has cores to spare.
    #[arg(long, env = "SLUICE_WORKER_TARGET_CONNECTIONS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub worker_target_connections: u16,

    /// Seconds a transiently failing delivery is retried in place before it
    /// returns to the queue and counts against the delivery limit.
    #[arg(long, env = "SLUICE_WORKER_RETRY_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=1200))]
    pub worker_retry_seconds: u64,

    /// This worker's name in the events it records (default: host name and process id).
    #[arg(long, env = "SLUICE_WORKER_NAME")]
    pub worker_name: Option<String>,

    /// `text` for people, `json` for log collectors.
    #[arg(long, env = "SLUICE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

fn secret(s: &str) -> Result<SecretString, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(s.to_owned()))
}

fn namespace(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("use 1-64 letters, digits, '-' or '_'".into())
    }
}

fn region(s: &str) -> Result<String, String> {
    let ok = (2..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err("use 2-32 lowercase letters, digits or '-', such as eu-frankfurt".into())
    }
}

fn ttl(s: &str) -> Result<humantime::Duration, String> {
    let ttl: humantime::Duration = s.parse().map_err(|e| format!("{e} (use 30m, 1h...)"))?;
    if ttl.as_secs() < 60 || ttl.as_secs() > 7 * 24 * 3600 {
        return Err("use a duration from 1m to 7d".into());
    }
    Ok(ttl)
}

/// A wait from one second to an hour: zero would refuse every body or
/// make every instant a lag.
fn seconds_to_hour(s: &str) -> Result<humantime::Duration, String> {
    let wait: humantime::Duration = s.parse().map_err(|e| format!("{e} (use 30s, 2m...)"))?;
    if wait.as_secs() < 1 || wait.as_secs() > 3600 {
        return Err("use a duration from 1s to 1h".into());
    }
    Ok(wait)
}

fn result_ttl(s: &str) -> Result<humantime::Duration, String> {
    let ttl: humantime::Duration = s.parse().map_err(|e| format!("{e} (use 14d, 48h...)"))?;
    if ttl.as_secs() > 366 * 24 * 3600 {
        return Err("use at most a year".into());
    }
    Ok(ttl)
}
