//! What a rollback of a Salesforce run counts as a conflict: a field the
//! run wrote that no longer holds what it wrote. Automation in the org
//! (flows, triggers, asynchronous Apex) touching other fields and moving
//! `SystemModstamp` after the run is none.

use crate::accounts::account;
use crate::imports::{result_file, upload};
use crate::salesforce_runs::{app_for, connect_org, contacts_by_email, roll_back, run, upsert_job};
use serde_json::json;
use sluice_testkit::salesforce::SalesforceStandIn;

#[tokio::test]
async fn automation_touching_records_after_the_run_is_no_conflict() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    standin.insert_records(
        "Contact",
        (1..=2).map(|n| {
            json!({"LastName": format!("Old {n}"), "Email": format!("old{n}@example.com"),
                   "External_Id__c": format!("C-{n}")})
        }),
    );
    // A flow scores every contact saved, after the save.
    standin.automate("Contact", json!({"Title": "Scored"}));
    let csv = b"Key,Last,Email\nC-1,New 1,new1@example.com\nC-2,New 2,new2@example.com\nC-9,New 9,new9@example.com\n".to_vec();
    let upload_id = upload(&app, &owner, csv).await;
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Last", "target": "LastName"},
        {"source": "Email", "target": "Email"},
    ]);
    let job = upsert_job(&app, &owner, &upload_id, &org, mapping).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let before_automation = contacts_by_email(&standin);
    assert_eq!(standin.run_automation(), 3);
    let touched = contacts_by_email(&standin);
    assert_eq!(touched["new1@example.com"]["Title"], "Scored");
    assert_ne!(
        touched["new1@example.com"]["SystemModstamp"],
        before_automation["new1@example.com"]["SystemModstamp"]
    );
    assert_eq!(
        touched["new1@example.com"]["LastModifiedDate"],
        before_automation["new1@example.com"]["LastModifiedDate"],
        "automation moves SystemModstamp, not LastModifiedDate"
    );

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert_eq!(undone["rows_ok"], 3);
    let errors = result_file(&app, &owner, undone["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 2, "the record the run created is gone");
    for n in 1..=2 {
        let record = &stored[&format!("old{n}@example.com")];
        assert_eq!(record["LastName"], format!("Old {n}"), "restored");
        assert_eq!(record["Title"], "Scored", "automation's field is kept");
    }
}

#[tokio::test]
async fn two_runs_over_the_same_records_roll_back_newest_first_without_conflicts() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    standin.insert_records(
        "Contact",
        (1..=3).map(|n| {
            json!({"LastName": format!("Old {n}"), "Email": format!("c{n}@example.com"),
                   "External_Id__c": format!("C-{n}")})
        }),
    );
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Last", "target": "LastName"},
    ]);
    let mut runs = Vec::new();
    for name in ["First", "Second"] {
        let csv = (1..=3)
            .map(|n| format!("C-{n},{name} {n}\n"))
            .collect::<String>();
        let upload_id = upload(&app, &owner, format!("Key,Last\n{csv}").into_bytes()).await;
        let job = upsert_job(&app, &owner, &upload_id, &org, mapping.clone()).await;
        let done = run(&app, &owner, &job).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        runs.push(done);
    }

    // The second run's rollback puts back what the first wrote; the
    // first's then finds its own values and puts back the originals.
    for (done, expected) in runs.iter().rev().zip(["First", "Old"]) {
        let undone = roll_back(&app, &owner, done, json!({})).await;
        assert_eq!(undone["status"], "rolled_back", "{undone}");
        assert_eq!(undone["rows_ok"], 3, "{undone}");
        let stored = contacts_by_email(&standin);
        for n in 1..=3 {
            assert_eq!(
                stored[&format!("c{n}@example.com")]["LastName"],
                format!("{expected} {n}")
            );
        }
    }
}
