//! The real async-stripe client against the stand-in: every answer parses.
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed step must stop the test"
)]

use sluice_testkit::stripe::{StripeStandIn, SECRET_KEY};
use std::collections::HashMap;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned};
use stripe_core::setup_intent::{CreateSetupIntent, CreateSetupIntentUsage};
use stripe_shared::{
    ApiErrors, ApiErrorsCode, ApiErrorsType, CheckoutSessionMode, CheckoutSessionPaymentStatus,
    CheckoutSessionStatus, SetupIntentStatus,
};

const PRICES: &[(&str, i64)] = &[("price_pro", 1900), ("price_team", 4900)];

fn client(standin: &StripeStandIn) -> stripe::Client {
    crate::client_builder(SECRET_KEY)
        .url(&standin.url)
        .build()
        .unwrap()
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The Stripe error of a failed call, with its status.
fn stripe_error<T: std::fmt::Debug>(result: Result<T, StripeError>) -> (ApiErrors, u16) {
    match result {
        Err(StripeError::Stripe(error, status)) => (*error, status),
        other => panic!("expected a Stripe error, got {other:?}"),
    }
}

fn idempotent(key: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(key).unwrap())
}

#[tokio::test]
async fn a_customer_created_twice_with_one_idempotency_key_is_one_customer() {
    let standin = StripeStandIn::start(PRICES).await;
    let client = client(&standin);
    let create = CreateCustomer::new()
        .email("ada@example.com")
        .metadata(map(&[("sluice_account_id", "acc_1")]));

    let first = create
        .customize()
        .request_strategy(idempotent("signup-acc_1"));
    let first = first.send(&client).await.unwrap();
    let second = create
        .customize()
        .request_strategy(idempotent("signup-acc_1"));
    let second = second.send(&client).await.unwrap();

    assert_eq!(first.id, second.id);
    assert!(first.id.as_str().starts_with("cus_"));
    assert_eq!(first.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        first.metadata.as_ref().unwrap()["sluice_account_id"],
        "acc_1"
    );
    assert!(!first.livemode);
    let calls = standin.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].path, "/v1/customers");
    assert_eq!(calls[0].params["metadata[sluice_account_id]"], "acc_1");
    assert_eq!(calls[1].idempotency_key.as_deref(), Some("signup-acc_1"));

    let retrieved = RetrieveCustomer::new(first.id.clone())
        .send(&client)
        .await
        .unwrap();
    let RetrieveCustomerReturned::Customer(retrieved) = retrieved else {
        panic!("a deleted customer")
    };
    assert_eq!(retrieved.id, first.id);

    // Other parameters under the same key: Stripe's idempotency_error.
    let other = CreateCustomer::new().email("bob@example.com");
    let other = other
        .customize()
        .request_strategy(idempotent("signup-acc_1"));
    let (error, status) = stripe_error(other.send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(error.type_, ApiErrorsType::IdempotencyError);
    assert!(error.message.unwrap().contains("signup-acc_1"));
}

