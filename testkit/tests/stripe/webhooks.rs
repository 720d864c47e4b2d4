//! The stand-in's webhook events: signed as Stripe signs, shaped as Stripe's
//! objects (async-stripe-webhook parses every one of them).
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed step must stop the test"
)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use sluice_testkit::stripe::{
    event_at, sign, Card, StripeStandIn, API_VERSION, OLD_WEBHOOK_SECRET, SECRET_KEY,
    WEBHOOK_SECRET,
};
use std::sync::{Arc, Mutex};

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
    RetrieveCheckoutSession,
};
use stripe_core::customer::CreateCustomer;
use stripe_shared::{
    CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus, InvoiceStatus,
    SubscriptionStatus,
};
use stripe_webhook::{EventObject, Webhook};

/// A delivery as the service sees it.
#[derive(Clone, Debug)]
struct Received {
    content_type: String,
    signature: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A webhook endpoint that records deliveries and answers `status`.
fn receiver(status: u16) -> (String, Log) {
    let log: Log = Arc::default();
    let data = web::Data::new(log.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v1/webhooks/stripe",
        listener.local_addr().unwrap()
    );
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/v1/webhooks/stripe",
            web::post().to(move |req: HttpRequest, body: String, log: web::Data<Log>| {
                let header = |name: &str| {
                    let value = req.headers().get(name)?;
                    Some(value.to_str().unwrap().to_owned())
                };
                log.lock().unwrap().push(Received {
                    content_type: header("content-type").unwrap_or_default(),
                    signature: header("stripe-signature"),
                    body,
                });
                async move {
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (url, log)
}

/// Verifies a `Stripe-Signature` header independently of the stand-in: some
/// `v1` is the HMAC-SHA256 of "<t>.<body>" under `secret`.
fn verifies(header: &str, body: &str, secret: &str) -> bool {
    let fields: Vec<(&str, &str)> = header
        .split(',')
        .filter_map(|f| f.split_once('='))
        .collect();
    let t = fields.iter().find(|(k, _)| *k == "t").unwrap().1;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    fields.iter().any(|(k, v)| *k == "v1" && *v == expected)
}

/// A checked delivery: JSON, signed, and parsed by async-stripe-webhook.
fn parse(received: &Received) -> (Value, stripe_webhook::Event) {
    assert_eq!(received.content_type, "application/json; charset=utf-8");
    let event: Value = serde_json::from_str(&received.body).unwrap();
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["api_version"], API_VERSION);
    assert_eq!(event["livemode"], false);
    let signature = received.signature.as_deref().unwrap();
    assert!(
        verifies(signature, &received.body, WEBHOOK_SECRET),
        "{signature}"
    );
    assert!(!verifies(signature, &received.body, OLD_WEBHOOK_SECRET));
    let parsed = Webhook::construct_event(&received.body, signature, WEBHOOK_SECRET)
        .unwrap_or_else(|e| panic!("async-stripe rejects {}: {e:?}", event["type"]));
    assert_eq!(parsed.id.as_str(), event["id"].as_str().unwrap());
    (event, parsed)
}

async fn subscription_session(standin: &StripeStandIn) -> (String, String) {
    let client = crate::client_builder(SECRET_KEY)
        .url(&standin.url)
        .build()
        .unwrap();
    let customer = CreateCustomer::new()
        .email("ada@example.com")
        .send(&client)
        .await
        .unwrap();
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some("price_pro".into());
    item.quantity = Some(1);
    let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
    subscription_data.metadata = Some([("plan".to_owned(), "pro".to_owned())].into());
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer.id.as_str())
        .client_reference_id("acc_1")
        .success_url("http://sluice.test/done")
        .line_items(vec![item])
        .subscription_data(subscription_data)
        .send(&client)
        .await
        .unwrap();
    (
        customer.id.as_str().to_owned(),
        session.id.as_str().to_owned(),
    )
}

#[tokio::test]
async fn a_subscription_lives_and_dies_in_events_async_stripe_parses() {
    let standin = StripeStandIn::start(&[("price_pro", 1900), ("price_team", 4900)]).await;
    let (url, log) = receiver(200);
    standin.set_webhook(&url);
    let (customer, session_id) = subscription_session(&standin).await;

    let completed = standin.complete_checkout(&session_id, Card::VISA).await;
    assert_eq!(completed.statuses, [200, 200, 200]);
    assert_eq!(completed.customer, customer);
    let sub_id = completed.subscription.clone().unwrap();
    let received = log.lock().unwrap().clone();
    let types: Vec<_> = received
        .iter()
        .map(|r| parse(r).0["type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            "payment_method.attached",
            "customer.subscription.created",
            "checkout.session.completed"
        ]
    );
    for (sent, got) in completed.events.iter().zip(&received) {
        assert_eq!(*sent, serde_json::from_str::<Value>(&got.body).unwrap());
    }

    let EventObject::PaymentMethodAttached(pm) = parse(&received[0]).1.data.object else {
        panic!("not a payment method")
    };
    assert_eq!(pm.id.as_str(), completed.payment_method);
    let card = pm.card.unwrap();
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
    assert_eq!((card.exp_month, card.exp_year), (12, 2030));
    assert_eq!(pm.customer.unwrap().id().as_str(), customer);

    let EventObject::CustomerSubscriptionCreated(sub) = parse(&received[1]).1.data.object else {
        panic!("not a subscription")
    };
    assert_eq!(sub.id.as_str(), sub_id);
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.customer.id().as_str(), customer);
    assert_eq!(sub.metadata["plan"], "pro");
    assert!(!sub.cancel_at_period_end);
    let item = &sub.items.data[0];
    assert_eq!(item.price.id.as_str(), "price_pro");
    assert_eq!(item.price.unit_amount, Some(1900));
    assert_eq!(item.quantity, Some(1));
    assert!(item.current_period_end > item.current_period_start);

    let EventObject::CheckoutSessionCompleted(session) = parse(&received[2]).1.data.object else {
        panic!("not a session")
    };
    assert_eq!(session.status, Some(CheckoutSessionStatus::Complete));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Paid);
    assert_eq!(session.subscription.unwrap().id().as_str(), sub_id);
    assert_eq!(session.client_reference_id.as_deref(), Some("acc_1"));

