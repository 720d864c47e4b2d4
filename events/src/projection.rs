//! Projections: read-side tables derived from events only (no clock, no
//! randomness), so that `sluice replay` rebuilds them identically.

use crate::envelope::RecordedEvent;
use crate::event::DomainEvent;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz, Uuid as SqlUuid};
use sluice_schema::models::{
    AccountRow, ConnectionRow, DeadLetterRow, ProbeRow, QuarantineRow, TokenRow, UploadRow, UserRow,
};
use sluice_schema::schema::{
    accounts, billing, connections, dead_letters, jobs, key_rotations, probes, relay_quarantine,
    runs, schedules, tokens, uploads, users,
};

/// Every table that [`apply`] writes, in the order replay rebuilds them.
pub const TABLES: &[&str] = &[
    "probes",
    "dead_letters",
    "relay_quarantine",
    "accounts",
    "billing",
    "users",
    "tokens",
    "connections",
    "uploads",
    "key_rotations",
    "jobs",
    "runs",
    "schedules",
];

/// Applies events in order. Runs of consecutive events of one kind that a
/// single statement can apply are written together: one round trip for a
/// whole group commit instead of one per event.
pub fn apply_all(conn: &mut PgConnection, events: &[&RecordedEvent]) -> QueryResult<()> {
    let mut rest = events;
    while let Some(first) = rest.first() {
        let run = rest
            .iter()
            .take_while(|e| same_batch(&first.event, &e.event))
            .count();
        let (batch, tail) = rest.split_at(run.max(1));
        match &first.event {
            DomainEvent::ProbeRequested(_) => insert_probes(conn, batch)?,
            DomainEvent::ProbeCompleted(_) => complete_probes(conn, batch)?,
            _ => {
                for event in batch {
                    apply(conn, event)?;
                }
            }
        }
        rest = tail;
    }
    Ok(())
}

fn same_batch(a: &DomainEvent, b: &DomainEvent) -> bool {
    matches!(
        (a, b),
        (
            DomainEvent::ProbeRequested(_),
            DomainEvent::ProbeRequested(_)
        ) | (
            DomainEvent::ProbeCompleted(_),
            DomainEvent::ProbeCompleted(_)
        )
    )
}

