//! The Salesforce client against the stand-in: describe and the mapping
//! checks, sObject Collections (200 records a call, each saved or refused
//! on its own), SOQL pages, Bulk API 2.0 jobs whose results come back out
//! of order, the session renewed on INVALID_SESSION_ID, and the org's
//! request limit.

use serde_json::{json, Map, Value};
use sluice_connectors::salesforce::{
    field_value, BulkBatch, BulkRow, Operation, Polling, Refresh, Salesforce, SalesforceError,
};
use sluice_testkit::salesforce::{SalesforceStandIn, CLIENT_ID, CLIENT_SECRET};
use std::time::Duration;
use zeroize::Zeroizing;

async fn org() -> (SalesforceStandIn, Salesforce) {
    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    let client = client(&standin, true);
    (standin, client)
}

pub fn client(standin: &SalesforceStandIn, refresh: bool) -> Salesforce {
    let (access, refresh_token) = standin.issue_tokens();
    let refresh = refresh.then(|| Refresh {
        login_url: standin.url.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Zeroizing::new(CLIENT_SECRET.into()),
        refresh_token: Zeroizing::new(refresh_token),
    });
    Salesforce::new(
        reqwest::Client::new(),
        &standin.url,
        Zeroizing::new(access),
        refresh,
    )
}

fn record(fields: Value) -> Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        other => panic!("not a record: {other}"),
    }
}

const FAST: Polling = Polling {
    first: Duration::from_millis(10),
    longest: Duration::from_millis(40),
    give_up_after: Duration::from_secs(30),
};

#[tokio::test]
async fn a_mapping_is_checked_against_the_object_before_any_write() {
    let (_standin, sf) = org().await;
    let contact = sf.describe("Contact").await.unwrap();
    let check = |op, targets: &[&str], key| contact.check(op, targets, key);
    assert!(check(
        Operation::Insert,
        &["LastName", "Email", "Account:External_Id__c"],
        None
    )
    .is_ok());
    let missing = check(Operation::Insert, &["FirstName"], None).unwrap_err();
    assert!(missing.contains("LastName"), "{missing}");
    let unknown = check(Operation::Insert, &["LastName", "Shoe_Size__c"], None).unwrap_err();
    assert!(unknown.contains("no field \"Shoe_Size__c\""), "{unknown}");
    let twice = check(Operation::Insert, &["LastName", "lastname"], None).unwrap_err();
    assert!(twice.contains("mapped twice"), "{twice}");
    let not_reference = check(Operation::Insert, &["LastName", "Email:Name"], None).unwrap_err();
    assert!(not_reference.contains("not a reference"), "{not_reference}");
    let by_email = check(Operation::Upsert, &["LastName", "Email"], Some("Email")).unwrap_err();
    assert!(by_email.contains("not a mapped external id"), "{by_email}");
    assert!(check(
        Operation::Upsert,
        &["LastName", "External_Id__c"],
        Some("External_Id__c")
    )
    .is_ok());
    assert!(
        check(Operation::Update, &["LastName"], None).is_err(),
        "an update needs Id"
    );
    assert!(check(Operation::Delete, &["Id", "LastName"], None).is_err());
    assert!(check(Operation::Delete, &["Id"], None).is_ok());

    let error = sf.describe("Spaceship__c").await.unwrap_err();
    assert!(
        error.to_string().contains("no object \"Spaceship__c\""),
        "{error}"
    );
    assert!(sf.describe("Contact; DROP").await.is_err());
}

