//! A connected Salesforce org as a job's target: the checks `POST
//! /v1/jobs` and `PATCH /v1/jobs/{id}` make before a job is recorded, and
//! the rows `POST /v1/jobs/{id}/preview` shows.
//!
//! The object is described, and the key fields and the mapping are checked
//! against it as a run's writer would check them: a field set by a lookup
//! of another object's external id becomes a reference Salesforce resolves
//! itself (`AccountId:External_Id__c`). A preview turns each row into the
//! record a run would send and reports why it cannot be; nothing is
//! written. A lookup by an external id is left to Salesforce, which
//! resolves it as it saves; any other (by a field that need not be unique,
//! or through another reference) is resolved by a query, as a run would.
//! An access token renewed on the way is sealed in place of the
//! old one as it is renewed, under the connection's lock (see `org_tokens`).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::people::invalid;
use crate::routes::connections;
use crate::routes::org_tokens::StoredTokens;
use crate::routes::provider_connect;
use crate::AppState;
use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};
use sluice_connectors::mapping::Plan;
use sluice_connectors::postgres::Insert;
use sluice_connectors::salesforce::{
    writer_targets, App, Backoff, Describe, LookupError, Lookups, Operation, Salesforce,
    SalesforceError, Writer,
};
use sluice_connectors::source::Row;
use sluice_schema::ids::ConnectionId;
use sluice_schema::models::ConnectionRow;

/// An API request waits for Salesforce only briefly: a call refused for a
/// passing reason is tried twice, a second apart, then the request answers
/// 502 (a run waits longer, see `Backoff`).
const REQUEST_BACKOFF: Backoff = Backoff {
    tries: 2,
    first: std::time::Duration::from_secs(1),
    longest: std::time::Duration::from_secs(1),
};

const TARGET: &str = "target.connection_id";

/// A Salesforce connection opened as a client, with the tokens it was
/// opened with.
pub(crate) struct Org {
    pub sf: Salesforce,
}

/// Opens a Salesforce connection of the caller's account: a client of its
/// org that renews an expired access token with the connection's refresh
/// token (at the login URL the org was connected through), under the
/// connection's lock, keeping what the refresh answers. Without this
/// deployment's Salesforce settings there is no renewing: the access token
/// works until it expires.
pub(crate) async fn open(
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
) -> Result<Org, ApiError> {
    let account = user.account_id;
    let id = ConnectionId(row.connection_id);
    let sealed = connections::sealed_secret(state, account, id).await?;
    let tokens = provider_connect::tokens::open_tokens(state, account, id, sealed)?;
    let app = state.salesforce.as_ref().map(|config| App {
        login_url: &config.login_url,
        client_id: &config.client_id,
        client_secret: config.client_secret.expose_secret(),
    });
    let mut sf = Salesforce::of_connection(state.http.clone(), &row.params, &tokens, app)
        .ok_or_else(|| ApiError::Internal("a Salesforce connection has no instance URL".into()))?
        .with_backoff(REQUEST_BACKOFF);
    if let Some(config) = state.salesforce.clone() {
        sf = sf.with_renewal(Box::new(StoredTokens {
            pool: state.platform.pool.clone(),
            keyring: state.keyring.clone(),
            http: state.http.clone(),
            app: config,
            login_url: row.params["login_url"].as_str().map(str::to_owned),
            account,
            id,
        }));
    }
    Ok(Org { sf })
}

