//! What a Bulk API 2.0 job's result files echo of each uploaded row.
//!
//! Salesforce's Bulk API 2.0 Developer Guide, "Get Job Successful Record
//! Results" and "Get Job Failed Record Results", says each result row
//! carries the "field data for the row that was provided in the original
//! job data", and that "the order of records in the response is not
//! guaranteed to match the ordering of records in the original job data".
//! What an org writes there is the value as the field's type read it:
//! numbers in their shortest form (`1.50` as `1.5`, `007` as `7`), a date
//! as `YYYY-MM-DD`, a date and time in UTC (`2024-05-01T10:00:00.000Z`),
//! a checkbox as `true` or `false`, a picklist value in the case the
//! picklist defines it, and a record id in its 18-character form. Text is
//! echoed as sent: "Prepare CSV Files" says field values are not trimmed.
//!
//! [`Echo::Normalised`] writes results that way; [`Echo::AsUploaded`], the
//! default, echoes each cell as it came.

use super::bulk_job::Column;
use super::ids;
use super::schema::{FieldDef, FieldType};
use super::values::{coerce, Raw};
use serde_json::Value;

/// How a job's results echo the uploaded values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Echo {
    #[default]
    AsUploaded,
    Normalised,
}

impl Echo {
    /// The row as a result file echoes it.
    pub(super) fn row(self, columns: &[Column], row: Vec<String>) -> Vec<String> {
        match self {
            Self::AsUploaded => row,
            Self::Normalised => columns
                .iter()
                .zip(row)
                .map(|(column, cell)| normalised(column, cell))
                .collect(),
        }
    }
}

fn normalised(column: &Column, cell: String) -> String {
    if cell.is_empty() || cell == "#N/A" {
        return cell;
    }
    match column {
        Column::Id => ids::normalize(&cell).unwrap_or(cell),
        Column::Field(field) => field_value(field, &cell).unwrap_or(cell),
        Column::Ref { .. } => cell,
    }
}

/// `cell` as `field`'s type reads it; `None` when it does not.
fn field_value(field: &FieldDef, cell: &str) -> Option<String> {
    match field.field_type {
        FieldType::Id | FieldType::Reference => ids::normalize(cell.trim()),
        FieldType::Picklist => field
            .picklist_values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(cell.trim()))
            .cloned(),
        FieldType::Int
        | FieldType::Double
        | FieldType::Currency
        | FieldType::Percent
        | FieldType::Boolean
        | FieldType::Date => match coerce(field, Raw::Text(cell)).ok()? {
            Value::String(text) => Some(text),
            Value::Null => None,
            other => Some(other.to_string()),
        },
        FieldType::Datetime => match coerce(field, Raw::Text(cell)).ok()? {
            Value::String(text) => Some(text.replace("+0000", "Z")),
            _ => None,
        },
        FieldType::String | FieldType::Email | FieldType::Textarea => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_echoed_as_their_types_read_them() {
        let amount = FieldDef::new("Amount__c", FieldType::Currency);
        assert_eq!(field_value(&amount, "1.50").as_deref(), Some("1.5"));
        let count = FieldDef::new("Count__c", FieldType::Int);
        assert_eq!(field_value(&count, "007").as_deref(), Some("7"));
        let when = FieldDef::new("When__c", FieldType::Datetime);
        assert_eq!(
            field_value(&when, "2024-05-01T12:00:00+02:00").as_deref(),
            Some("2024-05-01T10:00:00.000Z")
        );
        let stage = FieldDef::new("Stage__c", FieldType::Picklist).picklist(&["Closed Won"]);
        assert_eq!(
            field_value(&stage, "closed won").as_deref(),
            Some("Closed Won")
        );
        let flag = FieldDef::new("Flag__c", FieldType::Boolean);
        assert_eq!(field_value(&flag, "1").as_deref(), Some("true"));
        let name = FieldDef::new("Name", FieldType::String);
        assert_eq!(field_value(&name, " Ada ").as_deref(), None);
    }
}
