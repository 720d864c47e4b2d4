//! Every event Sluice records, as one versioned enum.
//!
//! The serde tag is the `event_type` column and the content is the `payload`
//! column. A payload changes shape only by adding a new variant (for example
//! `probe.completed.v2`); old variants stay so that the log can be replayed.
//! Payloads carry ids and key versions, never secrets or file contents.
//! What a customer typed or what came from their data is sealed under the
//! account's subject key (fields marked *sealed*); ids, kinds, counts and
//! Sluice's own enums stay in clear.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload", deny_unknown_fields)]
pub enum DomainEvent {
    /// An operator asked for an end-to-end pipeline probe (a no-op command).
    #[serde(rename = "probe.requested")]
    ProbeRequested(ProbeRequested),
    /// A worker received the probe and recorded it.
    #[serde(rename = "probe.completed")]
    ProbeCompleted(ProbeCompleted),
    /// A delivery exhausted its retries (or was refused) and reached the dead-letter queue.
    #[serde(rename = "delivery.dead_lettered")]
    DeliveryDeadLettered(DeliveryDeadLettered),
    /// The relay could not publish an event and moved on past it: an alert
    /// for the operator, who re-publishes or discards it.
    #[serde(rename = "relay.event_quarantined")]
    RelayEventQuarantined(RelayEventQuarantined),
    /// An operator re-published or discarded a quarantined event.
    #[serde(rename = "relay.quarantine_released")]
    RelayQuarantineReleased(RelayQuarantineReleased),
    /// An email was claimed for one user (the stream is keyed by the
    /// email's blind index): no other user may sign up with it.
    #[serde(rename = "email.claimed")]
    EmailClaimed(EmailClaim),
    /// The user who held an email was removed or erased: it is free again.
    #[serde(rename = "email.released")]
    EmailReleased(EmailClaim),
    /// A team signed up: the account exists in this deployment's region.
    #[serde(rename = "account.created")]
    AccountCreated(AccountCreated),
    /// The account moved to another plan.
    #[serde(rename = "account.plan_changed")]
    AccountPlanChanged(AccountPlanChanged),
    /// An Enterprise account changed how long its result files are kept.
    #[serde(rename = "account.settings_changed")]
    AccountSettingsChanged(AccountSettingsChanged),
    /// The account was erased at its owner's request: its secrets, files
    /// and subject key were destroyed with this event, and the personal
    /// data its events hold (sealed under that key) can no longer be read.
    #[serde(rename = "account.erased")]
    AccountErased(AccountErased),
    /// Someone of the account downloaded its data (an export).
    #[serde(rename = "account.exported")]
    AccountExported(AccountExported),
    /// A person joined an account.
    #[serde(rename = "user.registered")]
    UserRegistered(UserRegistered),
    /// An owner changed a user's role.
    #[serde(rename = "user.role_changed")]
    UserRoleChanged(UserRoleChanged),
    /// A user was removed from the account; their sessions and tokens end.
    #[serde(rename = "user.removed")]
    UserRemoved(UserRemoved),
    /// A connection to a team's system was added; its secret is not here.
    /// Recorded before customer text was sealed: its name and parameters
    /// are in clear (replayed, no longer written).
    #[serde(rename = "connection.created")]
    ConnectionCreated(ConnectionCreated),
    /// A connection to a team's system was added: its kind (and TLS mode)
    /// in clear, its name and parameters sealed, its secret not here.
    #[serde(rename = "connection.created.v2")]
    ConnectionCreatedV2(ConnectionAdded),
    /// Disconnect: the connection and its secret are gone.
    #[serde(rename = "connection.disconnected")]
    ConnectionDisconnected(ConnectionDisconnected),
    /// Sluice tried the connection (when it was added, or on request):
    /// whether the system answered, or why not.
    #[serde(rename = "connection.tested")]
    ConnectionTested(ConnectionTested),
    /// A file was uploaded and stored encrypted; its key is not here.
    #[serde(rename = "upload.received")]
    UploadReceived(UploadReceived),
    /// An upload's file and key were destroyed (deleted, or expired).
    #[serde(rename = "upload.removed")]
    UploadRemoved(UploadRemoved),
    /// An import job was defined. Recorded before customer text was
    /// sealed: its definition is in clear (replayed, no longer written).
    #[serde(rename = "job.created")]
    JobCreated(JobCreated),
    /// A job's definition was changed: the whole new definition, in clear
    /// (replayed, no longer written).
    #[serde(rename = "job.updated")]
    JobUpdated(JobCreated),
    /// An import job was defined: ids, operation and schedule in clear,
    /// what the customer typed sealed.
    #[serde(rename = "job.created.v2")]
    JobCreatedV2(JobDefined),
    /// A job's definition was changed: the whole new definition, sealed as
    /// a new job's is.
    #[serde(rename = "job.updated.v2")]
    JobUpdatedV2(JobDefined),
    /// A job was deleted (its runs stay in the history).
    #[serde(rename = "job.deleted")]
    JobDeleted(JobDeleted),
    /// Someone asked for a run of a job (a command for the import workers).
    #[serde(rename = "run.requested")]
    RunRequested(RunRequested),
    /// A worker started (or resumed) the run.
    #[serde(rename = "run.started")]
    RunStarted(RunStarted),
    /// A batch of the run was committed to the target.
    #[serde(rename = "run.progressed")]
    RunProgressed(RunProgressed),
    /// A batch of a run to a target without transactions (Salesforce) is
    /// about to be written: a worker that resumes the run knows the batch
    /// may be in the target already.
    #[serde(rename = "run.batch_sent")]
    RunBatchSent(RunBatchSent),
    /// The run ended. Recorded before customer text was sealed: its
    /// message is in clear (replayed, no longer written).
    #[serde(rename = "run.finished")]
    RunFinished(RunFinished),
    /// The run ended: its status and counts in clear, why it failed sealed.
    #[serde(rename = "run.finished.v2")]
    RunFinishedV2(RunFinishedV2),
    /// A run's result files and their key were destroyed (retention).
    #[serde(rename = "run.results_removed")]
    RunResultsRemoved(RunResultsRemoved),
    /// An operator made a new primary key; every data key is to be rewrapped
    /// under it (a maintenance command).
    #[serde(rename = "keys.rotation_requested")]
    KeyRotationRequested(KeyRotationRequested),
    /// A worker rewrapped a table's data keys (progress of a rotation).
    #[serde(rename = "keys.rewrap_progress")]
    KeyRewrapProgress(KeyRewrapProgress),
    /// Every data key is wrapped under the rotation's primary key.
    #[serde(rename = "keys.rotation_finished")]
    KeyRotationFinished(KeyRotationFinished),
    /// A schedule's slot came: for a job's schedule, a run is to be
    /// requested; for a system schedule, its work is to be done (a command
    /// for the import workers). One event a slot, whichever worker saw it.
    #[serde(rename = "schedule.fired")]
    ScheduleFired(ScheduleFired),
    /// The retention sweep destroyed what had expired (ids only).
    #[serde(rename = "retention.purged")]
    RetentionPurged(RetentionPurged),
    /// The primary key has been primary longer than the deployment wants:
    /// time to run `sluice keys rotate`.
    #[serde(rename = "keys.rotation_due")]
    KeyRotationDue(KeyRotationDue),
    /// The account got a customer at Stripe (at its first checkout).
    #[serde(rename = "billing.customer_created")]
    BillingCustomerCreated(BillingCustomerCreated),
    /// Stripe said the account's subscription began, changed or ended
    /// (a verified webhook): the plan the account is on from then.
    #[serde(rename = "billing.subscription_changed")]
    BillingSubscriptionChanged(BillingSubscriptionChanged),
    /// Stripe said a card was attached to the account's customer: its
    /// summary, sealed.
    #[serde(rename = "billing.card_changed")]
    BillingCardChanged(BillingCardChanged),
    /// Stripe could not collect an invoice of the account's subscription.
    #[serde(rename = "billing.payment_failed")]
    BillingPaymentFailed(BillingPaymentFailed),
    /// A session (log in) or an API token was issued; its secret is not
    /// here. Recorded before customer text was sealed: an API token's name
    /// is in clear (replayed, no longer written).
    #[serde(rename = "token.issued")]
    TokenIssued(TokenIssued),
    /// A session (log in) or an API token was issued: an API token's name
    /// sealed, its secret not here.
    #[serde(rename = "token.issued.v2")]
    TokenIssuedV2(TokenIssuedV2),
    /// A session ended (log out) or an API token was revoked.
    #[serde(rename = "token.revoked")]
    TokenRevoked(TokenRevoked),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequested {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCompleted {
    /// The worker instance that handled the probe.
    pub worker: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryDeadLettered {
    pub event_id: Uuid,
    pub event_type: String,
    pub queue: String,
    pub reason: String,
    pub delivery_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailClaim {
    /// The user the email is (or was) claimed for.
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayEventQuarantined {
    /// The relay's cursor (`amqp:<namespace>`) that passed the event by.
    pub cursor: String,
    pub global_seq: i64,
    pub event_id: Uuid,
    pub event_type: String,
    /// Why it could not be published, in Sluice's words (no payload).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayQuarantineReleased {
    pub global_seq: i64,
    pub outcome: QuarantineOutcome,
}

/// What an operator did with a quarantined event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineOutcome {
    /// Published to the broker after all.
    Republished,
    /// Left unpublished for good.
    Discarded,
}

impl QuarantineOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Republished => "republished",
            Self::Discarded => "discarded",
        }
    }
}

/// Fields marked *sealed* hold personal data encrypted under the account's
/// subject key (base64), bound to the account, table, row and field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountCreated {
    pub region: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub plan: String,
    /// Sealed.
    pub company: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPlanChanged {
    /// `free`, `pro` or `enterprise`.
    pub plan: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingCustomerCreated {
    /// Stripe's id of the customer (`cus_…`).
    pub customer_id: String,
}

/// What every event taken from a Stripe webhook says of its source: its
/// Sluice event id is derived from the Stripe event's id, so a webhook
/// delivered twice is recorded once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSource {
    /// The Stripe event (`evt_…`).
    pub event_id: String,
    /// Its type, such as `customer.subscription.updated`.
    pub event_type: String,
    /// When Stripe created it: a webhook delivered late does not undo a
    /// newer one.
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSubscriptionChanged {
    pub stripe: StripeSource,
    /// Stripe's id of the subscription (`sub_…`).
    pub subscription_id: String,
    /// Stripe's status of it (`active`, `past_due`, `canceled`…).
    pub status: String,
    /// The plan the account is on from now: the subscription's while it is
    /// active, trialing or past due (Stripe still retries), `free` once it
    /// ended; none when its price is not one of the plans' (left as it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingCardChanged {
    pub stripe: StripeSource,
    /// Sealed: `{brand, last4, exp_month, exp_year}` as JSON, and nothing
    /// else of the card.
    pub card: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingPaymentFailed {
    pub stripe: StripeSource,
    /// Stripe's id of the invoice (`in_…`).
    pub invoice_id: String,
    /// How many times Stripe has tried to collect it.
    pub attempt_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettingsChanged {
    /// Days result files are kept (0 to 30); none: the deployment's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_retention_days: Option<u32>,
    /// False: no result files (nor journals) are kept at all.
    pub store_results: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountExported {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountErased {
    /// Uploads whose file and key were destroyed.
    pub uploads: Vec<Uuid>,
    /// Runs whose result files and key were destroyed.
    pub runs: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRegistered {
    pub user_id: Uuid,
    /// `owner`, `admin` or `member`.
    pub role: String,
    /// Keyed hash of the normalised email (hex), for look-ups.
    pub email_index: String,
    /// Sealed.
    pub email: String,
    /// Sealed.
    pub first_name: String,
    /// Sealed.
    pub last_name: String,
}

/// A connection as recorded before customer text was sealed: its name and
/// parameters in clear. Still replayed, no longer written (see
/// [`ConnectionAdded`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionCreated {
    pub name: String,
    /// `postgres`.
    pub kind: String,
    /// What is not secret: host, port, database, user, TLS mode.
    pub params: serde_json::Value,
}

/// A connection as recorded since customer text is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionAdded {
    /// `postgres`, `salesforce` or `dropbox`.
    pub kind: String,
    /// What is Sluice's own: a PostgreSQL connection's TLS mode
    /// (`{"sslmode": ...}`); empty for the others.
    pub params: serde_json::Value,
    /// Sealed: the name and every parameter (host, port, database, user,
    /// TLS mode, CA certificate; an org's instance URL; a Dropbox account
    /// id) as JSON.
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionDisconnected {
    /// For a provider with a revoke endpoint: whether it confirmed the revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_provider: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionTested {
    pub ok: bool,
    /// Why not, when `ok` is false (a code: never the system's own words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ConnectionFailure>,
}

/// Why a connection test failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionFailure {
    /// Nothing answered, or the server would not take a connection.
    Unreachable,
    /// The user name or password was refused.
    AuthenticationFailed,
    /// The server has no database of that name.
    NoSuchDatabase,
    /// The TLS handshake failed (a certificate that could not be verified).
    TlsFailed,
    /// A provider (Salesforce, Dropbox) refused the stored tokens.
    ProviderRefused,
}

impl ConnectionFailure {
    /// The code as the API and the projection write it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::AuthenticationFailed => "authentication_failed",
            Self::NoSuchDatabase => "no_such_database",
            Self::TlsFailed => "tls_failed",
            Self::ProviderRefused => "provider_refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadReceived {
    pub user_id: Uuid,
    /// `csv`, `xlsx`, `xls` or `ods`.
    pub format: String,
    pub size_bytes: i64,
    /// Sealed: the file name, columns and sheets (JSON).
    pub details: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRemoved {
    /// `deleted` (by a user) or `expired` (by the retention sweep).
    pub reason: String,
}

impl UploadRemoved {
    /// Removes upload `id` of `account`: the event, and the destruction of
    /// its data key in the same transaction (the file is then unreadable;
    /// the caller deletes it afterwards).
    pub fn request(
        account: Uuid,
        id: Uuid,
        reason: &str,
        metadata: crate::Metadata,
    ) -> crate::AppendRequest {
        let event = crate::NewEvent::new(
            DomainEvent::UploadRemoved(Self {
                reason: reason.into(),
            }),
            metadata,
        )
        .for_account(sluice_schema::ids::AccountId(account));
        crate::AppendRequest::new("upload", id, crate::ExpectedVersion::Any, vec![event])
            .with_secret(crate::SecretWrite::DestroyUploadKey { upload_id: id })
    }
}

/// A job as recorded before customer text was sealed: everything in clear.
/// Still replayed, no longer written (see [`JobDefined`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCreated {
    pub name: String,
    /// `{"upload_id": ...}`.
    pub source: serde_json::Value,
    /// `{"connection_id": ..., "object": ...}`.
    pub target: serde_json::Value,
    /// `insert`, `update`, `upsert` or `delete`.
    pub operation: String,
    pub key_fields: Vec<String>,
    pub mapping: serde_json::Value,
    /// When runs start by themselves: a cron expression (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// A job as recorded since customer text is sealed: the ids it refers to,
/// its operation and schedule in clear; its name, query or sheet, target
/// object, key fields and mapping sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDefined {
    /// `{"upload_id": ...}` or `{"connection_id": ...}`: ids only.
    pub source: serde_json::Value,
    /// `{"connection_id": ...}`: the id only.
    pub target: serde_json::Value,
    /// `insert`, `update`, `upsert` or `delete`.
    pub operation: String,
    /// When runs start by themselves: a cron expression (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Sealed: `{name, source, target, key_fields, mapping}` as JSON, the
    /// source with its query or sheet and the target with its object.
    pub details: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDeleted {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequested {
    pub job_id: Uuid,
    /// `import` or `rollback`.
    pub kind: String,
    /// For a rollback: the run it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<Uuid>,
    /// For a rollback: undo rows changed since the run all the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunStarted {
    pub worker: String,
    /// Batches already committed by an earlier attempt (0 on a fresh start).
    pub resumed_after_batch: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunProgressed {
    pub batch: i64,
    pub rows_read: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// Calls made to the target's API so far (targets that count them
    /// against a limit: Salesforce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBatchSent {
    /// The first batch of the write.
    pub batch: i64,
    /// The last batch of the write (a Bulk job takes several).
    pub through: i64,
    /// The Bulk API job that writes them, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_job: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFinished {
    /// `succeeded`, `partially_succeeded` or `failed`; a rollback ends
    /// `rolled_back` when it undid every row.
    pub status: String,
    pub rows_total: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// Why a run failed as a whole (no row data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its success.csv and errors.csv are deleted (none when the run
    /// wrote none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_expire_at: Option<DateTime<Utc>>,
    /// Calls the run made to the target's API (Salesforce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<i64>,
}

/// A run's end as recorded since customer text is sealed: as
/// [`RunFinished`], but why it failed is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFinishedV2 {
    /// `succeeded`, `partially_succeeded` or `failed`; a rollback ends
    /// `rolled_back` when it undid every row.
    pub status: String,
    pub rows_total: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// Sealed: why a run failed as a whole (no row data, but it may quote
    /// a column, a table or object, a host or the target's own error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its success.csv and errors.csv are deleted (none when the run
    /// wrote none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_expire_at: Option<DateTime<Utc>>,
    /// Calls the run made to the target's API (Salesforce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_calls: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResultsRemoved {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFired {
    /// `job`, or a system schedule: `retention`, `key_rotation_reminder`.
    pub schedule: String,
    /// The slot that came (the cron time, not when it was seen).
    pub slot: DateTime<Utc>,
    /// A job's schedule: the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPurged {
    /// Uploads whose file and key were destroyed.
    pub uploads: Vec<Uuid>,
    /// Runs whose result files, journal and key were destroyed.
    pub runs: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationDue {
    /// The primary key's version.
    pub primary: u32,
    /// Since when it has been primary (the last rotation, or the log's
    /// first event).
    pub since: DateTime<Utc>,
    pub age_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationRequested {
    /// The new primary key's version.
    pub primary: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRewrapProgress {
    pub table: String,
    /// Rows of `table` rewrapped so far by this rotation.
    pub done: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationFinished {
    /// Rows rewrapped, by table.
    pub rewrapped: std::collections::BTreeMap<String, u64>,
    /// The worker that did it.
    pub worker: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRoleChanged {
    pub user_id: Uuid,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRemoved {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssued {
    pub user_id: Uuid,
    /// `session` or `api`.
    pub kind: String,
    pub name: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// How the user proved who they are, when not by password (`salesforce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// A token as recorded since customer text is sealed: as [`TokenIssued`],
/// but an API token's name is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssuedV2 {
    pub user_id: Uuid,
    /// `session` or `api`.
    pub kind: String,
    /// Sealed: the name the customer gave an API token (a session has
    /// none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// How the user proved who they are, when not by password (`salesforce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRevoked {
    /// `logout` or `revoked`.
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event {global_seq} has type {event_type:?}, which this version of Sluice does not know: {source}")]
    Unknown {
        global_seq: i64,
        event_type: String,
        source: serde_json::Error,
    },
    #[error("event is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event hash is not hexadecimal")]
    Hash,
}

impl DomainEvent {
    /// The `event_type` column (and AMQP routing key) of this event.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::ProbeRequested(_) => "probe.requested",
            Self::ProbeCompleted(_) => "probe.completed",
            Self::DeliveryDeadLettered(_) => "delivery.dead_lettered",
            Self::EmailClaimed(_) => "email.claimed",
            Self::EmailReleased(_) => "email.released",
            Self::RelayEventQuarantined(_) => "relay.event_quarantined",
            Self::RelayQuarantineReleased(_) => "relay.quarantine_released",
            Self::AccountCreated(_) => "account.created",
            Self::AccountPlanChanged(_) => "account.plan_changed",
            Self::AccountSettingsChanged(_) => "account.settings_changed",
            Self::AccountErased(_) => "account.erased",
            Self::AccountExported(_) => "account.exported",
            Self::UserRegistered(_) => "user.registered",
            Self::ConnectionCreated(_) => "connection.created",
            Self::ConnectionCreatedV2(_) => "connection.created.v2",
            Self::ConnectionDisconnected(_) => "connection.disconnected",
            Self::ConnectionTested(_) => "connection.tested",
            Self::UserRoleChanged(_) => "user.role_changed",
            Self::UserRemoved(_) => "user.removed",
            Self::UploadReceived(_) => "upload.received",
            Self::UploadRemoved(_) => "upload.removed",
            Self::JobCreated(_) => "job.created",
            Self::JobUpdated(_) => "job.updated",
            Self::JobCreatedV2(_) => "job.created.v2",
            Self::JobUpdatedV2(_) => "job.updated.v2",
            Self::JobDeleted(_) => "job.deleted",
            Self::RunRequested(_) => "run.requested",
            Self::RunStarted(_) => "run.started",
            Self::RunProgressed(_) => "run.progressed",
            Self::RunBatchSent(_) => "run.batch_sent",
            Self::RunFinished(_) => "run.finished",
            Self::RunFinishedV2(_) => "run.finished.v2",
            Self::RunResultsRemoved(_) => "run.results_removed",
            Self::KeyRotationRequested(_) => "keys.rotation_requested",
            Self::KeyRewrapProgress(_) => "keys.rewrap_progress",
            Self::KeyRotationFinished(_) => "keys.rotation_finished",
            Self::ScheduleFired(_) => "schedule.fired",
            Self::RetentionPurged(_) => "retention.purged",
            Self::KeyRotationDue(_) => "keys.rotation_due",
            Self::BillingCustomerCreated(_) => "billing.customer_created",
            Self::BillingSubscriptionChanged(_) => "billing.subscription_changed",
            Self::BillingCardChanged(_) => "billing.card_changed",
            Self::BillingPaymentFailed(_) => "billing.payment_failed",
            Self::TokenIssued(_) => "token.issued",
            Self::TokenIssuedV2(_) => "token.issued.v2",
            Self::TokenRevoked(_) => "token.revoked",
        }
    }

    /// Splits the event into its `(event_type, payload)` columns.
    pub fn to_columns(&self) -> Result<(String, serde_json::Value), serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        let payload = value
            .get_mut("payload")
            .map(serde_json::Value::take)
            .unwrap_or_else(|| serde_json::json!({}));
        Ok((self.event_type().to_owned(), payload))
    }

    /// Reads an event back from its columns; an unknown type is an error, never skipped.
    pub fn from_columns(
        global_seq: i64,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let tagged = serde_json::json!({ "event_type": event_type, "payload": payload });
        serde_json::from_value(tagged).map_err(|source| DecodeError::Unknown {
            global_seq,
            event_type: event_type.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip() {
        let event = DomainEvent::ProbeCompleted(ProbeCompleted {
            worker: "w1".into(),
        });
        let (kind, payload) = event.to_columns().unwrap();
        assert_eq!(kind, "probe.completed");
        assert_eq!(payload, serde_json::json!({"worker": "w1"}));
        assert_eq!(
            DomainEvent::from_columns(1, &kind, &payload).unwrap(),
            event
        );
    }

    #[test]
    fn unknown_event_type_is_an_error() {
        let err =
            DomainEvent::from_columns(7, "account.teleported", &serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("account.teleported"), "{err}");
    }

    #[test]
    fn unit_payload_is_an_empty_object() {
        let (_, payload) = DomainEvent::ProbeRequested(ProbeRequested {})
            .to_columns()
            .unwrap();
        assert_eq!(payload, serde_json::json!({}));
    }
}