#[tokio::test]
async fn a_replay_says_so_in_its_headers() {
    let standin = StripeStandIn::start(PRICES).await;
    let http = reqwest::Client::new();
    let post = || {
        http.post(format!("{}/v1/customers", standin.url))
            .bearer_auth(SECRET_KEY)
            .header("Idempotency-Key", "k-1")
            .form(&[("email", "ada@example.com")])
            .send()
    };
    let first = post().await.unwrap();
    assert!(first.headers()["request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();
    let second = post().await.unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.json::<serde_json::Value>().await.unwrap(), first);
}

#[tokio::test]
async fn a_subscription_checkout_session_parses() {
    let standin = StripeStandIn::start(PRICES).await;
    let client = client(&standin);
    let customer = CreateCustomer::new().send(&client).await.unwrap();
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some("price_pro".into());
    item.quantity = Some(1);
    let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
    subscription_data.metadata = Some(map(&[("plan", "pro")]));

    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(customer.id.as_str())
        .client_reference_id("acc_1")
        .success_url("http://sluice.test/billing/done")
        .cancel_url("http://sluice.test/billing")
        .line_items(vec![item])
        .metadata(map(&[("sluice_account_id", "acc_1")]))
        .subscription_data(subscription_data)
        .send(&client)
        .await
        .unwrap();

    assert!(session.id.as_str().starts_with("cs_test_"));
    let url = session.url.as_deref().unwrap();
    assert_eq!(url, format!("{}/pay/{}", standin.url, session.id.as_str()));
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Unpaid);
    assert_eq!(session.mode, CheckoutSessionMode::Subscription);
    assert_eq!(session.customer.unwrap().id(), &customer.id);
    assert_eq!(session.client_reference_id.as_deref(), Some("acc_1"));
    assert_eq!(session.metadata.unwrap()["sluice_account_id"], "acc_1");
    assert_eq!(session.expires_at, session.created + 24 * 3600);
    assert_eq!(session.amount_total, Some(1900));
    assert!(reqwest::get(url).await.unwrap().status().is_success());
    let call = standin.calls().pop().unwrap();
    assert_eq!(call.params["line_items[0][price]"], "price_pro");
    assert_eq!(call.params["subscription_data[metadata][plan]"], "pro");
}

#[tokio::test]
async fn a_setup_session_needs_a_currency() {
    let standin = StripeStandIn::start(PRICES).await;
    let client = client(&standin);
    let create = || {
        CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Setup)
            .success_url("http://sluice.test/done")
    };
    let (error, status) = stripe_error(create().send(&client).await);
    assert_eq!((status, error.param.as_deref()), (400, Some("currency")));
    assert_eq!(error.code, Some(ApiErrorsCode::ParameterMissing));

    let session = create()
        .currency(stripe_types::Currency::EUR)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(session.mode, CheckoutSessionMode::Setup);
    assert_eq!(
        session.payment_status,
        CheckoutSessionPaymentStatus::NoPaymentRequired
    );
    assert_eq!(session.payment_method_types, ["card"]);
}

#[tokio::test]
async fn a_setup_intent_parses() {
    let standin = StripeStandIn::start(PRICES).await;
    let client = client(&standin);
    let customer = CreateCustomer::new().send(&client).await.unwrap();
    let intent = CreateSetupIntent::new()
        .customer(customer.id.as_str())
        .usage(CreateSetupIntentUsage::OffSession)
        .send(&client)
        .await
        .unwrap();
    assert!(intent.id.as_str().starts_with("seti_"));
    let secret = intent.client_secret.unwrap();
    assert!(secret.starts_with(&format!("{}_secret_", intent.id.as_str())));
    assert_eq!(intent.status, SetupIntentStatus::RequiresPaymentMethod);
    assert_eq!(intent.usage, "off_session");
    assert_eq!(intent.payment_method_types, ["card"]);
    assert_eq!(intent.customer.unwrap().id(), &customer.id);
    assert_eq!(standin.calls()[1].params["usage"], "off_session");
}

#[tokio::test]
async fn a_wrong_key_is_stripes_401_with_the_key_masked() {
    let standin = StripeStandIn::start(PRICES).await;
    let client = crate::client_builder("sk_test_notTheRightKey9876")
        .url(&standin.url)
        .build()
        .unwrap();
    let (error, status) = stripe_error(CreateCustomer::new().send(&client).await);
    assert_eq!(status, 401);
    assert_eq!(error.type_, ApiErrorsType::InvalidRequestError);
    let message = error.message.unwrap();
    assert_eq!(
        message,
        "Invalid API Key provided: sk_test_**************9876"
    );
    // async-stripe's Display of the error carries the message too.
    let shown = CreateCustomer::new()
        .send(&client)
        .await
        .unwrap_err()
        .to_string();
    assert!(shown.contains(&message) && shown.contains("401"), "{shown}");
}

