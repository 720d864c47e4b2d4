//! What the operations about accounts, people, tokens, billing and
//! operations answer.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /readyz`: `ready` when every check is `ok`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(pattern = "^(ready|unavailable)$")]
    pub status: String,
    pub checks: ReadinessChecks,
    /// How long ago the oldest event not yet published was recorded (0
    /// when the relay is caught up).
    pub relay_lag_seconds: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok` or `unavailable`.
    pub database: String,
    /// `ok` or `unavailable`: the connection to RabbitMQ.
    pub broker: String,
    /// `ok`, `lagging` (an event older than `SLUICE_RELAY_MAX_LAG` is not
    /// yet published), or `unavailable` (the database cannot tell).
    pub relay: String,
}

/// A probe accepted: it travels the pipeline now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeQueued {
    pub probe_id: Uuid,
    #[schema(example = "queued")]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Probe {
    pub probe_id: Uuid,
    /// `queued` or `completed`.
    pub status: String,
    pub requested_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The worker that completed it.
    pub completed_by: Option<String>,
}

/// Deliveries that exhausted their retries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetters {
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetter {
    pub event_id: Uuid,
    pub event_type: String,
    pub queue: String,
    pub reason: String,
    pub delivery_count: i64,
    pub dead_lettered_at: DateTime<Utc>,
}

/// How long the account's result files (and the journals rollbacks read)
/// are kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountSettings {
    pub plan: String,
    /// False: the account keeps no result files at all.
    pub store_results: bool,
    /// Days a run's result files are kept (0 when none are stored).
    pub result_retention_days: i64,
    /// The deployment's `SLUICE_RESULT_TTL`, in days.
    pub default_result_retention_days: i64,
    /// Whether runs can be rolled back (only while their files are kept).
    pub rollback: bool,
    /// Whether the account may change these (Enterprise).
    pub can_change: bool,
}

/// The account's plan, its limits and this month's use, and the card.
#[derive(Debug, Serialize, ToSchema)]
pub struct Billing {
    /// `free`, `pro` or `enterprise`.
    pub plan: String,
    /// Whether this deployment bills through Stripe (and so applies the
    /// plans' limits).
    pub billing_enabled: bool,
    pub subscription: Option<Subscription>,
    pub card: Option<Card>,
    /// When Stripe last failed to take a payment, while that stands.
    pub payment_failed_at: Option<DateTime<Utc>>,
    pub limits: PlanLimits,
    pub usage: Usage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    /// Stripe's status: `active`, `trialing`, `past_due`, `canceled`...
    pub status: Option<String>,
}

/// The card's summary, all Sluice keeps of it (sealed, as this JSON).
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanLimits {
    /// Rows the imports may read in a calendar month (UTC); none: no limit.
    pub rows_per_month: Option<i64>,
    /// Jobs that may have a schedule at once; none: no limit.
    pub schedules: Option<i64>,
    /// Whether the account chooses how long result files are kept.
    pub retention_control: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub rows_this_month: i64,
    pub month_started_at: DateTime<Utc>,
    pub month_ends_at: DateTime<Utc>,
    /// Jobs with a schedule.
    pub schedules: i64,
}

/// A Stripe Checkout Session: send the browser to `url`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutSession {
    pub session_id: String,
    pub url: Option<String>,
    /// `pro` or `enterprise`.
    pub plan: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stripe's customer portal: send the browser to `url`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSession {
    pub url: String,
}

/// A webhook delivery taken in: `recorded` says whether it changed
/// anything Sluice keeps (a repeated delivery is recorded once).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    pub received: bool,
    pub recorded: bool,
}

/// A new account, with the person who signed up as its owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedUp {
    pub user_id: Uuid,
    pub account_id: Uuid,
    /// The deployment's region, where the account lives.
    pub region: String,
}

/// The caller and their account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub account: Account,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub company: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub plan: String,
    pub region: String,
}

/// A person of the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    /// When the person was added (or signed up).
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Users {
    pub users: Vec<User>,
}

/// A user's role, as it now is.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRole {
    pub id: Uuid,
    /// `admin` or `member`.
    pub role: String,
}

/// A session: send `token` as `Authorization: Bearer <token>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToken {
    pub token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
}

/// The Salesforce user of the caller's last Salesforce log-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesforceIdentity {
    pub email: Option<String>,
    pub email_verified: bool,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
}

/// A new API token: `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenCreated {
    pub id: Uuid,
    pub name: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The caller's API tokens, without their secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokens {
    pub api_tokens: Vec<ApiToken>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where to send the browser to consent at the provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrl {
    pub authorize_url: String,
}
