//! TLS to customers' databases, against a PostgreSQL of the test's own with
//! a certificate from a test CA: `verify-full` (the default) checks the
//! chain and the host name, `verify-ca` the chain, `require` nothing (and
//! says so), and a bad CA certificate is refused when it is given.

use crate::accounts::{account, call};
use crate::connections::create;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, TestApp, TlsPostgres, TLS_PG_PASSWORD};

fn with(mut params: Value, sslmode: Option<&str>, ca: Option<&str>) -> Value {
    if let Some(mode) = sslmode {
        params["sslmode"] = json!(mode);
    }
    if let Some(ca) = ca {
        params["ca_cert"] = json!(ca);
    }
    params
}

/// Creates a connection; its status and body.
async fn try_create(app: &TestApp, token: &str, params: Value) -> (StatusCode, Value) {
    let res = create(app, token, "tls", params).await;
    (res.status(), res.json().await.unwrap())
}

fn assert_tls_failed(status: StatusCode, body: &Value, words: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "connection_failed", "{body}");
    assert_eq!(body["error"]["reason"], "tls_failed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(words), "{message}");
    assert!(!body.to_string().contains(TLS_PG_PASSWORD));
}

#[tokio::test]
async fn every_tls_mode_does_what_it_says_against_a_server_with_a_test_ca() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let server = TlsPostgres::start(&["localhost"]);
    let ca = server.ca_pem.as_str();
    let localhost = server.params("localhost");
    let by_address = server.params("127.0.0.1");

    // verify-full (the default) with the server's CA: connected, verified.
    let (status, created) = try_create(&app, &owner, with(localhost.clone(), None, Some(ca))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["params"]["sslmode"], "verify-full");
    assert_eq!(created["params"]["verifies_server"], true);
    assert_eq!(created["params"]["has_ca_cert"], true);
    assert!(!created.to_string().contains("BEGIN CERTIFICATE"));
    assert_eq!(created["last_test"]["ok"], true, "{created}");
    let id = created["id"].as_str().unwrap();
    let tested: Value = call(
        &app,
        Method::POST,
        &format!("/v1/connections/{id}/test"),
        &owner,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(tested, json!({ "ok": true }));

    // verify-full on the system's roots: the test CA is not among them.
    let (status, body) = try_create(&app, &owner, localhost.clone()).await;
    assert_tls_failed(
        status,
        &body,
        "not signed by a trusted certificate authority",
    );
    // ... nor with another CA.
    let other = with(
        localhost.clone(),
        Some("verify-full"),
        Some(&server.other_ca_pem),
    );
    let (status, body) = try_create(&app, &owner, other).await;
    assert_tls_failed(
        status,
        &body,
        "not signed by a trusted certificate authority",
    );

    // The right CA, but the certificate names localhost, not 127.0.0.1.
    let (status, body) = try_create(&app, &owner, with(by_address.clone(), None, Some(ca))).await;
    assert_tls_failed(status, &body, "not valid for the host name");

    // verify-ca checks the chain, not the name.
    let (status, body) = try_create(
        &app,
        &owner,
        with(by_address.clone(), Some("verify-ca"), Some(ca)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["params"]["verifies_server"], true);
    let other = with(
        by_address.clone(),
        Some("verify-ca"),
        Some(&server.other_ca_pem),
    );
    let (status, body) = try_create(&app, &owner, other).await;
    assert_tls_failed(
        status,
        &body,
        "not signed by a trusted certificate authority",
    );

    // require takes any certificate, and says the server is not verified.
    let (status, body) = try_create(
        &app,
        &owner,
        with(by_address.clone(), Some("require"), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["params"]["verifies_server"], false);
    assert!(
        body["params"]["tls"]
            .as_str()
            .unwrap()
            .contains("NOT verified"),
        "{body}"
    );
    let id = body["id"].as_str().unwrap();
    let listed: Value = call(&app, Method::GET, "/v1/connections", &owner)
        .await
        .json()
        .await
        .unwrap();
    let shown = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap();
    assert_eq!(shown["params"]["verifies_server"], false, "{listed}");
    assert!(!listed.to_string().contains("BEGIN CERTIFICATE"));

    // disable, for a trusted local network, still connects.
    let (status, body) = try_create(
        &app,
        &owner,
        with(by_address.clone(), Some("disable"), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A CA certificate is checked when it is given.
    for (bad, why) in [
        ("not a certificate".to_owned(), "PEM"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
            "X.509",
        ),
        ("x".repeat(64 * 1024 + 1), "64"),
    ] {
        let (status, body) =
            try_create(&app, &owner, with(localhost.clone(), None, Some(&bad))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "params.ca_cert", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    let (status, body) = try_create(
        &app,
        &owner,
        with(localhost.clone(), Some("require"), Some(ca)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "params.ca_cert");
    for weak in ["prefer", "allow"] {
        let (status, body) =
            try_create(&app, &owner, with(localhost.clone(), Some(weak), None)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "params.sslmode");
    }
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_an_address_when_given_a_name() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let server = TlsPostgres::start(&["127.0.0.1"]);
    let ca = server.ca_pem.as_str();
    let (status, body) = try_create(
        &app,
        &owner,
        with(server.params("localhost"), None, Some(ca)),
    )
    .await;
    assert_tls_failed(status, &body, "not valid for the host name");
    let (status, body) = try_create(
        &app,
        &owner,
        with(server.params("127.0.0.1"), None, Some(ca)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
