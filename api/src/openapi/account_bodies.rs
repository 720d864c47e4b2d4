//! The shapes of what the operations about accounts, people, tokens,
//! billing and operations answer. The handlers build their answers with
//! `json!`; these types exist only to describe them in the document.

#![expect(
    dead_code,
    reason = "these types describe answers in the document; nothing builds them"
)]

use chrono::{DateTime, Utc};
use utoipa::ToSchema;
use uuid::Uuid;

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: String,
}

/// `GET /readyz`: `ready` when every check is `ok`.
#[derive(ToSchema)]
pub struct Readiness {
    #[schema(pattern = "^(ready|unavailable)$")]
    status: String,
    checks: ReadinessChecks,
    /// How long ago the oldest event not yet published was recorded (0
    /// when the relay is caught up).
    relay_lag_seconds: u64,
}

#[derive(ToSchema)]
pub struct ReadinessChecks {
    /// `ok` or `unavailable`.
    database: String,
    /// `ok` or `unavailable`: the connection to RabbitMQ.
    broker: String,
    /// `ok`, `lagging` (an event older than `SLUICE_RELAY_MAX_LAG` is not
    /// yet published), or `unavailable` (the database cannot tell).
    relay: String,
}

/// A probe accepted: it travels the pipeline now.
#[derive(ToSchema)]
pub struct ProbeQueued {
    probe_id: Uuid,
    #[schema(example = "queued")]
    status: String,
}

#[derive(ToSchema)]
pub struct Probe {
    probe_id: Uuid,
    /// `queued` or `completed`.
    status: String,
    requested_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    /// The worker that completed it.
    completed_by: Option<String>,
}

/// Deliveries that exhausted their retries, newest first.
#[derive(ToSchema)]
pub struct DeadLetters {
    dead_letters: Vec<DeadLetter>,
}

#[derive(ToSchema)]
pub struct DeadLetter {
    event_id: Uuid,
    event_type: String,
    queue: String,
    reason: String,
    delivery_count: i64,
    dead_lettered_at: DateTime<Utc>,
}

/// How long the account's result files (and the journals rollbacks read)
/// are kept.
#[derive(ToSchema)]
pub struct AccountSettings {
    plan: String,
    /// False: the account keeps no result files at all.
    store_results: bool,
    /// Days a run's result files are kept (0 when none are stored).
    result_retention_days: i64,
    /// The deployment's `SLUICE_RESULT_TTL`, in days.
    default_result_retention_days: i64,
    /// Whether runs can be rolled back (only while their files are kept).
    rollback: bool,
    /// Whether the account may change these (Enterprise).
    can_change: bool,
}

/// The account's plan, its limits and this month's use, and the card.
#[derive(ToSchema)]
pub struct Billing {
    /// `free`, `pro` or `enterprise`.
    plan: String,
    /// Whether this deployment bills through Stripe (and so applies the
    /// plans' limits).
    billing_enabled: bool,
    subscription: Option<Subscription>,
    card: Option<Card>,
    /// When Stripe last failed to take a payment, while that stands.
    payment_failed_at: Option<DateTime<Utc>>,
    limits: PlanLimits,
    usage: Usage,
}

#[derive(ToSchema)]
pub struct Subscription {
    id: String,
    /// Stripe's status: `active`, `trialing`, `past_due`, `canceled`...
    status: Option<String>,
}

/// The card's summary, all Sluice keeps of it.
#[derive(ToSchema)]
pub struct Card {
    brand: String,
    last4: String,
    exp_month: i64,
    exp_year: i64,
}

#[derive(ToSchema)]
pub struct PlanLimits {
    /// Rows the imports may read in a calendar month (UTC); none: no limit.
    rows_per_month: Option<i64>,
    /// Jobs that may have a schedule at once; none: no limit.
    schedules: Option<i64>,
    /// Whether the account chooses how long result files are kept.
    retention_control: bool,
}

#[derive(ToSchema)]
pub struct Usage {
    rows_this_month: i64,
    month_started_at: DateTime<Utc>,
    month_ends_at: DateTime<Utc>,
    /// Jobs with a schedule.
    schedules: i64,
}

/// A Stripe Checkout Session: send the browser to `url`.
#[derive(ToSchema)]
pub struct CheckoutSession {
    session_id: String,
    url: Option<String>,
    /// `pro` or `enterprise`.
    plan: String,
    expires_at: Option<DateTime<Utc>>,
}

/// Stripe's customer portal: send the browser to `url`.
#[derive(ToSchema)]
pub struct PortalSession {
    url: String,
}

/// A webhook delivery taken in: `recorded` says whether it changed
/// anything Sluice keeps (a repeated delivery is recorded once).
#[derive(ToSchema)]
pub struct WebhookReceipt {
    received: bool,
    recorded: bool,
}

/// A new account, with the person who signed up as its owner.
#[derive(ToSchema)]
pub struct SignedUp {
    user_id: Uuid,
    account_id: Uuid,
    /// The deployment's region, where the account lives.
    region: String,
}

/// The caller and their account.
#[derive(ToSchema)]
pub struct Me {
    user: User,
    account: Account,
}

#[derive(ToSchema)]
pub struct Account {
    id: Uuid,
    company: String,
    /// ISO 3166-1 alpha-2.
    country: String,
    plan: String,
    region: String,
}

/// A person of the account.
#[derive(ToSchema)]
pub struct User {
    id: Uuid,
    email: String,
    first_name: String,
    last_name: String,
    /// `owner`, `admin` or `member`.
    role: String,
}

#[derive(ToSchema)]
pub struct Users {
    users: Vec<User>,
}

/// A user's role, as it now is.
#[derive(ToSchema)]
pub struct UserRole {
    id: Uuid,
    /// `admin` or `member`.
    role: String,
}

/// A session: send `token` as `Authorization: Bearer <token>`.
#[derive(ToSchema)]
pub struct SessionToken {
    token: String,
    #[schema(example = "Bearer")]
    token_type: String,
    expires_at: DateTime<Utc>,
}

/// The Salesforce user of the caller's last Salesforce log-in.
#[derive(ToSchema)]
pub struct SalesforceIdentity {
    email: Option<String>,
    email_verified: bool,
    user_id: Option<String>,
    organization_id: Option<String>,
}

/// A new API token: `token` is shown this once.
#[derive(ToSchema)]
pub struct ApiTokenCreated {
    id: Uuid,
    name: String,
    token: String,
    expires_at: DateTime<Utc>,
}

/// The caller's API tokens, without their secrets.
#[derive(ToSchema)]
pub struct ApiTokens {
    api_tokens: Vec<ApiToken>,
}

#[derive(ToSchema)]
pub struct ApiToken {
    id: Uuid,
    name: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Where to send the browser to consent at the provider.
#[derive(ToSchema)]
pub struct AuthorizeUrl {
    authorize_url: String,
}
