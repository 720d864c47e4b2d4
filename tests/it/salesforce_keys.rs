//! How runs into a Salesforce org name and restore records, against the
//! stand-in: keys read in queries whose encoded URL Salesforce takes,
//! external ids matched with or without case as the field says, upserts
//! that leave the fields required on create to the records they create,
//! and rollbacks that leave out the fields an update cannot set.

use crate::accounts::account;
use crate::imports::{result_file, upload};
use crate::salesforce_runs::{
    app_for, connect_org, contacts_by_email, create_job, roll_back, run, upsert_job,
};
use crate::salesforce_target::client;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_connectors::journal::Action;
use sluice_connectors::salesforce::{Operation, Writer};
use sluice_testkit::salesforce::{contact, FieldDef, FieldType, SalesforceStandIn};

/// A Contact whose `Origin__c` is set when a record is created and never
/// changed by an update (`updateable` says whether it can be).
fn contact_with_origin(updateable: bool) -> sluice_testkit::salesforce::ObjectDef {
    contact().field(FieldDef::new("Origin__c", FieldType::String).updateable(updateable))
}

/// Rows of mapped values, numbered from 1.
fn rows(values: Vec<Vec<String>>) -> Vec<(u64, Vec<Option<String>>)> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, row)| (i as u64 + 1, row.into_iter().map(Some).collect()))
        .collect()
}

#[tokio::test]
async fn non_ascii_keys_of_a_200_record_upsert_are_read_in_queries_salesforce_takes() {
    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    let sf = client(&standin, true);
    // Keys of 255 characters, most of them four bytes in UTF-8 and twelve
    // once percent-encoded in a query's URL.
    let key = |i: usize| {
        let mut key = format!("{i}-é日");
        while key.chars().count() < 255 {
            key.push('😀');
        }
        key
    };
    standin.insert_records(
        "Contact",
        (0..200).map(|i| json!({"LastName": format!("Old {i}"), "External_Id__c": key(i)})),
    );
    let described = sf.describe("Contact").await.unwrap();
    let writer = Writer::new(
        &described,
        Operation::Upsert,
        &["External_Id__c", "LastName"],
        &["External_Id__c".into()],
    )
    .unwrap();
    let batch = rows((0..200).map(|i| vec![key(i), format!("New {i}")]).collect());
    let written = writer.write(&sf, &batch).await.unwrap();
    assert!(written.failed.is_empty(), "{:?}", written.failed);
    assert_eq!(written.saved.len(), 200);
    for saved in &written.saved {
        assert_eq!(saved.action, Action::Updated, "row {}", saved.number);
        let before = saved.before.as_ref().unwrap();
        assert_eq!(before["LastName"], format!("Old {}", saved.number - 1));
    }
}

#[tokio::test]
async fn the_before_images_and_versions_of_200_records_by_id_take_one_query_each() {
    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    let sf = client(&standin, true);
    let ids = standin.insert_records(
        "Contact",
        (0..200).map(|i| json!({"LastName": format!("Old {i}")})),
    );
    let described = sf.describe("Contact").await.unwrap();
    let writer = Writer::new(&described, Operation::Update, &["Id", "LastName"], &[]).unwrap();
    let batch = rows(
        ids.iter()
            .enumerate()
            .map(|(i, id)| vec![id.clone(), format!("New {i}")])
            .collect(),
    );
    let before = standin.api_calls();
    let written = writer.write(&sf, &batch).await.unwrap();
    assert_eq!(written.saved.len(), 200, "{:?}", written.failed);
    assert_eq!(
        standin.api_calls() - before,
        2,
        "one query of the before-images, one save"
    );
    let before = standin.api_calls();
    let versions = writer.versions(&sf, &ids).await.unwrap();
    assert_eq!(versions.len(), 200);
    assert_eq!(standin.api_calls() - before, 1, "one query of the versions");
}

#[tokio::test]
async fn a_case_sensitive_external_id_keeps_records_apart_by_case_through_a_run_and_its_rollback() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    standin.define_object(
        contact().field(
            FieldDef::new("External_Id__c", FieldType::String)
                .external_id()
                .case_sensitive(),
        ),
    );
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Old lower", "Email": "lower@example.com", "External_Id__c": "K-abc"}),
            json!({"LastName": "Old upper", "Email": "upper@example.com", "External_Id__c": "K-ABC"}),
        ],
    );
    let csv = "Key,Last\nK-ABC,New upper\nK-abc,New lower\nK-Abc,New mixed\n";
    let upload_id = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Last", "target": "LastName"},
    ]);
    let job = upsert_job(&app, &owner, &upload_id, &org, mapping).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    let statuses: Vec<&str> = success[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!(statuses, ["updated", "updated", "created"]);
    let stored = contacts_by_email(&standin);
    assert_eq!(stored["lower@example.com"]["LastName"], "New lower");
    assert_eq!(stored["upper@example.com"]["LastName"], "New upper");
    assert_eq!(standin.records("Contact").len(), 3);

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 2, "the record the run created is gone");
    assert_eq!(stored["lower@example.com"]["LastName"], "Old lower");
    assert_eq!(stored["lower@example.com"]["External_Id__c"], "K-abc");
    assert_eq!(stored["upper@example.com"]["LastName"], "Old upper");
    assert_eq!(stored["upper@example.com"]["External_Id__c"], "K-ABC");
}

