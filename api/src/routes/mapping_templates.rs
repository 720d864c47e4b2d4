//! `/v1/mapping-templates`: an account's saved mappings. A template is a
//! name and entries (source column by its header → target field, with
//! transforms, as a job's mapping has them); `POST /v1/jobs` with
//! `"mapping_template": id` applies one to a new upload, and refuses (422,
//! naming them) when the upload lacks a column the template maps, rather
//! than load fewer fields than the template says.
//!
//! Recorded as events on the template's stream (`mapping_template.saved`,
//! `.deleted`), its name and entries sealed under the account's subject
//! key; the `mapping_templates` table is their projection. Owners and
//! admins save and delete them; everyone in the account may read them.
//! An account keeps at most [`MAX_TEMPLATES`], each named in at most
//! [`MAX_NAME_CHARS`] characters with at most [`MAX_ENTRIES`] entries.

use crate::auth::{AccountAdmin, AuthUser, ManageTemplates};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::{invalid, subject_key, text};
use crate::streams;
use crate::views::templates as views;
use crate::AppState;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use sluice_events::aggregate::mapping_template::MappingTemplate;
use sluice_events::event::MappingTemplateSaved;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use sluice_schema::ids::{AccountId, MappingTemplateId};
use sluice_schema::job::FieldMapping;
use sluice_schema::models::MappingTemplateRow;
use sluice_schema::repo::mapping_templates as repo;
use sluice_vault::{owner, SubjectKey};
use std::collections::HashSet;
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest template name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The most entries one template holds (as many fields as a mapping sets).
pub const MAX_ENTRIES: usize = sluice_connectors::mapping::MAX_FIELDS;
/// The most templates one account keeps.
pub const MAX_TEMPLATES: i64 = 500;

/// A template to save.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMappingTemplate {
    /// 1 to 200 printable characters.
    name: String,
    /// 1 to 1,000 entries, each target field at most once.
    entries: Vec<FieldMapping>,
}

/// What is sealed of a template.
#[derive(Serialize, Deserialize)]
struct Details {
    name: String,
    entries: Vec<FieldMapping>,
}

/// A template's name: 1 to [`MAX_NAME_CHARS`] printable characters.
struct TemplateName(String);

impl TemplateName {
    fn parse(given: &str) -> Result<Self, ApiError> {
        text("name", given, MAX_NAME_CHARS).map(Self)
    }
}

/// A template's entries, checked against the bounds.
struct Entries(Vec<FieldMapping>);

impl Entries {
    fn parse(entries: Vec<FieldMapping>) -> Result<Self, ApiError> {
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(invalid(
                "entries",
                format!("a template has 1 to {MAX_ENTRIES} entries"),
            ));
        }
        sluice_connectors::mapping::check_bounds(&entries).map_err(|e| invalid("entries", e))?;
        let mut targets = HashSet::new();
        if let Some(twice) = entries.iter().find(|e| !targets.insert(e.target.as_str())) {
            return Err(invalid(
                "entries",
                format!("the field {} is mapped twice", twice.target),
            ));
        }
        Ok(Self(entries))
    }
}

fn view(
    id: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
    details: Details,
) -> views::MappingTemplate {
    views::MappingTemplate {
        id,
        name: details.name,
        entries: details.entries,
        created_at,
    }
}

/// `row`'s name and entries opened.
fn opened(
    subject: &SubjectKey,
    row: MappingTemplateRow,
) -> Result<views::MappingTemplate, ApiError> {
    let aad = owner::mapping_template(row.account_id, row.template_id);
    let plain = subject
        .decrypt(&row.details, &aad)
        .map_err(|e| ApiError::Internal(format!("mapping template {}: {e}", row.template_id)))?;
    let details: Details = serde_json::from_str(&plain)
        .map_err(|e| ApiError::Internal(format!("mapping template {}: {e}", row.template_id)))?;
    Ok(view(row.template_id, row.created_at, details))
}

