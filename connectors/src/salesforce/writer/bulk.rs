//! A write's Bulk upload: its header row, each row's cells, and what the
//! cells send to each field.

use super::{field_value, not_compared, Writer};
use serde_json::Value;

impl Writer {
    /// What a Bulk upload's cells send to each mapped field (see
    /// [`Writer::wrote`]): an empty cell writes nothing.
    pub fn bulk_wrote<'a>(&self, cells: impl IntoIterator<Item = Option<&'a str>>) -> Vec<Value> {
        self.targets
            .iter()
            .zip(cells)
            .map(|(target, cell)| match cell {
                Some(text) if target.by.is_none() => Value::String(text.to_owned()),
                _ => not_compared(),
            })
            .collect()
    }

    /// The columns of a Bulk upload of this write: the fields, and a
    /// reference set by an external id as `Account.External_Id__c`
    /// (`RelationshipName.IndexedFieldName`), a polymorphic one with the
    /// related record's object, as `Opportunity:What.External_Id__c`
    /// (`ObjectType:RelationshipName.IndexedFieldName`: Bulk API 2.0 and
    /// Bulk API Developer Guide, "Relationship Fields in a Header Row
    /// (2.0)"; Bulk API refuses the object on a reference that is not
    /// polymorphic).
    pub fn bulk_header(&self) -> Vec<String> {
        self.targets
            .iter()
            .map(|t| match (&t.by, &t.field.relationship_name) {
                (Some(by), Some(relationship)) if t.field.is_polymorphic() => {
                    format!("{}:{relationship}.{}", by.object, by.key)
                }
                (Some(by), Some(relationship)) => format!("{relationship}.{}", by.key),
                _ => t.field.name.clone(),
            })
            .collect()
    }

    /// Row `values` as a Bulk upload's cells (checked as [`Writer::record`]
    /// checks them); `None` for a field without a value.
    pub fn bulk_values(&self, values: &[Option<String>]) -> Result<Vec<Option<String>>, String> {
        let mut cells = Vec::with_capacity(self.targets.len());
        for (target, value) in self.targets.iter().zip(values) {
            let (_, json) = field_value(&target.field, target.by.as_ref(), value.as_deref())?;
            cells.push(match json {
                Value::Null => None,
                Value::String(text) => Some(text),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) => Some(n.to_string()),
                // A reference by external id: the id's value.
                Value::Object(_) => value.as_deref().map(str::to_owned),
                Value::Array(_) => None,
            });
        }
        self.check_key(values)?;
        Ok(cells)
    }
}
