//! The standard objects an import most often targets, defined as a
//! Salesforce org has them (trimmed to the fields an import touches).

use super::schema::{FieldDef, FieldType, ObjectDef};

/// A realistic Account: `Name` required, `External_Id__c` a unique external id.
pub fn account() -> ObjectDef {
    use FieldType::*;
    ObjectDef::new("Account")
        .field(
            FieldDef::new("Name", String)
                .label("Account Name")
                .required(),
        )
        .field(
            FieldDef::new("External_Id__c", String)
                .label("External Id")
                .external_id()
                .unique(),
        )
        .field(
            FieldDef::new("Phone", String)
                .label("Account Phone")
                .length(40),
        )
        .field(FieldDef::new("Website", String))
        .field(FieldDef::new("Industry", Picklist).picklist(&[
            "Agriculture",
            "Banking",
            "Education",
            "Retail",
        ]))
        .field(FieldDef::new("AnnualRevenue", Currency).label("Annual Revenue"))
        .field(FieldDef::new("NumberOfEmployees", Int).label("Employees"))
        .field(
            FieldDef::new("Description", Textarea)
                .label("Account Description")
                .length(32000),
        )
}

/// A realistic Contact: `LastName` required, `AccountId` a lookup to Account
/// (relationship `Account`), `External_Id__c` a unique external id.
pub fn contact() -> ObjectDef {
    use FieldType::*;
    ObjectDef::new("Contact")
        .field(
            FieldDef::new("FirstName", String)
                .label("First Name")
                .length(40),
        )
        .field(
            FieldDef::new("LastName", String)
                .label("Last Name")
                .length(80)
                .required(),
        )
        .field(FieldDef::new("Email", Email))
        .field(
            FieldDef::new("Phone", String)
                .label("Business Phone")
                .length(40),
        )
        .field(FieldDef::new("Title", String).length(128))
        .field(FieldDef::new("Birthdate", Date))
        .field(FieldDef::new("HasOptedOutOfEmail", Boolean).label("Email Opt Out"))
        .field(
            FieldDef::new("AccountId", Reference)
                .label("Account ID")
                .references("Account", "Account"),
        )
        .field(
            FieldDef::new("External_Id__c", String)
                .label("External Id")
                .external_id()
                .unique(),
        )
}