impl Org {
    /// Nothing is left to keep: a renewal seals its tokens as it renews.
    pub(crate) async fn keep_renewed(self, _state: &AppState) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Tests a connection as a run would use it: a data call at its instance
/// (the REST API's Limits resource), renewing an expired access token on
/// the way. The reason, for a person, when it fails.
pub(crate) async fn check(
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
) -> Result<Result<(), String>, ApiError> {
    let org = open(state, user, row).await?;
    Ok(org.sf.check_access().await.map_err(|e| e.to_string()))
}

/// A failed call to the org, as the caller of a job's checks sees it: the
/// object is the caller's to fix, as is a connection Salesforce no longer
/// accepts; the org's limit, a refusal and an outage are Salesforce's.
fn salesforce_error(e: SalesforceError) -> ApiError {
    match &e {
        SalesforceError::Reconnect | SalesforceError::MissingScope => invalid(
            TARGET,
            "Salesforce no longer accepts this connection: connect the org again and use the \
             new connection",
        ),
        SalesforceError::Refused { code, .. } if code == "NOT_FOUND" || code == "INVALID_TYPE" => {
            invalid("target.object", e.to_string())
        }
        SalesforceError::LimitExceeded(_)
        | SalesforceError::ConcurrentLimit { .. }
        | SalesforceError::Unavailable { .. }
        | SalesforceError::Refused { .. }
        | SalesforceError::Unreachable(_) => ApiError::Upstream {
            message: e.to_string(),
            retry_after_secs: None,
        },
    }
}

/// Checks the key fields for `operation` against the object, before the
/// mapping is checked, so that a reason about them names `key_fields`: an
/// insert takes none, an upsert one external id field (or `Id`), an update
/// or a delete names its records by `Id`.
fn check_keys(
    describe: &Describe,
    operation: Operation,
    key_fields: &[String],
) -> Result<(), ApiError> {
    let reason = match (operation, key_fields) {
        (Operation::Insert, []) => return Ok(()),
        (Operation::Insert, _) => "an insert takes no key fields".to_owned(),
        (Operation::Upsert, [key]) => match describe.field(key) {
            Some(field) if field.external_id || field.name == "Id" => return Ok(()),
            Some(field) => format!(
                "{}.{} is not an external id field: an upsert matches records by one",
                describe.name, field.name
            ),
            None => format!("{} has no field \"{key}\"", describe.name),
        },
        (Operation::Upsert, _) => "an upsert takes one key field: its external id field".into(),
        (_, []) => return Ok(()),
        (_, [key]) if key.eq_ignore_ascii_case("Id") => return Ok(()),
        _ => "updates and deletes name their records by Id: leave key_fields out".into(),
    };
    Err(invalid("key_fields", reason))
}

/// The writer a run of the job would use: the connection opened, `object`
/// described, the key fields and the mapping checked against it. A
/// renewed access token is kept either way.
pub(crate) async fn writer(
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
    object: &str,
    operation: Operation,
    plan: &Plan,
    key_fields: &[String],
) -> Result<Writer, ApiError> {
    let (writer, org, _) = checked(state, user, row, object, operation, plan, key_fields).await?;
    org.keep_renewed(state).await?;
    Ok(writer)
}

/// [`writer`], with the org opened (its renewed token is the caller's to
/// keep once done with it) and the lookups Sluice makes itself.
async fn checked(
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
    object: &str,
    operation: Operation,
    plan: &Plan,
    key_fields: &[String],
) -> Result<(Writer, Org, Lookups), ApiError> {
    let org = open(state, user, row).await?;
    let described = org.sf.describe(object).await;
    let described = match described {
        Ok(describe) => check_keys(&describe, operation, key_fields).map(|()| describe),
        Err(e) => Err(salesforce_error(e)),
    };
    let describe = described?;
    let lookups = match Lookups::prepare(&org.sf, &describe, plan).await {
        Ok(lookups) => lookups,
        Err(LookupError::Misfit(reason)) => return Err(invalid("mapping", reason)),
        Err(LookupError::Salesforce(e)) => return Err(salesforce_error(e)),
    };
    let targets =
        writer_targets(&describe, plan, &lookups.positions()).map_err(|e| invalid("mapping", e))?;
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let writer = Writer::new(&describe, operation, &targets, key_fields)
        .map_err(|e| invalid("mapping", e))?;
    Ok((writer, org, lookups))
}

/// A source row's number and its mapped values, or why it has none.
type MappedRow = (u64, Result<Vec<Option<String>>, String>);

/// `POST /v1/jobs/{id}/preview` for a job into `row`'s org: the source's
/// first rows (`header`, `rows`) mapped, each with why it cannot be
/// written, in the shape a PostgreSQL target's preview has.
pub(crate) async fn preview(
    state: &AppState,
    user: &AuthUser,
    job: &crate::routes::jobs::Job,
    row: &ConnectionRow,
    plan: &Plan,
    rows: Vec<Row>,
) -> Result<crate::views::imports::Preview, ApiError> {
    let key_fields = &job.details.key_fields;
    let object = &job.details.target.object;
    let (writer, org, lookups) = checked(
        state,
        user,
        row,
        object,
        job.row.operation,
        plan,
        key_fields,
    )
    .await?;
    // Each row mapped, or why it cannot be; then the lookups Sluice makes
    // itself resolved, as a run would (one query a lookup).
    let mut mapped: Vec<MappedRow> = rows
        .into_iter()
        .map(|row| (row.number, row.fields.and_then(|f| plan.apply(&f))))
        .collect();
    if !lookups.is_empty() {
        let mut inserts: Vec<Insert> = mapped
            .iter()
            .filter_map(|(number, values)| {
                let values = values.as_ref().ok()?.clone();
                Some(Insert {
                    number: *number,
                    values,
                })
            })
            .collect();
        let unresolved = lookups
            .resolve(&org.sf, &mut inserts)
            .await
            .map_err(salesforce_error)?;
        let mut inserts = inserts.into_iter().peekable();
        for (number, values) in &mut mapped {
            if let Some((_, reason)) = unresolved.iter().find(|(n, _)| n == number) {
                *values = Err(reason.clone());
            } else if inserts.peek().is_some_and(|i| i.number == *number) {
                if let (Some(insert), Ok(values)) = (inserts.next(), values.as_mut()) {
                    *values = insert.values;
                }
            }
        }
    }
    org.keep_renewed(state).await?;
    Ok(shown(&writer, plan, mapped))
}

/// Each row's mapped values by target field, and what is wrong with it: a
/// row the source or the mapping could not read, a lookup that found no
/// record, or one that cannot become a record (a value its field's type
/// cannot take, a missing key).
fn shown(writer: &Writer, plan: &Plan, rows: Vec<MappedRow>) -> crate::views::imports::Preview {
    let targets = plan.targets();
    let rows = rows
        .into_iter()
        .map(|(number, mapped)| {
            let (values, errors) = match mapped {
                Err(e) => (Vec::new(), vec![e]),
                Ok(values) => {
                    let errors: Vec<String> = writer.record(&values).err().into_iter().collect();
                    (values, errors)
                }
            };
            let values: Map<String, Value> = targets
                .iter()
                .zip(&values)
                .map(|(target, value)| ((*target).to_owned(), json!(value)))
                .collect();
            crate::views::imports::PreviewRow {
                row: number,
                values,
                errors,
                skipped: None,
                blanks: Default::default(),
            }
        })
        .collect();
    crate::views::imports::Preview {
        fields: targets.iter().map(|t| (*t).to_owned()).collect(),
        rows,
    }
}
