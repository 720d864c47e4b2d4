//! Polymorphic lookups (a Task's `WhatId`, to an Account or an
//! Opportunity) set by another record's external id: REST names the
//! related record's object in its `attributes.type`, Bulk in the column
//! header (`Opportunity:What.External_Id__c`).

use crate::bulk::{poll, rows, run_job};
use crate::support::Org;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_testkit::salesforce::{opportunity, task};

/// An org with tasks, and an Account and an Opportunity that share the
/// external id `X-1`: their ids.
async fn org_with_tasks() -> (Org, String, String) {
    let org = Org::start().await;
    org.standin.define_object(opportunity());
    org.standin.define_object(task());
    let account = org.standin.insert_records(
        "Account",
        [json!({"Name": "Acme", "External_Id__c": "X-1"})],
    );
    let opportunity = org.standin.insert_records(
        "Opportunity",
        [
            json!({"Name": "Big deal", "StageName": "Prospecting", "CloseDate": "2025-06-30",
                "External_Id__c": "X-1"}),
        ],
    );
    (org, account[0].clone(), opportunity[0].clone())
}

fn task_about(what: Value) -> Value {
    json!({"attributes": {"type": "Task"}, "Subject": "Call", "What": what})
}

#[tokio::test]
async fn a_polymorphic_lookup_is_set_in_the_object_its_type_names() {
    let (org, account, opportunity) = org_with_tasks().await;
    let describe = org.get("/sobjects/Task/describe").await.1;
    let what = describe["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "WhatId")
        .unwrap();
    assert_eq!(what["referenceTo"], json!(["Account", "Opportunity"]));
    assert_eq!(what["polymorphicForeignKey"], true);

    let (status, body) = org
        .create(
            false,
            vec![
                task_about(json!({"attributes": {"type": "Opportunity"}, "External_Id__c": "X-1"})),
                task_about(json!({"attributes": {"type": "Account"}, "External_Id__c": "x-1"})),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let whats: Vec<Value> = org
        .standin
        .records("Task")
        .into_iter()
        .map(|t| t["WhatId"].clone())
        .collect();
    assert_eq!(whats, [json!(opportunity), json!(account)]);

    // Without the type, or with one the lookup does not refer to, the
    // request is refused whole.
    for what in [
        json!({"External_Id__c": "X-1"}),
        json!({"attributes": {"type": "Contact"}, "External_Id__c": "X-1"}),
    ] {
        let (status, body) = org.create(false, vec![task_about(what)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body[0]["errorCode"], "INVALID_FIELD", "{body}");
    }
    // Nor may a lookup that is not polymorphic name another object.
    let contact = json!({"attributes": {"type": "Contact"}, "LastName": "Doe",
                         "Account": {"attributes": {"type": "Opportunity"}, "External_Id__c": "X-1"}});
    let (status, body) = org.create(false, vec![contact]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(org.standin.records("Task").len(), 2);
}

#[tokio::test]
async fn a_bulk_header_names_the_object_of_a_polymorphic_lookup_and_only_of_one() {
    let (org, _, opportunity) = org_with_tasks().await;
    let insert = json!({"object": "Task", "operation": "insert"});
    let id = run_job(
        &org,
        insert.clone(),
        "Subject,Opportunity:What.External_Id__c\nCall,X-1\n",
    )
    .await;
    let (_, info) = poll(&org, &id).await;
    assert_eq!(info["state"], "JobComplete", "{info}");
    let saved = rows(
        &org.text(&format!("/jobs/ingest/{id}/successfulResults/"))
            .await,
    );
    assert_eq!(saved.len(), 1);
    assert_eq!(org.standin.records("Task")[0]["WhatId"], json!(opportunity));

    for (object, header, error) in [
        (
            "Task",
            "Subject,What.External_Id__c",
            "InvalidBatch : type is needed for polymorphic foreign key references: What",
        ),
        (
            "Task",
            "Subject,Contact:What.External_Id__c",
            "InvalidBatch : What does not refer to Contact: Contact:What.External_Id__c",
        ),
        (
            "Contact",
            "LastName,Account:Account.External_Id__c",
            "InvalidBatch : type is not needed for non polymorphic foreign key references: Account",
        ),
    ] {
        let spec = json!({"object": object, "operation": "insert"});
        let id = run_job(&org, spec, &format!("{header}\nCall,X-1\n")).await;
        let (_, info) = poll(&org, &id).await;
        assert_eq!(info["state"], "Failed", "{header}");
        assert_eq!(info["errorMessage"], error);
    }
    assert_eq!(org.standin.records("Task").len(), 1);
}
