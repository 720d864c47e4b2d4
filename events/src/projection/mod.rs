//! Projections: read-side tables derived from events only (no clock, no
//! randomness), so that `sluice replay` rebuilds them identically.
//!
//! One module per table writes its rows; this module only sends each event
//! to the tables it concerns. What an event means (a plan change, a
//! subscription's status, a shorter retention) is decided by the pure
//! functions of [`crate::rules`], not here.

mod accounts;
mod billing;
mod connections;
mod jobs;
mod key_rotations;
mod mapping_templates;
mod operations;
mod probes;
mod runs;
mod schedules;
mod tokens;
mod uploads;
mod users;

use crate::envelope::RecordedEvent;
use crate::event::DomainEvent;
use crate::rules;
use diesel::prelude::*;

/// Every table that [`apply`] writes, in the order replay rebuilds them.
pub const TABLES: &[&str] = &[
    "probes",
    "dead_letters",
    "relay_quarantine",
    "accounts",
    "billing",
    "users",
    "tokens",
    "connections",
    "uploads",
    "key_rotations",
    "jobs",
    "runs",
    "schedules",
    "mapping_templates",
];

/// Applies events in order. Runs of consecutive events of one kind that a
/// single statement can apply are written together: one round trip for a
/// whole group commit instead of one per event.
pub fn apply_all(conn: &mut PgConnection, events: &[&RecordedEvent]) -> QueryResult<()> {
    let mut rest = events;
    while let Some(first) = rest.first() {
        let run = rest
            .iter()
            .take_while(|e| same_batch(&first.event, &e.event))
            .count();
        let (batch, tail) = rest.split_at(run.max(1));
        match &first.event {
            DomainEvent::ProbeRequested(_) => probes::insert_many(conn, batch)?,
            DomainEvent::ProbeCompleted(_) => probes::complete_many(conn, batch)?,
            _ => {
                for event in batch {
                    apply(conn, event)?;
                }
            }
        }
        rest = tail;
    }
    Ok(())
}

fn same_batch(a: &DomainEvent, b: &DomainEvent) -> bool {
    matches!(
        (a, b),
        (
            DomainEvent::ProbeRequested(_),
            DomainEvent::ProbeRequested(_)
        ) | (
            DomainEvent::ProbeCompleted(_),
            DomainEvent::ProbeCompleted(_)
        )
    )
}

/// Applies one event: the tables of its account and its people.
pub fn apply(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    let stream = event.stream_id;
    match &event.event {
        DomainEvent::AccountCreated(created) => accounts::created(conn, event, created),
        DomainEvent::AccountPlanChanged(changed) => accounts::plan(conn, stream, changed.plan),
        DomainEvent::AccountSettingsChanged(settings) => {
            accounts::settings(conn, event, settings)?;
            let cutoff = rules::retention_cutoff_days(
                settings.store_results,
                settings.result_retention_days,
            );
            match cutoff {
                Some(days) => runs::retention_shortened(conn, event, days),
                None => Ok(()),
            }
        }
        DomainEvent::AccountErased(_) => {
            accounts::erased(conn, event)?;
            users::erased(conn, stream)?;
            tokens::erased(conn, stream)?;
            connections::erased(conn, stream)?;
            uploads::erased(conn, stream)?;
            runs::erased(conn, stream)?;
            jobs::erased(conn, stream)?;
            mapping_templates::erased(conn, stream)?;
            billing::erased(conn, stream)
        }
        DomainEvent::BillingCustomerCreated(created) => {
            billing::customer_created(conn, event, created)
        }
        DomainEvent::BillingSubscriptionChanged(changed) => {
            let applied = billing::subscription_changed(conn, event, changed)?;
            match &changed.plan {
                Some(plan) if applied => accounts::plan(conn, stream, *plan),
                _ => Ok(()),
            }
        }
        DomainEvent::BillingCardChanged(changed) => billing::card_changed(conn, event, changed),
        DomainEvent::BillingPaymentFailed(failed) => billing::payment_failed(conn, event, failed),
        DomainEvent::UserRegistered(user) => users::registered(conn, event, user),
        DomainEvent::UserRoleChanged(changed) => users::role_changed(conn, changed),
        DomainEvent::UserRemoved(removed) => {
            users::removed(conn, removed.user_id)?;
            tokens::user_removed(conn, event, removed.user_id)
        }
        DomainEvent::TokenIssued(issued) => tokens::issued(conn, event, issued),
        DomainEvent::TokenIssuedV2(issued) => tokens::issued_v2(conn, event, issued),
        DomainEvent::TokenRevoked(_) => tokens::revoked(conn, event),
        _ => apply_work(conn, event),
    }
}

