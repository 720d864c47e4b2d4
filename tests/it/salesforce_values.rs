//! What runs into a Salesforce org send for lookups and numbers, by sObject
//! Collections and by Bulk API 2.0: a polymorphic lookup (a Task's
//! `WhatId`) set in the object the mapping's lookup names, and decimals
//! with every digit, both written and rolled back.

use crate::accounts::account;
use crate::imports::upload;
use crate::salesforce_runs::{app_for, connect_org, create_job_into, roll_back, run};
use serde_json::{json, Map, Value};
use sluice_testkit::salesforce::{
    opportunity, task, FieldDef, FieldType, ObjectDef, SalesforceStandIn,
};
use sluice_testkit::TestApp;

/// A signed-up owner with the stand-in's org connected, writing by Bulk
/// above `bulk_above_rows` rows: the app, the owner's token and the
/// connection.
async fn connected(
    standin: &SalesforceStandIn,
    bulk_above_rows: usize,
) -> (TestApp, String, String) {
    standin.complete_bulk_jobs_after_polls(1);
    let app = app_for(standin, bulk_above_rows, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, standin).await;
    (app, owner, org)
}

fn records_by(
    standin: &SalesforceStandIn,
    object: &str,
    field: &str,
) -> Vec<(String, Map<String, Value>)> {
    let mut records: Vec<(String, Map<String, Value>)> = standin
        .records(object)
        .into_iter()
        .map(|r| (r[field].as_str().unwrap_or_default().to_owned(), r))
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    records
}

/// Tasks and their deals: an Account and an Opportunity share the external
/// id `X-1`; `X-2` is an Opportunity's only. Their ids: the Account's and
/// the two Opportunities'.
fn deals(standin: &SalesforceStandIn) -> (String, String, String) {
    standin.define_object(opportunity());
    standin.define_object(task());
    let account = standin.insert_records(
        "Account",
        [json!({"Name": "Acme", "External_Id__c": "X-1"})],
    );
    let deal = |name: &str, key: &str| json!({"Name": name, "StageName": "Prospecting", "CloseDate": "2025-06-30", "External_Id__c": key});
    let deals = standin.insert_records(
        "Opportunity",
        [deal("Big deal", "X-1"), deal("Small deal", "X-2")],
    );
    (account[0].clone(), deals[0].clone(), deals[1].clone())
}

/// `WhatId` set by a lookup of an Opportunity's external id.
fn what_by_deal() -> Value {
    json!({"source": "Deal", "target": "WhatId",
           "transform": {"type": "lookup", "object": "Opportunity", "key": "External_Id__c"}})
}

#[tokio::test]
async fn a_polymorphic_lookup_sets_the_record_of_the_object_its_mapping_names() {
    let standin = SalesforceStandIn::start().await;
    let (app, owner, org) = connected(&standin, 2_000).await;
    let (_, big, small) = deals(&standin);
    let csv = "Subject,Deal\nCall,X-1\nMail,X-2\nVisit,X-404\n";
    let upload_id = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let job = json!({
        "operation": "insert",
        "key_fields": [],
        "mapping": [{"source": "Subject", "target": "Subject"}, what_by_deal()],
    });
    let job = create_job_into(&app, &owner, &upload_id, &org, "Task", job).await;
    let before = standin.api_call_counts();

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(
        standin.api_call_counts().bulk,
        before.bulk,
        "written by Collections"
    );
    let tasks = records_by(&standin, "Task", "Subject");
    let whats: Vec<(&str, &Value)> = tasks
        .iter()
        .map(|(s, t)| (s.as_str(), &t["WhatId"]))
        .collect();
    // X-1 is the Opportunity, not the Account with the same key.
    assert_eq!(whats, [("Call", &json!(big)), ("Mail", &json!(small))]);

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert!(standin.records("Task").is_empty());
}

#[tokio::test]
async fn a_bulk_update_names_a_polymorphic_lookups_object_in_its_header_and_is_rolled_back() {
    let standin = SalesforceStandIn::start().await;
    let (app, owner, org) = connected(&standin, 2).await;
    let (acme, big, small) = deals(&standin);
    let ids = standin.insert_records(
        "Task",
        (1..=3).map(|n| json!({"Subject": format!("Task {n}"), "WhatId": acme})),
    );
    let csv = format!("Id,Deal\n{},X-1\n{},X-2\n{},X-1\n", ids[0], ids[1], ids[2]);
    let upload_id = upload(&app, &owner, csv.into_bytes()).await;
    let job = json!({
        "operation": "update",
        "key_fields": [],
        "mapping": [{"source": "Id", "target": "Id"}, what_by_deal()],
    });
    let job = create_job_into(&app, &owner, &upload_id, &org, "Task", job).await;
    let before = standin.api_call_counts();

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(
        standin.api_call_counts().bulk > before.bulk,
        "written by Bulk"
    );
    let whats = |standin: &SalesforceStandIn| -> Vec<Value> {
        records_by(standin, "Task", "Subject")
            .into_iter()
            .map(|(_, t)| t["WhatId"].clone())
            .collect()
    };
    assert_eq!(whats(&standin), [json!(big), json!(small), json!(big)]);

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert_eq!(whats(&standin), [json!(acme), json!(acme), json!(acme)]);
}