#[tokio::test]
async fn records_are_saved_200_a_call_each_on_its_own() {
    let (standin, sf) = org().await;
    let contact = sf.describe("Contact").await.unwrap();
    let calls_before = standin.api_calls();
    // Every tenth record has no last name; the others are fine.
    let records: Vec<Map<String, Value>> = (0..450)
        .map(|i| {
            let (last, value) = field_value(
                contact.field("LastName").unwrap(),
                None,
                (i % 10 != 0).then(|| format!("Person {i}")).as_deref(),
            )
            .unwrap();
            let mut r = record(json!({ "Email": format!("p{i}@example.com") }));
            if !value.is_null() {
                r.insert(last, value);
            }
            r
        })
        .collect();
    let results = sf
        .save(Operation::Insert, "Contact", None, records)
        .await
        .unwrap();
    assert_eq!(
        standin.api_calls() - calls_before,
        3,
        "450 records take three calls"
    );
    assert_eq!(results.len(), 450);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.success, i % 10 != 0, "record {i}: {result:?}");
        if i % 10 == 0 {
            assert!(
                result.reason().contains("REQUIRED_FIELD_MISSING"),
                "{}",
                result.reason()
            );
            assert!(result.id.is_none());
        }
    }
    let saved = standin.records("Contact");
    assert_eq!(saved.len(), 405);
    // The results name the records they saved, in order.
    let first = results[1].id.as_deref().unwrap();
    let found = saved.iter().find(|r| r["Id"] == first).unwrap();
    assert_eq!(found["Email"], "p1@example.com");
}

#[tokio::test]
async fn upserts_tell_created_from_updated_and_references_resolve_by_external_id() {
    let (standin, sf) = org().await;
    standin.insert_records(
        "Account",
        [json!({ "Name": "Analytical Engines", "External_Id__c": "ACC-1" })],
    );
    let contact = sf.describe("Contact").await.unwrap();
    let (account_field, by) = contact.target("Account:External_Id__c").unwrap();
    let (relationship, account) = field_value(account_field, by.as_ref(), Some("ACC-1")).unwrap();
    assert_eq!(relationship, "Account");
    let ada = |last: &str| {
        let mut r = record(json!({ "External_Id__c": "C-1", "LastName": last }));
        r.insert(relationship.clone(), account.clone());
        r
    };
    let first = sf
        .save(
            Operation::Upsert,
            "Contact",
            Some("External_Id__c"),
            vec![ada("Lovelace")],
        )
        .await
        .unwrap();
    assert_eq!(first[0].created, Some(true), "{first:?}");
    let again = sf
        .save(
            Operation::Upsert,
            "Contact",
            Some("External_Id__c"),
            vec![ada("King")],
        )
        .await
        .unwrap();
    assert_eq!(again[0].created, Some(false), "{again:?}");
    assert_eq!(again[0].id, first[0].id);
    let contacts = standin.records("Contact");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["LastName"], "King");
    let account_id = &standin.records("Account")[0]["Id"];
    assert_eq!(&contacts[0]["AccountId"], account_id);

    let (_, unknown) = field_value(account_field, by.as_ref(), Some("ACC-404")).unwrap();
    let mut orphan = record(json!({ "External_Id__c": "C-2", "LastName": "Orphan" }));
    orphan.insert(relationship.clone(), unknown);
    let refused = sf
        .save(
            Operation::Upsert,
            "Contact",
            Some("External_Id__c"),
            vec![orphan],
        )
        .await
        .unwrap();
    assert!(!refused[0].success, "{refused:?}");

    // A delete sends the record to the recycle bin, where a query of all
    // rows still finds it.
    let id = first[0].id.clone().unwrap();
    let deleted = sf
        .save(
            Operation::Delete,
            "Contact",
            None,
            vec![record(json!({ "Id": id }))],
        )
        .await
        .unwrap();
    assert!(deleted[0].success, "{deleted:?}");
    assert!(standin.records("Contact").is_empty());
    let soql = format!(
        "SELECT Id, IsDeleted FROM Contact WHERE Id IN ({})",
        sluice_connectors::salesforce::literal(&id)
    );
    assert!(sf.query(&soql, false).await.unwrap().is_empty());
    let all = sf.query(&soql, true).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["IsDeleted"], true);
}