#[tokio::test]
async fn unknown_ids_and_missing_params_are_stripes_errors() {
    let standin = StripeStandIn::start(PRICES).await;
    let client = client(&standin);
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price = Some("price_gone".into());
    item.quantity = Some(1);
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .success_url("http://sluice.test/done")
        .line_items(vec![item]);
    let (error, status) = stripe_error(session.send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
    assert_eq!(error.param.as_deref(), Some("line_items[0][price]"));
    assert_eq!(
        error.message.as_deref(),
        Some("No such price: 'price_gone'")
    );

    let missing = CreateCheckoutSession::new().success_url("http://sluice.test/done");
    let (error, status) = stripe_error(missing.send(&client).await);
    assert_eq!((status, error.param.as_deref()), (400, Some("mode")));
    assert_eq!(error.code, Some(ApiErrorsCode::ParameterMissing));

    let (error, status) = stripe_error(RetrieveCustomer::new("cus_nope").send(&client).await);
    assert_eq!((status, error.param.as_deref()), (404, Some("id")));
    assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
    assert_eq!(
        error.message.as_deref(),
        Some("No such customer: 'cus_nope'")
    );
}

#[tokio::test]
async fn rate_limits_are_retried_only_by_retrying_strategies() {
    let standin = StripeStandIn::start(PRICES).await;
    let client = client(&standin);
    standin.rate_limit(true);

    // The default strategy is `Once`: one call, the 429 surfaces.
    let (error, status) = stripe_error(CreateCustomer::new().send(&client).await);
    assert_eq!(status, 429);
    assert_eq!(error.code, Some(ApiErrorsCode::RateLimit));
    assert_eq!(error.type_, ApiErrorsType::InvalidRequestError);
    assert_eq!(standin.calls().len(), 1);
    let once = CreateCustomer::new()
        .customize()
        .request_strategy(RequestStrategy::Once);
    stripe_error(once.send(&client).await);
    assert_eq!(standin.calls().len(), 2);

    // `Retry(3)` tries three times, at once, and (without async-stripe's
    // `uuid` feature) with no idempotency key at all.
    let retry = CreateCustomer::new()
        .customize()
        .request_strategy(RequestStrategy::Retry(3));
    stripe_error(retry.send(&client).await);
    let calls = standin.calls();
    assert_eq!(calls.len(), 5);
    assert!(calls.iter().all(|c| c.idempotency_key.is_none()));

    standin.rate_limit(false);
    CreateCustomer::new().send(&client).await.unwrap();
}

#[tokio::test]
async fn raw_requests_get_stripes_answers() {
    let standin = StripeStandIn::start(PRICES).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/customers", standin.url);

    // HTTP basic with the key as user name, as Stripe accepts.
    let created = http
        .post(&url)
        .basic_auth(SECRET_KEY, None::<&str>)
        .form(&[("email", "a@b.c")]);
    let created: serde_json::Value = created.send().await.unwrap().json().await.unwrap();
    assert_eq!(created["object"], "customer");

    let anonymous = http.post(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("request-id"));
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("You did not provide an API key"));

    let json = http
        .post(&url)
        .bearer_auth(SECRET_KEY)
        .json(&serde_json::json!({"email": "x"}));
    let json = json.send().await.unwrap();
    assert_eq!(json.status(), 400);

    let unknown = http
        .get(format!("{}/v1/charges", standin.url))
        .bearer_auth(SECRET_KEY);
    let unknown = unknown.send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Unrecognized request URL (GET: /v1/charges)"));
}

#[tokio::test]
async fn the_client_url_is_the_host_without_v1() {
    let standin = StripeStandIn::start(PRICES).await;
    // async-stripe sends to format!("{base}v1{path}") with `base` an
    // `http::Uri`, which shows a bare host with a trailing slash: both work.
    for base in [standin.url.clone(), format!("{}/", standin.url)] {
        let client = crate::client_builder(SECRET_KEY).url(base).build().unwrap();
        CreateCustomer::new().send(&client).await.unwrap();
    }
    // With `/v1` in the base the path doubles and Stripe's 404 comes back.
    let base = format!("{}/v1", standin.url);
    let client = crate::client_builder(SECRET_KEY).url(base).build().unwrap();
    let (_, status) = stripe_error(CreateCustomer::new().send(&client).await);
    assert_eq!(status, 404);
    let paths: Vec<_> = standin.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(paths, ["/v1/customers", "/v1/customers", "/v1v1/customers"]);
}
