//! Billing through Stripe: the deployment's Stripe account, its prices for
//! the paid plans, the API client (`async-stripe`, its base URL from
//! configuration so that tests reach a local stand-in), and the check of
//! the signatures Stripe puts on webhooks.
//!
//! Stripe holds the card; Sluice keeps the customer's id, the
//! subscription's state and a card summary (brand, last 4, expiry month
//! and year), sealed under the account's subject key.

pub mod signature;

use secrecy::{ExposeSecret, SecretString};
use sluice_schema::kinds::Plan;
use stripe::{Client, StripeError};

/// The deployment's Stripe account and the prices its plans are sold at.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// Stripe's API (`https://api.stripe.com`), or a stand-in.
    pub api_url: String,
    /// The secret API key (`sk_live_…`).
    pub secret_key: SecretString,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: SecretString,
    /// The Price (`price_…`) of the Pro plan's monthly subscription.
    pub price_pro: String,
    /// The Price of the Enterprise plan's.
    pub price_enterprise: String,
}

impl BillingConfig {
    /// A client for Stripe's API. It sends each request once: a request
    /// that creates something carries an idempotency key of its own.
    pub fn client(&self) -> Result<Client, StripeError> {
        // Two rustls crypto providers are linked in (ring, and aws-lc-rs
        // through the AMQP client), so rustls cannot choose one by itself;
        // the Stripe client's TLS asks for the process's default. Ring it is,
        // as elsewhere; an error means one was installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The client appends `v1/...` to the base as it is.
        let base = format!("{}/", self.api_url.trim_end_matches('/'));
        stripe::ClientBuilder::new(self.secret_key.expose_secret())
            .url(base)
            .timeout(std::time::Duration::from_secs(30))
            .build()
    }

    /// The price a paid plan is sold at.
    pub fn price_of(&self, plan: Plan) -> Option<&str> {
        match plan {
            Plan::Pro => Some(&self.price_pro),
            Plan::Enterprise => Some(&self.price_enterprise),
            Plan::Free => None,
        }
    }

    /// The plan a price sells, if it is one of the plans'.
    pub fn plan_of(&self, price: &str) -> Option<Plan> {
        if price == self.price_pro {
            Some(Plan::Pro)
        } else if price == self.price_enterprise {
            Some(Plan::Enterprise)
        } else {
            None
        }
    }
}

/// What a Stripe failure tells the caller and the log: its type and code,
/// never Stripe's message (it may quote what was sent) nor the key.
pub fn describe(e: &StripeError) -> String {
    match e {
        StripeError::Stripe(error, status) => {
            let code = error
                .code
                .as_ref()
                .map(|c| format!(", {}", c.as_str()))
                .unwrap_or_default();
            format!("Stripe answered {status} ({}{code})", error.type_.as_str())
        }
        StripeError::ClientError(_) | StripeError::Timeout => "Stripe cannot be reached".into(),
        StripeError::JSONDeserialize(_) => "Stripe's answer could not be read".into(),
        StripeError::ConfigError(_) => "the Stripe client is misconfigured".into(),
    }
}
