//! `GET /v1/openapi.json`: the OpenAPI document of the whole API, checked
//! as a document and against the running server it describes.
//!
//! The router and the document come from one list of handlers (see
//! `api/src/openapi/mod.rs`), so a handler cannot be served undocumented
//! or documented unserved without this test noticing: every documented
//! operation must reach its handler (with every provider configured and no
//! credentials, no operation answers 404, so a 404 is the router's
//! fall-through) and answer a status it documents, the router must know
//! each documented path as a route of its own (the route label of
//! `/metrics`), and every method the document leaves out on a documented
//! path must fall through to the router's 404.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_testkit::dropbox::DropboxStandIn;
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::stripe::StripeStandIn;
use sluice_testkit::{spawn_app, spawn_app_with, AppOptions, TestApp};
use std::collections::{BTreeMap, HashSet};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// What anyone may call: no token, or (the providers' redirects back) a
/// single-use state instead of one.
const PUBLIC: [&str; 10] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/openapi.json",
    "/v1/signup",
    "/v1/login",
    "/v1/auth/salesforce/start",
    "/v1/auth/salesforce/callback",
    "/v1/connections/salesforce/callback",
    "/v1/connections/dropbox/callback",
];

/// The document, fetched as anyone would: without credentials.
pub(crate) async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    serde_json::from_str(&response.text().await.unwrap()).expect("the document is JSON")
}

/// Every operation: (method, path, operation).
pub(crate) fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    all
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target);
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_of_this_version_and_says_what_every_operation_answers() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert_eq!(doc["info"]["title"], "Sluice");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let mut ids = HashSet::new();
    let all = operations(&doc);
    assert!(all.len() > 50, "{} operations", all.len());
    for (method, path, operation) in &all {
        let what = format!("{method} {path}");
        assert!(
            ids.insert(operation["operationId"].as_str().unwrap().to_owned()),
            "{what}: its operationId is another's too"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{what} answers nothing");
        for (status, response) in responses {
            assert!(
                !response["description"].as_str().unwrap().is_empty(),
                "{what} {status}: no description"
            );
            let errors_shape = response["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/ErrorBody";
            let readiness = path == "/readyz";
            if status.starts_with('4') || (status.starts_with('5') && !readiness) {
                assert!(errors_shape, "{what} {status}: not the error shape");
            }
        }
        // Each `{name}` of the path is a declared path parameter.
        let declared: HashSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path" && p["required"] == true)
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')) {
            let name = name.trim_end_matches('}');
            assert!(declared.contains(name), "{what}: {{{name}}} is undeclared");
        }
        // Who may call it.
        let schemes: HashSet<String> = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_object().unwrap().keys().cloned())
            .collect();
        let expected: &[&str] = if path.starts_with("/v1/ops/") {
            &["operator"]
        } else if path == "/v1/webhooks/stripe" {
            &["stripe_signature"]
        } else if PUBLIC.contains(&path.as_str()) {
            &[]
        } else {
            &["bearer", "session"]
        };
        let expected: HashSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(schemes, expected, "{what}: its security");
    }

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["operator"]["scheme"], "bearer");
    assert_eq!(schemes["stripe_signature"]["in"], "header");
    assert_eq!(schemes["stripe_signature"]["name"], "Stripe-Signature");
    assert_eq!(schemes["session"]["in"], "cookie");

    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{target}: not in the document"));
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

/// An app with everything configured: the operator token, Salesforce,
/// Dropbox and Stripe (stand-ins), so that no operation is absent.
pub(crate) async fn complete_app() -> (TestApp, SalesforceStandIn, DropboxStandIn, StripeStandIn) {
    let salesforce = SalesforceStandIn::start().await;
    let dropbox = DropboxStandIn::start().await;
    let stripe = StripeStandIn::start(&[("price_1PRO0", 4900), ("price_1ENT0", 49900)]).await;
    let app = spawn_app_with(AppOptions {
        worker: false,
        salesforce: Some(salesforce.config()),
        dropbox: Some(dropbox.config()),
        billing: Some(stripe.billing_config("price_1PRO0", "price_1ENT0")),
        ..AppOptions::default()
    })
    .await;
    (app, salesforce, dropbox, stripe)
}

