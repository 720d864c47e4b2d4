//! Billing through Stripe (a stand-in speaking its API and webhooks):
//! checkout, the plan moved by verified webhooks only, the card summary,
//! refused forgeries, and the plans' limits.

use crate::accounts::{account, call, call_json, member};
use crate::imports::{
    connect_target, contacts_csv, contacts_mapping, create_job, target_db, upload,
};
use crate::support::count_events_of_type;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_schema::schema::{billing, events};
use sluice_testkit::stripe::{self, Card, StripeStandIn};
use sluice_testkit::{spawn_app, spawn_app_with, AppOptions, TestApp};

const PRICE_PRO: &str = "price_1PRO0000000000000000000";
const PRICE_ENTERPRISE: &str = "price_1ENT0000000000000000000";

async fn billed_app() -> (TestApp, StripeStandIn) {
    let stripe = StripeStandIn::start(&[(PRICE_PRO, 4900), (PRICE_ENTERPRISE, 49900)]).await;
    let app = spawn_app_with(AppOptions {
        billing: Some(stripe.billing_config(PRICE_PRO, PRICE_ENTERPRISE)),
        ..AppOptions::default()
    })
    .await;
    stripe.set_webhook(&app.url("/v1/webhooks/stripe"));
    (app, stripe)
}

async fn checkout(app: &TestApp, token: &str, plan: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/billing/checkout"))
        .bearer_auth(token)
        .json(&json!({ "plan": plan }))
        .send()
        .await
        .unwrap()
}

async fn billing_of(app: &TestApp, token: &str) -> Value {
    call_json(app, Method::GET, "/v1/billing", token).await
}

/// An account on `plan`, paid through Checkout: its owner's token and the
/// subscription's id.
async fn subscribed(
    app: &TestApp,
    stripe: &StripeStandIn,
    email: &str,
    plan: &str,
) -> (String, String) {
    let (owner, _) = account(app, email).await;
    let res = checkout(app, &owner, plan).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let session: Value = res.json().await.unwrap();
    let paid = stripe
        .complete_checkout(session["session_id"].as_str().unwrap(), Card::VISA)
        .await;
    assert_eq!(paid.statuses, vec![200, 200, 200], "{:?}", paid.events);
    (owner, paid.subscription.unwrap())
}

