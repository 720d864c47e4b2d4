//! A stand-in for Salesforce, speaking its documented protocols on one local
//! server, as an org's instance does: the token endpoint answers
//! `instance_url` = this server, so the data API is served here too.
//!
//! * OAuth 2.0: authorize, token (code with PKCE, refresh),
//!   userinfo, revoke.
//! * REST, any `/services/data/vXX.X`: the Limits resource; describe global and describe an object; sObject
//!   Collections create, update, upsert by external id and delete, 200
//!   records a call; SOQL `query` and `queryAll`, paginated.
//! * Bulk API 2.0 ingest jobs: insert, update, upsert, delete, hardDelete.
//! * SOAP API (partner) `undelete()`, which REST lacks.
//!
//! Every data call needs a live access token and counts against the org's
//! request limit. Records are checked against the object definitions a test
//! declares ([`SalesforceStandIn::define_object`]); deleted records wait in
//! the recycle bin until undeleted. State lives in memory and every answer
//! is deterministic.
//!
//! Numbers, currencies and percents are exact decimals (`decimal.rs`).
//! Lookups may be polymorphic ([`FieldDef::references_any`]): a write that
//! sets one by another record's external id names that record's object
//! (`input.rs` for REST, `bulk_job.rs` for Bulk).
//!
//! Transient failures can be switched on for the next calls
//! ([`SalesforceStandIn::fail_next_calls`]) or records
//! ([`SalesforceStandIn::lock_next_records`]), as `faults.rs` describes.
//!
//! Automation can be switched on ([`SalesforceStandIn::automate`]): records
//! saved are then touched afterwards by a process of the org's own, which
//! sets a field and moves `SystemModstamp` (see `automation.rs`).
//!
//! Bulk results can echo values as Salesforce's field types read them
//! rather than as uploaded ([`SalesforceStandIn::normalise_bulk_echoes`],
//! see `bulk_echo.rs`).

mod automation;
mod bulk;
mod bulk_echo;
mod bulk_info;
mod bulk_job;
mod bulk_results;
mod checks;
mod control;
mod data;
mod decimal;
mod describe;
mod faults;
mod ids;
mod input;
mod limits;
mod oauth;
mod org;
mod query;
mod query_pages;
mod recycle;
mod save;
mod schema;
mod session;
mod soap;
mod soql;
mod soql_tokens;
mod standard;
mod values;

pub use bulk_echo::Echo;
pub use faults::Fault;
pub use org::ApiCallCounts;
pub use schema::{FieldDef, FieldType, ObjectDef};
pub use standard::{account, contact, opportunity, task};

use crate::standin::Server;
use actix_web::dev::Service;
use actix_web::web;
use secrecy::SecretString;
use sluice_api::auth::salesforce::SalesforceConfig;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "3MVG9standin.consumer.key";
pub const CLIENT_SECRET: &str = "standin-consumer-secret-0123456789";

/// Request bodies the data API reads: above the Bulk upload limit, so that
/// the stand-in, not the HTTP layer, answers an oversized upload.
const PAYLOAD_LIMIT: usize = 160 * 1024 * 1024;

pub struct SalesforceStandIn {
    pub url: String,
    inner: oauth::Shared,
    org: org::Shared,
    _server: Server,
}

impl SalesforceStandIn {
    pub async fn start() -> Self {
        let inner: oauth::Shared = Arc::new(Mutex::new(oauth::Inner {
            email_verified: true,
            ..oauth::Inner::default()
        }));
        let org: org::Shared = Arc::default();
        let sessions = web::Data::new(inner.clone());
        let state = web::Data::new(org.clone());
        let server = Server::start(move |cfg| {
            cfg.app_data(sessions.clone())
                .app_data(state.clone())
                .configure(oauth::routes)
                .configure(soap::routes)
                .service(
                    web::scope("/services/data/{version:v\\d+\\.\\d+}")
                        .app_data(web::PayloadConfig::new(PAYLOAD_LIMIT))
                        .configure(data::routes)
                        .configure(query::routes)
                        .configure(limits::routes)
                        .configure(bulk::routes)
                        .default_service(web::to(session::not_found))
                        .wrap_fn(|req, service| {
                            let org = req.app_data::<web::Data<org::Shared>>().cloned();
                            let method = req.method().clone();
                            let fault = org.as_ref().and_then(|org| faults::next(org, &method));
                            let call = match fault.filter(|f| !f.after()) {
                                Some(fault) => Err(req.into_response(fault.response())),
                                None => Ok(service.call(req)),
                            };
                            async move {
                                let mut response = match call {
                                    Ok(call) => call.await?,
                                    Err(refused) => refused,
                                };
                                if let Some(fault) = fault.filter(|f| f.after()) {
                                    response = response.into_response(fault.response());
                                }
                                if let Some(org) = org {
                                    session::add_limit_info(&org, response.headers_mut());
                                }
                                Ok(response)
                            }
                        }),
                );
        });
        Self {
            url: server.url.clone(),
            inner,
            org,
            _server: server,
        }
    }

