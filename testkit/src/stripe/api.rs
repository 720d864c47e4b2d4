//! The HTTP API: authentication, rate limiting, idempotency, the call log,
//! and the endpoints.

use super::{id, lock, now, objects, store, Call, Inner, Params, Purchase, Shared, Stored};
use super::{API_VERSION, SECRET_KEY};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

const NO_KEY: &str = "You did not provide an API key. You need to provide your API key in the \
    Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See \
    https://stripe.com/docs/api#authentication for details, or we can help at \
    https://support.stripe.com/.";
const RATE_LIMITED: &str = "Too many requests hit the API too quickly. We recommend an \
    exponential backoff of your requests.";
const NOT_A_FORM: &str = "Invalid request (check that your POST content type is \
    application/x-www-form-urlencoded). If you have any questions, we can help at \
    https://support.stripe.com/.";

/// An answer before its headers: status, body, and whether it is a replay.
struct Reply(u16, Value, bool);

fn ok(body: Value) -> Reply {
    Reply(200, body, false)
}

fn error(status: u16, type_: &str, code: Option<&str>, param: Option<&str>, msg: &str) -> Reply {
    let mut error = json!({ "type": type_, "message": msg });
    if let Some(code) = code {
        error["code"] = code.into();
        let doc = format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        );
        error["doc_url"] = doc.into();
    }
    if let Some(param) = param {
        error["param"] = param.into();
    }
    Reply(status, json!({ "error": error }), false)
}

fn missing(param: &str) -> Reply {
    let message = format!("Missing required param: {param}.");
    error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some(param),
        &message,
    )
}

fn no_such(status: u16, kind: &str, id: &str, param: &str) -> Reply {
    let message = format!("No such {kind}: '{id}'");
    error(
        status,
        "invalid_request_error",
        Some("resource_missing"),
        Some(param),
        &message,
    )
}

fn invalid(param: &str, message: &str) -> Reply {
    error(400, "invalid_request_error", None, Some(param), message)
}

/// `sk_test_` and the last four characters shown, the rest as `*`.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let prefix = [
        "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_",
    ]
    .into_iter()
    .find(|p| key.starts_with(p))
    .map_or(0, str::len);
    let shown = chars.len().saturating_sub(4).max(prefix);
    let stars = "*".repeat(shown - prefix);
    let (head, tail) = (&chars[..prefix], &chars[shown..]);
    format!(
        "{}{stars}{}",
        head.iter().collect::<String>(),
        tail.iter().collect::<String>()
    )
}

/// The key of `Authorization: Bearer <key>` or `Basic base64(<key>:)`.
fn api_key(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, value) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(value.trim().to_owned());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(value.trim())?).ok()?;
    Some(
        decoded
            .split_once(':')
            .map_or(decoded.as_str(), |(user, _)| user)
            .to_owned(),
    )
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
    for byte in text.trim_end_matches('=').bytes() {
        let sextet = ALPHABET.iter().position(|&a| a == byte)?;
        acc = (acc << 6) | u32::try_from(sextet).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits).ok()?);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

pub(super) async fn pay(inner: web::Data<Shared>, path: web::Path<String>) -> HttpResponse {
    match lock(&inner).objects.get(path.as_str()) {
        Some(session) if session["status"] == "open" => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<h1>Checkout stand-in</h1><p>{}</p>",
                path.as_str()
            )),
        _ => HttpResponse::NotFound().body("This Checkout Session is no longer active."),
    }
}

pub(super) async fn api(
    req: HttpRequest,
    body: web::Bytes,
    inner: web::Data<Shared>,
) -> HttpResponse {
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Reply(status, body, replayed) = respond(&req, &body, &inner, idempotency_key.as_deref());
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or_default());
    response.insert_header(("Request-Id", id("req_", 14)));
    if let Some(key) = idempotency_key.filter(|_| req.method() == "POST") {
        response.insert_header(("Idempotency-Key", key));
    }
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    if status == 401 {
        response.insert_header(("WWW-Authenticate", "Basic realm=\"Stripe\""));
    }
    let mut response = response.json(body);
    let version = HeaderValue::from_static(API_VERSION);
    response
        .headers_mut()
        .insert(HeaderName::from_static("stripe-version"), version);
    response
}

