//! Mapping templates: an account's saved mappings, saved and deleted.

use serde::{Deserialize, Serialize};

/// A mapping template was saved: its name and entries sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingTemplateSaved {
    /// Sealed: the template's name and entries as JSON.
    pub details: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingTemplateDeleted {}
