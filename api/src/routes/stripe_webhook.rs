//! `POST /v1/webhooks/stripe`: what Stripe tells of the accounts' billing.
//! The body is checked against its `Stripe-Signature` before anything is
//! read from it; a forged, altered or stale delivery is refused with 400
//! and changes nothing. Each Stripe event is recorded at most once: the
//! Sluice event's id is derived from the Stripe event's, and the log makes
//! an append of a known id a no-op, so a delivery Stripe repeats (it does,
//! until it gets a 2xx) is answered 200 and recorded once.
//!
//! Recorded, on the account's `billing` stream:
//! * `checkout.session.completed` (a paid subscription checkout) and
//!   `customer.subscription.created/updated/deleted`:
//!   `billing.subscription_changed`, with the plan the account is on from
//!   then (the subscription's price while it is live, free once it ended).
//!   An endpoint pinned to an API version from before Prices names the plan
//!   only (`items.data[0].plan.id`, and the subscription's own `plan.id`
//!   before 2020-08-27): that id is a price's id too, so it is read where
//!   the price is missing;
//! * `payment_method.attached` (a card): `billing.card_changed`, with the
//!   brand, last 4, expiry month and year sealed, nothing else;
//! * `invoice.payment_failed`: `billing.payment_failed`.
//!
//! Other types, and events of customers Sluice does not know, are
//! answered 200 and ignored: Stripe would otherwise retry them for days.

use crate::billing::signature;
use crate::error::ApiError;
use crate::openapi::{ErrorBody, Failures};
use crate::routes::billing::{card_aad, live_status, record};
use crate::views::account as view;
use crate::AppState;
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_events::event::{
    BillingCardChanged, BillingPaymentFailed, BillingSubscriptionChanged, StripeSource,
};
use sluice_events::{DomainEvent, Metadata, NewEvent};
use sluice_schema::ids::{AccountId, EventId};
use sluice_schema::kinds::Plan;
use sluice_schema::models::BillingRow;
use uuid::Uuid;

/// The largest webhook body accepted (Stripe's events are far smaller).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Sluice's event ids for Stripe's events: UUIDv5 of the Stripe id under
/// this namespace.
const NAMESPACE: Uuid = Uuid::from_u128(0x5b1c_e0b1_11a9_4c1e_9d55_7a2e_0c3f_8e41);

/// The parts of a Stripe event the handler reads.
#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    type_: String,
    created: i64,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Value,
}

/// Stripe's deliveries of the events of the accounts' billing, checked
/// against their `Stripe-Signature` before anything is read.
#[utoipa::path(
    security(("stripe_signature" = [])),
    request_body(content = Object, content_type = "application/json",
        description = "A Stripe event, exactly as Stripe signed it."),
    responses(
        Failures,
        (status = 200, description = "Taken in: recorded, or answered and ignored (another \
            type, a customer this deployment does not know, a repeated delivery).",
            body = view::WebhookReceipt),
        (status = 400, description = "`bad_request`: the signature is missing, forged, for \
            another body or more than 5 minutes old; or the body is not a Stripe event.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment does not bill.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 1 MiB.", body = ErrorBody),
    )
)]
#[post("/v1/webhooks/stripe")]
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let config = state.billing.as_ref().ok_or(ApiError::NotFound)?;
    let body = payload
        .to_bytes_limited(BODY_LIMIT)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: BODY_LIMIT })?
        .map_err(|e| ApiError::BadRequest(format!("unreadable request body: {e}")))?;
    let header = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let now = state.platform.clock.now().timestamp();
    if let Err(e) = signature::verify(
        header,
        &body,
        config.webhook_secret.expose_secret().as_bytes(),
        now,
    ) {
        tracing::warn!(reason = %e, "a Stripe webhook was refused");
        return Err(ApiError::BadRequest(e.to_string()));
    }
    let event: StripeEvent = serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadRequest("the body is not a Stripe event".into()))?;
    let Some(customer) = customer_of(&event.data.object) else {
        return Ok(ignored(&event, "names no customer"));
    };
    let billing = state
        .db(move |conn| {
            Ok(sluice_schema::repo::billing::find_by_customer(
                conn, &customer,
            )?)
        })
        .await?;
    let Some(billing) = billing else {
        return Ok(ignored(
            &event,
            "is of a customer this deployment does not know",
        ));
    };
    let account = AccountId(billing.account_id);
    let source = StripeSource {
        event_id: event.id.clone(),
        event_type: event.type_.clone(),
        created: DateTime::<Utc>::from_timestamp(event.created, 0).unwrap_or_default(),
    };
    let object = &event.data.object;
    let recorded = match event.type_.as_str() {
        "checkout.session.completed" => checkout_completed(object, &billing, source),
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => subscription_changed(&state, object, &billing, source),
        "payment_method.attached" => card_attached(&state, object, account, source).await?,
        "invoice.payment_failed" => payment_failed(object, source),
        _ => None,
    };
    let Some(recorded) = recorded else {
        return Ok(ignored(&event, "changes nothing Sluice keeps"));
    };
    let mut new = NewEvent::new(
        recorded,
        Metadata {
            region: Some(state.region.clone()),
            ..Metadata::actor("stripe")
        },
    )
    .for_account(account);
    new.event_id = EventId(Uuid::new_v5(&NAMESPACE, event.id.as_bytes()));
    record(&state, account, new).await?;
    tracing::info!(account = %account, stripe_event = %event.id, event_type = %event.type_, "Stripe event recorded");
    Ok(HttpResponse::Ok().json(view::WebhookReceipt {
        received: true,
        recorded: true,
    }))
}

