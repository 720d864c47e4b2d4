//! `GET /v1/billing` (the plan, its limits and this month's use, the card
//! summary), `POST /v1/billing/checkout` (a Stripe Checkout Session that
//! subscribes the account to a paid plan) and `POST /v1/billing/portal`
//! (Stripe's customer portal, to change the card or the plan, or cancel).
//! What Stripe then does reaches Sluice by webhook
//! ([`super::stripe_webhook`]); the plan changes only when it does.

use crate::auth::{AccountAdmin, AuthUser, ManageBilling};
use crate::billing::{describe, BillingConfig};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::{invalid, subject_key};
use crate::views::account as view;
use crate::AppState;
use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use sluice_events::event::BillingCustomerCreated;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use sluice_schema::ids::AccountId;
use sluice_schema::kinds::Plan;
use sluice_schema::models::{AccountRow, BillingRow};
use sluice_schema::plans::{self, Limits};
use sluice_schema::repo::{accounts, billing as repo};
use sluice_vault::Aad;
use std::collections::HashMap;
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use utoipa::ToSchema;

/// Subscription states in which the account has its plan: Stripe still
/// retries a past-due invoice before it ends the subscription.
pub const LIVE: &[&str] = &["active", "trialing", "past_due"];

/// Where the sealed card summary is bound: the account's billing row.
pub fn card_aad(account: AccountId) -> Aad {
    Aad::new(account, "billing", account, "card")
}

/// The account, its billing and what its plan allows.
pub async fn plan(
    state: &AppState,
    account: AccountId,
) -> Result<(AccountRow, Option<BillingRow>, Limits), ApiError> {
    let (row, billing) = state
        .db(move |conn| {
            let row = accounts::find_account(conn, account)?.ok_or(ApiError::NotFound)?;
            Ok((row, repo::find(conn, account)?))
        })
        .await?;
    let limits = Limits::of(row.plan, state.billing.is_some());
    Ok((row, billing, limits))
}

/// The account's plan, its limits and this month's use, and the card's
/// summary.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The billing.", body = view::Billing))
)]
#[get("/v1/billing")]
pub async fn show(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = user.account_id;
    let (row, billing, limits) = plan(&state, account).await?;
    let now = state.platform.clock.now();
    let since = plans::month_start(now);
    let (rows, schedules) = state
        .db(move |conn| {
            Ok((
                repo::rows_read_since(conn, account, since, None)?,
                repo::scheduled_jobs(conn, account, None)?.len(),
            ))
        })
        .await?;
    let card = card(&state, account, billing.as_ref()).await?;
    let subscription = billing
        .as_ref()
        .and_then(|b| b.subscription_id.as_ref().map(|id| (id, b)))
        .map(|(id, b)| view::Subscription {
            id: id.clone(),
            status: b.subscription_status.clone(),
        });
    Ok(HttpResponse::Ok().json(view::Billing {
        plan: row.plan.to_string(),
        billing_enabled: state.billing.is_some(),
        subscription,
        card,
        payment_failed_at: billing.as_ref().and_then(|b| b.payment_failed_at),
        limits: view::PlanLimits {
            rows_per_month: limits.rows_per_month,
            schedules: limits.schedules,
            retention_control: limits.retention_control,
        },
        usage: view::Usage {
            rows_this_month: rows,
            month_started_at: since,
            month_ends_at: plans::next_month_start(now),
            schedules: i64::try_from(schedules).unwrap_or(i64::MAX),
        },
    }))
}

/// The card's summary, opened; none when there is none.
pub async fn card(
    state: &AppState,
    account: AccountId,
    billing: Option<&BillingRow>,
) -> Result<Option<view::Card>, ApiError> {
    let Some(sealed) = billing.and_then(|b| b.card.as_deref()) else {
        return Ok(None);
    };
    let subject = subject_key(state, account).await?;
    let opened = subject
        .decrypt(sealed, &card_aad(account))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    serde_json::from_str(&opened).map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkout {
    /// `pro` or `enterprise`.
    plan: String,
}

/// Owners and admins: a Stripe Checkout Session that subscribes the
/// account to a paid plan. The plan changes when Stripe's webhook says
/// the checkout was paid.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The session: send the browser to its `url`.", body = view::CheckoutSession),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment does not bill.", body = ErrorBody),
        (status = 409, description = "`conflict`: the account has a live subscription already \
            (change it in the portal).", body = ErrorBody),
        (status = 422, description = "`invalid`: `plan` is not `pro` or `enterprise`; or a field \
            is missing, unknown or of the wrong type.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Stripe did not answer as it should.", body = ErrorBody),
    )
)]
#[post("/v1/billing/checkout")]
pub async fn checkout(
    admin: AccountAdmin<ManageBilling>,
    state: web::Data<AppState>,
    body: web::Json<Checkout>,
) -> Result<HttpResponse, ApiError> {
    let user = admin.user;
    let (config, client) = billing(&state)?;
    let chosen = body.into_inner().plan;
    let price = chosen
        .parse::<Plan>()
        .ok()
        .and_then(|plan| config.price_of(plan))
        .ok_or_else(|| invalid("plan", "the plans to subscribe to are pro and enterprise"))?
        .to_owned();
    let (row, billing, _) = plan(&state, user.account_id).await?;
    if let Some(b) = billing.as_ref().filter(|b| live(b)) {
        return Err(ApiError::Conflict(format!(
            "the account already has a subscription ({}, {}); change its plan or card in \
             the billing portal (POST /v1/billing/portal)",
            row.plan,
            b.subscription_status.as_deref().unwrap_or("active")
        )));
    }
    let customer = customer(&state, client, &user, billing).await?;
    let account = user.account_id.to_string();
    let metadata = HashMap::from([
        ("sluice_account_id".to_owned(), account.clone()),
        ("plan".to_owned(), chosen.clone()),
    ]);
    let mut item = stripe_checkout::checkout_session::CreateCheckoutSessionLineItems::new();
    item.price = Some(price);
    item.quantity = Some(1);
    let mut subscription =
        stripe_checkout::checkout_session::CreateCheckoutSessionSubscriptionData::new();
    subscription.metadata = Some(metadata.clone());
    let back = format!("{}/billing", state.public_url);
    let session = stripe_checkout::checkout_session::CreateCheckoutSession::new()
        .mode(stripe_checkout::CheckoutSessionMode::Subscription)
        .customer(customer)
        .client_reference_id(account)
        .line_items(vec![item])
        .subscription_data(subscription)
        .metadata(metadata)
        .success_url(format!("{back}?checkout=success"))
        .cancel_url(format!("{back}?checkout=cancelled"))
        .send(client)
        .await
        .map_err(upstream)?;
    tracing::info!(account = %user.account_id, session = %session.id, plan = %chosen, "checkout session created");
    Ok(HttpResponse::Created().json(view::CheckoutSession {
        session_id: session.id.as_str().to_owned(),
        url: session.url,
        plan: chosen,
        expires_at: chrono::DateTime::from_timestamp(session.expires_at, 0),
    }))
}

