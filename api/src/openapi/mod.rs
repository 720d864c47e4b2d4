//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the HTTP API, made
//! from the code that serves it.
//!
//! How the document stays complete: [`endpoints!`] below lists every
//! handler of the API once, and that one list does both jobs. It registers
//! the handlers with actix-web ([`register`]: the whole of `routes` in
//! `lib.rs`) and it makes the document's paths ([`document`]). A handler's
//! method and path are written once, in its actix-web route attribute
//! (`#[get("/v1/me")]`), and `#[utoipa::path]` on the same handler reads
//! them from there, so the router and the document cannot place an
//! endpoint differently. A handler without `#[utoipa::path]` cannot be put
//! in the list (it does not compile), and one left out of the list is not
//! served at all. `tests/it/openapi.rs` checks the rest against a running
//! server: every documented operation is routed by its own pattern (none
//! falls through to the router's 404) and answers a status it documents,
//! no method the document leaves out is served on a documented path, and
//! the README's table of endpoints lists exactly the documented ones (so a
//! route registered around this list, in `lib.rs`, fails the test once it
//! is written down).
//!
//! The web pages (`pages::routes`) are HTML for browsers, not part of the
//! API, and are not in the document.

mod errors;

pub use errors::{
    Authenticated, ErrorBody, ErrorCode, ErrorDetail, Failures, JsonBody, OperatorOnly,
};

use crate::error::ApiError;
use crate::routes::jobs::{failures, previews, runs, trials};
use crate::routes::{
    account_erasure, account_export, account_settings, accounts, api_tokens, billing, connections,
    dead_letters, dropbox_upload, health, jobs, mapping_templates, mappings, probes,
    provider_connect, salesforce_login, sessions, stripe_webhook, targets, uploads, users,
};
use actix_web::web;
use std::sync::LazyLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// Lists the API's handlers once: from the list come [`register`], which
/// serves them, and `Paths`, whose document holds their operations.
macro_rules! endpoints {
    ($($($segment:ident)::+),+ $(,)?) => {
        /// Registers every handler of the API, each at the method and path
        /// of its route attribute.
        pub(crate) fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.service($($segment)::+);)+
        }

        /// The operations of every handler of the API.
        #[derive(OpenApi)]
        #[openapi(paths($($($segment)::+),+))]
        struct Paths;
    };
}

endpoints![
    health::healthz,
    health::readyz,
    health::metrics,
    health::openapi,
    probes::create,
    probes::show,
    dead_letters::list,
    account_settings::change_plan,
    account_erasure::erase,
    account_export::export,
    account_settings::show,
    account_settings::change,
    billing::show,
    billing::checkout,
    billing::portal,
    stripe_webhook::receive,
    accounts::signup,
    salesforce_login::start,
    salesforce_login::callback,
    salesforce_login::identity,
    sessions::login,
    sessions::logout,
    accounts::me,
    api_tokens::create,
    api_tokens::list,
    api_tokens::delete,
    provider_connect::start_salesforce,
    provider_connect::callback_salesforce,
    provider_connect::start_dropbox,
    provider_connect::callback_dropbox,
    connections::postgres::create,
    connections::list,
    connections::show,
    connections::disconnect,
    connections::test,
    targets::list_objects,
    targets::list_fields,
    jobs::create,
    jobs::list,
    jobs::show,
    jobs::update,
    jobs::delete,
    mappings::suggest,
    mappings::check_formula,
    mapping_templates::create,
    mapping_templates::list,
    mapping_templates::show,
    mapping_templates::remove,
    previews::preview,
    runs::start,
    runs::list,
    runs::show,
    runs::success_file,
    runs::skipped_file,
    runs::errors_file,
    failures::list,
    runs::rollback,
    trials::retry,
    uploads::create,
    dropbox_upload::create,
    uploads::show,
    uploads::delete,
    users::create,
    users::list,
    users::change_role,
    users::remove,
];

/// What the document says besides its operations: the API itself, its
/// security schemes and the schemas every error shares.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice",
        description = "A self-hostable, security-first data import service: CSV and Excel \
                       files and queries into PostgreSQL and Salesforce, audited and reversible.\n\n\
                       JSON in and out. Every error, 4xx or 5xx, is `{\"error\": {\"code\", \
                       \"message\", \"field\"?, \"request_id\"?}}`; every response carries the \
                       request's id in `x-request-id`.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode))
)]
struct Api;