fn recorded(app: &TestApp, event_type: &str) -> Vec<Value> {
    events::table
        .filter(events::event_type.eq(event_type))
        .order(events::global_seq.asc())
        .select(events::payload)
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_paid_checkout_moves_the_account_to_its_plan_and_shows_only_the_card_summary() {
    let (app, stripe) = billed_app().await;
    let (owner, created) = account(&app, "ada@example.com").await;
    let account_id = created["account_id"].as_str().unwrap().to_owned();

    let before = billing_of(&app, &owner).await;
    assert_eq!(before["plan"], "free");
    assert_eq!(before["billing_enabled"], true);
    assert_eq!(before["card"], Value::Null);
    assert_eq!(before["limits"]["rows_per_month"], 10_000);
    assert_eq!(before["limits"]["schedules"], 0);

    let res = checkout(&app, &owner, "pro").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let session: Value = res.json().await.unwrap();
    assert!(session["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/pay/", stripe.url)));

    // One customer, made with the account's idempotency key and no
    // personal data; a subscription session for the plan's price.
    let calls = stripe.calls();
    let customers: Vec<_> = calls.iter().filter(|c| c.path == "/v1/customers").collect();
    assert_eq!(customers.len(), 1);
    assert_eq!(
        customers[0].idempotency_key.as_deref(),
        Some(format!("sluice-customer-{account_id}").as_str())
    );
    assert_eq!(
        customers[0].params["metadata[sluice_account_id]"],
        account_id
    );
    assert!(!customers[0]
        .params
        .keys()
        .any(|k| k == "email" || k == "name"));
    let sessions: Vec<_> = calls
        .iter()
        .filter(|c| c.path == "/v1/checkout/sessions")
        .collect();
    assert_eq!(sessions.len(), 1);
    let params = &sessions[0].params;
    assert_eq!(params["mode"], "subscription");
    assert_eq!(params["line_items[0][price]"], PRICE_PRO);
    assert_eq!(params["line_items[0][quantity]"], "1");
    assert_eq!(params["client_reference_id"], account_id);
    assert_eq!(params["subscription_data[metadata][plan]"], "pro");

    // Nothing changes until Stripe says the session was paid.
    assert_eq!(billing_of(&app, &owner).await["plan"], "free");
    let paid = stripe
        .complete_checkout(session["session_id"].as_str().unwrap(), Card::VISA)
        .await;
    assert_eq!(paid.statuses, vec![200, 200, 200]);

    let after = billing_of(&app, &owner).await;
    assert_eq!(after["plan"], "pro", "{after}");
    assert_eq!(
        after["subscription"]["id"],
        paid.subscription.unwrap().as_str()
    );
    assert_eq!(after["subscription"]["status"], "active");
    assert_eq!(
        after["card"],
        json!({"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030})
    );
    assert_eq!(after["limits"]["rows_per_month"], 1_000_000);
    assert_eq!(after["limits"]["schedules"], 10);
    assert_eq!(
        call_json(&app, Method::GET, "/v1/me", &owner).await["account"]["plan"],
        "pro"
    );

    // The card summary is sealed in the log and the projection.
    for event in recorded(&app, "billing.card_changed") {
        assert!(!event.to_string().contains("4242"), "{event}");
    }
    let sealed: Option<String> = billing::table
        .select(billing::card)
        .first(&mut app.conn())
        .unwrap();
    assert!(!sealed.unwrap().contains("4242"));

    // A second subscription is refused while this one is live.
    let again = checkout(&app, &owner, "enterprise").await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        stripe
            .calls()
            .iter()
            .filter(|c| c.path == "/v1/checkout/sessions")
            .count(),
        1
    );
}

#[tokio::test]
async fn checkouts_at_once_make_one_customer_and_members_cannot_check_out() {
    let (app, stripe) = billed_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let (a, b) = tokio::join!(checkout(&app, &owner, "pro"), checkout(&app, &owner, "pro"));
    assert_eq!(a.status(), StatusCode::CREATED);
    assert_eq!(b.status(), StatusCode::CREATED);
    let customers: Vec<String> = stripe
        .calls()
        .iter()
        .filter(|c| c.path == "/v1/checkout/sessions")
        .map(|c| c.params["customer"].clone())
        .collect();
    assert_eq!(customers.len(), 2);
    assert_eq!(customers[0], customers[1]);
    let kept: Vec<String> = billing::table
        .select(billing::customer_id)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(kept, vec![customers[0].clone()]);

    let someone = member(&app, &owner, "bob@example.com").await;
    let res = checkout(&app, &someone, "pro").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = checkout(&app, &owner, "platinum").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["field"], "plan");
}