fn respond(req: &HttpRequest, body: &[u8], inner: &Shared, key: Option<&str>) -> Reply {
    let (method, path) = (req.method().as_str(), req.path());
    let form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let raw = if method == "GET" {
        req.query_string().as_bytes()
    } else {
        body
    };
    let parsed = serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw);
    let mut inner = lock(inner);
    inner.calls.push(Call {
        method: method.to_owned(),
        path: path.to_owned(),
        params: parsed
            .as_ref()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default(),
        idempotency_key: key.map(str::to_owned),
    });
    let Some(secret) = api_key(req) else {
        return error(401, "invalid_request_error", None, None, NO_KEY);
    };
    if secret != SECRET_KEY {
        let message = format!("Invalid API Key provided: {}", mask(&secret));
        return error(401, "invalid_request_error", None, None, &message);
    }
    if inner.rate_limited {
        return error(
            429,
            "invalid_request_error",
            Some("rate_limit"),
            None,
            RATE_LIMITED,
        );
    }
    let params: Params = match parsed {
        Ok(pairs) if method == "GET" || form || body.is_empty() => pairs.into_iter().collect(),
        _ => return error(400, "invalid_request_error", None, None, NOT_A_FORM),
    };
    let key = key
        .filter(|_| method == "POST")
        .map(|k| (secret, k.to_owned()));
    if let Some(stored) = key.as_ref().and_then(|k| inner.idempotent.get(k)) {
        if stored.method == method && stored.path == path && stored.params == params {
            return Reply(stored.status, stored.body.clone(), true);
        }
        let used = key.as_ref().map_or("", |k| k.1.as_str());
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were \
            first used with. Try using a key other than '{used}' if you meant to execute a \
            different request."
        );
        return error(400, "idempotency_error", None, None, &message);
    }
    let reply = route(&mut inner, method, path, &params);
    if let (Some(key), Reply(status @ 200..=299, body, _)) = (key, &reply) {
        let (method, path) = (method.to_owned(), path.to_owned());
        let (status, body) = (*status, body.clone());
        let stored = Stored {
            method,
            path,
            params,
            status,
            body,
        };
        inner.idempotent.insert(key, stored);
    }
    reply
}

/// The collections `GET /v1/<collection>/<id>` serves, with their objects.
const COLLECTIONS: [(&str, &str); 6] = [
    ("customers", "customer"),
    ("checkout/sessions", "checkout.session"),
    ("setup_intents", "setup_intent"),
    ("payment_methods", "payment_method"),
    ("subscriptions", "subscription"),
    ("invoices", "invoice"),
];

fn route(inner: &mut Inner, method: &str, path: &str, params: &Params) -> Reply {
    let retrieve = path
        .strip_prefix("/v1/")
        .and_then(|rest| rest.rsplit_once('/'))
        .filter(|(_, id)| !id.is_empty());
    match (method, path) {
        ("POST", "/v1/customers") => {
            let customer = objects::customer(&id("cus_", 14), params, now());
            ok(store(inner, customer))
        }
        ("POST", "/v1/checkout/sessions") => create_session(inner, params),
        ("POST", "/v1/setup_intents") => create_setup_intent(inner, params),
        ("POST", "/v1/billing_portal/sessions") => create_portal_session(inner, params),
        ("DELETE", _) if retrieve.is_some_and(|(c, _)| c == "customers") => {
            delete_customer(inner, retrieve.unwrap_or_default().1)
        }
        ("GET", _) if retrieve.is_some_and(|(c, _)| COLLECTIONS.iter().any(|e| e.0 == c)) => {
            let (collection, id) = retrieve.unwrap_or_default();
            let kind = COLLECTIONS
                .iter()
                .find(|e| e.0 == collection)
                .map_or("", |e| e.1);
            match inner.objects.get(id).filter(|o| o["object"] == kind) {
                Some(object) => ok(object.clone()),
                None => no_such(404, kind, id, "id"),
            }
        }
        _ => {
            let message = format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs \
                or we can help at https://support.stripe.com/."
            );
            error(404, "invalid_request_error", None, None, &message)
        }
    }
}