/// The security schemes the operations name: `bearer` (sessions and API
/// tokens), `session` (the web pages' cookie), `operator` (the operator
/// token of `/v1/ops/*`) and `stripe_signature` (Stripe's webhooks).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("sluice_<region>_…")
            .description(Some(
                "A session token (`POST /v1/login`) or an API token (`POST /v1/api-tokens`): \
                 `Authorization: Bearer sluice_<region>_…`. A token of another region is \
                 refused with 401 `wrong_region`.",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::cookie::SESSION_COOKIE.to_owned(),
                format!(
                    "The web pages' session cookie. A request that changes anything (any \
                     method but GET, HEAD and OPTIONS) must also carry the session's CSRF token \
                     in `{}`, or it is refused with 403.",
                    crate::auth::cookie::CSRF_HEADER
                ),
            ))),
        );
        let operator = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The operator token, `SLUICE_OPS_TOKEN`: `Authorization: Bearer <token>`. \
                 Without one configured, the operator endpoints answer 404.",
            ))
            .build();
        components.add_security_scheme("operator", SecurityScheme::Http(operator));
        components.add_security_scheme(
            "stripe_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Stripe-Signature",
                "Stripe's signature of the body, under the webhook endpoint's signing secret \
                 (`SLUICE_STRIPE_WEBHOOK_SECRET`); older than 5 minutes is refused.",
            ))),
        );
    }
}

/// Operation ids unique across the API: the handler's module and name
/// (`jobs_create`, `uploads_create`), from the tag utoipa gives each
/// operation (its module) and the id it gives (its function). And from the
/// handler's doc comment, which utoipa gives as it is written, a summary
/// of its first sentence and the whole of it as the description.
struct Operations;

impl Modify for Operations {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let module = operation
                    .tags
                    .as_ref()
                    .and_then(|tags| tags.first())
                    .cloned()
                    .unwrap_or_default();
                if let Some(id) = operation.operation_id.as_mut() {
                    *id = format!("{module}_{id}");
                }
                let written = [operation.summary.take(), operation.description.take()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("\n\n");
                let mut text = written
                    .split("\n\n")
                    .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
                // "`PATCH /v1/jobs/{id}`: the job as changed": the path is
                // the operation's already.
                if let Some(rest) = text
                    .strip_prefix('`')
                    .and_then(|rest| rest.split_once("`: "))
                    .filter(|(named, _)| named.contains(" /"))
                    .map(|(_, rest)| rest)
                {
                    let mut chars = rest.chars();
                    text = chars
                        .next()
                        .map(|first| first.to_uppercase().chain(chars).collect())
                        .unwrap_or_default();
                }
                let summary = text
                    .split_once(". ")
                    .map_or(text.as_str(), |(first, _)| first)
                    .trim_end_matches('.');
                if !summary.is_empty() {
                    operation.summary = Some(summary.to_owned());
                }
                if text.trim_end_matches('.') != summary {
                    operation.description = Some(text.clone());
                }
            }
        }
    }
}

/// The 403 of the session cookie's CSRF check, on every operation that
/// changes something and takes the cookie (see `auth::cookie`): added, or
/// told in the operation's own 403.
struct Csrf;

impl Modify for Csrf {
    fn modify(&self, openapi: &mut Document) {
        let refused = format!(
            "sent with the session cookie but without its `{}`",
            crate::auth::cookie::CSRF_HEADER
        );
        for item in openapi.paths.paths.values_mut() {
            let changes = [
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for operation in changes.into_iter().flatten() {
                let cookie = operation.security.iter().flatten().any(|requirement| {
                    serde_json::to_value(requirement).is_ok_and(|r| r.get("session").is_some())
                });
                if !cookie {
                    continue;
                }
                let responses = &mut operation.responses.responses;
                match responses.get_mut("403") {
                    Some(RefOr::T(own)) => {
                        own.description =
                            format!("{} Also `forbidden`: {refused}.", own.description);
                    }
                    _ => {
                        let response = ResponseBuilder::new()
                            .description(format!("`forbidden`: {refused}."))
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build();
                        responses.insert("403".into(), RefOr::T(response));
                    }
                }
            }
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The whole document.
pub fn document() -> Document {
    let mut api = Api::openapi();
    api.merge(Paths::openapi());
    Security.modify(&mut api);
    Operations.modify(&mut api);
    Csrf.modify(&mut api);
    api
}

/// The document as JSON, made once.
pub fn json() -> Result<&'static str, ApiError> {
    static JSON: LazyLock<Result<String, String>> =
        LazyLock::new(|| document().to_json().map_err(|e| e.to_string()));
    JSON.as_deref()
        .map_err(|e| ApiError::Internal(format!("the OpenAPI document: {e}")))
}

/// The methods the document gives the path of `path` (with `{...}`
/// segments matching any one segment), upper case and sorted; empty for a
/// path it does not have.
pub fn methods_of(path: &str) -> Vec<&'static str> {
    static PATHS: LazyLock<Vec<(Vec<String>, Vec<&'static str>)>> = LazyLock::new(|| {
        document()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let methods = [
                    (item.get.is_some(), "GET"),
                    (item.post.is_some(), "POST"),
                    (item.put.is_some(), "PUT"),
                    (item.patch.is_some(), "PATCH"),
                    (item.delete.is_some(), "DELETE"),
                ]
                .into_iter()
                .filter_map(|(has, method)| has.then_some(method))
                .collect();
                (template.split('/').map(str::to_owned).collect(), methods)
            })
            .collect()
    });
    let segments: Vec<&str> = path.split('/').collect();
    let mut methods: Vec<&'static str> = PATHS
        .iter()
        .filter(|(template, _)| {
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
        })
        .flat_map(|(_, methods)| methods.iter().copied())
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}