    // The completed session reads back through the API as well.
    let client = crate::client_builder(SECRET_KEY)
        .url(&standin.url)
        .build()
        .unwrap();
    let read = RetrieveCheckoutSession::new(session.id)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(read.status, Some(CheckoutSessionStatus::Complete));
    assert!(read.url.is_none());

    // A plan change: previous_attributes carries the old items.
    assert_eq!(
        standin
            .update_subscription(&sub_id, Some("price_team"), None)
            .await
            .status(),
        200
    );
    let received = log.lock().unwrap().clone();
    let (raw, event) = parse(&received[3]);
    assert_eq!(
        raw["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"],
        "price_pro"
    );
    assert!(event.data.previous_attributes.is_some());
    let EventObject::CustomerSubscriptionUpdated(sub) = event.data.object else {
        panic!("not a subscription")
    };
    assert_eq!(sub.items.data[0].price.id.as_str(), "price_team");

    // A failed renewal: the invoice, then the subscription past due.
    assert_eq!(standin.fail_invoice(&sub_id).await.status(), 200);
    let received = log.lock().unwrap().clone();
    let (raw, event) = parse(&received[4]);
    assert_eq!(raw["type"], "invoice.payment_failed");
    let EventObject::InvoicePaymentFailed(invoice) = event.data.object else {
        panic!("not an invoice")
    };
    assert_eq!(invoice.status, Some(InvoiceStatus::Open));
    assert_eq!(invoice.attempt_count, 1);
    assert_eq!(invoice.amount_due, 4900);
    assert!(invoice.next_payment_attempt.is_some());
    let parent = invoice.parent.unwrap().subscription_details.unwrap();
    assert_eq!(parent.subscription.id().as_str(), sub_id);
    assert_eq!(invoice.customer.unwrap().id().as_str(), customer);
    let (raw, event) = parse(&received[5]);
    assert_eq!(raw["data"]["previous_attributes"]["status"], "active");
    let EventObject::CustomerSubscriptionUpdated(sub) = event.data.object else {
        panic!("not a subscription")
    };
    assert_eq!(sub.status, SubscriptionStatus::PastDue);

    // The customer cancels.
    assert_eq!(standin.cancel_subscription(&sub_id).await.status(), 200);
    let received = log.lock().unwrap().clone();
    let EventObject::CustomerSubscriptionDeleted(sub) = parse(&received[6]).1.data.object else {
        panic!("not a subscription")
    };
    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    assert!(sub.ended_at.is_some() && sub.canceled_at.is_some());