fn ignored(event: &StripeEvent, why: &str) -> HttpResponse {
    tracing::info!(stripe_event = %event.id, event_type = %event.type_, "Stripe event ignored: it {why}");
    HttpResponse::Ok().json(view::WebhookReceipt {
        received: true,
        recorded: false,
    })
}

/// The customer an object belongs to (its `customer`, an id or, expanded,
/// an object with one).
fn customer_of(object: &Value) -> Option<String> {
    match &object["customer"] {
        Value::String(id) => Some(id.clone()),
        Value::Object(customer) => customer.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// A subscription checkout that was paid: the subscription is active on
/// the plan Sluice put in the session's metadata when it created it.
fn checkout_completed(
    session: &Value,
    billing: &BillingRow,
    stripe: StripeSource,
) -> Option<DomainEvent> {
    if session["mode"] != "subscription"
        || !matches!(
            session["payment_status"].as_str(),
            Some("paid" | "no_payment_required")
        )
        || session["client_reference_id"] != json!(billing.account_id.to_string())
    {
        return None;
    }
    let plan = session["metadata"]["plan"]
        .as_str()
        .and_then(|p| p.parse::<Plan>().ok())
        .filter(|p| *p != Plan::Free)?;
    Some(DomainEvent::BillingSubscriptionChanged(
        BillingSubscriptionChanged {
            stripe,
            subscription_id: text(&session["subscription"])?,
            status: "active".into(),
            plan: Some(plan),
        },
    ))
}

/// A subscription began, changed or ended. An event of a subscription
/// other than the account's live one, that would end it, is an old
/// subscription's and changes nothing.
fn subscription_changed(
    state: &AppState,
    subscription: &Value,
    billing: &BillingRow,
    stripe: StripeSource,
) -> Option<DomainEvent> {
    let id = text(&subscription["id"])?;
    let status = if stripe.event_type == "customer.subscription.deleted" {
        "canceled".to_owned()
    } else {
        text(&subscription["status"])?
    };
    let live = live_status(Some(&status));
    let current_is_live = live_status(billing.subscription_status.as_deref());
    if !live && current_is_live && billing.subscription_id.as_deref() != Some(id.as_str()) {
        return None;
    }
    let plan = if live {
        let price = price_id(subscription);
        let plan = price.and_then(|p| state.billing.as_ref()?.plan_of(p));
        if plan.is_none() {
            tracing::warn!(subscription = %id, "a subscription's price is not one of the plans'; the plan is left as it is");
        }
        plan
    } else {
        Some(Plan::Free)
    };
    Some(DomainEvent::BillingSubscriptionChanged(
        BillingSubscriptionChanged {
            stripe,
            subscription_id: id,
            status,
            plan,
        },
    ))
}

/// The id of the subscription's price: its first item's `price.id`, or, in
/// an event of an API version from before Prices, the item's `plan.id`, or
/// the subscription's own `plan.id` (a plan's id is its price's id).
fn price_id(subscription: &Value) -> Option<&str> {
    let item = &subscription["items"]["data"][0];
    item["price"]["id"]
        .as_str()
        .or_else(|| item["plan"]["id"].as_str())
        .or_else(|| subscription["plan"]["id"].as_str())
}

/// A card attached to the customer: its summary, sealed under the
/// account's subject key. Nothing else of the payment method is kept.
async fn card_attached(
    state: &AppState,
    method: &Value,
    account: AccountId,
    stripe: StripeSource,
) -> Result<Option<DomainEvent>, ApiError> {
    let card = &method["card"];
    if method["type"] != "card" {
        return Ok(None);
    }
    let (Some(brand), Some(last4), Some(exp_month), Some(exp_year)) = (
        card["brand"].as_str(),
        card["last4"].as_str(),
        card["exp_month"].as_i64(),
        card["exp_year"].as_i64(),
    ) else {
        return Ok(None);
    };
    let valid = last4.len() == 4 && last4.bytes().all(|b| b.is_ascii_digit()) && brand.len() <= 32;
    if !valid {
        return Ok(None);
    }
    let summary = view::Card {
        brand: brand.to_owned(),
        last4: last4.to_owned(),
        exp_month,
        exp_year,
    };
    let summary = serde_json::to_string(&summary).map_err(|e| ApiError::Internal(e.to_string()))?;
    let subject = crate::people::subject_key(state, account).await?;
    let sealed = subject.encrypt(&summary, &card_aad(account));
    Ok(Some(DomainEvent::BillingCardChanged(BillingCardChanged {
        stripe,
        card: sealed,
    })))
}

fn payment_failed(invoice: &Value, stripe: StripeSource) -> Option<DomainEvent> {
    Some(DomainEvent::BillingPaymentFailed(BillingPaymentFailed {
        stripe,
        invoice_id: text(&invoice["id"])?,
        attempt_count: invoice["attempt_count"].as_i64().unwrap_or(1),
    }))
}

#[cfg(test)]
mod tests {
    use super::price_id;
    use serde_json::json;

    #[test]
    fn the_price_is_read_from_the_item_then_its_plan_then_the_subscriptions_plan() {
        let current =
            json!({"items": {"data": [{"price": {"id": "price_a"}, "plan": {"id": "price_a"}}]}});
        assert_eq!(price_id(&current), Some("price_a"));
        let item_plan = json!({"items": {"data": [{"plan": {"id": "plan_b"}}]}});
        assert_eq!(price_id(&item_plan), Some("plan_b"));
        let subscription_plan = json!({"items": {"data": []}, "plan": {"id": "plan_c"}});
        assert_eq!(price_id(&subscription_plan), Some("plan_c"));
        assert_eq!(price_id(&json!({"items": {"data": []}})), None);
    }
}
