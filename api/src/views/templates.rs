//! What the mapping template operations answer.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_schema::job::FieldMapping;
use utoipa::ToSchema;
use uuid::Uuid;

/// A saved mapping: entries by source column (header) → target field,
/// with transforms, applied to a new upload by `POST /v1/jobs` with
/// `"mapping_template": id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingTemplate {
    pub id: Uuid,
    pub name: String,
    pub entries: Vec<FieldMapping>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MappingTemplates {
    pub templates: Vec<MappingTemplate>,
}