/// A template of `account`, opened; another account's is not found.
pub(crate) async fn find(
    state: &AppState,
    account: AccountId,
    id: Uuid,
) -> Result<views::MappingTemplate, ApiError> {
    let row = state
        .db(move |conn| Ok(repo::find(conn, account, MappingTemplateId(id))?))
        .await?
        .ok_or(ApiError::NotFound)?;
    opened(&subject_key(state, account).await?, row)
}

/// Every template of `account`, opened (for the list and the export).
pub(crate) fn open_all(
    subject: &SubjectKey,
    rows: Vec<MappingTemplateRow>,
) -> Result<Vec<views::MappingTemplate>, ApiError> {
    rows.into_iter().map(|row| opened(subject, row)).collect()
}

/// Owners and admins: saves a template.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The template.", body = views::MappingTemplate),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 409, description = "`conflict`: the account keeps 500 templates already.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: a name that is empty or \
            too long, no entries or too many, a field mapped twice, a bad transform.", body = ErrorBody),
    )
)]
#[post("/v1/mapping-templates")]
pub async fn create(
    AccountAdmin { user, .. }: AccountAdmin<ManageTemplates>,
    state: web::Data<AppState>,
    body: web::Json<NewMappingTemplate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let TemplateName(name) = TemplateName::parse(&body.name)?;
    let Entries(entries) = Entries::parse(body.entries)?;
    let account = user.account_id;
    let kept = state
        .db(move |conn| Ok(repo::count(conn, account)?))
        .await?;
    if kept >= MAX_TEMPLATES {
        return Err(ApiError::Conflict(format!(
            "an account keeps at most {MAX_TEMPLATES} mapping templates: delete one first"
        )));
    }
    let id = MappingTemplateId::new();
    let details = Details { name, entries };
    let plain = zeroize::Zeroizing::new(
        serde_json::to_string(&details).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    let subject = subject_key(&state, account).await?;
    let sealed = subject.encrypt(&plain, &owner::mapping_template(account, id));
    let event = NewEvent::new(
        DomainEvent::MappingTemplateSaved(MappingTemplateSaved { details: sealed }),
        state.metadata(format!("user:{}", user.user_id)),
    )
    .for_account(account);
    let request = AppendRequest::new(
        "mapping_template",
        id.0,
        ExpectedVersion::NoStream,
        vec![event],
    );
    state.platform.appender.append(request).await?;
    let created = find(&state, account, id.0).await?;
    Ok(HttpResponse::Created().json(created))
}

/// The account's templates, oldest first.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The templates.", body = views::MappingTemplates))
)]
#[get("/v1/mapping-templates")]
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = user.account_id;
    let rows = state.db(move |conn| Ok(repo::list(conn, account)?)).await?;
    let templates = open_all(&subject_key(&state, account).await?, rows)?;
    Ok(HttpResponse::Ok().json(views::MappingTemplates { templates }))
}

/// A template.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The template.")),
    responses(
        Authenticated,
        (status = 200, description = "The template.", body = views::MappingTemplate),
        (status = 404, description = "`not_found`: no such template in the account.", body = ErrorBody),
    )
)]
#[get("/v1/mapping-templates/{id}")]
pub async fn show(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let template = find(&state, user.account_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(template))
}

/// Owners and admins: deletes a template (jobs made from it keep their
/// mapping).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The template.")),
    responses(
        Authenticated,
        (status = 204, description = "The template is deleted."),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such template in the account.", body = ErrorBody),
    )
)]
#[delete("/v1/mapping-templates/{id}")]
pub async fn remove(
    AccountAdmin { user, .. }: AccountAdmin<ManageTemplates>,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (state, user): (&AppState, &AuthUser) = (&state, &user);
    // Decided on the template's stream: of two deletions at once, the
    // second finds the template gone (404).
    streams::decide(state, || async move {
        let loaded = streams::load::<MappingTemplate>(state, id).await?;
        let events = loaded.state.delete(user.account_id)?;
        Ok(streams::request_on(state, user, &loaded, events))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