/// Invoices with an external id, a currency, a number, a whole number and
/// a checkbox.
fn invoices(standin: &SalesforceStandIn) {
    standin.define_object(
        ObjectDef::new("Invoice__c")
            .field(
                FieldDef::new("External_Id__c", FieldType::String)
                    .external_id()
                    .unique(),
            )
            .field(FieldDef::new("Amount__c", FieldType::Currency).digits(18, 2))
            .field(FieldDef::new("Rate__c", FieldType::Double).digits(18, 0))
            .field(FieldDef::new("Quantity__c", FieldType::Int))
            .field(FieldDef::new("Paid__c", FieldType::Boolean)),
    );
}

/// Upserts invoices with decimals no `f64` holds, `bulk_above_rows` saying
/// how: each is kept to its last digit, integers and checkboxes as they
/// were, and the rollback puts the updated invoice's exact values back.
async fn decimals_are_written_and_rolled_back_with_every_digit(bulk_above_rows: usize) {
    let standin = SalesforceStandIn::start().await;
    let (app, owner, org) = connected(&standin, bulk_above_rows).await;
    invoices(&standin);
    standin.insert_records(
        "Invoice__c",
        [
            json!({"External_Id__c": "INV-1", "Amount__c": "1234567890123456.78",
                "Rate__c": "0.1234567890123456789", "Quantity__c": 7}),
        ],
    );
    let csv = "Key,Amount,Rate,Quantity,Paid\n\
               INV-1,9876543210987654.32,0.9876543210987654321,42,yes\n\
               INV-2,1234567890123456.78,-0.000000000000000001,3,no\n\
               INV-3,12.50,1e3,,\n";
    let upload_id = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let job = json!({
        "operation": "upsert",
        "key_fields": ["External_Id__c"],
        "mapping": [
            {"source": "Key", "target": "External_Id__c"},
            {"source": "Amount", "target": "Amount__c"},
            {"source": "Rate", "target": "Rate__c"},
            {"source": "Quantity", "target": "Quantity__c"},
            {"source": "Paid", "target": "Paid__c"},
        ],
    });
    let job = create_job_into(&app, &owner, &upload_id, &org, "Invoice__c", job).await;
    let before = standin.api_call_counts();

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let by_bulk = standin.api_call_counts().bulk > before.bulk;
    assert_eq!(by_bulk, bulk_above_rows < 3);
    let invoices = records_by(&standin, "Invoice__c", "External_Id__c");
    let values: Vec<[&Value; 4]> = invoices
        .iter()
        .map(|(_, r)| {
            [
                &r["Amount__c"],
                &r["Rate__c"],
                &r["Quantity__c"],
                &r["Paid__c"],
            ]
        })
        .collect();
    // The stand-in keeps decimals as their exact text.
    assert_eq!(
        values,
        [
            [
                &json!("9876543210987654.32"),
                &json!("0.9876543210987654321"),
                &json!(42),
                &json!(true)
            ],
            [
                &json!("1234567890123456.78"),
                &json!("-0.000000000000000001"),
                &json!(3),
                &json!(false)
            ],
            [&json!("12.5"), &json!("1000"), &Value::Null, &json!(false)],
        ]
    );

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    let errors =
        crate::imports::result_file(&app, &owner, undone["id"].as_str().unwrap(), "errors").await;
    assert_eq!(undone["status"], "rolled_back", "{undone} {errors:?}");
    let invoices = records_by(&standin, "Invoice__c", "External_Id__c");
    assert_eq!(invoices.len(), 1);
    let restored = &invoices[0].1;
    assert_eq!(restored["Amount__c"], "1234567890123456.78");
    assert_eq!(restored["Rate__c"], "0.1234567890123456789");
    assert_eq!(restored["Quantity__c"], 7);
}

#[tokio::test]
async fn decimals_reach_salesforce_with_every_digit_by_collections() {
    decimals_are_written_and_rolled_back_with_every_digit(2_000).await;
}

#[tokio::test]
async fn decimals_reach_salesforce_with_every_digit_by_bulk() {
    decimals_are_written_and_rolled_back_with_every_digit(1).await;
}