/// Owners and admins: a session of Stripe's customer portal, to change the
/// card or the plan, see invoices, or cancel.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        (status = 201, description = "The session: send the browser to its `url`.", body = view::PortalSession),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment does not bill.", body = ErrorBody),
        (status = 409, description = "`conflict`: the account has no billing yet (subscribe first).", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Stripe did not answer as it should.", body = ErrorBody),
    )
)]
#[post("/v1/billing/portal")]
pub async fn portal(
    admin: AccountAdmin<ManageBilling>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = admin.user;
    let (_, client) = billing(&state)?;
    let (_, billing, _) = plan(&state, user.account_id).await?;
    let Some(billing) = billing else {
        return Err(ApiError::Conflict(
            "the account has no billing yet: subscribe first (POST /v1/billing/checkout)".into(),
        ));
    };
    let session = stripe_billing::billing_portal_session::CreateBillingPortalSession::new()
        .customer(billing.customer_id)
        .return_url(format!("{}/billing", state.public_url))
        .send(client)
        .await
        .map_err(upstream)?;
    Ok(HttpResponse::Created().json(view::PortalSession { url: session.url }))
}

/// The billing settings and the Stripe client of a deployment that bills;
/// on one that does not, billing's paths do not exist.
fn billing(state: &AppState) -> Result<(&BillingConfig, &stripe::Client), ApiError> {
    match (state.billing.as_ref(), state.stripe.as_ref()) {
        (Some(config), Some(client)) => Ok((config, client)),
        _ => Err(ApiError::NotFound),
    }
}

/// Whether Stripe's status of a subscription is one of [`LIVE`].
pub fn live_status(status: Option<&str>) -> bool {
    status.is_some_and(|s| LIVE.contains(&s))
}

fn live(billing: &BillingRow) -> bool {
    live_status(billing.subscription_status.as_deref())
}

fn upstream(e: stripe::StripeError) -> ApiError {
    let message = describe(&e);
    tracing::warn!(reason = %message, "a call to Stripe failed");
    ApiError::Upstream {
        message: format!("billing is not available right now: {message}"),
        retry_after_secs: None,
    }
}

/// The account's customer at Stripe, created (and recorded) the first
/// time. The idempotency key is the account's, so two checkouts at once
/// get one customer. Stripe learns no personal data: Checkout asks the
/// payer for what the invoice needs.
async fn customer(
    state: &AppState,
    client: &stripe::Client,
    user: &AuthUser,
    billing: Option<BillingRow>,
) -> Result<String, ApiError> {
    if let Some(billing) = billing {
        return Ok(billing.customer_id);
    }
    let account = user.account_id;
    let key = IdempotencyKey::new(format!("sluice-customer-{account}"))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let created = stripe_core::customer::CreateCustomer::new()
        .metadata(HashMap::from([(
            "sluice_account_id".to_owned(),
            account.to_string(),
        )]))
        .customize()
        .request_strategy(RequestStrategy::Idempotent(key))
        .send(client)
        .await
        .map_err(upstream)?;
    let customer_id = created.id.as_str().to_owned();
    let event = NewEvent::new(
        DomainEvent::BillingCustomerCreated(BillingCustomerCreated {
            customer_id: customer_id.clone(),
        }),
        state.metadata(format!("user:{}", user.user_id)),
    )
    .for_account(account);
    record(state, account, event).await?;
    Ok(customer_id)
}

/// Appends `event` to the account's `billing` stream.
pub async fn record(state: &AppState, account: AccountId, event: NewEvent) -> Result<(), ApiError> {
    state
        .platform
        .appender
        .append(AppendRequest::new(
            "billing",
            account.0,
            ExpectedVersion::Any,
            vec![event],
        ))
        .await?;
    Ok(())
}