/// Applies one event of the work an account does (connections, uploads,
/// jobs, runs) or of the platform's own.
fn apply_work(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    match &event.event {
        DomainEvent::ConnectionCreated(created) => connections::created(conn, event, created),
        DomainEvent::ConnectionCreatedV2(added) => connections::added(conn, event, added),
        DomainEvent::ConnectionDisconnected(_) => connections::disconnected(conn, event),
        DomainEvent::ConnectionTested(tested) => connections::tested(conn, event, tested),
        DomainEvent::UploadReceived(upload) => uploads::received(conn, event, upload),
        DomainEvent::UploadRemoved(removed) => uploads::removed(conn, event, removed),
        DomainEvent::JobCreated(job) => jobs::created(conn, event, &jobs::clear(job)?),
        DomainEvent::JobCreatedV2(job) => jobs::created(conn, event, &jobs::sealed(job)?),
        DomainEvent::JobUpdated(job) => jobs::updated(conn, event, &jobs::clear(job)?),
        DomainEvent::JobUpdatedV2(job) => jobs::updated(conn, event, &jobs::sealed(job)?),
        DomainEvent::JobDeleted(_) => jobs::deleted(conn, event),
        DomainEvent::MappingTemplateSaved(saved) => mapping_templates::saved(conn, event, saved),
        DomainEvent::MappingTemplateDeleted(_) => mapping_templates::deleted(conn, event),
        DomainEvent::RunRequested(requested) => runs::requested(conn, event, requested),
        DomainEvent::RunStarted(started) => runs::started(conn, event, &started.worker),
        DomainEvent::RunProgressed(progress) => runs::progressed(conn, event, progress),
        DomainEvent::RunFinished(f) => runs::finished(conn, event, &f.into()),
        DomainEvent::RunFinishedV2(f) => runs::finished(conn, event, &f.into()),
        DomainEvent::RunResultsRemoved(_) => runs::results_removed(conn, event),
        DomainEvent::ScheduleFired(fired) => schedules::fired(conn, event, fired),
        DomainEvent::KeyRotationRequested(r) => key_rotations::requested(conn, event, r),
        DomainEvent::KeyRewrapProgress(p) => key_rotations::progressed(conn, event, p),
        DomainEvent::KeyRotationFinished(f) => key_rotations::finished(conn, event, f),
        DomainEvent::ProbeRequested(_) => probes::requested(conn, event),
        DomainEvent::ProbeCompleted(done) => probes::completed(conn, event, done),
        DomainEvent::DeliveryDeadLettered(dead) => operations::dead_lettered(conn, event, dead),
        DomainEvent::RelayEventQuarantined(q) => operations::quarantined(conn, event, q),
        DomainEvent::RelayQuarantineReleased(r) => operations::released(conn, event, r),
        // Recorded for the audit trail and the workers; no table shows them.
        DomainEvent::RunBatchSent(_)
        | DomainEvent::RetentionPurged(_)
        | DomainEvent::KeyRotationDue(_)
        | DomainEvent::AccountExported(_)
        | DomainEvent::EmailClaimed(_)
        | DomainEvent::EmailReleased(_) => Ok(()),
        // Sent by `apply`, which handles them.
        DomainEvent::AccountCreated(_)
        | DomainEvent::AccountPlanChanged(_)
        | DomainEvent::AccountSettingsChanged(_)
        | DomainEvent::AccountErased(_)
        | DomainEvent::BillingCustomerCreated(_)
        | DomainEvent::BillingSubscriptionChanged(_)
        | DomainEvent::BillingCardChanged(_)
        | DomainEvent::BillingPaymentFailed(_)
        | DomainEvent::UserRegistered(_)
        | DomainEvent::UserRoleChanged(_)
        | DomainEvent::UserRemoved(_)
        | DomainEvent::TokenIssued(_)
        | DomainEvent::TokenIssuedV2(_)
        | DomainEvent::TokenRevoked(_) => apply(conn, event),
    }
}
