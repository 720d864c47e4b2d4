//! The `billing` table: an account's customer at Stripe, its
//! subscription's status, its card (sealed) and its last failed payment.
//! What is older than what was applied already is left out
//! ([`rules::stripe_event_is_current`]).

use crate::envelope::RecordedEvent;
use crate::event::{
    BillingCardChanged, BillingCustomerCreated, BillingPaymentFailed, BillingSubscriptionChanged,
};
use crate::rules;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sluice_schema::schema::billing;

pub(super) fn customer_created(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    created: &BillingCustomerCreated,
) -> QueryResult<()> {
    diesel::insert_into(billing::table)
        .values((
            billing::account_id.eq(event.stream_id),
            billing::customer_id.eq(&created.customer_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// When the subscription and the card were last changed.
type LastChanges = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// When the subscription and the card were last changed (none without a
/// billing row).
fn last_changes(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<Option<LastChanges>> {
    billing::table
        .find(account)
        .select((billing::subscription_at, billing::card_at))
        .first(conn)
        .optional()
}

/// Records the subscription's change; whether it was applied (a change
/// older than the last one applied is not).
pub(super) fn subscription_changed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    changed: &BillingSubscriptionChanged,
) -> QueryResult<bool> {
    let Some((last, _)) = last_changes(conn, event.stream_id)? else {
        return Ok(false);
    };
    if !rules::stripe_event_is_current(last, changed.stripe.created) {
        return Ok(false);
    }
    diesel::update(billing::table.find(event.stream_id))
        .set((
            billing::subscription_id.eq(&changed.subscription_id),
            billing::subscription_status.eq(&changed.status),
            billing::subscription_at.eq(changed.stripe.created),
        ))
        .execute(conn)?;
    if rules::subscription_is_paid(&changed.status) {
        diesel::update(billing::table.find(event.stream_id))
            .set(billing::payment_failed_at.eq(None::<DateTime<Utc>>))
            .execute(conn)?;
    }
    Ok(true)
}

pub(super) fn card_changed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    changed: &BillingCardChanged,
) -> QueryResult<()> {
    let Some((_, last)) = last_changes(conn, event.stream_id)? else {
        return Ok(());
    };
    if rules::stripe_event_is_current(last, changed.stripe.created) {
        diesel::update(billing::table.find(event.stream_id))
            .set((
                billing::card.eq(&changed.card),
                billing::card_at.eq(changed.stripe.created),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A failed payment, unless the subscription was changed (paid) since.
pub(super) fn payment_failed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    failed: &BillingPaymentFailed,
) -> QueryResult<()> {
    let Some((last, _)) = last_changes(conn, event.stream_id)? else {
        return Ok(());
    };
    if rules::stripe_event_is_current(last, failed.stripe.created) {
        diesel::update(billing::table.find(event.stream_id))
            .set(billing::payment_failed_at.eq(failed.stripe.created))
            .execute(conn)?;
    }
    Ok(())
}

/// The customer at Stripe was deleted with the account; the sealed card
/// summary is unreadable without the subject key.
pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(billing::table.find(account)).execute(conn)?;
    Ok(())
}
