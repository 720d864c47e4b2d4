//! What the target catalog (`/v1/targets/...`) and auto-match answer.

use serde::Serialize;
use sluice_connectors::mapping::auto::{Matched, Rule};
use utoipa::ToSchema;

/// One page of a target's tables or objects.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetObjects {
    pub objects: Vec<TargetObject>,
    /// Give it as `after` for the next page; `null` on the last page.
    pub next: Option<String>,
}

/// A table (PostgreSQL: `table` in `public`, `schema.table` elsewhere) or
/// an sObject (Salesforce).
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetObject {
    /// The name a job's `target.object` takes.
    pub name: String,
    /// For people: the sObject's label; a table's name.
    pub label: String,
    /// Salesforce only: whether records may be created.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub createable: Option<bool>,
    /// Salesforce only: whether records may be updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub updateable: Option<bool>,
    /// Salesforce only: a custom object (`__c`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub custom: Option<bool>,
}

/// A table's or object's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetFields {
    pub object: String,
    pub fields: Vec<TargetField>,
}

/// A field of a table or object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetField {
    pub name: String,
    /// For people: the Salesforce field's label; a column's name.
    pub label: String,
    /// PostgreSQL: the column's type as SQL writes it (`integer`,
    /// `character varying`); Salesforce: the field's type (`string`,
    /// `email`, `reference`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether a new row or record needs a value: PostgreSQL, NOT NULL
    /// without a default; Salesforce, not nillable, createable and not
    /// defaulted on create.
    pub required: bool,
    /// Whether the field names one row: PostgreSQL, in the primary key or
    /// a unique key of its own; Salesforce, an id lookup or external id.
    pub key: bool,
    /// Salesforce only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub createable: Option<bool>,
    /// Salesforce only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub updateable: Option<bool>,
    /// Salesforce only: an external id field (an upsert's key).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub external_id: Option<bool>,
}

/// What auto-match found (see `POST /v1/mappings/suggest`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingSuggestion {
    /// In the header's order.
    pub matches: Vec<SuggestedMatch>,
    /// The columns matched to no field.
    pub unmatched_columns: Vec<String>,
    /// The fields a new row or record needs that no column went to.
    pub unmapped_required: Vec<String>,
}

/// A column matched to a field.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestedMatch {
    /// The column, by its header.
    pub source: String,
    /// The field.
    pub target: String,
    pub rule: MatchRule,
    /// The rule's: 1.0, 0.9, 0.8 or 0.7.
    pub confidence: f32,
}

/// How a column matched its field.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MatchRule {
    /// The column is the field's name (1.0).
    Exact,
    /// The same without case, accents, spaces or punctuation (0.9).
    Name,
    /// The column is the field's label, so compared (0.8).
    Label,
    /// A known synonym of the field's name or label (0.7).
    Synonym,
}

impl From<Rule> for MatchRule {
    fn from(rule: Rule) -> Self {
        match rule {
            Rule::Exact => Self::Exact,
            Rule::Name => Self::Name,
            Rule::Label => Self::Label,
            Rule::Synonym => Self::Synonym,
        }
    }
}

impl From<Matched> for MappingSuggestion {
    fn from(found: Matched) -> Self {
        Self {
            matches: found
                .matches
                .into_iter()
                .map(|m| SuggestedMatch {
                    source: m.source,
                    target: m.target,
                    rule: m.rule.into(),
                    confidence: m.rule.confidence(),
                })
                .collect(),
            unmatched_columns: found.unmatched_columns,
            unmapped_required: found.unmapped_required,
        }
    }
}

/// A formula tried on a source's first rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormulaTried {
    pub rows: Vec<FormulaRow>,
}

/// A formula's outcome for one row.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormulaRow {
    /// The row's number, as the preview gives it.
    pub row: u64,
    /// The value as a run would write it (null when blank); for a
    /// condition, `kept` or `skipped`.
    pub value: Option<String>,
    /// Why the row has no value; it never quotes a cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
}
