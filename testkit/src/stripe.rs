//! A stand-in for the Stripe API and Stripe's webhook sender, speaking the
//! documented protocol:
//!
//! * Requests are form-encoded with bracketed keys (`metadata[plan]=pro`,
//!   `line_items[0][price]=...`), authenticated by `Authorization: Bearer
//!   <secret key>` or HTTP basic with the key as user name. Every answer is
//!   JSON with a `Request-Id: req_...` header; errors are `{"error": {"type",
//!   "code", "message", "param"}}` (401 for a bad key with the key masked to
//!   its last four characters, 400 `parameter_missing` / `resource_missing`,
//!   404 for unknown ids and URLs, 429 `rate_limit` when switched on).
//! * `Idempotency-Key` on a POST replays the stored answer of the same key
//!   with the same parameters (with `Idempotent-Replayed: true`) and answers
//!   400 `idempotency_error` for other parameters; keys are per secret key,
//!   and only successful answers are stored, as Stripe does.
//! * `POST /v1/customers`, `/v1/checkout/sessions` (modes `subscription` and
//!   `setup`), `/v1/setup_intents`, and `GET /v1/<collection>/<id>` for every
//!   object the stand-in holds.
//!
//! It also plays the customer and sends Stripe's webhook events, signed as
//! Stripe signs them (see the `webhooks` submodule). A webhook endpoint can
//! be pinned to an older API version ([`StripeStandIn::pin_webhook_api_version`]):
//! its events then render objects as that version did. Followed: Stripe's
//! API changelog for 2020-08-27 ("Removed `plan` and `quantity` from
//! Subscription, use `items` instead") and the Subscription object's
//! `plan` field, and the Prices API's introduction: before it, an item
//! names its `plan` only, and a subscription its single `plan` and
//! `quantity` at the top level.
#![expect(
    clippy::expect_used,
    reason = "test support: a failed set-up or test step must stop the test"
)]

mod api;
mod objects;
mod webhooks;

pub use webhooks::{event, event_at, sign, Card, Completed, Delivery};

use crate::standin::Server;
use actix_web::web;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The secret key the stand-in accepts.
pub const SECRET_KEY: &str = "sk_test_standin_51QxStandInKey0123456789";
/// The signing secret of the webhook endpoint.
pub const WEBHOOK_SECRET: &str = "whsec_standin_current_5c2b8d3f0a9e4c7b";
/// The endpoint's previous signing secret, for tests of a secret roll.
pub const OLD_WEBHOOK_SECRET: &str = "whsec_standin_previous_8e1f6a2d7c4b9e03";
/// The API version events and objects are rendered in (async-stripe's own).
pub const API_VERSION: &str = "2026-09-30.endive";

type Params = BTreeMap<String, String>;
type Shared = Arc<Mutex<Inner>>;

/// An API call received, as the tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The form parameters (the query for a GET), keys as sent: `metadata[plan]`.
    pub params: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
}

struct Price {
    unit_amount: i64,
    product: String,
    created: i64,
}

/// What a subscription session sells: price, quantity, subscription metadata.
struct Purchase {
    price: String,
    quantity: u64,
    metadata: Value,
}

struct Stored {
    method: String,
    path: String,
    params: Params,
    status: u16,
    body: Value,
}

#[derive(Default)]
struct Inner {
    url: String,
    prices: HashMap<String, Price>,
    /// Every object by id: customers, sessions, payment methods, ...
    objects: HashMap<String, Value>,
    purchases: HashMap<String, Purchase>,
    /// Stored answers by (secret key, idempotency key).
    idempotent: HashMap<(String, String), Stored>,
    calls: Vec<Call>,
    rate_limited: bool,
    webhook: Option<String>,
    extra_secrets: Vec<String>,
    deliveries: Vec<Delivery>,
    /// The API version the webhook endpoint is pinned to, when not [`API_VERSION`].
    webhook_api_version: Option<String>,
}

/// The Stripe stand-in: the API at `url`, and the customer and webhook
/// sender driven by the test.
pub struct StripeStandIn {
    pub url: String,
    inner: Shared,
    client: reqwest::Client,
    _server: Server,
}

impl StripeStandIn {
    /// Starts a stand-in that sells `prices`: (id, monthly amount in euro cents).
    pub async fn start(prices: &[(&str, i64)]) -> Self {
        let created = now();
        let prices = prices
            .iter()
            .map(|&(price, unit_amount)| {
                let product = id("prod_", 14);
                (
                    price.to_owned(),
                    Price {
                        unit_amount,
                        product,
                        created,
                    },
                )
            })
            .collect();
        let inner: Shared = Arc::new(Mutex::new(Inner {
            prices,
            ..Inner::default()
        }));
        let data = web::Data::new(inner.clone());
        let server = Server::start(move |cfg| {
            cfg.app_data(data.clone())
                .route("/pay/{id}", web::get().to(api::pay))
                .default_service(web::to(api::api));
        });
        lock(&inner).url.clone_from(&server.url);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("webhook client");
        Self {
            url: server.url.clone(),
            inner,
            client,
            _server: server,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Answers every API call with 429 `rate_limit` while `on`.
    pub fn rate_limit(&self, on: bool) {
        self.inner().rate_limited = on;
    }

    /// The API calls received, in order (rejected ones included).
    pub fn calls(&self) -> Vec<Call> {
        self.inner().calls.clone()
    }

    /// An object the stand-in holds (customer, session, subscription, ...).
    pub fn object(&self, id: &str) -> Option<Value> {
        self.inner().objects.get(id).cloned()
    }

    /// Where webhook events go: the service's `/v1/webhooks/stripe`.
    pub fn set_webhook(&self, url: &str) {
        self.inner().webhook = Some(url.to_owned());
    }

    /// Secrets that also sign deliveries (one `v1=` each), after
    /// [`WEBHOOK_SECRET`]'s, as during a roll of the endpoint's secret.
    pub fn extra_signing_secrets(&self, secrets: &[&str]) {
        self.inner().extra_secrets = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Sluice's billing settings for this stand-in, selling the Pro and
    /// Enterprise plans at these prices (ones [`Self::start`] was given).
    pub fn billing_config(
        &self,
        pro: &str,
        enterprise: &str,
    ) -> sluice_api::billing::BillingConfig {
        sluice_api::billing::BillingConfig {
            api_url: self.url.clone(),
            secret_key: secrecy::SecretString::from(SECRET_KEY.to_owned()),
            webhook_secret: secrecy::SecretString::from(WEBHOOK_SECRET.to_owned()),
            price_pro: pro.to_owned(),
            price_enterprise: enterprise.to_owned(),
        }
    }

    /// Pins the webhook endpoint to API `version` (a date such as
    /// `2019-12-03`): events are rendered as that version renders them.
    /// Before Prices (any version before 2020-08-27 here), a subscription's
    /// items carry `plan` and no `price`, and the subscription itself its
    /// `plan` and `quantity`.
    pub fn pin_webhook_api_version(&self, version: &str) {
        self.inner().webhook_api_version = Some(version.to_owned());
    }

    /// The webhook deliveries made, in order, with the service's status.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner().deliveries.clone()
    }
}

fn lock(inner: &Shared) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A Stripe-style id: `prefix` and `len` random alphanumerics.
fn id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let random = (0..len.div_ceil(16)).flat_map(|_| uuid::Uuid::new_v4().into_bytes());
    let chars = random.map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
    format!("{prefix}{}", chars.take(len).collect::<String>())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn store(inner: &mut Inner, object: Value) -> Value {
    let id = object["id"].as_str().unwrap_or_default().to_owned();
    inner.objects.insert(id, object.clone());
    object
}