fn insert_probes(conn: &mut PgConnection, batch: &[&RecordedEvent]) -> QueryResult<()> {
    let rows: Vec<ProbeRow> = batch
        .iter()
        .map(|event| ProbeRow {
            probe_id: event.stream_id,
            status: "queued".into(),
            requested_at: event.recorded_at,
            completed_at: None,
            completed_by: None,
        })
        .collect();
    for chunk in rows.chunks(5000) {
        diesel::insert_into(probes::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(())
}

fn complete_probes(conn: &mut PgConnection, batch: &[&RecordedEvent]) -> QueryResult<()> {
    let mut ids = Vec::with_capacity(batch.len());
    let mut times = Vec::with_capacity(batch.len());
    let mut workers = Vec::with_capacity(batch.len());
    for event in batch {
        if let DomainEvent::ProbeCompleted(done) = &event.event {
            ids.push(event.stream_id);
            times.push(event.recorded_at);
            workers.push(done.worker.clone());
        }
    }
    // A probe completed twice in one batch keeps the later completion, as
    // applying the events one by one would.
    diesel::sql_query(
        "UPDATE probes SET status = 'completed', completed_at = c.at, completed_by = c.worker \
         FROM (SELECT DISTINCT ON (id) id, at, worker \
               FROM unnest($1, $2, $3) WITH ORDINALITY AS u(id, at, worker, n) \
               ORDER BY id, n DESC) AS c \
         WHERE probes.probe_id = c.id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Timestamptz>, _>(times)
    .bind::<Array<Text>, _>(workers)
    .execute(conn)?;
    Ok(())
}

/// Puts the account on `plan`. Retention is an Enterprise setting: another
/// plan has the deployment's.
fn set_plan(conn: &mut PgConnection, account: uuid::Uuid, plan: &str) -> QueryResult<()> {
    diesel::update(accounts::table.find(account))
        .set(accounts::plan.eq(plan))
        .execute(conn)?;
    if plan != "enterprise" {
        diesel::update(accounts::table.find(account))
            .set((
                accounts::result_retention_days.eq(None::<i32>),
                accounts::store_results.eq(true),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Applies one event.
pub fn apply(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    match &event.event {
        DomainEvent::ProbeRequested(_) => {
            diesel::insert_into(probes::table)
                .values(ProbeRow {
                    probe_id: event.stream_id,
                    status: "queued".into(),
                    requested_at: event.recorded_at,
                    completed_at: None,
                    completed_by: None,
                })
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::ProbeCompleted(done) => {
            diesel::update(probes::table.find(event.stream_id))
                .set((
                    probes::status.eq("completed"),
                    probes::completed_at.eq(event.recorded_at),
                    probes::completed_by.eq(&done.worker),
                ))
                .execute(conn)?;
        }
        DomainEvent::DeliveryDeadLettered(dead) => {
            diesel::insert_into(dead_letters::table)
                .values(DeadLetterRow {
                    event_id: dead.event_id,
                    event_type: dead.event_type.clone(),
                    queue: dead.queue.clone(),
                    reason: dead.reason.clone(),
                    delivery_count: dead.delivery_count,
                    dead_lettered_at: event.recorded_at,
                })
                .on_conflict(dead_letters::event_id)
                .do_update()
                .set((
                    dead_letters::reason.eq(&dead.reason),
                    dead_letters::delivery_count.eq(dead.delivery_count),
                    dead_letters::dead_lettered_at.eq(event.recorded_at),
                ))
                .execute(conn)?;
        }
        DomainEvent::RelayEventQuarantined(q) => {
            diesel::insert_into(relay_quarantine::table)
                .values(QuarantineRow {
                    global_seq: q.global_seq,
                    cursor_name: q.cursor.clone(),
                    event_id: q.event_id,
                    event_type: q.event_type.clone(),
                    reason: q.reason.clone(),
                    quarantined_at: event.recorded_at,
                    released_at: None,
                    outcome: None,
                })
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::RelayQuarantineReleased(released) => {
            diesel::update(relay_quarantine::table.find(released.global_seq))
                .set((
                    relay_quarantine::released_at.eq(event.recorded_at),
                    relay_quarantine::outcome.eq(released.outcome.as_str()),
                ))
                .execute(conn)?;
        }
        DomainEvent::AccountCreated(created) => {
            let Some(account) = event.account_id else {
                return Ok(());
            };
            diesel::insert_into(accounts::table)
                .values(AccountRow {
                    account_id: account.0,
                    region: created.region.clone(),
                    company: created.company.clone(),
                    country: created.country.clone(),
                    plan: created.plan.clone(),
                    created_at: event.recorded_at,
                    result_retention_days: None,
                    store_results: true,
                    erased_at: None,
                })
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::AccountPlanChanged(changed) => {
            set_plan(conn, event.stream_id, &changed.plan)?;
        }
        DomainEvent::BillingCustomerCreated(created) => {
            diesel::insert_into(billing::table)
                .values((
                    billing::account_id.eq(event.stream_id),
                    billing::customer_id.eq(&created.customer_id),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::BillingSubscriptionChanged(changed) => {
            // A webhook delivered after a newer one changes nothing.
            let applied = diesel::update(billing::table.find(event.stream_id))
                .filter(
                    billing::subscription_at
                        .is_null()
                        .or(billing::subscription_at.le(changed.stripe.created)),
                )
                .set((
                    billing::subscription_id.eq(&changed.subscription_id),
                    billing::subscription_status.eq(&changed.status),
                    billing::subscription_at.eq(changed.stripe.created),
                ))
                .execute(conn)?;
            if applied == 0 {
                return Ok(());
            }
            if changed.status == "active" || changed.status == "trialing" {
                diesel::update(billing::table.find(event.stream_id))
                    .set(billing::payment_failed_at.eq(None::<chrono::DateTime<chrono::Utc>>))
                    .execute(conn)?;
            }
            if let Some(plan) = &changed.plan {
                set_plan(conn, event.stream_id, plan)?;
            }
        }
        DomainEvent::BillingCardChanged(changed) => {
            diesel::update(billing::table.find(event.stream_id))
                .filter(
                    billing::card_at
                        .is_null()
                        .or(billing::card_at.le(changed.stripe.created)),
                )
                .set((
                    billing::card.eq(&changed.card),
                    billing::card_at.eq(changed.stripe.created),
                ))
                .execute(conn)?;
        }
        DomainEvent::BillingPaymentFailed(failed) => {
            // Not when the subscription was paid since.
            diesel::update(billing::table.find(event.stream_id))
                .filter(
                    billing::subscription_at
                        .is_null()
                        .or(billing::subscription_at.le(failed.stripe.created)),
                )
                .set(billing::payment_failed_at.eq(failed.stripe.created))
                .execute(conn)?;
        }
        DomainEvent::AccountSettingsChanged(settings) => {
            let days = settings
                .result_retention_days
                .map(|d| i32::try_from(d).unwrap_or(i32::MAX));
            diesel::update(accounts::table.find(event.stream_id))
                .set((
                    accounts::result_retention_days.eq(days),
                    accounts::store_results.eq(settings.store_results),
                ))
                .execute(conn)?;
            // A shorter retention applies to the files already kept: they
            // expire as if it had held when their run finished (or now,
            // when nothing is to be kept).
            let cutoff = if settings.store_results {
                days
            } else {
                Some(0)
            };
            if let Some(days) = cutoff {
                diesel::sql_query(
                    "UPDATE runs SET results_expire_at = LEAST(results_expire_at, \
                     GREATEST(finished_at + make_interval(days => $2), $3)) \
                     WHERE account_id = $1 AND results_removed_at IS NULL \
                     AND results_expire_at IS NOT NULL",
                )
                .bind::<diesel::sql_types::Uuid, _>(event.stream_id)
                .bind::<diesel::sql_types::Integer, _>(days)
                .bind::<diesel::sql_types::Timestamptz, _>(event.recorded_at)
                .execute(conn)?;
            }
        }
        DomainEvent::AccountErased(_) => {
            let account = event.stream_id;
            diesel::update(accounts::table.find(account))
                .set((
                    accounts::company.eq(""),
                    accounts::erased_at.eq(event.recorded_at),
                ))
                .execute(conn)?;
            diesel::delete(users::table.filter(users::account_id.eq(account))).execute(conn)?;
            diesel::delete(tokens::table.filter(tokens::account_id.eq(account))).execute(conn)?;
            diesel::delete(connections::table.filter(connections::account_id.eq(account)))
                .execute(conn)?;
            diesel::delete(uploads::table.filter(uploads::account_id.eq(account))).execute(conn)?;
            diesel::delete(runs::table.filter(runs::account_id.eq(account))).execute(conn)?;
            diesel::delete(jobs::table.filter(jobs::account_id.eq(account))).execute(conn)?;
            // The customer at Stripe was deleted with the account; the
            // sealed card summary is unreadable without the subject key.
            diesel::delete(billing::table.find(account)).execute(conn)?;
        }
        DomainEvent::UserRegistered(user) => {
            let Some(account) = event.account_id else {
                return Ok(());
            };
            let email_index = hex::decode(&user.email_index).unwrap_or_default();
            diesel::insert_into(users::table)
                .values(UserRow {
                    user_id: user.user_id,
                    account_id: account.0,
                    email_index,
                    email: user.email.clone(),
                    first_name: user.first_name.clone(),
                    last_name: user.last_name.clone(),
                    role: user.role.clone(),
                    created_at: event.recorded_at,
                })
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::ConnectionCreated(created) => {
            let row = |account| ConnectionRow {
                name: Some(created.name.clone()),
                ..connection_row(event, account, &created.kind, &created.params, None)
            };
            insert_connection(conn, event, row)?;
        }
        DomainEvent::ConnectionCreatedV2(added) => {
            let details = Some(added.details.clone());
            let row = |account| connection_row(event, account, &added.kind, &added.params, details);
            insert_connection(conn, event, row)?;
        }
        DomainEvent::ConnectionDisconnected(_) => {
            diesel::delete(connections::table.find(event.stream_id)).execute(conn)?;
        }
        DomainEvent::ConnectionTested(tested) => {
            diesel::update(connections::table.find(event.stream_id))
                .set((
                    connections::last_tested_at.eq(Some(event.recorded_at)),
                    connections::last_test_ok.eq(Some(tested.ok)),
                    connections::last_test_reason.eq(tested.reason.map(|r| r.code())),
                ))
                .execute(conn)?;
        }
        DomainEvent::UploadReceived(upload) => {
            let Some(account) = event.account_id else {
                return Ok(());
            };
            diesel::insert_into(uploads::table)
                .values(UploadRow {
                    upload_id: event.stream_id,
                    account_id: account.0,
                    user_id: upload.user_id,
                    format: upload.format.clone(),
                    size_bytes: upload.size_bytes,
                    details: upload.details.clone(),
                    created_at: event.recorded_at,
                    expires_at: upload.expires_at,
                    removed_at: None,
                    removed_reason: None,
                })
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::UploadRemoved(removed) => {
            // What is left is the shape of a file that no longer exists.
            diesel::update(uploads::table.find(event.stream_id))
                .filter(uploads::removed_at.is_null())
                .set((
                    uploads::removed_at.eq(event.recorded_at),
                    uploads::removed_reason.eq(&removed.reason),
                ))
                .execute(conn)?;
        }
        DomainEvent::JobCreated(job) => {
            insert_job(conn, event, &clear_job(job), &job.schedule)?;
        }
        DomainEvent::JobCreatedV2(job) => {
            insert_job(conn, event, &sealed_job(job), &job.schedule)?;
        }
        DomainEvent::JobUpdated(job) => {
            update_job(conn, event, &clear_job(job), &job.schedule)?;
        }
        DomainEvent::JobUpdatedV2(job) => {
            update_job(conn, event, &sealed_job(job), &job.schedule)?;
        }
        DomainEvent::JobDeleted(_) => {
            diesel::update(jobs::table.find(event.stream_id))
                .set(jobs::deleted_at.eq(event.recorded_at))
                .execute(conn)?;
        }
        DomainEvent::RunRequested(requested) => {
            let Some(account) = event.account_id else {
                return Ok(());
            };
            diesel::insert_into(runs::table)
                .values((
                    runs::run_id.eq(event.stream_id),
                    runs::account_id.eq(account.0),
                    runs::job_id.eq(requested.job_id),
                    runs::kind.eq(&requested.kind),
                    runs::status.eq("queued"),
                    runs::requested_at.eq(event.recorded_at),
                    runs::rollback_of.eq(requested.rollback_of),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            if let Some(undone) = requested.rollback_of {
                diesel::update(runs::table.find(undone))
                    .set(runs::rolled_back_by.eq(event.stream_id))
                    .execute(conn)?;
            }
        }
        DomainEvent::RunStarted(started) => {
            let rollback = runs::table
                .find(event.stream_id)
                .select(runs::rollback_of.is_not_null())
                .first::<bool>(conn)
                .optional()?
                .unwrap_or(false);
            diesel::update(runs::table.find(event.stream_id))
                .set((
                    runs::status.eq(if rollback { "rolling_back" } else { "running" }),
                    runs::worker.eq(&started.worker),
                ))
                .execute(conn)?;
            // A run resumed after a crash starts again: it started at its
            // first start.
            diesel::update(
                runs::table
                    .find(event.stream_id)
                    .filter(runs::started_at.is_null()),
            )
            .set(runs::started_at.eq(event.recorded_at))
            .execute(conn)?;
        }
        DomainEvent::RunProgressed(progress) => {
            diesel::update(runs::table.find(event.stream_id))
                .set((
                    runs::rows_read.eq(progress.rows_read),
                    runs::rows_ok.eq(progress.rows_ok),
                    runs::rows_failed.eq(progress.rows_failed),
                ))
                .execute(conn)?;
            if let Some(calls) = progress.api_calls {
                diesel::update(runs::table.find(event.stream_id))
                    .set(runs::api_calls.eq(calls))
                    .execute(conn)?;
            }
        }
        DomainEvent::RunBatchSent(_) => {}
        DomainEvent::ScheduleFired(fired) => {
            let name = match fired.job_id {
                Some(job) => format!("job:{job}"),
                None => fired.schedule.clone(),
            };
            diesel::insert_into(schedules::table)
                .values((
                    schedules::schedule_id.eq(event.stream_id),
                    schedules::name.eq(&name),
                    schedules::last_slot.eq(fired.slot),
                    schedules::fired_at.eq(event.recorded_at),
                    schedules::version.eq(event.stream_version),
                ))
                .on_conflict(schedules::schedule_id)
                .do_update()
                .set((
                    schedules::last_slot.eq(fired.slot),
                    schedules::fired_at.eq(event.recorded_at),
                    schedules::version.eq(event.stream_version),
                ))
                .execute(conn)?;
        }
        DomainEvent::RetentionPurged(_)
        | DomainEvent::KeyRotationDue(_)
        | DomainEvent::AccountExported(_)
        | DomainEvent::EmailClaimed(_)
        | DomainEvent::EmailReleased(_) => {}
        DomainEvent::RunFinished(finished) => {
            let ending = RunEnding {
                status: &finished.status,
                rows_total: finished.rows_total,
                rows_ok: finished.rows_ok,
                rows_failed: finished.rows_failed,
                message: finished.message.as_deref(),
                sealed_message: None,
                results_expire_at: finished.results_expire_at,
                api_calls: finished.api_calls,
            };
            finish_run(conn, event, &ending)?;
        }
        DomainEvent::RunFinishedV2(finished) => {
            let ending = RunEnding {
                status: &finished.status,
                rows_total: finished.rows_total,
                rows_ok: finished.rows_ok,
                rows_failed: finished.rows_failed,
                message: None,
                sealed_message: finished.message.as_deref(),
                results_expire_at: finished.results_expire_at,
                api_calls: finished.api_calls,
            };
            finish_run(conn, event, &ending)?;
        }
        DomainEvent::RunResultsRemoved(_) => {
            diesel::update(runs::table.find(event.stream_id))
                .set(runs::results_removed_at.eq(event.recorded_at))
                .execute(conn)?;
        }
        DomainEvent::KeyRotationRequested(requested) => {
            diesel::insert_into(key_rotations::table)
                .values((
                    key_rotations::rotation_id.eq(event.stream_id),
                    key_rotations::primary_key
                        .eq(i32::try_from(requested.primary).unwrap_or(i32::MAX)),
                    key_rotations::requested_at.eq(event.recorded_at),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::KeyRewrapProgress(progress) => {
            diesel::sql_query(
                "UPDATE key_rotations SET progress = progress || jsonb_build_object($2::text, $3::bigint) WHERE rotation_id = $1",
            )
            .bind::<SqlUuid, _>(event.stream_id)
            .bind::<Text, _>(&progress.table)
            .bind::<diesel::sql_types::BigInt, _>(i64::try_from(progress.done).unwrap_or(i64::MAX))
            .execute(conn)?;
        }
        DomainEvent::KeyRotationFinished(finished) => {
            let progress = serde_json::to_value(&finished.rewrapped).unwrap_or_default();
            diesel::update(key_rotations::table.find(event.stream_id))
                .set((
                    key_rotations::progress.eq(progress),
                    key_rotations::finished_at.eq(event.recorded_at),
                    key_rotations::finished_by.eq(&finished.worker),
                ))
                .execute(conn)?;
        }
        DomainEvent::UserRoleChanged(changed) => {
            diesel::update(users::table.find(changed.user_id))
                .set(users::role.eq(&changed.role))
                .execute(conn)?;
        }
        DomainEvent::UserRemoved(removed) => {
            diesel::delete(users::table.find(removed.user_id)).execute(conn)?;
            diesel::update(tokens::table)
                .filter(tokens::user_id.eq(removed.user_id))
                .filter(tokens::revoked_at.is_null())
                .set(tokens::revoked_at.eq(event.recorded_at))
                .execute(conn)?;
        }
        DomainEvent::TokenIssued(issued) => {
            let row = |account| TokenRow {
                name: issued.name.clone(),
                ..token_row(
                    event,
                    account,
                    issued.user_id,
                    &issued.kind,
                    issued.expires_at,
                )
            };
            insert_token(conn, event, row)?;
        }
        DomainEvent::TokenIssuedV2(issued) => {
            let row = |account| TokenRow {
                sealed_name: issued.name.clone(),
                ..token_row(
                    event,
                    account,
                    issued.user_id,
                    &issued.kind,
                    issued.expires_at,
                )
            };
            insert_token(conn, event, row)?;
        }
        DomainEvent::TokenRevoked(_) => {
            diesel::update(tokens::table.find(event.stream_id))
                .filter(tokens::revoked_at.is_null())
                .set(tokens::revoked_at.eq(event.recorded_at))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// The row of a token issued by `event`, without a name.
fn token_row(
    event: &RecordedEvent,
    account: uuid::Uuid,
    user_id: uuid::Uuid,
    kind: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> TokenRow {
    TokenRow {
        token_id: event.stream_id,
        account_id: account,
        user_id,
        kind: kind.to_owned(),
        name: None,
        created_at: event.recorded_at,
        expires_at,
        revoked_at: None,
        sealed_name: None,
    }
}

/// Records the token of `event`, made by `row` for its account (none
/// without an account).
fn insert_token(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    row: impl FnOnce(uuid::Uuid) -> TokenRow,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(tokens::table)
        .values(row(account.0))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

fn connection_row(
    event: &RecordedEvent,
    account: uuid::Uuid,
    kind: &str,
    params: &serde_json::Value,
    details: Option<String>,
) -> ConnectionRow {
    ConnectionRow {
        connection_id: event.stream_id,
        account_id: account,
        name: None,
        kind: kind.to_owned(),
        params: params.clone(),
        created_at: event.recorded_at,
        last_tested_at: None,
        last_test_ok: None,
        last_test_reason: None,
        details,
    }
}

fn insert_connection(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    row: impl FnOnce(uuid::Uuid) -> ConnectionRow,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(connections::table)
        .values(row(account.0))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// A job's columns but its schedule: a job recorded before sealing keeps
/// its customer text in clear columns; one recorded since keeps ids in
/// clear and the rest in `details`.
struct JobColumns<'a> {
    name: Option<&'a str>,
    source: &'a serde_json::Value,
    target: &'a serde_json::Value,
    operation: &'a str,
    key_fields: Option<serde_json::Value>,
    mapping: Option<&'a serde_json::Value>,
    details: Option<&'a str>,
}

fn clear_job(job: &crate::event::JobCreated) -> JobColumns<'_> {
    JobColumns {
        name: Some(&job.name),
        source: &job.source,
        target: &job.target,
        operation: &job.operation,
        key_fields: Some(serde_json::json!(job.key_fields)),
        mapping: Some(&job.mapping),
        details: None,
    }
}

fn sealed_job(job: &crate::event::JobDefined) -> JobColumns<'_> {
    JobColumns {
        name: None,
        source: &job.source,
        target: &job.target,
        operation: &job.operation,
        key_fields: None,
        mapping: None,
        details: Some(&job.details),
    }
}

fn insert_job(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    job: &JobColumns<'_>,
    schedule: &Option<String>,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(jobs::table)
        .values((
            jobs::job_id.eq(event.stream_id),
            jobs::account_id.eq(account.0),
            jobs::name.eq(job.name),
            jobs::source.eq(job.source),
            jobs::target.eq(job.target),
            jobs::operation.eq(job.operation),
            jobs::key_fields.eq(&job.key_fields),
            jobs::mapping.eq(job.mapping),
            jobs::details.eq(job.details),
            jobs::schedule.eq(schedule),
            jobs::schedule_since.eq(schedule.as_ref().map(|_| event.recorded_at)),
            jobs::created_at.eq(event.recorded_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

fn update_job(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    job: &JobColumns<'_>,
    schedule: &Option<String>,
) -> QueryResult<()> {
    // A schedule holds from when it was set: changing it starts afresh,
    // keeping it keeps its time.
    let before: Option<Option<String>> = jobs::table
        .find(event.stream_id)
        .select(jobs::schedule)
        .first(conn)
        .optional()?;
    let changed = before.is_some_and(|b| &b != schedule);
    diesel::update(jobs::table.find(event.stream_id))
        .set((
            jobs::name.eq(job.name),
            jobs::source.eq(job.source),
            jobs::target.eq(job.target),
            jobs::operation.eq(job.operation),
            jobs::key_fields.eq(&job.key_fields),
            jobs::mapping.eq(job.mapping),
            jobs::details.eq(job.details),
            jobs::schedule.eq(schedule),
        ))
        .execute(conn)?;
    if changed {
        diesel::update(jobs::table.find(event.stream_id))
            .set(jobs::schedule_since.eq(schedule.as_ref().map(|_| event.recorded_at)))
            .execute(conn)?;
    }
    Ok(())
}

/// A run's end, from `run.finished` (message in clear) or
/// `run.finished.v2` (message sealed).
struct RunEnding<'a> {
    status: &'a str,
    rows_total: i64,
    rows_ok: i64,
    rows_failed: i64,
    message: Option<&'a str>,
    sealed_message: Option<&'a str>,
    results_expire_at: Option<chrono::DateTime<chrono::Utc>>,
    api_calls: Option<i64>,
}

fn finish_run(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    ending: &RunEnding<'_>,
) -> QueryResult<()> {
    diesel::update(runs::table.find(event.stream_id))
        .set((
            runs::status.eq(ending.status),
            runs::rows_total.eq(ending.rows_total),
            runs::rows_read.eq(ending.rows_total),
            runs::rows_ok.eq(ending.rows_ok),
            runs::rows_failed.eq(ending.rows_failed),
            runs::message.eq(ending.message),
            runs::sealed_message.eq(ending.sealed_message),
            runs::finished_at.eq(event.recorded_at),
            runs::results_expire_at.eq(ending.results_expire_at),
        ))
        .execute(conn)?;
    if let Some(calls) = ending.api_calls {
        diesel::update(runs::table.find(event.stream_id))
            .set(runs::api_calls.eq(calls))
            .execute(conn)?;
    }
    Ok(())
}
