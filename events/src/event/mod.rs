//! Every event Sluice records, as one versioned enum.
//!
//! The serde tag is the `event_type` column and the content is the `payload`
//! column. A payload changes shape only by adding a new variant (for example
//! `probe.completed.v2`); old variants stay so that the log can be replayed.
//! The one exception is a count that a new feature adds (`rows_skipped` of
//! `run.progressed` and `run.finished`): absent means 0, and 0 is not
//! written, so every payload recorded before reads as it meant and writes
//! back byte for byte as it was.
//! Payloads carry ids and key versions, never secrets or file contents.
//! What a customer typed or what came from their data is sealed under the
//! account's subject key (fields marked *sealed*); ids, kinds, counts and
//! Sluice's own enums stay in clear.
//!
//! The payload types live in one module per family (account, user and
//! token, job, run, connection, upload, billing, keys, schedule,
//! operations), re-exported here: `event::RunRequested` names them all.

mod account;
mod billing;
mod connection;
mod job;
mod keys;
mod mapping_template;
mod operations;
mod run;
mod schedule;
mod upload;
mod user;

pub use account::*;
pub use billing::*;
pub use connection::*;
pub use job::*;
pub use keys::*;
pub use mapping_template::*;
pub use operations::*;
pub use run::*;
pub use schedule::*;
pub use upload::*;
pub use user::*;

use serde::{Deserialize, Serialize};

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
    /// A mapping template was saved: its name and entries sealed.
    #[serde(rename = "mapping_template.saved")]
    MappingTemplateSaved(MappingTemplateSaved),
    /// A mapping template was deleted.
    #[serde(rename = "mapping_template.deleted")]
    MappingTemplateDeleted(MappingTemplateDeleted),
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
            Self::MappingTemplateSaved(_) => "mapping_template.saved",
            Self::MappingTemplateDeleted(_) => "mapping_template.deleted",
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
