//! An org with Account and Contact defined and a session obtained through
//! the stand-in's OAuth endpoints, and requests against its data API.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sluice_testkit::salesforce::{SalesforceStandIn, CLIENT_ID, CLIENT_SECRET};

pub const VERSION: &str = "v62.0";
const CALLBACK: &str = "http://127.0.0.1:9/v1/connections/salesforce/callback";

pub struct Org {
    pub standin: SalesforceStandIn,
    pub http: reqwest::Client,
    pub token: String,
    pub refresh: String,
}

impl Org {
    pub async fn start() -> Self {
        let standin = SalesforceStandIn::start().await;
        standin.sign_in_as("ada@example.com", true);
        standin.define_account_and_contact();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (token, refresh) = authorize(&http, &standin.url).await;
        Self {
            standin,
            http,
            token,
            refresh,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/services/data/{VERSION}{path}", self.standin.url)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// A SOQL query (`query` or `queryAll`), its `q` encoded.
    pub async fn query(&self, endpoint: &str, soql: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(&format!("/{endpoint}")))
            .query(&[("q", soql)])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// `POST /composite/sobjects` with these records.
    pub async fn create(&self, all_or_none: bool, records: Vec<Value>) -> (StatusCode, Value) {
        let body = json!({"allOrNone": all_or_none, "records": records});
        self.call(Method::POST, "/composite/sobjects", Some(body))
            .await
    }

    /// The text of a CSV result (`successfulResults/` and the like).
    pub async fn text(&self, path: &str) -> String {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }
}

/// A contact record as a REST body carries it.
pub fn contact(last_name: &str, external_id: &str) -> Value {
    json!({"attributes": {"type": "Contact"}, "LastName": last_name, "External_Id__c": external_id})
}

/// Consents at the authorization endpoint and redeems the code with its
/// PKCE verifier: the access and refresh tokens.
async fn authorize(http: &reqwest::Client, base: &str) -> (String, String) {
    authorize_for(http, base, "").await
}

/// An access and a refresh token for the signed-in user, from an
/// authorization asking for `scope` (the connected app's scopes if empty).
pub async fn authorize_for(http: &reqwest::Client, base: &str, scope: &str) -> (String, String) {
    let verifier = "a-verifier-of-enough-length-for-pkce-0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let response = http
        .get(format!("{base}/services/oauth2/authorize"))
        .query(&[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", CALLBACK),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "s"),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = http
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["instance_url"], base);
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}
