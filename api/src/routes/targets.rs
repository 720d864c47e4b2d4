//! `/v1/targets/{connection_id}/...`: what a connection can be imported
//! into, for a wizard that lets its user pick a table or object and map
//! columns to its fields. PostgreSQL: the tables the connection's user may
//! insert into (see `sluice_connectors::postgres::list_tables`);
//! Salesforce: the sObjects describe global lists that are createable or
//! updateable. Everyone in the account may look; another account's
//! connection is not found.
//!
//! A list answers at most [`MAX_OBJECTS`] a page, in name order, with the
//! name to give as `after` for the next; `q` keeps those whose name (or
//! Salesforce label) contains it, in any case. A table's or object's
//! fields come whole (a PostgreSQL table has at most 1,600 columns, a
//! Salesforce object at most 800 custom fields besides its standard ones).
//!
//! A target that cannot be reached answers 502 `upstream_failed`; one that
//! refuses the stored credentials 422 `connection_failed` with the reason
//! (as a connection's test names it).

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody};
use crate::people::{invalid, text};
use crate::routes::{connections, salesforce_target};
use crate::views::targets as views;
use crate::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use sluice_connectors::mapping::auto;
use sluice_connectors::postgres::{self as pg, ConnectFailure, FailureKind, TargetError};
use sluice_connectors::salesforce::{Describe, SalesforceError};
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::models::ConnectionRow;
use utoipa::IntoParams;
use uuid::Uuid;

/// The most tables or objects one page lists.
pub const MAX_OBJECTS: usize = 200;
/// The longest `q` and `after`, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Which page of the list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ObjectsQuery {
    /// Only those whose name (or Salesforce label) contains this, in any
    /// case; at most 200 characters.
    q: Option<String>,
    /// The page after this name (the previous page's `next`).
    after: Option<String>,
}

/// A bounded, printable query parameter, or none when blank.
fn parameter(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(given) => text(field, given, MAX_SEARCH_CHARS).map(Some),
    }
}

/// The tables or sObjects a connection can import into, a page at a time.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("connection_id" = Uuid, Path, description = "The connection."), ObjectsQuery),
    responses(
        Authenticated,
        (status = 200, description = "A page of tables or objects, in name order.", body = views::TargetObjects),
        (status = 404, description = "`not_found`: no such connection in the account.", body = ErrorBody),
        (status = 422, description = "`invalid`: a Dropbox connection, or `q`/`after` too \
            long; `connection_failed`: the target refused the stored credentials.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: the target could not be reached.", body = ErrorBody),
    )
)]
#[get("/v1/targets/{connection_id}/objects")]
pub async fn list_objects(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<ObjectsQuery>,
) -> Result<HttpResponse, ApiError> {
    let search = parameter("q", query.q.as_deref())?;
    let after = parameter("after", query.after.as_deref())?;
    let row = connections::find(&state, &user, path.into_inner()).await?;
    let mut found = match row.kind {
        ConnectionKind::Postgres => {
            let client = postgres_client(&state, &user, &row).await?;
            pg::list_tables(
                &client,
                search.as_deref(),
                after.as_deref(),
                MAX_OBJECTS + 1,
            )
            .await
            .map_err(target_error)?
            .into_iter()
            .map(|name| views::TargetObject {
                label: name.clone(),
                name,
                createable: None,
                updateable: None,
                custom: None,
            })
            .collect()
        }
        ConnectionKind::Salesforce => {
            salesforce_objects(&state, &user, &row, search.as_deref(), after.as_deref()).await?
        }
        ConnectionKind::Dropbox => return Err(not_a_target()),
    };
    let next = (found.len() > MAX_OBJECTS).then(|| {
        found.truncate(MAX_OBJECTS);
        found.last().map(|o| o.name.clone())
    });
    Ok(HttpResponse::Ok().json(views::TargetObjects {
        objects: found,
        next: next.flatten(),
    }))
}

/// A table's or sObject's fields.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(
        ("connection_id" = Uuid, Path, description = "The connection."),
        ("name" = String, Path, description = "The table (`schema.table` outside `public`) or sObject."),
    ),
    responses(
        Authenticated,
        (status = 200, description = "The fields, in the table's or object's order.", body = views::TargetFields),
        (status = 404, description = "`not_found`: no such connection in the account, or no \
            such table or object at the target.", body = ErrorBody),
        (status = 422, description = "`invalid`: a Dropbox connection; `connection_failed`: the \
            target refused the stored credentials.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: the target could not be reached.", body = ErrorBody),
    )
)]
#[get("/v1/targets/{connection_id}/objects/{name}/fields")]
pub async fn list_fields(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, object) = path.into_inner();
    let row = connections::find(&state, &user, id).await?;
    let fields = fields_of(&state, &user, &row, &object).await?;
    Ok(HttpResponse::Ok().json(views::TargetFields { object, fields }))
}