/// `path` with each `{name}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the literal segments of `path` fit the template `other`.
fn fits(path: &str, other: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (path.split('/').collect(), other.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(a, b)| a == b || (b.starts_with('{') && !a.starts_with('{')))
}

#[tokio::test]
async fn every_documented_operation_is_served_and_no_undocumented_method_is() {
    let (app, _salesforce, _dropbox, _stripe) = complete_app().await;
    let doc = document(&app).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let mut documented: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for (method, path, operation) in operations(&doc) {
        let what = format!("{method} {path}");
        let response = client
            .request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                app.url(&concrete(&path)),
            )
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_ne!(status, StatusCode::NOT_FOUND, "{what} is not served");
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{what} is not served"
        );
        assert!(
            operation["responses"]
                .as_object()
                .unwrap()
                .contains_key(status.as_str()),
            "{what} answered {status}, which it does not document"
        );
        documented.entry(path).or_default().insert(method);
    }

    for (path, methods) in &documented {
        for method in METHODS.iter().filter(|m| !methods.contains(**m)) {
            // `GET /v1/uploads/dropbox` is `GET /v1/uploads/{id}`.
            let another = documented
                .iter()
                .any(|(other, methods)| methods.contains(*method) && fits(path, other));
            if another {
                continue;
            }
            let response = client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    app.url(&concrete(path)),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is served but not documented"
            );
            let allow = response.headers()["allow"].to_str().unwrap().to_owned();
            for documented in methods {
                assert!(
                    allow.contains(&documented.to_uppercase()),
                    "{method} {path}: Allow is {allow}"
                );
            }
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["error"]["code"], "method_not_allowed",
                "{method} {path}"
            );
        }
    }

    // The router matched each request by the documented path itself, not
    // by another route that happens to match it.
    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (path, methods) in &documented {
        for method in methods {
            let label = format!("{{method=\"{}\",route=\"{path}\",", method.to_uppercase());
            assert!(
                metrics.contains(&label),
                "{method} {path} was not routed by its own pattern"
            );
        }
    }
}

/// The endpoints of the README's "HTTP endpoints" table: each row's first
/// cell names them (`GET /v1/jobs`, `GET /v1/jobs/{id}`; `/errors.csv`
/// after `GET /v1/runs/{id}/success.csv` is its sibling).
fn readme_endpoints() -> HashSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("the README");
    let section = readme
        .split("\n## HTTP endpoints\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README's HTTP endpoints section");
    let mut endpoints = HashSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.split(" | ").next().unwrap();
        let mut last: Option<(String, String)> = None;
        for code in cell.split('`').skip(1).step_by(2) {
            let (method, path) = match code.split_once(' ') {
                Some((method, path)) => (method.to_lowercase(), path.to_owned()),
                None => {
                    let (method, previous) = last.clone().expect("a method before");
                    let parent = previous.rsplit_once('/').unwrap().0;
                    (method, format!("{parent}{code}"))
                }
            };
            let path = path.split('?').next().unwrap().to_owned();
            last = Some((method.clone(), path.clone()));
            endpoints.insert((method, path));
        }
    }
    endpoints
}

#[tokio::test]
async fn the_readme_lists_exactly_the_documented_endpoints() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let documented: HashSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let listed = readme_endpoints();
    let mut undocumented: Vec<_> = listed.difference(&documented).collect();
    let mut unlisted: Vec<_> = documented.difference(&listed).collect();
    undocumented.sort();
    unlisted.sort();
    assert!(
        undocumented.is_empty(),
        "in the README, not in the document: {undocumented:?}"
    );
    assert!(
        unlisted.is_empty(),
        "in the document, not in the README: {unlisted:?}"
    );
}