#[tokio::test]
async fn an_upsert_without_a_field_required_on_create_updates_and_refuses_only_its_creates() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    standin.insert_records(
        "Contact",
        [json!({"LastName": "Lovelace", "Email": "old@example.com", "External_Id__c": "C-1"})],
    );
    let csv = "Key,Email\nC-1,ada@example.com\nC-2,charles@example.com\n";
    let upload_id = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    // No LastName, which a create needs.
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Email", "target": "Email"},
    ]);
    let job = upsert_job(&app, &owner, &upload_id, &org, mapping).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(
        (done["rows_ok"].as_i64(), done["rows_failed"].as_i64()),
        (Some(1), Some(1))
    );
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 1, "no record was created");
    assert_eq!(stored["ada@example.com"]["LastName"], "Lovelace");
    let errors = result_file(&app, &owner, done["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[1][0], "2");
    assert!(
        errors[1][1].contains("REQUIRED_FIELD_MISSING"),
        "{errors:?}"
    );
    assert!(errors[1][1].contains("LastName"), "{errors:?}");

    // An insert still maps every field a create requires.
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&owner)
        .json(&json!({
            "name": "contacts",
            "source": {"upload_id": upload_id},
            "target": {"connection_id": org, "object": "Contact"},
            "operation": "insert",
            "mapping": [{"source": "Email", "target": "Email"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = res.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LastName"),
        "{error}"
    );
}

#[tokio::test]
async fn a_bulk_upsert_is_rolled_back_without_a_field_an_update_can_no_longer_set() {
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(1);
    let app = app_for(&standin, 2, true).await;
    standin.define_object(contact_with_origin(true));
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    standin.insert_records(
        "Contact",
        (1..=2).map(|n| {
            json!({"LastName": format!("Old {n}"), "Email": format!("p{n}@example.com"),
                   "External_Id__c": format!("C-{n}"), "Origin__c": "legacy"})
        }),
    );
    // Three rows: a Bulk job, which updates two records and creates one.
    let csv = "Key,Last,Email,Origin\nC-1,New 1,p1@example.com,legacy\n\
               C-2,New 2,p2@example.com,legacy\nC-3,New 3,p3@example.com,import\n";
    let upload_id = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Last", "target": "LastName"},
        {"source": "Email", "target": "Email"},
        {"source": "Origin", "target": "Origin__c"},
    ]);
    let job = upsert_job(&app, &owner, &upload_id, &org, mapping).await;
    let before = standin.api_call_counts();
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        standin.api_call_counts().bulk - before.bulk,
        6,
        "a Bulk job"
    );
    assert_eq!(
        contacts_by_email(&standin)["p1@example.com"]["LastName"],
        "New 1"
    );

    // Origin__c becomes a field set only on create (as a master-detail
    // field does when reparenting is turned off): the before-images hold
    // it, and an update that sends it is refused as a whole.
    standin.define_object(contact_with_origin(false));
    let undone = roll_back(&app, &owner, &done, json!({})).await;
    let errors = result_file(&app, &owner, undone["id"].as_str().unwrap(), "errors").await;
    assert_eq!(undone["status"], "rolled_back", "{undone} {errors:?}");
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 2, "the record the run created is gone");
    for n in 1..=2 {
        let record = &stored[&format!("p{n}@example.com")];
        assert_eq!(record["LastName"], format!("Old {n}"));
        assert_eq!(record["Origin__c"], "legacy");
    }
}

#[tokio::test]
async fn a_rollback_names_a_field_it_could_not_restore_without_its_value() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    standin.define_object(contact_with_origin(true));
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let ids = standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Old 1", "Origin__c": "ledger-7731"}),
            json!({"LastName": "Old 2", "Origin__c": "ledger-2"}),
        ],
    );
    // The run changes the first record's Origin__c, not the second's.
    let csv = format!(
        "Id,Last,Origin\n{},New 1,crm-0042\n{},New 2,ledger-2\n",
        ids[0], ids[1]
    );
    let upload_id = upload(&app, &owner, csv.into_bytes()).await;
    let mapping = json!([
        {"source": "Id", "target": "Id"},
        {"source": "Last", "target": "LastName"},
        {"source": "Origin", "target": "Origin__c"},
    ]);
    let job = create_job(&app, &owner, &upload_id, &org, "update", json!([]), mapping).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // An admin makes Origin__c read-only for updates after the run.
    standin.define_object(contact_with_origin(false));
    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "partially_succeeded", "{undone}");
    assert_eq!(
        (undone["rows_ok"].as_i64(), undone["rows_failed"].as_i64()),
        (Some(1), Some(1))
    );
    let records = standin.records("Contact");
    let by_id = |id: &str| records.iter().find(|r| r["Id"] == id).unwrap();
    assert_eq!(
        by_id(&ids[0])["LastName"],
        "Old 1",
        "what can be restored is"
    );
    assert_eq!(by_id(&ids[0])["Origin__c"], "crm-0042");
    assert_eq!(by_id(&ids[1])["LastName"], "Old 2");
    let errors = result_file(&app, &owner, undone["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    let reason = &errors[1][1];
    assert!(
        reason.contains("restored, except Origin__c: Salesforce does not let an update change it"),
        "{reason}"
    );
    assert!(reason.contains(&ids[0]), "{reason}");
    assert!(
        !reason.contains("ledger-7731") && !reason.contains("crm-0042"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_update_mapping_a_field_set_only_on_create_is_refused_before_it_runs() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    standin.define_object(contact_with_origin(false));
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, b"Id,Origin\n003000000000001AAA,x\n".to_vec()).await;
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&owner)
        .json(&json!({
            "name": "contacts",
            "source": {"upload_id": upload_id},
            "target": {"connection_id": org, "object": "Contact"},
            "operation": "update",
            "mapping": [
                {"source": "Id", "target": "Id"},
                {"source": "Origin", "target": "Origin__c"},
            ],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = res.json().await.unwrap();
    assert_eq!(error["error"]["field"], "mapping", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Contact.Origin__c cannot be changed by an update")
            && message.contains("only when a record is created"),
        "{message}"
    );
}
