//! A client's mistake is never a 5xx: every documented operation is sent
//! bodies, path segments and query values of every wrong kind (wrong
//! types, NUL characters, long strings, deep nesting, broken JSON), as the
//! owner of an account, and none may answer 500 or above.

use crate::accounts::account;
use crate::openapi::{complete_app, document, operations};
use reqwest::Method;
use serde_json::{json, Value};

/// Values of every kind a field should not be given.
fn wrong_values() -> Vec<Value> {
    vec![
        json!(0),
        json!(-1),
        json!(1e308),
        json!(true),
        json!(null),
        json!([]),
        json!({}),
        json!("\u{0}"),
        json!("x\u{0}y"),
        json!("😀".repeat(10_000)),
        json!("z".repeat(100_000)),
        json!([{"type": 0}]),
        json!({"type": "trim", "value": "\u{0}"}),
    ]
}

/// Bodies that are not what any operation takes.
fn broken_bodies() -> Vec<String> {
    vec![
        "not json".into(),
        "{".into(),
        "[]".into(),
        "null".into(),
        "\"\\u0000\"".into(),
        format!("{}{}", "[".repeat(1_000), "]".repeat(1_000)),
        format!("{{\"a\": \"{}\"}}", "b".repeat(300_000)),
    ]
}

/// The top-level property names of an operation's JSON body.
fn properties(doc: &Value, operation: &Value) -> Vec<String> {
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    };
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn no_wrong_input_to_any_operation_gets_a_5xx() {
    let (app, _salesforce, _dropbox, _stripe) = complete_app().await;
    let doc = document(&app).await;
    let (owner, _) = account(&app, "ada.hostile@example.com").await;
    let mut failures = Vec::new();
    let mut sent = 0usize;
    for (method, path, operation) in operations(&doc) {
        // Erasing the account or ending the session would end the test's
        // own access; their bodies are checked elsewhere.
        if (method == "delete" && path == "/v1/account") || path == "/v1/logout" {
            continue;
        }
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut requests: Vec<(String, Option<String>)> = Vec::new();
        let fill = |segment: &str| -> String {
            path.split('/')
                .map(|s| if s.starts_with('{') { segment } else { s })
                .collect::<Vec<_>>()
                .join("/")
        };
        let plain = fill(&uuid::Uuid::new_v4().to_string());
        if path.contains('{') {
            for segment in ["not-a-uuid", "%00", &"9".repeat(2_000), "..%2f..%2fetc"] {
                requests.push((fill(segment), None));
            }
        }
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "query" {
                let name = parameter["name"].as_str().unwrap();
                for value in ["%00", "-1", "99999999999999999999", &"q".repeat(3_000)] {
                    requests.push((format!("{plain}?{name}={value}"), None));
                }
            }
        }
        if operation.get("requestBody").is_some() {
            for body in broken_bodies() {
                requests.push((plain.clone(), Some(body)));
            }
            for property in properties(&doc, &operation) {
                for value in wrong_values() {
                    let body = json!({ property.as_str(): value }).to_string();
                    requests.push((plain.clone(), Some(body)));
                }
            }
        }
        for (url, body) in requests {
            let mut request = app.client.request(method.clone(), app.url(&url));
            request = if url.starts_with("/v1/ops/") {
                request.bearer_auth(&app.ops_token)
            } else {
                request.bearer_auth(&owner)
            };
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let status = request.send().await.unwrap().status();
            sent += 1;
            if status.is_server_error() {
                failures.push(format!("{method} {url}: {status}"));
            }
        }
    }
    assert!(sent > 500, "only {sent} requests were sent");
    assert!(
        failures.is_empty(),
        "{} answered 5xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
