//! The stand-in never panics on a bad request: it answers Stripe's errors.

use sluice_testkit::stripe::{StripeStandIn, SECRET_KEY};

#[tokio::test]
async fn odd_requests_get_answers_not_panics() {
    let standin = StripeStandIn::start(&[("price_pro", i64::MAX)]).await;
    let http = reqwest::Client::new();
    let session = "mode=subscription&success_url=x&line_items[0][price]=price_pro";
    let cases = [
        ("POST", "/v1/customers", Some("Bearer x"), "", 401),
        ("POST", "/v1/customers", Some("Basic !!!"), "", 401),
        ("POST", "/v1/customers", Some("Basic Og=="), "", 401),
        ("POST", "/v1/customers", Some("Bearer"), "", 401),
        ("POST", "/v1/customers", None, "%%%", 401),
        (
            "POST",
            "/v1/checkout/sessions",
            Some("bearer KEY"),
            "&line_items[0][quantity]=999999",
            200,
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            Some("bearer KEY"),
            "&line_items[0][quantity]=-1",
            400,
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            Some("bearer KEY"),
            "&line_items[0][quantity]=9999999999999999999999",
            400,
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            Some("bearer KEY"),
            "%ZZ=%ZZ&&&=&metadata[=1&metadata]]=2",
            400,
        ),
        (
            "POST",
            "/v1/setup_intents",
            Some("bearer KEY"),
            "usage=sometimes",
            400,
        ),
        (
            "POST",
            "/v1/setup_intents",
            Some("bearer KEY"),
            "\u{ff}\u{fe}",
            200,
        ),
        ("GET", "/v1/customers/", Some("bearer KEY"), "", 404),
        ("GET", "/v1//", Some("bearer KEY"), "", 404),
        ("DELETE", "/v1/customers/cus_1", Some("bearer KEY"), "", 404),
        ("GET", "/pay/cs_test_nothing", None, "", 404),
    ];
    for (method, path, auth, body, expected) in cases {
        let body = match body.strip_prefix('&') {
            Some(_) if path.contains("sessions") => format!("{session}{body}"),
            _ => body.to_owned(),
        };
        let mut request = http
            .request(method.parse().unwrap(), format!("{}{path}", standin.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(auth) = auth {
            request = request.header("authorization", auth.replace("KEY", SECRET_KEY));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{method} {path} {body}");
        if !path.starts_with("/pay/") {
            let error: serde_json::Value = response.json().await.unwrap();
            assert!(
                expected == 200 || error["error"]["type"].is_string(),
                "{error}"
            );
        }
    }
}
