//! A Salesforce org as an import target, over its REST API: the object's
//! description (to check a mapping before any write), sObject Collections
//! (up to 200 records a call) for small runs, Bulk API 2.0 jobs for large
//! ones, SOQL queries, and the SOAP API's `undelete()` for rollbacks.
//!
//! Every call carries the connection's access token. A call answered
//! `401 INVALID_SESSION_ID` renews the token and is sent again. Renewing
//! is either the client's own refresh grant, whose result is handed back
//! ([`Salesforce::renewed_access_token`]) for the caller to keep, or a
//! [`Renewal`] the caller gives ([`Salesforce::with_renewal`]): the API and
//! the worker renew under a lock on the connection's stored tokens, so that
//! of two renewers at once the second reuses the first one's tokens (with
//! refresh token rotation, a second refresh with the same token would be
//! refused and end the session). A refresh answer's new refresh token and
//! `instance_url` are kept: calls go to the instance the org is on.
//!
//! A `403` with `insufficient_scope` is not an expired session: the
//! connection lacks a scope, and renewing would not help.
//! Calls are counted ([`Salesforce::api_calls`]), every try of a call
//! sent again included, as they count against the org's daily API limit.
//!
//! A call refused for a passing reason (maintenance, overload, the
//! concurrent request limit, a locked row) is sent again with a growing
//! wait, a bounded number of times ([`Backoff`]); `retry.rs` says which
//! calls are, and when.
//!
//! Every URL comes from the connection (its `instance_url`) and the
//! deployment's settings (the login URL): nothing is compiled in.

mod bulk;
mod bulk_match;
mod collections;
pub mod decimal;
mod describe;
mod lookup;
mod query;
mod redact;
mod renewal;
mod retry;
mod soap;
mod writer;

pub use bulk::batch::{BulkBatch, MAX_UPLOAD};
pub use bulk::{BulkOutcome, BulkRow, Polling};
pub use collections::{field_value, Operation, SaveError, SaveResult, MAX_RECORDS};
pub use describe::{Describe, Field, ObjectSummary, RelatedKey};
pub use lookup::{LookupError, Lookups};
pub use query::literal;
use redact::without_url;
pub use redact::without_values;
use renewal::Renewer;
pub use renewal::{refresh_grant, renew_stored, Grant, Refresh, Renewal, Renewed};
pub use retry::Backoff;
pub use writer::targets::writer_targets;
pub use writer::{BeforeImages, Prepared, Saved, Writer, Written};

use std::sync::atomic::{AtomicU64, Ordering};
use zeroize::Zeroizing;

/// The REST API version the client speaks.
pub const API_VERSION: &str = "62.0";

/// Why a call to Salesforce failed.
#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    /// The tokens no longer work and could not be refreshed: the org must
    /// be connected again.
    #[error("Salesforce no longer accepts this connection's tokens: connect the org again")]
    Reconnect,
    /// The connection's token was not granted the scope the call needs
    /// (`403 insufficient_scope`): connecting again, granting API access,
    /// is the cure; renewing is not.
    #[error("Salesforce refused the call: the connection was not granted API access (the api scope); connect the org again and allow access")]
    MissingScope,
    /// The org's 24-hour API request limit is used up
    /// (`REQUEST_LIMIT_EXCEEDED`, "TotalRequests Limit exceeded.").
    #[error(
        "the Salesforce org's 24-hour API request limit is used up ({0}): \
         calls work again as the org's allocation frees up"
    )]
    LimitExceeded(String),
    /// Too many long-running requests run at once in the org
    /// (`REQUEST_LIMIT_EXCEEDED`, "ConcurrentPerOrgLongTxn Limit
    /// exceeded."), still after `tries` tries.
    #[error(
        "too many long-running requests run at once in the Salesforce org (its concurrent \
         request limit), still after {tries} tries: try again when the org is less busy"
    )]
    ConcurrentLimit { tries: u32 },
    /// Salesforce refused the call for a passing reason, still after
    /// `tries` tries.
    #[error("Salesforce is unavailable: {reason}, still after {tries} tries")]
    Unavailable { reason: &'static str, tries: u32 },
    /// Salesforce refused the request as a whole. The message is Salesforce's
    /// without what could quote a record's values ([`without_values`]):
    /// such an error can end a run, and its message go to an event.
    #[error("Salesforce refused the request ({code}): {message}")]
    Refused { code: String, message: String },
    /// Salesforce could not be reached, or answered something unreadable.
    #[error("Salesforce could not be reached: {0}")]
    Unreachable(String),
}

/// A connected org.
pub struct Salesforce {
    http: reqwest::Client,
    /// The instance the client was made for: URLs built before a move
    /// start with it.
    first_instance: String,
    instance_url: std::sync::RwLock<String>,
    access_token: tokio::sync::RwLock<Zeroizing<String>>,
    renewer: Option<Renewer>,
    renewed: std::sync::Mutex<Option<Zeroizing<String>>>,
    calls: AtomicU64,
    backoff: Backoff,
}

