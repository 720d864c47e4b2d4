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

/// A realistic Opportunity: `Name`, `StageName` and `CloseDate` required,
/// `AccountId` a lookup to Account, `External_Id__c` a unique external id.
pub fn opportunity() -> ObjectDef {
    use FieldType::*;
    ObjectDef::new("Opportunity")
        .field(FieldDef::new("Name", String).length(120).required())
        .field(
            FieldDef::new("StageName", Picklist)
                .label("Stage")
                .picklist(&["Prospecting", "Closed Won", "Closed Lost"])
                .required(),
        )
        .field(
            FieldDef::new("CloseDate", Date)
                .label("Close Date")
                .required(),
        )
        .field(FieldDef::new("Amount", Currency))
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

/// A realistic Task: `Subject` required; `WhatId` ("Related To", the
/// relationship `What`) a polymorphic lookup to an Account or an
/// Opportunity, `WhoId` ("Name", `Who`) a lookup to a Contact (in an org,
/// to a Contact or a Lead: the stand-in has no Lead).
pub fn task() -> ObjectDef {
    use FieldType::*;
    ObjectDef::new("Task")
        .field(FieldDef::new("Subject", String).required())
        .field(FieldDef::new("Status", Picklist).picklist(&["Not Started", "Completed"]))
        .field(FieldDef::new("ActivityDate", Date).label("Due Date Only"))
        .field(
            FieldDef::new("WhatId", Reference)
                .label("Related To ID")
                .references_any(&["Account", "Opportunity"], "What"),
        )
        .field(
            FieldDef::new("WhoId", Reference)
                .label("Name ID")
                .references("Contact", "Who"),
        )
}