#[tokio::test]
async fn a_query_follows_its_pages_to_the_end() {
    let (standin, sf) = org().await;
    let ids = standin.insert_records(
        "Account",
        (0..4500).map(|i| json!({ "Name": format!("Account {i}") })),
    );
    let calls_before = standin.api_calls();
    let all = sf
        .query("SELECT Id, Name FROM Account", false)
        .await
        .unwrap();
    assert_eq!(all.len(), 4500);
    assert_eq!(
        standin.api_calls() - calls_before,
        3,
        "2,000 records a page"
    );
    let mut found: Vec<&str> = all.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    found.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(found, expected);
    assert!(all.iter().all(|r| !r.contains_key("attributes")));
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_limit_is_its_own_error() {
    let (standin, sf) = org().await;
    standin.expire_access_tokens();
    assert!(sf.describe("Contact").await.is_ok());
    let renewed = sf.renewed_access_token().expect("a renewed token");
    assert!(standin.issued_tokens().contains(&*renewed));

    // Without a refresh token the connection must be made again.
    let stale = client(&standin, false);
    standin.expire_access_tokens();
    let error = stale.describe("Contact").await.unwrap_err();
    assert!(matches!(error, SalesforceError::Reconnect), "{error}");

    let sf = client(&standin, true);
    standin.limit_requests(0);
    let error = sf.describe("Contact").await.unwrap_err();
    assert!(
        matches!(error, SalesforceError::LimitExceeded(_)),
        "{error}"
    );
    assert!(error.to_string().contains("API request limit"), "{error}");
}

/// A Bulk batch of contacts: every seventh without a last name.
fn contacts_batch(operation: Operation, rows: usize) -> BulkBatch {
    let header = ["LastName".to_owned(), "Email".to_owned()];
    let mut batch = BulkBatch::new(operation, &header).unwrap();
    for i in 0..rows {
        let last = format!("Person {i}");
        let email = format!("p{i}@example.com");
        let last = (i % 7 != 3).then_some(last.as_str());
        assert!(batch.push(&[last, Some(&email)]).unwrap());
    }
    batch
}

#[tokio::test]
async fn a_bulk_job_maps_its_shuffled_results_back_to_the_rows_in_six_calls_and_polls() {
    let (standin, sf) = org().await;
    standin.complete_bulk_jobs_after_polls(3);
    let before = standin.api_call_counts();
    let batch = contacts_batch(Operation::Insert, 1000);
    let (rows, failure) = sf.bulk("Contact", None, batch, FAST).await.unwrap();
    assert!(failure.is_none(), "{failure:?}");
    let after = standin.api_call_counts();
    assert_eq!(
        after.bulk - before.bulk,
        6,
        "create, upload, close and three result files"
    );
    assert_eq!(after.bulk_polls - before.bulk_polls, 3);
    let saved = standin.records("Contact");
    assert_eq!(saved.len(), 1000 - 1000 / 7 - 1);
    for (i, row) in rows.iter().enumerate() {
        match row {
            BulkRow::Saved { id, created } => {
                assert!(i % 7 != 3, "row {i} should have failed");
                assert!(created);
                let record = saved.iter().find(|r| r["Id"] == id.as_str()).unwrap();
                assert_eq!(record["Email"], format!("p{i}@example.com"), "row {i}");
            }
            BulkRow::Failed(reason) => {
                assert_eq!(i % 7, 3, "row {i}: {reason}");
                assert!(reason.contains("REQUIRED_FIELD_MISSING"), "{reason}");
            }
            BulkRow::Unprocessed => panic!("row {i} unprocessed"),
        }
    }
}

#[tokio::test]
async fn a_bulk_job_that_fails_part_way_leaves_the_rest_unprocessed() {
    let (standin, sf) = org().await;
    standin.fail_bulk_jobs_after(300);
    let batch = contacts_batch(Operation::Insert, 1000);
    let (rows, failure) = sf.bulk("Contact", None, batch, FAST).await.unwrap();
    assert!(failure.is_some());
    let unprocessed = rows.iter().filter(|r| **r == BulkRow::Unprocessed).count();
    assert_eq!(unprocessed, 700);
    let saved = rows
        .iter()
        .filter(|r| matches!(r, BulkRow::Saved { .. }))
        .count();
    assert_eq!(saved, standin.records("Contact").len());
}

#[tokio::test]
async fn deleted_records_come_back_from_the_recycle_bin_by_soap_undelete() {
    let (standin, sf) = org().await;
    let ids = standin.insert_records(
        "Contact",
        (0..3).map(|i| json!({ "LastName": format!("Person {i}") })),
    );
    let deletes = ids.iter().map(|id| record(json!({ "Id": id }))).collect();
    let deleted = sf
        .save(Operation::Delete, "Contact", None, deletes)
        .await
        .unwrap();
    assert!(deleted.iter().all(|r| r.success), "{deleted:?}");
    assert_eq!(standin.recycle_bin("Contact").len(), 3);

    // The session is renewed for SOAP calls as for REST ones.
    standin.expire_access_tokens();
    let soap_before = standin.api_call_counts().soap;
    let wanted = [
        ids[0].clone(),
        ids[2].clone(),
        "003000000000000AAA".to_owned(),
    ];
    let back = sf.undelete(&wanted).await.unwrap();
    assert_eq!(back.len(), 3);
    assert!(back[0].success && back[1].success, "{back:?}");
    assert_eq!(back[0].id.as_deref(), Some(ids[0].as_str()));
    assert!(!back[2].success);
    assert!(!back[2].reason().is_empty());
    // The refused call does not count against the org's requests.
    assert_eq!(standin.api_call_counts().soap - soap_before, 1);
    assert!(sf.renewed_access_token().is_some());
    let live: Vec<String> = standin
        .records("Contact")
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live.contains(&ids[0]) && live.contains(&ids[2]));
    assert_eq!(standin.recycle_bin("Contact").len(), 1);

    standin.limit_requests(0);
    let error = sf.undelete(&ids[1..2]).await.unwrap_err();
    assert!(
        matches!(error, SalesforceError::LimitExceeded(_)),
        "{error}"
    );
}