/// `POST /v1/billing_portal/sessions`: a customer portal session of a
/// known customer, under the account's default portal configuration.
fn create_portal_session(inner: &mut Inner, params: &Params) -> Reply {
    if !params.contains_key("customer") {
        return missing("customer");
    }
    if let Err(reply) = check_customer(inner, params) {
        return reply;
    }
    let session_id = id("bps_", 24);
    let url = format!("{}/p/session/test_{}", inner.url, id("", 32));
    ok(json!({
        "id": session_id, "object": "billing_portal.session",
        "configuration": "bpc_1StandInDefaultConfig0", "created": now(),
        "customer": params["customer"], "flow": null, "livemode": false, "locale": null,
        "on_behalf_of": null, "return_url": params.get("return_url"), "url": url,
    }))
}

/// `DELETE /v1/customers/{id}`: the customer is deleted for good, and its
/// subscriptions are cancelled at once, as Stripe documents.
fn delete_customer(inner: &mut Inner, customer: &str) -> Reply {
    let known = inner
        .objects
        .get(customer)
        .is_some_and(|c| c["object"] == "customer");
    if !known {
        return no_such(404, "customer", customer, "id");
    }
    let at = now();
    for object in inner.objects.values_mut() {
        let live = object["object"] == "subscription"
            && object["customer"] == customer
            && object["status"] != "canceled";
        if live {
            object["status"] = json!("canceled");
            object["canceled_at"] = json!(at);
            object["ended_at"] = json!(at);
        }
    }
    inner.objects.remove(customer);
    ok(json!({"id": customer, "object": "customer", "deleted": true}))
}

/// A 400 `resource_missing` unless `params[customer]` is absent or known.
fn check_customer(inner: &Inner, params: &Params) -> Result<(), Reply> {
    match params.get("customer") {
        Some(id)
            if inner
                .objects
                .get(id)
                .is_none_or(|o| o["object"] != "customer") =>
        {
            Err(no_such(400, "customer", id, "customer"))
        }
        _ => Ok(()),
    }
}

fn create_session(inner: &mut Inner, params: &Params) -> Reply {
    let Some(mode) = params.get("mode") else {
        return missing("mode");
    };
    if !["payment", "setup", "subscription"].contains(&mode.as_str()) {
        return invalid(
            "mode",
            "Invalid mode: must be one of payment, setup, or subscription",
        );
    }
    if mode == "payment" {
        return invalid(
            "mode",
            "The stand-in supports only `setup` and `subscription` mode.",
        );
    }
    if !params.contains_key("success_url") {
        return missing("success_url");
    }
    if let Err(reply) = check_customer(inner, params) {
        return reply;
    }
    let session_id = id("cs_test_", 58);
    let mut amount = None;
    if mode == "subscription" {
        let Some(price) = params.get("line_items[0][price]") else {
            return missing("line_items[0][price]");
        };
        let Some(unit_amount) = inner.prices.get(price).map(|p| p.unit_amount) else {
            return no_such(400, "price", price, "line_items[0][price]");
        };
        let Some(quantity) = params.get("line_items[0][quantity]") else {
            return missing("line_items[0][quantity]");
        };
        let parsed = quantity
            .parse::<u64>()
            .ok()
            .filter(|q| (1..=999_999).contains(q));
        let Some(quantity) = parsed else {
            let message = format!("Invalid integer: {quantity}");
            return invalid("line_items[0][quantity]", &message);
        };
        amount = i64::try_from(quantity)
            .ok()
            .map(|q| unit_amount.saturating_mul(q));
        let metadata = objects::nested(params, "subscription_data[metadata]").into();
        let purchase = Purchase {
            price: price.clone(),
            quantity,
            metadata,
        };
        inner.purchases.insert(session_id.clone(), purchase);
    } else if !params.contains_key("currency")
        && objects::array(params, "payment_method_types").is_empty()
    {
        return missing("currency");
    }
    let session = objects::checkout_session(&session_id, &inner.url, params, amount, now());
    ok(store(inner, session))
}

fn create_setup_intent(inner: &mut Inner, params: &Params) -> Reply {
    if let Err(reply) = check_customer(inner, params) {
        return reply;
    }
    if let Some(usage) = params
        .get("usage")
        .filter(|u| *u != "on_session" && *u != "off_session")
    {
        return invalid(
            "usage",
            &format!("Invalid usage: must be one of off_session or on_session (got {usage})"),
        );
    }
    ok(store(
        inner,
        objects::setup_intent(&id("seti_", 24), params, now()),
    ))
}
