//! Object definitions as Salesforce's `DescribeSObjectResult` and its
//! `Field` entries describe them.

use super::schema::{FieldDef, FieldType, ObjectDef};
use serde_json::{json, Value};

impl FieldType {
    fn soap_type(self) -> &'static str {
        match self {
            Self::Id | Self::Reference => "tns:ID",
            Self::Boolean => "xsd:boolean",
            Self::Int => "xsd:int",
            Self::Double | Self::Currency | Self::Percent => "xsd:double",
            Self::Date => "xsd:date",
            Self::Datetime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }
}

impl FieldDef {
    fn describe(&self) -> Value {
        let t = self.field_type;
        let digits = if t == FieldType::Int { 9 } else { 0 };
        let (precision, scale) = (self.precision, self.scale);
        let picklist: Vec<Value> = self
            .picklist_values
            .iter()
            .map(|v| json!({"active": true, "defaultValue": false, "label": v, "value": v, "validFor": null}))
            .collect();
        json!({
            "name": self.name,
            "label": self.label,
            "type": t.name(),
            "soapType": t.soap_type(),
            "length": self.length,
            "byteLength": if t.is_text() { self.length * 3 } else { 0 },
            "precision": precision,
            "scale": scale,
            "digits": digits,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "defaultValue": if t == FieldType::Boolean { json!(false) } else { Value::Null },
            "externalId": self.external_id,
            "idLookup": self.id_lookup,
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "nameField": self.name == "Name",
            "custom": self.name.ends_with("__c"),
            "calculated": false,
            "autoNumber": false,
            "filterable": true,
            "sortable": t != FieldType::Textarea,
            "referenceTo": self.reference_to,
            "relationshipName": self.relationship_name,
            "polymorphicForeignKey": self.is_polymorphic(),
            "picklistValues": picklist,
        })
    }
}

impl ObjectDef {
    /// The object as describe global lists it (`DescribeGlobalSObjectResult`).
    pub(super) fn summary(&self, key_prefix: &str, version: &str) -> Value {
        let base = format!("/services/data/{version}/sobjects/{}", self.name);
        json!({
            "name": self.name,
            "label": self.label,
            "labelPlural": format!("{}s", self.label),
            "keyPrefix": key_prefix,
            "custom": self.name.ends_with("__c"),
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.updateable,
            "undeletable": self.updateable,
            "queryable": true,
            "retrieveable": true,
            "searchable": true,
            "urls": {
                "sobject": base,
                "describe": format!("{base}/describe"),
                "rowTemplate": format!("{base}/{{ID}}"),
            },
        })
    }

    /// The object and its fields (`DescribeSObjectResult`).
    pub(super) fn describe(&self, key_prefix: &str, version: &str) -> Value {
        let mut described = self.summary(key_prefix, version);
        described["fields"] = self.fields.iter().map(FieldDef::describe).collect();
        described
    }
}
