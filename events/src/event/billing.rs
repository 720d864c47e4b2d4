//! What Stripe told Sluice of an account: its customer, subscription, card and failed payments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sluice_schema::kinds::Plan;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingCustomerCreated {
    /// Stripe's id of the customer (`cus_…`).
    pub customer_id: String,
}

/// What every event taken from a Stripe webhook says of its source: its
/// Sluice event id is derived from the Stripe event's id, so a webhook
/// delivered twice is recorded once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSource {
    /// The Stripe event (`evt_…`).
    pub event_id: String,
    /// Its type, such as `customer.subscription.updated`.
    pub event_type: String,
    /// When Stripe created it: a webhook delivered late does not undo a
    /// newer one.
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSubscriptionChanged {
    pub stripe: StripeSource,
    /// Stripe's id of the subscription (`sub_…`).
    pub subscription_id: String,
    /// Stripe's status of it (`active`, `past_due`, `canceled`…).
    pub status: String,
    /// The plan the account is on from now: the subscription's while it is
    /// active, trialing or past due (Stripe still retries), `free` once it
    /// ended; none when its price is not one of the plans' (left as it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingCardChanged {
    pub stripe: StripeSource,
    /// Sealed: `{brand, last4, exp_month, exp_year}` as JSON, and nothing
    /// else of the card.
    pub card: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingPaymentFailed {
    pub stripe: StripeSource,
    /// Stripe's id of the invoice (`in_…`).
    pub invoice_id: String,
    /// How many times Stripe has tried to collect it.
    pub attempt_count: i64,
}
