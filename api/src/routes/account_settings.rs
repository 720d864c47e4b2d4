//! `GET/PUT /v1/account/settings`: how long an account's result files (and
//! the journals rollbacks read) are kept. Enterprise accounts choose 0 to
//! 30 days, or to keep nothing at all (then runs cannot be rolled back);
//! every other account has the deployment's `SLUICE_RESULT_TTL`. A shorter
//! retention applies to the files already kept.
//!
//! `POST /v1/ops/accounts/{id}/plan` is the operator's way to move an
//! account to another plan.

use crate::auth::{AccountAdmin, AuthUser, ChangeSettings};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody, OperatorOnly};
use crate::operator::Operator;
use crate::people::invalid;
use crate::views::account as view;
use crate::AppState;
use actix_web::{get, post, put, web, HttpResponse};
use serde::Deserialize;
use sluice_events::event::{AccountPlanChanged, AccountSettingsChanged};
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use sluice_schema::ids::AccountId;
use sluice_schema::kinds::Plan;
use sluice_schema::models::AccountRow;
use sluice_schema::plans::Limits;
use sluice_schema::repo::accounts as repo;
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest result retention an account may choose.
pub const MAX_RETENTION_DAYS: u32 = 30;

/// Records an event of the account's, by `actor`.
pub(crate) async fn record(
    state: &AppState,
    account: AccountId,
    actor: String,
    event: DomainEvent,
) -> Result<(), ApiError> {
    let event = NewEvent::new(event, state.metadata(actor)).for_account(account);
    state
        .platform
        .appender
        .append(AppendRequest::new(
            "account",
            account.0,
            ExpectedVersion::Any,
            vec![event],
        ))
        .await?;
    Ok(())
}

async fn account(state: &AppState, id: AccountId) -> Result<AccountRow, ApiError> {
    state
        .db(move |conn| repo::find_account(conn, id)?.ok_or(ApiError::NotFound))
        .await
}

fn settings_view(state: &AppState, account: &AccountRow) -> view::AccountSettings {
    let default_days = state.result_ttl.num_days();
    view::AccountSettings {
        plan: account.plan.to_string(),
        store_results: account.store_results,
        result_retention_days: if account.store_results {
            account
                .result_retention_days
                .map_or(default_days, i64::from)
        } else {
            0
        },
        default_result_retention_days: default_days,
        rollback: account.store_results,
        can_change: Limits::of(account.plan, state.billing.is_some()).retention_control,
    }
}

/// How long the account's result files are kept, and whether it may
/// choose.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The settings.", body = view::AccountSettings))
)]
#[get("/v1/account/settings")]
pub async fn show(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = account(&state, user.account_id).await?;
    Ok(HttpResponse::Ok().json(settings_view(&state, &account)))
}

/// The settings an Enterprise account chooses.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RetentionSettings)]
pub struct Settings {
    /// 0 to 30; none (or absent): the deployment's default.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 30)]
    result_retention_days: Option<i64>,
    /// False: keep no result files at all (then runs cannot be rolled
    /// back). True by default.
    #[serde(default = "yes")]
    #[schema(default = true)]
    store_results: bool,
}

fn yes() -> bool {
    true
}

/// Owners and admins of Enterprise accounts: how long result files are
/// kept. A shorter retention applies to the files already kept.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 200, description = "The settings, changed.", body = view::AccountSettings),
        (status = 403, description = "`forbidden`: a member, or an account whose plan does not \
            choose its retention.", body = ErrorBody),
        (status = 422, description = "`invalid`: days out of 0 to 30, or days given with \
            `store_results: false`; or a field is missing, unknown or of the wrong type.", body = ErrorBody),
    )
)]
#[put("/v1/account/settings")]
pub async fn change(
    admin: AccountAdmin<ChangeSettings>,
    state: web::Data<AppState>,
    body: web::Json<Settings>,
) -> Result<HttpResponse, ApiError> {
    let user = admin.user;
    let current = account(&state, user.account_id).await?;
    if !Limits::of(current.plan, state.billing.is_some()).retention_control {
        return Err(ApiError::Forbidden(format!(
            "result retention is chosen on the Enterprise plan; this account is on {}, and \
             keeps result files for the deployment's {} days",
            current.plan,
            state.result_ttl.num_days()
        )));
    }
    let body = body.into_inner();
    let days = match body.result_retention_days {
        None => None,
        Some(days) => Some(
            u32::try_from(days)
                .ok()
                .filter(|d| *d <= MAX_RETENTION_DAYS)
                .ok_or_else(|| {
                    invalid(
                        "result_retention_days",
                        format!("result files are kept 0 to {MAX_RETENTION_DAYS} days"),
                    )
                })?,
        ),
    };
    if !body.store_results && days.is_some() {
        return Err(invalid(
            "result_retention_days",
            "an account that stores no result files keeps them no days: leave the days out",
        ));
    }
    let changed = DomainEvent::AccountSettingsChanged(AccountSettingsChanged {
        result_retention_days: days,
        store_results: body.store_results,
    });
    record(
        &state,
        user.account_id,
        format!("user:{}", user.user_id),
        changed,
    )
    .await?;
    let account = account(&state, user.account_id).await?;
    Ok(HttpResponse::Ok().json(settings_view(&state, &account)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChange {
    /// `free`, `pro` or `enterprise`.
    plan: String,
}

/// Moves an account to another plan (`account.plan_changed`): the way to
/// set a plan on a deployment without billing, or to override Stripe's.
#[utoipa::path(
    security(("operator" = [])),
    params(("id" = Uuid, Path, description = "The account.")),
    responses(
        OperatorOnly,
        JsonBody,
        (status = 204, description = "The plan is changed."),
        (status = 404, description = "`not_found`: no such account, or no operator token on \
            this deployment.", body = ErrorBody),
        (status = 422, description = "`invalid`: not one of the plans; or a field is missing, \
            unknown or of the wrong type.", body = ErrorBody),
    )
)]
#[post("/v1/ops/accounts/{id}/plan")]
pub async fn change_plan(
    _: Operator,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Json<PlanChange>,
) -> Result<HttpResponse, ApiError> {
    let id = AccountId(path.into_inner());
    let plan: Plan = body
        .into_inner()
        .plan
        .parse()
        .map_err(|_| invalid("plan", "the plan is one of free, pro, enterprise"))?;
    account(&state, id).await?;
    let changed = DomainEvent::AccountPlanChanged(AccountPlanChanged { plan });
    record(&state, id, "operator".into(), changed).await?;
    Ok(HttpResponse::NoContent().finish())
}
