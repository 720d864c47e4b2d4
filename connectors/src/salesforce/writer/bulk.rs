//! A write's Bulk upload: its header row, each row's cells, and what the
//! cells send to each field.

use super::{not_compared, Writer};
use crate::salesforce::collections::{typed, Typed};
use serde_json::Value;
use std::borrow::Cow;

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
    pub fn bulk_values<'v>(
        &self,
        values: &'v [Option<String>],
    ) -> Result<Vec<Option<Cow<'v, str>>>, String> {
        let mut cells = Vec::with_capacity(self.targets.len());
        for (target, value) in self.targets.iter().zip(values) {
            let Some(text) = value.as_deref() else {
                cells.push(None);
                continue;
            };
            if target.by.is_some() {
                // A reference by external id: the id's value.
                if target.field.relationship_name.is_none() {
                    return Err(format!("{} has no relationship name", target.field.name));
                }
                cells.push(Some(Cow::Borrowed(text)));
                continue;
            }
            cells.push(Some(match typed(&target.field, text)? {
                Typed::Bool(true) => Cow::Borrowed("true"),
                Typed::Bool(false) => Cow::Borrowed("false"),
                Typed::Int(n) => Cow::Owned(n.to_string()),
                Typed::Text(text) => text,
            }));
        }
        self.check_key(values)?;
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::{Describe, Operation};
    use serde_json::json;

    fn writer() -> Writer {
        let field = |name: &str, kind: &str| {
            json!({"name": name, "type": kind, "length": if kind == "string" { 5 } else { 0 },
                   "createable": true, "updateable": true, "nillable": true})
        };
        let kinds = ["string", "boolean", "int", "currency", "date", "datetime"];
        let describe: Describe = serde_json::from_value(json!({
            "name": "Thing__c", "createable": true, "updateable": true,
            "fields": kinds.map(|k| field(k, k)),
        }))
        .unwrap();
        Writer::new(&describe, Operation::Insert, &kinds, &[]).unwrap()
    }

    #[test]
    fn bulk_cells_carry_what_a_collections_call_sends_and_fail_the_same_rows() {
        let writer = writer();
        let rows = [
            [
                "Ada",
                " Yes ",
                " 42 ",
                "+0012.50",
                " 2024-05-01 ",
                "2024-05-01T12:00:00+02:00",
            ],
            ["", "n", "-7", "1e3", "2024-02-29", "2024-05-01T10:00:00.5Z"],
            [
                "Adalbert",
                "1",
                "1",
                "1",
                "2024-01-01",
                "2024-05-01T10:00:00Z",
            ],
            [
                "Bob",
                "maybe",
                "1",
                "1",
                "2024-01-01",
                "2024-05-01T10:00:00Z",
            ],
            ["Bob", "0", "1.5", "1", "2024-01-01", "2024-05-01T10:00:00Z"],
            ["Bob", "0", "1", "x", "2024-01-01", "2024-05-01T10:00:00Z"],
            ["Bob", "0", "1", "1", "2024-13-01", "2024-05-01T10:00:00Z"],
        ];
        let mut refused = 0;
        for row in rows {
            let mut values: Vec<Option<String>> = row.iter().map(|v| Some(v.to_string())).collect();
            values[0] = values[0].take().filter(|v| !v.is_empty());
            let sent: Result<Vec<Option<String>>, String> = writer
                .targets
                .iter()
                .zip(&values)
                .map(|(t, v)| {
                    let (_, json) = crate::salesforce::field_value(&t.field, None, v.as_deref())?;
                    Ok(match json {
                        Value::Null => None,
                        Value::String(text) => Some(text),
                        other => Some(other.to_string()),
                    })
                })
                .collect();
            let cells = writer
                .bulk_values(&values)
                .map(|cells| cells.into_iter().map(|c| c.map(Cow::into_owned)).collect());
            assert_eq!(cells, sent, "{row:?}");
            refused += usize::from(cells.is_err());
        }
        assert_eq!(refused, 5);
    }
}