    pub fn config(&self) -> SalesforceConfig {
        SalesforceConfig {
            login_url: self.url.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET.to_owned()),
        }
    }

    /// The Salesforce user who consents at the next authorization.
    pub fn sign_in_as(&self, email: &str, verified: bool) {
        let mut inner = self.inner.lock().expect("stand-in state");
        inner.email = email.into();
        inner.email_verified = verified;
    }

    /// Whether the user clicks "Deny" on the consent page.
    pub fn deny_consent(&self, deny: bool) {
        self.inner.lock().expect("stand-in state").deny = deny;
    }

    /// Every access token stops working, as when a Salesforce session times
    /// out: data calls answer `INVALID_SESSION_ID` until the client refreshes.
    pub fn expire_access_tokens(&self) {
        self.inner.lock().expect("stand-in state").access.clear();
    }

    /// Refresh token rotation, a connected-app setting: from now on each
    /// refresh answers a new refresh token and the old one is refused with
    /// `invalid_grant` (using it again also ends the session it became).
    pub fn rotate_refresh_tokens(&self, on: bool) {
        self.inner.lock().expect("stand-in state").rotate = on;
    }

    /// Tokens carry the scopes their authorization asked for, and userinfo
    /// (`openid`, `id`, `profile` or `email`) and the data API (`api` or
    /// `full`) answer `403 insufficient_scope` to a token without them.
    pub fn enforce_scopes(&self, on: bool) {
        self.inner.lock().expect("stand-in state").strict_scopes = on;
    }

    /// The connected app's selected OAuth scopes: an authorization is
    /// granted only those of the scopes it asks for.
    pub fn select_app_scopes(&self, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.inner.lock().expect("stand-in state").selected = Some(scopes);
    }

    /// The org moves to the instance at `url`: the token endpoint answers
    /// it as `instance_url`, and data calls to any other instance are
    /// refused as an invalid session. (`http://localhost:<port>` is this
    /// server under another name.)
    pub fn move_instance(&self, url: &str) {
        self.inner.lock().expect("stand-in state").moved_to = Some(url.to_owned());
    }

    /// Token answers leave out `instance_url` (the tokens are issued all
    /// the same), as a gateway in front of the token endpoint may.
    pub fn omit_instance_url(&self, on: bool) {
        self.inner.lock().expect("stand-in state").no_instance_url = on;
    }

    /// The token endpoint takes `delay` to answer each refresh grant.
    pub fn delay_refreshes(&self, delay: std::time::Duration) {
        self.inner.lock().expect("stand-in state").refresh_delay = delay;
    }

    /// Refresh grants received so far, answered or refused.
    pub fn refresh_grants(&self) -> u64 {
        self.inner.lock().expect("stand-in state").refreshes
    }

    /// Tokens revoked at the revoke endpoint, in order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.inner.lock().expect("stand-in state").revoked.clone()
    }

    /// The live refresh tokens.
    pub fn refresh_tokens(&self) -> Vec<String> {
        let inner = self.inner.lock().expect("stand-in state");
        inner.refresh.keys().cloned().collect()
    }

    /// Every access and refresh token issued so far (to look for them elsewhere).
    pub fn issued_tokens(&self) -> Vec<String> {
        let inner = self.inner.lock().expect("stand-in state");
        inner
            .access
            .keys()
            .chain(inner.refresh.keys())
            .cloned()
            .collect()
    }
}
