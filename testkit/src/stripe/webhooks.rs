//! Stripe's webhook sender, and the customer whose actions cause events.
//!
//! Deliveries are `POST`s of the event JSON with `Content-Type:
//! application/json; charset=utf-8` and `Stripe-Signature: t=<unix>,v1=<hex
//! HMAC-SHA256 of "<t>.<body>">` (one `v1` per active secret, then a `v0`
//! that Stripe adds in test mode and receivers must ignore).

use super::objects::{self, NewSubscription};
use super::{id, now, store, Inner, Params, StripeStandIn, API_VERSION, WEBHOOK_SECRET};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The card a customer enters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Card {
    pub brand: &'static str,
    pub last4: &'static str,
    pub exp_month: u32,
    pub exp_year: u32,
}

impl Card {
    /// Stripe's test Visa, 4242 4242 4242 4242, expiring 12/2030.
    pub const VISA: Card = Card {
        brand: "visa",
        last4: "4242",
        exp_month: 12,
        exp_year: 2030,
    };
}

/// What paying a Checkout Session made, and the events delivered for it.
#[derive(Clone, Debug)]
pub struct Completed {
    /// The new subscription (`None` for a `setup` session).
    pub subscription: Option<String>,
    pub payment_method: String,
    pub customer: String,
    /// In delivery order: `payment_method.attached`,
    /// `customer.subscription.created` (subscriptions only),
    /// `checkout.session.completed`.
    pub events: Vec<Value>,
    /// The service's answer to each event.
    pub statuses: Vec<u16>,
}

/// A webhook delivery: the body sent (the event, or a raw string that is not
/// JSON) and the status the service answered.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: Value,
    pub status: u16,
}