/// One error of Salesforce's error bodies: `[{"errorCode", "message"}]`.
#[derive(serde::Deserialize)]
struct ApiError {
    #[serde(rename = "errorCode", default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

/// The connected app a connection's access token is renewed with.
pub struct App<'a> {
    /// The login URL for connections that do not name the one they were
    /// made through.
    pub login_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

impl Salesforce {
    /// A client of a connected org, from its connection's params
    /// (`instance_url`, and the `login_url` it was connected through) and
    /// tokens (whose `instance_url`, if they have one, is where the org is
    /// now); without `app`, or a refresh token, an expired access token is
    /// not renewed. `None` when the params name no instance.
    pub fn of_connection(
        http: reqwest::Client,
        params: &serde_json::Value,
        tokens: &crate::tokens::ProviderTokens,
        app: Option<App<'_>>,
    ) -> Option<Self> {
        let instance_url = tokens
            .instance_url
            .as_deref()
            .or_else(|| params["instance_url"].as_str())?;
        let refresh = match (app, &tokens.refresh_token) {
            (Some(app), Some(refresh_token)) => Some(Refresh {
                login_url: params["login_url"]
                    .as_str()
                    .filter(|url| !url.is_empty())
                    .unwrap_or(app.login_url)
                    .to_owned(),
                client_id: app.client_id.to_owned(),
                client_secret: Zeroizing::new(app.client_secret.to_owned()),
                refresh_token: Zeroizing::new(refresh_token.clone()),
            }),
            _ => None,
        };
        Some(Self::new(
            http,
            instance_url,
            Zeroizing::new(tokens.access_token.clone()),
            refresh,
        ))
    }

    pub fn new(
        http: reqwest::Client,
        instance_url: &str,
        access_token: Zeroizing<String>,
        refresh: Option<Refresh>,
    ) -> Self {
        let instance_url = instance_url.trim_end_matches('/').to_owned();
        Self {
            http,
            first_instance: instance_url.clone(),
            instance_url: std::sync::RwLock::new(instance_url),
            access_token: tokio::sync::RwLock::new(access_token),
            renewer: refresh.map(|r| Renewer::Own(tokio::sync::Mutex::new(r))),
            renewed: std::sync::Mutex::new(None),
            calls: AtomicU64::new(0),
            backoff: Backoff::default(),
        }
    }

    /// Renews an expired access token with `renewal` instead of the
    /// client's own refresh grant.
    pub fn with_renewal(mut self, renewal: Box<dyn Renewal>) -> Self {
        self.renewer = Some(Renewer::Given(renewal));
        self
    }

    /// The instance the org is on now.
    pub fn instance(&self) -> String {
        self.instance_url
            .read()
            .map(|url| url.clone())
            .unwrap_or_else(|_| self.first_instance.clone())
    }

    /// The refresh token the client's own renewal holds now (a rotated
    /// one after a renewal, when the connected app rotates them).
    pub async fn refresh_token(&self) -> Option<Zeroizing<String>> {
        match &self.renewer {
            Some(Renewer::Own(refresh)) => Some(refresh.lock().await.refresh_token.clone()),
            _ => None,
        }
    }

    /// Checks that the connection works for data calls: reads the org's
    /// API limits (the REST API's Limits resource), renewing an expired
    /// access token on the way.
    pub async fn check_access(&self) -> Result<(), SalesforceError> {
        let url = self.url("/limits");
        self.send(|http| http.get(&url)).await.map(|_| ())
    }

    /// The client with another way of trying calls again (tests wait
    /// milliseconds, not seconds).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How calls refused for a passing reason are tried again.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// API calls made so far.
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The access token the client renewed, if it did: the caller keeps it
    /// (sealed) in place of the old one.
    pub fn renewed_access_token(&self) -> Option<Zeroizing<String>> {
        self.renewed
            .lock()
            .map(|renewed| renewed.clone())
            .unwrap_or_default()
    }

    /// The URL of a data API resource (`path` after `/services/data/vXX.X`).
    fn url(&self, path: &str) -> String {
        format!("{}/services/data/v{API_VERSION}{path}", self.instance())
    }

    /// Sends a request built by `build` with the access token; refreshes
    /// the token once on `401 INVALID_SESSION_ID`, and sends it again after
    /// a passing failure (see `retry.rs`): a `GET` also after a proxy's
    /// `502`/`504`, any other method only when Salesforce refused it before
    /// doing anything. The answer, if it is a success; Salesforce's error
    /// otherwise.
    async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SalesforceError> {
        self.send_as(None, build)
            .await
            .map(|(response, _)| response)
    }