#[tokio::test]
async fn forged_stale_and_replayed_webhooks_change_nothing() {
    let (app, stripe) = billed_app().await;
    let (owner, subscription) = subscribed(&app, &stripe, "ada@example.com", "pro").await;
    let customer: String = billing::table
        .select(billing::customer_id)
        .first(&mut app.conn())
        .unwrap();
    let mut sub = stripe.object(&subscription).unwrap();
    sub["status"] = json!("canceled");
    let body = stripe::event("customer.subscription.deleted", sub).to_string();
    let now = chrono::Utc::now().timestamp();
    let refused = [
        ("unsigned", None),
        (
            "another secret",
            Some(stripe::sign(&body, now, &["whsec_forged"])),
        ),
        (
            "stale",
            Some(stripe::sign(&body, now - 301, &[stripe::WEBHOOK_SECRET])),
        ),
        (
            "from the future",
            Some(stripe::sign(&body, now + 301, &[stripe::WEBHOOK_SECRET])),
        ),
        ("no v1", Some(format!("t={now}"))),
    ];
    for (what, header) in refused {
        let res = stripe.deliver_raw(body.clone(), header).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        let error: Value = res.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_request", "{what}");
    }
    // A body altered after it was signed.
    let signed = stripe::sign(&body, now, &[stripe::WEBHOOK_SECRET]);
    let altered = body.replace(&customer, "cus_someoneelse00");
    let res = stripe.deliver_raw(altered, Some(signed.clone())).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(billing_of(&app, &owner).await["plan"], "pro");
    assert_eq!(
        count_events_of_type(&mut app.conn(), "billing.subscription_changed"),
        2
    );

    // The genuine delivery, twice (Stripe retries): recorded once.
    for _ in 0..2 {
        let res = stripe.deliver_raw(body.clone(), Some(signed.clone())).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(
        count_events_of_type(&mut app.conn(), "billing.subscription_changed"),
        3
    );
    assert_eq!(billing_of(&app, &owner).await["plan"], "free");

    // Captured and replayed later, the same delivery is refused.
    app.platform.clock.advance(chrono::Duration::seconds(301));
    let res = stripe.deliver_raw(body, Some(signed)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let error: Value = res.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5 minutes"),
        "{error}"
    );
}

#[tokio::test]
async fn one_matching_signature_of_several_is_enough_while_the_secret_rolls() {
    let (app, stripe) = billed_app().await;
    let (owner, subscription) = subscribed(&app, &stripe, "ada@example.com", "pro").await;
    let body = stripe::event(
        "invoice.payment_failed",
        json!({
            "id": "in_1RollTest0000000000000",
            "object": "invoice",
            "customer": stripe.object(&subscription).unwrap()["customer"],
            "attempt_count": 2,
        }),
    )
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let old_only = stripe::sign(&body, now, &[stripe::OLD_WEBHOOK_SECRET]);
    let res = stripe.deliver_raw(body.clone(), Some(old_only)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let both = stripe::sign(
        &body,
        now,
        &[stripe::OLD_WEBHOOK_SECRET, stripe::WEBHOOK_SECRET],
    );
    let res = stripe.deliver_raw(body, Some(both)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let failed = recorded(&app, "billing.payment_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["attempt_count"], 2);
    assert!(billing_of(&app, &owner).await["payment_failed_at"].is_string());
}

#[tokio::test]
async fn subscription_changes_move_the_plan_and_late_deliveries_do_not_undo_them() {
    let (app, stripe) = billed_app().await;
    let (owner, subscription) = subscribed(&app, &stripe, "ada@example.com", "pro").await;
    let stale_copy = stripe.object(&subscription).unwrap();

    let res = stripe
        .update_subscription(&subscription, Some(PRICE_ENTERPRISE), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let shown = billing_of(&app, &owner).await;
    assert_eq!(shown["plan"], "enterprise");
    assert_eq!(shown["limits"]["rows_per_month"], Value::Null);
    assert_eq!(shown["limits"]["retention_control"], true);
    let res = app
        .client
        .put(app.url("/v1/account/settings"))
        .bearer_auth(&owner)
        .json(&json!({"result_retention_days": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // An update Stripe made earlier, delivered late, changes nothing.
    let earlier = chrono::Utc::now().timestamp() - 120;
    let late = stripe::event_at("customer.subscription.updated", stale_copy, earlier);
    assert_eq!(stripe.deliver(&late).await.status(), StatusCode::OK);
    assert_eq!(billing_of(&app, &owner).await["plan"], "enterprise");

    // The payment fails: the plan holds while Stripe retries.
    assert_eq!(
        stripe.fail_invoice(&subscription).await.status(),
        StatusCode::OK
    );
    let shown = billing_of(&app, &owner).await;
    assert_eq!(shown["plan"], "enterprise");
    assert_eq!(shown["subscription"]["status"], "past_due");
    assert!(shown["payment_failed_at"].is_string());
    stripe
        .update_subscription(&subscription, None, Some("active"))
        .await;
    assert_eq!(
        billing_of(&app, &owner).await["payment_failed_at"],
        Value::Null
    );

    // Cancelled: back to free, and the retention setting with it.
    assert_eq!(
        stripe.cancel_subscription(&subscription).await.status(),
        StatusCode::OK
    );
    let shown = billing_of(&app, &owner).await;
    assert_eq!(shown["plan"], "free");
    assert_eq!(shown["subscription"]["status"], "canceled");
    let settings = call_json(&app, Method::GET, "/v1/account/settings", &owner).await;
    assert_eq!(settings["result_retention_days"], 14);
    // A new card, attached from the portal, is the one shown.
    let customer = stripe.object(&subscription).unwrap()["customer"]
        .as_str()
        .unwrap()
        .to_owned();
    let mastercard = Card {
        brand: "mastercard",
        last4: "4444",
        exp_month: 3,
        exp_year: 2031,
    };
    assert_eq!(
        stripe.attach_card(&customer, mastercard).await.status(),
        StatusCode::OK
    );
    assert_eq!(billing_of(&app, &owner).await["card"]["last4"], "4444");

    // The log alone rebuilds the same billing, late delivery included.
    assert_replays(&app);
}

fn assert_replays(app: &TestApp) {
    let replayed = sluice_events::replay::replay(&mut app.conn(), false).unwrap();
    assert!(replayed.is_equal(), "{replayed:?}");
}

#[tokio::test]
async fn events_of_unknown_customers_and_unused_types_are_acknowledged_and_ignored() {
    let (app, stripe) = billed_app().await;
    let (owner, _) = subscribed(&app, &stripe, "ada@example.com", "pro").await;
    let before = count_events_of_type(&mut app.conn(), "billing.subscription_changed");
    let stranger = stripe::event(
        "customer.subscription.deleted",
        json!({"id": "sub_stranger", "object": "subscription", "customer": "cus_stranger", "status": "canceled"}),
    );
    let res = stripe.deliver(&stranger).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["recorded"], false);
    let unused = stripe::event("charge.refunded", json!({"id": "ch_1", "object": "charge"}));
    assert_eq!(stripe.deliver(&unused).await.status(), StatusCode::OK);
    let res = stripe
        .deliver_raw(
            "not json".into(),
            Some(stripe::sign(
                "not json",
                chrono::Utc::now().timestamp(),
                &[stripe::WEBHOOK_SECRET],
            )),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        count_events_of_type(&mut app.conn(), "billing.subscription_changed"),
        before
    );
    assert_eq!(billing_of(&app, &owner).await["plan"], "pro");
}

#[tokio::test]
async fn stripe_refusing_a_checkout_is_a_clear_error_that_changes_nothing() {
    let (app, stripe) = billed_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    stripe.rate_limit(true);
    let res = checkout(&app, &owner, "pro").await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let error: Value = res.json().await.unwrap();
    assert_eq!(error["error"]["code"], "upstream_failed");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("429"),
        "{error}"
    );
    assert!(!error.to_string().contains(stripe::SECRET_KEY));
    assert_eq!(
        count_events_of_type(&mut app.conn(), "billing.customer_created"),
        0
    );
    stripe.rate_limit(false);
    assert_eq!(
        checkout(&app, &owner, "pro").await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_portal_opens_for_a_customer_and_erasure_ends_the_subscription_first() {
    let (app, stripe) = billed_app().await;
    let (fresh, _) = account(&app, "new@example.com").await;
    let res = call(&app, Method::POST, "/v1/billing/portal", &fresh).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let (owner, subscription) = subscribed(&app, &stripe, "ada@example.com", "pro").await;
    let res = call(&app, Method::POST, "/v1/billing/portal", &owner).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let portal: Value = res.json().await.unwrap();
    assert!(portal["url"].as_str().unwrap().starts_with(&stripe.url));
    let customer = stripe.object(&subscription).unwrap()["customer"]
        .as_str()
        .unwrap()
        .to_owned();

    let erase = || {
        app.client
            .delete(app.url("/v1/account"))
            .bearer_auth(&owner)
            .json(&json!({"confirm": "erase this account"}))
            .send()
    };
    // While Stripe cannot confirm, nothing is erased.
    stripe.rate_limit(true);
    let res = erase().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(count_events_of_type(&mut app.conn(), "account.erased"), 0);
    stripe.rate_limit(false);
    let res = erase().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(stripe
        .calls()
        .iter()
        .any(|c| c.method == "DELETE" && c.path == format!("/v1/customers/{customer}")));
    assert_eq!(stripe.object(&subscription).unwrap()["status"], "canceled");
    let left: i64 = billing::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(left, 0);
    assert_replays(&app);
}

#[tokio::test]
async fn the_free_plan_refuses_schedules_and_stops_a_run_at_its_monthly_rows() {
    let (app, _stripe) = billed_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let target = target_db();
    let connection = connect_target(&app, &owner, &target).await;

    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&owner)
        .json(&json!({
            "name": "nightly",
            "source": {"connection_id": connection, "query": "SELECT 'a@example.com' AS mail"},
            "target": {"connection_id": connection, "object": "contacts"},
            "operation": "insert",
            "mapping": [{"source": "mail", "target": "email"}],
            "schedule": "0 6 * * *",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let error: Value = res.json().await.unwrap();
    assert_eq!(error["error"]["code"], "plan_limit");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Free plan"),
        "{error}"
    );

    // 10,500 rows against the free plan's 10,000 a month.
    let upload_id = upload(&app, &owner, contacts_csv(10_500)).await;
    let res = create_job(&app, &owner, &upload_id, &connection, contacts_mapping()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.unwrap();
    let job = job["id"].as_str().unwrap();
    let run = crate::imports::run_to_end(&app, &owner, job).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["rows_ok"], 10_000, "{run}");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("limit of 10000 rows"),
        "{run}"
    );
    let imported: i64 = diesel::sql_query("SELECT count(*) AS n FROM contacts")
        .get_result::<Count>(&mut target.connect())
        .unwrap()
        .n;
    assert_eq!(imported, 10_000);
    let usage = billing_of(&app, &owner).await["usage"].clone();
    assert_eq!(usage["rows_this_month"], 10_000);

    // The month's rows are used up: the next run is refused at once.
    let res = call(&app, Method::POST, &format!("/v1/jobs/{job}/runs"), &owner).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let error: Value = res.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("starts anew"),
        "{error}"
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_deployment_without_billing_has_no_limits_and_no_billing_endpoints() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let shown = billing_of(&app, &owner).await;
    assert_eq!(shown["billing_enabled"], false);
    assert_eq!(shown["limits"]["rows_per_month"], Value::Null);
    assert_eq!(shown["limits"]["schedules"], Value::Null);
    assert_eq!(
        checkout(&app, &owner, "pro").await.status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .client
        .post(app.url("/v1/webhooks/stripe"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn after_a_downgrade_only_the_oldest_scheduled_jobs_the_plan_allows_run() {
    const JOBS: usize = 11;
    let stripe = StripeStandIn::start(&[(PRICE_PRO, 4900), (PRICE_ENTERPRISE, 49900)]).await;
    let app = spawn_app_with(AppOptions {
        billing: Some(stripe.billing_config(PRICE_PRO, PRICE_ENTERPRISE)),
        scheduler: true,
        ..AppOptions::default()
    })
    .await;
    let (owner, created) = account(&app, "ada@example.com").await;
    let plan_path = format!(
        "/v1/ops/accounts/{}/plan",
        created["account_id"].as_str().unwrap()
    );
    let set_plan = |plan: &'static str| {
        app.ops(Method::POST, &plan_path)
            .json(&json!({ "plan": plan }))
            .send()
    };
    assert_eq!(
        set_plan("enterprise").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let target = target_db();
    let connection = connect_target(&app, &owner, &target).await;
    // The jobs are made early in a minute, so that no slot comes by itself
    // before the plan changes.
    crate::schedules::to_next_minute(&app);
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        let res = app
            .client
            .post(app.url("/v1/jobs"))
            .bearer_auth(&owner)
            .json(&json!({
                "name": format!("nightly {i}"),
                "source": {
                    "connection_id": connection,
                    "query": format!("SELECT 'p{i}@example.com' AS mail, 'P{i}' AS name"),
                },
                "target": {"connection_id": connection, "object": "contacts"},
                "operation": "upsert",
                "key_fields": ["email"],
                "mapping": [
                    {"source": "mail", "target": "email"},
                    {"source": "name", "target": "first_name"},
                ],
                "schedule": "* * * * *",
            }))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let job: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{job}");
        jobs.push(job["id"].as_str().unwrap().to_owned());
    }

    // Pro allows ten: the eleventh, the newest, keeps its schedule but its
    // slot requests no run.
    assert_eq!(
        set_plan("pro").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    crate::schedules::to_next_minute(&app);
    let runs_of = |job: String| {
        let app = &app;
        let owner = owner.clone();
        async move {
            let body = call_json(app, Method::GET, &format!("/v1/jobs/{job}/runs"), &owner).await;
            body.as_array()
                .or_else(|| body["runs"].as_array())
                .map_or(0, Vec::len)
        }
    };
    // Ten runs on a busy machine: a minute is not too long to wait.
    sluice_testkit::eventually(
        std::time::Duration::from_secs(60),
        "the ten oldest jobs' runs",
        || async {
            let mut counts = Vec::new();
            for job in &jobs[..JOBS - 1] {
                counts.push(runs_of(job.clone()).await);
            }
            counts.iter().all(|n| *n == 1).then_some(())
        },
    )
    .await;
    // Every job's schedule fired its slot; the newest job's requested nothing.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let job_slots = recorded(&app, "schedule.fired")
        .iter()
        .filter(|slot| slot["schedule"] == "job")
        .count();
    assert_eq!(job_slots, JOBS);
    assert_eq!(runs_of(jobs[JOBS - 1].clone()).await, 0);
}

#[tokio::test]
async fn webhooks_of_an_api_version_before_prices_still_move_the_plan() {
    let (app, stripe) = billed_app().await;
    // The endpoint was made before Prices: items name their plan only.
    stripe.pin_webhook_api_version("2019-12-03");
    let (owner, subscription) = subscribed(&app, &stripe, "ada@example.com", "pro").await;
    let delivered = stripe.deliveries();
    let created = delivered
        .iter()
        .find(|d| d.event["type"] == "customer.subscription.created")
        .unwrap();
    assert_eq!(created.event["api_version"], "2019-12-03");
    assert!(created.event["data"]["object"]["items"]["data"][0]
        .get("price")
        .is_none());
    assert_eq!(created.event["data"]["object"]["plan"]["id"], PRICE_PRO);
    assert_eq!(billing_of(&app, &owner).await["plan"], "pro");
    assert_eq!(
        checkout(&app, &owner, "pro").await.status(),
        StatusCode::CONFLICT,
        "a paying account does not check out again"
    );

    let res = stripe
        .update_subscription(&subscription, Some(PRICE_ENTERPRISE), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(billing_of(&app, &owner).await["plan"], "enterprise");
    let changed = recorded(&app, "billing.subscription_changed");
    assert_eq!(changed.last().unwrap()["plan"], "enterprise");
    assert_replays(&app);
}