/// The fields of `object` at `row`'s target; a missing object is not found.
pub(crate) async fn fields_of(
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
    object: &str,
) -> Result<Vec<views::TargetField>, ApiError> {
    match row.kind {
        ConnectionKind::Postgres => {
            let client = postgres_client(state, user, row).await?;
            let table = pg::describe(&client, object).await.map_err(target_error)?;
            Ok(table_fields(&table))
        }
        ConnectionKind::Salesforce => {
            let org = salesforce_target::open(state, user, row).await?;
            let described = org.sf.describe(object).await;
            org.keep_renewed(state).await?;
            Ok(object_fields(&described.map_err(salesforce_error)?))
        }
        ConnectionKind::Dropbox => Err(not_a_target()),
    }
}

/// The fields auto-match may map a column to: those a write can set (and
/// a record's `Id`, which names it in an update).
pub(crate) fn matchable(fields: &[views::TargetField]) -> Vec<auto::TargetField> {
    fields
        .iter()
        .filter(|f| f.createable.unwrap_or(true) || f.updateable.unwrap_or(true) || f.key)
        .map(|f| auto::TargetField {
            name: f.name.clone(),
            label: f.label.clone(),
            required: f.required,
        })
        .collect()
}

fn not_a_target() -> ApiError {
    invalid(
        "connection_id",
        "a Dropbox connection is a source: imports go to PostgreSQL or Salesforce",
    )
}

/// The connection's database, connected to.
async fn postgres_client(
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
) -> Result<pg::Client, ApiError> {
    let params =
        connections::postgres_params(state, user, row.connection_id, "connection_id").await?;
    pg::connect_checked(&params).await.map_err(connect_error)
}

/// A database that cannot be reached is the target's trouble (502); one
/// that refuses the stored credentials, the connection's to fix (422).
fn connect_error(failure: ConnectFailure) -> ApiError {
    match failure.kind {
        FailureKind::Unreachable => ApiError::Upstream {
            message: failure.message,
            retry_after_secs: None,
        },
        kind => ApiError::ConnectionFailed {
            reason: kind.code(),
            message: failure.message,
        },
    }
}

fn target_error(e: TargetError) -> ApiError {
    match e {
        TargetError::Invalid(_) => ApiError::NotFound,
        other => ApiError::Upstream {
            message: format!("the target database failed to answer: {other}"),
            retry_after_secs: None,
        },
    }
}

fn salesforce_error(e: SalesforceError) -> ApiError {
    match &e {
        SalesforceError::Refused { code, .. } if code == "NOT_FOUND" || code == "INVALID_TYPE" => {
            ApiError::NotFound
        }
        SalesforceError::Reconnect | SalesforceError::MissingScope => ApiError::ConnectionFailed {
            reason: "provider_refused",
            message: "Salesforce no longer accepts this connection: connect the org again".into(),
        },
        _ => ApiError::Upstream {
            message: e.to_string(),
            retry_after_secs: None,
        },
    }
}

/// A table's columns as fields.
fn table_fields(table: &pg::Table) -> Vec<views::TargetField> {
    let single_keys: Vec<&str> = table
        .unique_keys
        .iter()
        .filter_map(|key| match key.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        })
        .collect();
    table
        .columns
        .iter()
        .map(|c| views::TargetField {
            name: c.name.clone(),
            label: c.name.clone(),
            kind: c.sql_type.clone(),
            required: !c.nullable && !c.has_default,
            key: table.primary_key.contains(&c.name) || single_keys.contains(&c.name.as_str()),
            createable: None,
            updateable: None,
            external_id: None,
        })
        .collect()
}

/// An sObject's fields.
fn object_fields(described: &Describe) -> Vec<views::TargetField> {
    described
        .fields
        .iter()
        .map(|f| views::TargetField {
            name: f.name.clone(),
            label: f.label.clone(),
            kind: f.kind.clone(),
            required: !f.nillable && f.createable && !f.defaulted_on_create,
            key: f.id_lookup || f.external_id,
            createable: Some(f.createable),
            updateable: Some(f.updateable),
            external_id: Some(f.external_id),
        })
        .collect()
}

/// The org's createable or updateable sObjects matching `search`, after
/// `after`, in name order: one more than a page, so that the caller knows
/// whether there is a next.
async fn salesforce_objects(
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
    search: Option<&str>,
    after: Option<&str>,
) -> Result<Vec<views::TargetObject>, ApiError> {
    let org = salesforce_target::open(state, user, row).await?;
    let listed = org.sf.describe_global().await;
    org.keep_renewed(state).await?;
    let search = search.map(str::to_lowercase);
    let mut objects: Vec<_> = listed
        .map_err(salesforce_error)?
        .into_iter()
        .filter(|o| o.createable || o.updateable)
        .filter(|o| after.is_none_or(|after| o.name.as_str() > after))
        .filter(|o| {
            search.as_deref().is_none_or(|s| {
                o.name.to_lowercase().contains(s) || o.label.to_lowercase().contains(s)
            })
        })
        .collect();
    objects.sort_by(|a, b| a.name.cmp(&b.name));
    objects.truncate(MAX_OBJECTS + 1);
    Ok(objects
        .into_iter()
        .map(|o| views::TargetObject {
            name: o.name,
            label: o.label,
            createable: Some(o.createable),
            updateable: Some(o.updateable),
            custom: Some(o.custom),
        })
        .collect())
}