    /// [`Salesforce::send`] for a call that is harmless to repeat even
    /// after it may have been carried out (an update or delete by `Id`, an
    /// upsert by external id): also whether it was sent again after a
    /// try whose outcome is unknown.
    async fn send_repeatable(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, bool), SalesforceError> {
        self.send_as(Some(retry::Repeat::Always), build).await
    }

    async fn send_as(
        &self,
        repeat: Option<retry::Repeat>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, bool), SalesforceError> {
        // A renewal may hand back a token another renewer got a moment
        // before, which can itself have expired since: a second renewal
        // then refreshes.
        let mut renewals = 0;
        let mut tries = 0;
        let mut in_doubt = false;
        loop {
            let token = self.access_token.read().await.clone();
            let mut request = build(&self.http)
                .bearer_auth(token.as_str())
                .build()
                .map_err(|e| SalesforceError::Unreachable(without_url(e)))?;
            self.rebase(request.url_mut());
            let repeat = repeat.unwrap_or(if request.method() == reqwest::Method::GET {
                retry::Repeat::Always
            } else {
                retry::Repeat::Refused
            });
            self.count_call();
            let passing = match self.http.execute(request).await {
                Err(e) => {
                    let passing = retry::Passing::of_transport(&e);
                    (passing, without_url(e))
                }
                Ok(response) if response.status().is_success() => return Ok((response, in_doubt)),
                Ok(response) => {
                    let status = response.status();
                    let challenge = response
                        .headers()
                        .get(reqwest::header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body = response.text().await.unwrap_or_default();
                    if status == reqwest::StatusCode::FORBIDDEN
                        && (challenge.contains("insufficient_scope")
                            || body.contains("insufficient_scope"))
                    {
                        return Err(SalesforceError::MissingScope);
                    }
                    let error = serde_json::from_str::<Vec<ApiError>>(&body)
                        .ok()
                        .and_then(|errors| errors.into_iter().next())
                        .unwrap_or(ApiError {
                            error_code: format!("HTTP {}", status.as_u16()),
                            message: String::new(),
                        });
                    let code = error.error_code.as_str();
                    match retry::Passing::of_answer(status.as_u16(), code, &error.message) {
                        Some(passing) => (passing, format!("Salesforce answered {status}")),
                        None => match code {
                            "INVALID_SESSION_ID" if renewals < 2 => {
                                self.renew(&token).await?;
                                renewals += 1;
                                continue;
                            }
                            "INVALID_SESSION_ID" => return Err(SalesforceError::Reconnect),
                            "REQUEST_LIMIT_EXCEEDED" => {
                                return Err(SalesforceError::LimitExceeded(error.message))
                            }
                            _ => {
                                return Err(SalesforceError::Refused {
                                    message: without_values(code, &error.message),
                                    code: error.error_code,
                                })
                            }
                        },
                    }
                }
            };
            let (passing, detail) = passing;
            tries += 1;
            if !passing.repeats(repeat) {
                let detail = format!(
                    "{detail}, after the request was sent: it may or may not have been \
                     carried out"
                );
                return Err(passing.error(tries, detail));
            }
            if tries >= self.backoff.tries {
                return Err(passing.error(tries, detail));
            }
            in_doubt |= passing == retry::Passing::InDoubt;
            tokio::time::sleep(self.backoff.delay(tries)).await;
        }
    }

    /// A URL built for the instance the client was made for, pointed at
    /// the one the org moved to since.
    fn rebase(&self, url: &mut reqwest::Url) {
        let now = self.instance();
        if now == self.first_instance {
            return;
        }
        let Some(rest) = url.as_str().strip_prefix(&self.first_instance) else {
            return;
        };
        if let Ok(moved) = reqwest::Url::parse(&format!("{now}{rest}")) {
            *url = moved;
        }
    }

    /// Reads a JSON answer.
    async fn json<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, SalesforceError> {
        response
            .json()
            .await
            .map_err(|e| SalesforceError::Unreachable(format!("an unreadable answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn request_errors_keep_no_values() {
        assert_eq!(
            without_values("MALFORMED_QUERY", "\nSELECT Id FROM Contact WHERE Email IN ('ada@example.com')\n      ^\nERROR at Row:1:Column:41\nunexpected token: 'ada@example.com'"),
            "unexpected token: '…'"
        );
        assert_eq!(
            without_values(
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of date from VALUE_STRING value 28.02.1815"
            ),
            "a value in the request does not fit its field's type"
        );
        assert_eq!(
            without_values(
                "INVALID_FIELD",
                "No such column 'Shoe__c' on sobject of type Contact"
            ),
            "No such column '…' on sobject of type Contact"
        );
        assert_eq!(without_values("X", "an \"open quote"), "an \"…");
    }
}