#[tokio::test]
async fn before_images_are_read_in_queries_that_stay_within_the_uri_limit() {
    let (standin, sf) = org().await;
    let ids = standin.insert_records(
        "Contact",
        (0..600).map(
            |i| json!({ "LastName": format!("O'Person {i}"), "External_Id__c": format!("C-{i}") }),
        ),
    );
    let before = standin.api_calls();
    let found = sf
        .records_by("Contact", "Id", &ids, &["Id", "LastName"], false)
        .await
        .unwrap();
    assert_eq!(found.len(), 600);
    let queries = standin.api_calls() - before;
    assert!(queries > 1 && queries < 10, "{queries} queries");
    let keys: Vec<String> = (0..1500)
        .rev()
        .step_by(3)
        .map(|i| format!("C-{i}"))
        .collect();
    let by_key = sf
        .records_by(
            "Contact",
            "External_Id__c",
            &keys,
            &["External_Id__c", "LastName"],
            false,
        )
        .await
        .unwrap();
    assert_eq!(by_key.len(), 200);
    assert!(by_key
        .iter()
        .all(|r| r["LastName"].as_str().unwrap().starts_with("O'Person")));
    assert!(sf
        .records_by("Contact", "Id) OR (Name", &ids, &["Id"], false)
        .await
        .is_err());
    assert!(sf
        .records_by("Contact", "Id", &[], &["Id"], false)
        .await
        .unwrap()
        .is_empty());
}

mod writer {
    use super::org;
    use serde_json::json;
    use sluice_connectors::journal::Action;
    use sluice_connectors::salesforce::{Operation, Writer};

