//! What runs into a Salesforce org send for lookups, by sObject
//! Collections and by Bulk API 2.0: a polymorphic lookup (a Task's
//! `WhatId`) set in the object the mapping's lookup names, written and
//! rolled back.

use crate::accounts::account;
use crate::imports::upload;
use crate::salesforce_runs::{app_for, connect_org, create_job_into, roll_back, run};
use serde_json::{json, Map, Value};
use sluice_testkit::salesforce::{opportunity, task, SalesforceStandIn};
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
