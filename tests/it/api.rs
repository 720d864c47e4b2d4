use reqwest::Method;
use serde_json::Value;
use sluice_testkit::{spawn_app, spawn_app_with, AppOptions};

#[tokio::test]
async fn health_answers_without_dependencies() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        relay: false,
        ..AppOptions::default()
    })
    .await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let app = spawn_app().await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"sluice_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("sluice_events_appended_total"), "{text}");
}

#[tokio::test]
async fn unknown_routes_and_malformed_ids_get_a_json_404() {
    let app = spawn_app().await;
    for path in ["/v1/nothing-here", "/v1/ops/probes/not-a-uuid"] {
        let res = app.ops(Method::GET, path).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let missing = uuid::Uuid::new_v4();
    let res = app
        .ops(Method::GET, &format!("/v1/ops/probes/{missing}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_sane_upstream_one() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "lb-1234");

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x\u{7f}; rm -rf /")
        .send()
        .await;
    // A header with control characters is refused by the client or replaced by us.
    if let Ok(res) = res {
        assert_ne!(res.headers()["x-request-id"], "x\u{7f}; rm -rf /");
    }
}

#[tokio::test]
async fn operator_endpoints_need_the_operator_token() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/v1/ops/probes"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let res = app
        .client
        .post(app.url("/v1/ops/probes"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        crate::support::all_seqs(&mut app.conn()),
        Vec::<i64>::new(),
        "nothing recorded"
    );

    let res = app
        .ops(Method::POST, "/v1/ops/probes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "queued");
}

#[tokio::test]
async fn without_a_configured_token_operator_endpoints_do_not_exist() {
    let app = spawn_app_with(AppOptions {
        ops_token: false,
        ..AppOptions::default()
    })
    .await;
    let res = app
        .ops(Method::POST, "/v1/ops/probes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn bad_query_parameters_get_a_clear_error() {
    let app = spawn_app().await;
    let res = app
        .ops(Method::GET, "/v1/ops/dead-letters?limit=0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "limit");

    let res = app
        .ops(Method::GET, "/v1/ops/dead-letters?limit=lots")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
}

#[tokio::test]
async fn the_api_answers_503_while_the_database_is_unreachable_and_recovers_after() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        relay: false,
        ..AppOptions::default()
    })
    .await;
    // Warm the pool, then take the database away from under the running service.
    let res = app
        .ops(Method::POST, "/v1/ops/probes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    app.db.refuse_connections();

    let res = app
        .ops(Method::POST, "/v1/ops/probes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(body["error"]["message"], "service temporarily unavailable");
    assert!(body["error"]["request_id"].is_string());
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);

    app.db.allow_connections();
    let res = app
        .ops(Method::POST, "/v1/ops/probes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "the API recovers without a restart");
}