fn hmac_hex(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Stripe-Signature` header for `payload` signed at `timestamp`: one
/// `v1=` per secret.
pub fn sign(payload: &str, timestamp: i64, secrets: &[&str]) -> String {
    let signed = format!("{timestamp}.{payload}");
    let mut parts = vec![format!("t={timestamp}")];
    parts.extend(
        secrets
            .iter()
            .map(|s| format!("v1={}", hmac_hex(s, &signed))),
    );
    parts.join(",")
}

/// An event of `type_` about `object`, created now, with a fresh `evt_` id.
pub fn event(type_: &str, object: Value) -> Value {
    event_at(type_, object, now())
}

/// An event of `type_` about `object`, created at `created` (Unix seconds).
pub fn event_at(type_: &str, object: Value, created: i64) -> Value {
    json!({
        "id": id("evt_", 24), "object": "event", "api_version": API_VERSION,
        "created": created, "data": {"object": object}, "livemode": false,
        "pending_webhooks": 1, "request": {"id": id("req_", 14), "idempotency_key": null},
        "type": type_,
    })
}

/// The first API version without a subscription's top-level `plan` (and
/// whose items always carry a `price`).
const PRICES_VERSION: &str = "2020-08-27";

/// `event` as an endpoint pinned to API `version` receives it: before
/// 2020-08-27, a subscription's items name their `plan` only, and the
/// subscription carries its single item's `plan` and `quantity`.
fn in_version(mut event: Value, version: &str) -> Value {
    event["api_version"] = version.into();
    if version >= PRICES_VERSION {
        return event;
    }
    if event["data"]["object"]["object"] != "subscription" {
        return event;
    }
    for path in [
        "/data/object/items/data",
        "/data/previous_attributes/items/data",
    ] {
        let items = event.pointer_mut(path).and_then(Value::as_array_mut);
        for item in items.into_iter().flatten() {
            if let Some(item) = item.as_object_mut() {
                item.remove("price");
            }
        }
    }
    let object = &mut event["data"]["object"];
    let first = object["items"]["data"][0].clone();
    object["plan"] = first["plan"].clone();
    object["quantity"] = first["quantity"].clone();
    event
}

/// A `*.updated` event: `previous` holds the changed fields' old values.
fn updated(type_: &str, object: Value, previous: Value) -> Value {
    let mut event = event(type_, object);
    event["data"]["previous_attributes"] = previous;
    event
}

impl StripeStandIn {
    /// Signs `event` now with [`WEBHOOK_SECRET`] (and any extra secrets) and
    /// posts it to the webhook URL.
    pub async fn deliver(&self, event: &Value) -> reqwest::Response {
        let pinned = self.inner().webhook_api_version.clone();
        let body = match pinned {
            Some(version) => in_version(event.clone(), &version).to_string(),
            None => event.to_string(),
        };
        let extra = self.inner().extra_secrets.clone();
        let mut secrets = vec![WEBHOOK_SECRET];
        secrets.extend(extra.iter().map(String::as_str));
        let t = now();
        let header = format!("{},v0={}", sign(&body, t, &secrets), hmac_hex("v0", &body));
        self.deliver_raw(body, Some(header)).await
    }

    /// Posts `body` to the webhook URL with this `Stripe-Signature`, if any
    /// (for forged, stale and replayed deliveries).
    pub async fn deliver_raw(
        &self,
        body: String,
        signature_header: Option<String>,
    ) -> reqwest::Response {
        let url = self
            .inner()
            .webhook
            .clone()
            .expect("set_webhook before delivering events");
        let event = serde_json::from_str(&body).unwrap_or_else(|_| Value::String(body.clone()));
        let mut request = self
            .client
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "User-Agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .header("Cache-Control", "no-cache")
            .body(body);
        if let Some(signature) = signature_header {
            request = request.header("Stripe-Signature", signature);
        }
        let response = request.send().await.expect("deliver the webhook");
        let status = response.status().as_u16();
        self.inner().deliveries.push(Delivery { event, status });
        response
    }

    async fn deliver_all(&self, events: &[Value]) -> Vec<u16> {
        let mut statuses = Vec::new();
        for event in events {
            statuses.push(self.deliver(event).await.status().as_u16());
        }
        statuses
    }

    /// The customer pays an open Checkout Session with `card`: Stripe
    /// creates the PaymentMethod (and, in `subscription` mode, the
    /// Subscription and its paid first Invoice; in `setup` mode, a succeeded
    /// SetupIntent), completes the session, and delivers
    /// `payment_method.attached`, `customer.subscription.created` and
    /// `checkout.session.completed`, in that order.
    pub async fn complete_checkout(&self, session_id: &str, card: Card) -> Completed {
        let mut completed = pay(&mut self.inner(), session_id, &card);
        completed.statuses = self.deliver_all(&completed.events).await;
        completed
    }

    /// Changes the subscription's price and/or status and delivers
    /// `customer.subscription.updated` with `previous_attributes`.
    pub async fn update_subscription(
        &self,
        sub_id: &str,
        price: Option<&str>,
        status: Option<&str>,
    ) -> reqwest::Response {
        let event = {
            let mut inner = self.inner();
            let mut sub = held(&inner, sub_id, "subscription");
            let mut previous = json!({});
            if let Some(price_id) = price {
                let p = inner
                    .prices
                    .get(price_id)
                    .expect("a price the stand-in sells");
                let item = &sub["items"]["data"][0];
                let quantity = item["quantity"].as_u64().unwrap_or(1);
                let start = item["current_period_start"].as_i64().unwrap_or_else(now);
                let mut items = objects::items(sub_id, price_id, p, quantity, start);
                items["data"][0]["id"] = item["id"].clone();
                previous["items"] = std::mem::replace(&mut sub["items"], items);
            }
            if let Some(status) = status {
                previous["status"] = std::mem::replace(&mut sub["status"], status.into());
            }
            updated(
                "customer.subscription.updated",
                store(&mut inner, sub),
                previous,
            )
        };
        self.deliver(&event).await
    }

    /// Cancels the subscription now and delivers `customer.subscription.deleted`.
    pub async fn cancel_subscription(&self, sub_id: &str) -> reqwest::Response {
        let event = {
            let mut inner = self.inner();
            let mut sub = held(&inner, sub_id, "subscription");
            let at = now();
            sub["status"] = "canceled".into();
            sub["canceled_at"] = at.into();
            sub["ended_at"] = at.into();
            sub["cancellation_details"]["reason"] = "cancellation_requested".into();
            event("customer.subscription.deleted", store(&mut inner, sub))
        };
        self.deliver(&event).await
    }

    /// The renewal payment fails: an open Invoice with `attempt_count: 1`,
    /// `invoice.payment_failed` delivered, then the subscription turns
    /// `past_due` and `customer.subscription.updated` follows. Answers the
    /// service's response to the first; both are in [`Self::deliveries`].
    pub async fn fail_invoice(&self, sub_id: &str) -> reqwest::Response {
        let (failed, updated_event) = {
            let mut inner = self.inner();
            let mut sub = held(&inner, sub_id, "subscription");
            let invoice_id = id("in_", 24);
            let invoice = objects::invoice(&invoice_id, &sub, false, now());
            let failed = event("invoice.payment_failed", store(&mut inner, invoice));
            let previous =
                json!({"status": sub["status"], "latest_invoice": sub["latest_invoice"]});
            sub["status"] = "past_due".into();
            sub["latest_invoice"] = invoice_id.into();
            let sub = store(&mut inner, sub);
            (
                failed,
                updated("customer.subscription.updated", sub, previous),
            )
        };
        let response = self.deliver(&failed).await;
        self.deliver(&updated_event).await;
        response
    }

    /// A SetupIntent of `customer` succeeds with `card`: the new
    /// PaymentMethod is attached and `payment_method.attached` delivered.
    pub async fn attach_card(&self, customer: &str, card: Card) -> reqwest::Response {
        let event = {
            let mut inner = self.inner();
            held(&inner, customer, "customer");
            let pm = objects::payment_method(customer, &card, now());
            event("payment_method.attached", store(&mut inner, pm))
        };
        self.deliver(&event).await
    }
}

/// The object `id` of `kind`, which a test step acts on.
fn held(inner: &Inner, id: &str, kind: &str) -> Value {
    let object = inner.objects.get(id).filter(|o| o["object"] == kind);
    object
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in holds no {kind} {id}"))
}

/// What paying `session_id` makes and changes, with the events to deliver.
fn pay(inner: &mut Inner, session_id: &str, card: &Card) -> Completed {
    let mut session = held(inner, session_id, "checkout.session");
    assert_eq!(session["status"], "open", "the session is not open");
    let created = now();
    let email = session["customer_email"].clone();
    let customer = match session["customer"].as_str() {
        Some(customer) => customer.to_owned(),
        None => {
            let params = email.as_str().map(|e| ("email".to_owned(), e.to_owned()));
            let customer =
                objects::customer(&id("cus_", 14), &params.into_iter().collect(), created);
            store(inner, customer)["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let pm = store(inner, objects::payment_method(&customer, card, created));
    let payment_method = pm["id"].as_str().unwrap_or_default().to_owned();
    let mut events = vec![event("payment_method.attached", pm)];
    let mut subscription = None;
    if let Some(purchase) = inner.purchases.get(session_id) {
        let (sub_id, invoice_id) = (id("sub_", 24), id("in_", 24));
        let price = inner
            .prices
            .get(&purchase.price)
            .expect("the session's price");
        let items = objects::items(&sub_id, &purchase.price, price, purchase.quantity, created);
        let new = NewSubscription {
            customer: &customer,
            payment_method: &payment_method,
            invoice: &invoice_id,
            items,
            metadata: purchase.metadata.clone(),
            created,
        };
        let sub = objects::subscription(&sub_id, new);
        store(inner, objects::invoice(&invoice_id, &sub, true, created));
        events.push(event("customer.subscription.created", store(inner, sub)));
        session["subscription"] = sub_id.clone().into();
        session["invoice"] = invoice_id.into();
        session["payment_status"] = "paid".into();
        subscription = Some(sub_id);
    } else {
        let mut intent = objects::setup_intent(&id("seti_", 24), &Params::new(), created);
        intent["customer"] = customer.clone().into();
        intent["payment_method"] = payment_method.clone().into();
        intent["status"] = "succeeded".into();
        session["setup_intent"] = store(inner, intent)["id"].clone();
    }
    session["status"] = "complete".into();
    session["customer"] = customer.clone().into();
    session["customer_details"] = json!({"address": null, "business_name": null,
        "email": email, "individual_name": null, "name": null, "phone": null,
        "tax_exempt": "none", "tax_ids": []});
    session["url"] = Value::Null;
    events.push(event("checkout.session.completed", store(inner, session)));
    Completed {
        subscription,
        payment_method,
        customer,
        events,
        statuses: Vec::new(),
    }
}
