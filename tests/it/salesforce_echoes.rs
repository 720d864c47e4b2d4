//! Bulk results whose echoed values Salesforce normalised (numbers,
//! picklist case, 15-character ids): every row still finds its result, so
//! every record a run wrote is journalled and its rollback undoes it.

use crate::accounts::account;
use crate::imports::{result_file, upload};
use crate::salesforce_runs::{app_for, connect_org, roll_back, run};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_testkit::salesforce::{FieldDef, FieldType, ObjectDef, SalesforceStandIn};
use sluice_testkit::TestApp;

/// A custom object whose fields Salesforce echoes differently from the
/// text uploaded.
fn deal() -> ObjectDef {
    ObjectDef::new("Deal__c")
        .field(FieldDef::new("Name", FieldType::String).required())
        .field(FieldDef::new("Amount__c", FieldType::Currency))
        .field(
            FieldDef::new("Stage__c", FieldType::Picklist).picklist(&["Prospecting", "Closed Won"]),
        )
}

async fn deal_job(
    app: &TestApp,
    token: &str,
    upload: &str,
    org: &str,
    operation: &str,
    mapping: Value,
) -> String {
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(token)
        .json(&json!({
            "name": "deals",
            "source": {"upload_id": upload},
            "target": {"connection_id": org, "object": "Deal__c"},
            "operation": operation,
            "key_fields": if operation == "update" { json!(["Id"]) } else { json!([]) },
            "mapping": mapping,
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn setup() -> (SalesforceStandIn, TestApp, String, String) {
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(1);
    standin.normalise_bulk_echoes();
    let app = app_for(&standin, 100, true).await;
    standin.define_object(deal());
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    (standin, app, owner, org)
}

#[tokio::test]
async fn a_bulk_insert_whose_values_come_back_normalised_journals_every_record() {
    let (standin, app, owner, org) = setup().await;
    let mut csv = String::from("Name,Amount,Stage\n");
    for n in 1..=150 {
        csv.push_str(&format!("Deal {n},{n}00.50,closed won\n"));
    }
    let upload_id = upload(&app, &owner, csv.into_bytes()).await;
    let mapping = json!([
        {"source": "Name", "target": "Name"},
        {"source": "Amount", "target": "Amount__c"},
        {"source": "Stage", "target": "Stage__c"},
    ]);
    let job = deal_job(&app, &owner, &upload_id, &org, "insert", mapping).await;

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_ok"], 150);
    let stored = standin.records("Deal__c");
    assert_eq!(stored.len(), 150);
    // Each row names the record written from it.
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    assert_eq!(success.len(), 151);
    for row in &success[1..] {
        let record = stored
            .iter()
            .find(|r| r["Id"] == row[1].as_str())
            .unwrap_or_else(|| panic!("no record {}", row[1]));
        assert_eq!(record["Name"], format!("Deal {}", row[0]));
    }

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert!(standin.records("Deal__c").is_empty());
}

#[tokio::test]
async fn a_bulk_update_by_short_ids_is_matched_by_id_and_rolled_back() {
    let (standin, app, owner, org) = setup().await;
    let ids = standin.insert_records(
        "Deal__c",
        (1..=120).map(|n| json!({"Name": format!("Deal {n}"), "Stage__c": "Prospecting"})),
    );
    // The file names each record by its 15-character id; Salesforce echoes
    // the 18-character one.
    let mut csv = String::from("Id,Stage\n");
    for id in &ids {
        csv.push_str(&format!("{},closed won\n", &id[..15]));
    }
    let upload_id = upload(&app, &owner, csv.into_bytes()).await;
    let mapping = json!([
        {"source": "Id", "target": "Id"},
        {"source": "Stage", "target": "Stage__c"},
    ]);
    let job = deal_job(&app, &owner, &upload_id, &org, "update", mapping).await;

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_ok"], 120);
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    for row in &success[1..] {
        let number: usize = row[0].parse().unwrap();
        assert_eq!(row[1], ids[number - 1], "row {number}");
    }
    assert!(standin
        .records("Deal__c")
        .iter()
        .all(|r| r["Stage__c"] == "closed won"));

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    let stages: Vec<Value> = standin
        .records("Deal__c")
        .iter()
        .map(|r| r["Stage__c"].clone())
        .collect();
    assert_eq!(stages.len(), 120);
    assert!(stages.iter().all(|s| s == "Prospecting"), "{stages:?}");
}