    fn rows(values: &[&[Option<&str>]]) -> Vec<(u64, Vec<Option<String>>)> {
        values
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row.iter().map(|v| v.map(str::to_owned)).collect();
                (i as u64 + 1, row)
            })
            .collect()
    }

    #[tokio::test]
    async fn an_upsert_keeps_the_before_images_of_the_records_it_updates() {
        let (standin, sf) = org().await;
        standin.insert_records(
            "Account",
            [json!({ "Name": "Analytical Engines", "External_Id__c": "ACC-1" })],
        );
        standin.insert_records(
            "Contact",
            [json!({ "LastName": "Lovelace", "Email": "ada@old.example", "External_Id__c": "C-1" })],
        );
        let contact = sf.describe("Contact").await.unwrap();
        let targets = [
            "External_Id__c",
            "LastName",
            "Email",
            "Birthdate",
            "Account:External_Id__c",
        ];
        let writer = Writer::new(
            &contact,
            Operation::Upsert,
            &targets,
            &["External_Id__c".into()],
        )
        .unwrap();
        let batch = rows(&[
            // An update of C-1 (matched without regard to case), clearing
            // nothing but changing the email.
            &[
                Some("c-1"),
                Some("King"),
                Some("ada@new.example"),
                None,
                Some("ACC-1"),
            ],
            &[Some("C-2"), Some("Babbage"), None, Some("1791-12-26"), None],
            // Refused before any call: a date Salesforce could not read.
            &[
                Some("C-3"),
                Some("Somerville"),
                None,
                Some("26.12.1780"),
                None,
            ],
            // Refused by Salesforce: no such account.
            &[Some("C-4"), Some("Herschel"), None, None, Some("ACC-404")],
            // No key.
            &[None, Some("Nobody"), None, None, None],
        ]);
        let written = writer.write(&sf, &batch).await.unwrap();
        assert_eq!(written.saved.len(), 2, "{written:?}");
        let updated = &written.saved[0];
        assert_eq!((updated.number, updated.action), (1, Action::Updated));
        let before = updated.before.as_ref().unwrap();
        assert_eq!(before["Email"], "ada@old.example");
        assert_eq!(before["LastName"], "Lovelace");
        assert_eq!(before["Id"], updated.id.as_str());
        let created = &written.saved[1];
        assert_eq!((created.number, created.action), (2, Action::Created));
        assert!(created.before.is_none());
        let failed: Vec<u64> = written.failed.iter().map(|(n, _)| *n).collect();
        assert_eq!(failed, [3, 4, 5], "{:?}", written.failed);
        assert!(
            written.failed[0].1.contains("Birthdate"),
            "{}",
            written.failed[0].1
        );
        assert!(
            written.failed[2].1.contains("key field"),
            "{}",
            written.failed[2].1
        );
        let contacts = standin.records("Contact");
        let ada = contacts
            .iter()
            .find(|c| c["Id"] == updated.id.as_str())
            .unwrap();
        assert_eq!(ada["Email"], "ada@new.example");
        assert_eq!(ada["AccountId"], standin.records("Account")[0]["Id"]);
    }

    #[tokio::test]
    async fn updates_and_deletes_name_their_records_by_id() {
        let (standin, sf) = org().await;
        let ids = standin.insert_records(
            "Contact",
            (0..3).map(|i| json!({ "LastName": format!("Person {i}"), "Email": format!("p{i}@example.com") })),
        );
        let contact = sf.describe("Contact").await.unwrap();
        assert!(Writer::new(&contact, Operation::Update, &["LastName"], &[]).is_err());
        let update = Writer::new(&contact, Operation::Update, &["Id", "Email"], &[]).unwrap();
        let batch = rows(&[
            &[Some(&ids[0]), None],
            &[Some(&ids[1]), Some("new@example.com")],
        ]);
        let written = update.write(&sf, &batch).await.unwrap();
        assert!(written.failed.is_empty(), "{:?}", written.failed);
        let befores: Vec<_> = written
            .saved
            .iter()
            .map(|s| s.before.as_ref().unwrap()["Email"].clone())
            .collect();
        assert_eq!(befores, [json!("p0@example.com"), json!("p1@example.com")]);
        let contacts = standin.records("Contact");
        let email = |id: &str| contacts.iter().find(|c| c["Id"] == id).unwrap()["Email"].clone();
        assert_eq!(email(&ids[0]), json!(null), "no value clears the field");
        assert_eq!(email(&ids[1]), json!("new@example.com"));

        let delete = Writer::new(&contact, Operation::Delete, &["Id"], &[]).unwrap();
        let batch = rows(&[&[Some(&ids[2])], &[Some("003000000000000AAA")]]);
        let written = delete.write(&sf, &batch).await.unwrap();
        assert_eq!(written.saved.len(), 1);
        assert_eq!(written.saved[0].action, Action::Deleted);
        assert_eq!(written.failed.len(), 1);
        assert_eq!(standin.recycle_bin("Contact").len(), 1);
    }
}
