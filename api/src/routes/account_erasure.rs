//! `DELETE /v1/account`: erasure, at the owner's request. What the account
//! connected is revoked at its providers (as far as they answer); then one
//! event, `account.erased`, destroys in its transaction every secret of the
//! account: its subject key, password and token hashes, provider tokens,
//! connection secrets, and the keys of its uploads and result files. The
//! projections drop its people, connections, uploads, jobs, mapping templates and runs, and
//! the files are deleted from the store.
//!
//! The event log is not touched, so it stays verifiable; the personal data
//! its events hold is sealed under the destroyed subject key and can no
//! longer be read. Replay rebuilds the account as erased.

use crate::auth::{AccountOwner, EraseAccount};
use crate::billing::describe;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::invalid;
use crate::routes::connections;
use crate::routes::provider_connect::Provider;
use crate::AppState;
use actix_web::{delete, web, HttpResponse};
use serde::Deserialize;
use sluice_events::event::AccountErased;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::AccountId;
use utoipa::ToSchema;
use uuid::Uuid;

/// What the owner must send, to say they mean it.
const CONFIRM: &str = "erase this account";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Erase {
    /// Exactly `erase this account`.
    #[schema(example = "erase this account")]
    confirm: String,
}

/// The owner: erases the account. Its connections are revoked at their
/// providers, its Stripe customer deleted, and every secret destroyed with
/// `account.erased`; the event log stays verifiable.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 204, description = "The account is erased."),
        (status = 403, description = "`forbidden`: not the account's owner.", body = ErrorBody),
        (status = 409, description = "`conflict`: a run of the account is queued or working.", body = ErrorBody),
        (status = 422, description = "`invalid`: `confirm` is not `erase this account`; or a \
            field is missing, unknown or of the wrong type.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Stripe could not end the subscription; \
            nothing was erased.", body = ErrorBody),
    )
)]
#[delete("/v1/account")]
pub async fn erase(
    owner: AccountOwner<EraseAccount>,
    state: web::Data<AppState>,
    body: web::Json<Erase>,
) -> Result<HttpResponse, ApiError> {
    let user = owner.user;
    if body.confirm != CONFIRM {
        return Err(invalid(
            "confirm",
            format!("erasure cannot be undone: send {{\"confirm\": \"{CONFIRM}\"}}"),
        ));
    }
    let account = user.account_id;
    let (uploads, runs, working, people) = state
        .db(move |conn| {
            use diesel::prelude::*;
            use sluice_schema::schema::{runs, uploads};
            let uploads: Vec<Uuid> = uploads::table
                .filter(uploads::account_id.eq(account.0))
                .select(uploads::upload_id)
                .load(conn)?;
            let runs: Vec<(Uuid, bool)> = runs::table
                .filter(runs::account_id.eq(account.0))
                .select((runs::run_id, runs::finished_at.is_null()))
                .load(conn)?;
            let working = runs.iter().any(|(_, working)| *working);
            let people = sluice_schema::repo::accounts::list_users(conn, account)?;
            Ok((
                uploads,
                runs.into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
                working,
                people,
            ))
        })
        .await?;
    if working {
        return Err(ApiError::Conflict(
            "a run of this account is queued or working; erase the account once it has finished"
                .into(),
        ));
    }
    // What the account connected is revoked at the provider first, while
    // its tokens can still be read.
    let linked = state
        .db(move |conn| Ok(sluice_schema::repo::connections::list(conn, account)?))
        .await?;
    for row in linked {
        if let Some(provider) = Provider::of_kind(row.kind) {
            let revoked = connections::revoke(provider, &state, &user, &row).await;
            tracing::info!(connection = %row.connection_id, revoked, "connection revoked for erasure");
        }
    }

    cancel_billing(&state, account).await?;

    let event = NewEvent::new(
        DomainEvent::AccountErased(AccountErased {
            uploads: uploads.clone(),
            runs: runs.clone(),
        }),
        state.metadata(format!("user:{}", user.user_id)),
    )
    .for_account(account);
    let actor = format!("user:{}", user.user_id);
    let request = people.iter().fold(
        AppendRequest::new("account", account.0, ExpectedVersion::Any, vec![event]).with_secret(
            SecretWrite::EraseAccount {
                account_id: account.0,
            },
        ),
        |request, person| request.with_claim(crate::people::release_email(person, &state, &actor)),
    );
    state.platform.appender.append(request).await?;

    // The keys are gone, so the files can no longer be read; they are
    // deleted all the same.
    let store = state.store.clone();
    web::block(move || -> std::io::Result<()> {
        for upload in &uploads {
            store.remove("uploads", &upload.to_string())?;
        }
        let prefixes: Vec<String> = runs.iter().map(|run| format!("{run}.")).collect();
        for (name, _) in store.list("results")? {
            if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                store.remove("results", &name)?;
            }
        }
        Ok(())
    })
    .await?
    .map_err(|e| ApiError::Internal(format!("erasing the account's files: {e}")))?;
    tracing::info!(account = %account, "account erased");
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes the account's customer at Stripe, which ends its subscription
/// at once: an erased account is billed no more. Refused (and nothing
/// erased) while Stripe cannot confirm it; a customer Stripe no longer
/// knows counts as deleted.
async fn cancel_billing(state: &AppState, account: AccountId) -> Result<(), ApiError> {
    let Some(client) = state.stripe.as_ref() else {
        return Ok(());
    };
    let (_, billing, _) = crate::routes::billing::plan(state, account).await?;
    let Some(billing) = billing else {
        return Ok(());
    };
    match stripe_core::customer::DeleteCustomer::new(billing.customer_id.as_str())
        .send(client)
        .await
    {
        Ok(_) => {}
        Err(stripe::StripeError::Stripe(_, 404)) => {}
        Err(e) => {
            let message = describe(&e);
            tracing::warn!(account = %account, reason = %message, "the account's Stripe customer could not be deleted");
            return Err(ApiError::Upstream {
                message: format!(
                    "the account's subscription could not be ended at Stripe ({message}); \
                     nothing was erased: try again"
                ),
                retry_after_secs: None,
            });
        }
    }
    tracing::info!(account = %account, "the account's Stripe customer was deleted for erasure");
    Ok(())
}