    // A card added through a SetupIntent.
    assert_eq!(
        standin.attach_card(&customer, Card::VISA).await.status(),
        200
    );
    let received = log.lock().unwrap().clone();
    let EventObject::PaymentMethodAttached(pm) = parse(&received[7]).1.data.object else {
        panic!("not a payment method")
    };
    assert_eq!(pm.customer.unwrap().id().as_str(), customer);
    assert_eq!(standin.deliveries().len(), 8);
    assert_eq!(standin.object(&sub_id).unwrap()["status"], "canceled");
}

#[tokio::test]
async fn a_setup_session_completes_with_a_payment_method() {
    let standin = StripeStandIn::start(&[]).await;
    let (url, log) = receiver(200);
    standin.set_webhook(&url);
    let client = crate::client_builder(SECRET_KEY)
        .url(&standin.url)
        .build()
        .unwrap();
    let customer = CreateCustomer::new().send(&client).await.unwrap();
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Setup)
        .currency(stripe_types::Currency::EUR)
        .customer(customer.id.as_str())
        .success_url("http://sluice.test/done")
        .send(&client)
        .await
        .unwrap();
    let completed = standin
        .complete_checkout(session.id.as_str(), Card::VISA)
        .await;
    assert_eq!(completed.subscription, None);
    let received = log.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let EventObject::CheckoutSessionCompleted(done) = parse(&received[1]).1.data.object else {
        panic!("not a session")
    };
    assert_eq!(
        done.payment_status,
        CheckoutSessionPaymentStatus::NoPaymentRequired
    );
    let intent = done.setup_intent.unwrap().id().as_str().to_owned();
    assert_eq!(standin.object(&intent).unwrap()["status"], "succeeded");
    assert_eq!(
        standin.object(&intent).unwrap()["payment_method"],
        completed.payment_method
    );
}

#[tokio::test]
async fn during_a_roll_every_secret_signs() {
    let standin = StripeStandIn::start(&[("price_pro", 1900)]).await;
    let (url, log) = receiver(200);
    standin.set_webhook(&url);
    standin.extra_signing_secrets(&[OLD_WEBHOOK_SECRET]);
    let event = sluice_testkit::stripe::event(
        "customer.created",
        serde_json::json!({
            "id": "cus_X", "object": "customer", "created": 1, "livemode": false,
        }),
    );
    assert_eq!(standin.deliver(&event).await.status(), 200);
    let received = log.lock().unwrap()[0].clone();
    let header = received.signature.unwrap();
    assert_eq!(header.matches("v1=").count(), 2);
    assert!(
        header.contains(",v0="),
        "Stripe's test-mode v0 signature: {header}"
    );
    assert!(verifies(&header, &received.body, WEBHOOK_SECRET));
    assert!(verifies(&header, &received.body, OLD_WEBHOOK_SECRET));
    for secret in [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET] {
        Webhook::construct_event(&received.body, &header, secret).unwrap();
    }
}

#[tokio::test]
async fn raw_deliveries_carry_whatever_the_test_forges() {
    let standin = StripeStandIn::start(&[]).await;
    let (url, log) = receiver(400);
    standin.set_webhook(&url);
    let stale = event_at(
        "customer.created",
        serde_json::json!({"id": "cus_X"}),
        1_000_000,
    );
    assert_eq!(stale["created"], 1_000_000);
    let body = stale.to_string();
    let header = sign(&body, 1_000_000, &[WEBHOOK_SECRET]);
    assert_eq!(
        standin
            .deliver_raw(body.clone(), Some(header.clone()))
            .await
            .status(),
        400
    );
    assert_eq!(
        standin.deliver_raw("not json".into(), None).await.status(),
        400
    );
    let received = log.lock().unwrap().clone();
    assert_eq!(received[0].signature.as_deref(), Some(header.as_str()));
    assert_eq!(received[1].signature, None);
    assert_eq!(received[1].body, "not json");
    let deliveries = standin.deliveries();
    assert_eq!(deliveries[0].event, stale);
    assert_eq!(
        (deliveries[1].event.clone(), deliveries[1].status),
        ("not json".into(), 400)
    );
    // Stale: async-stripe refuses a signature older than five minutes.
    assert!(Webhook::construct_event(&body, &header, WEBHOOK_SECRET).is_err());
}

#[test]
fn sign_agrees_with_async_stripe() {
    let payload = r#"{"id":"evt_1","object":"event"}"#;
    let ours = sign(payload, 1_700_000_000, &[WEBHOOK_SECRET]);
    let theirs = Webhook::generate_test_header(payload, WEBHOOK_SECRET, Some(1_700_000_000));
    assert_eq!(ours, theirs);
}
