//! Calls Salesforce refuses for a passing reason are sent again, a bounded
//! number of times, and only where repeating them is harmless; past the
//! bound the error says which limit or outage it was.

use crate::accounts::account;
use crate::imports::result_file;
use crate::imports::upload;
use crate::salesforce_runs::{app_for, connect_org, contacts, insert_job, run, upsert_job};
use crate::salesforce_target::client;
use serde_json::{json, Map, Value};
use sluice_connectors::salesforce::{Operation, Salesforce, SalesforceError};
use sluice_testkit::salesforce::{Fault, SalesforceStandIn};

async fn org() -> (SalesforceStandIn, Salesforce) {
    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    let sf = client(&standin, true).with_backoff(sluice_testkit::fast_backoff());
    (standin, sf)
}

fn contact(n: usize) -> Map<String, Value> {
    match json!({"LastName": format!("Person {n}"), "External_Id__c": format!("C-{n}")}) {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn salesforce_calls_refused_for_a_passing_reason_are_sent_again_and_counted() {
    let (standin, sf) = org().await;
    standin.fail_next_calls(1, Fault::Maintenance);
    standin.fail_next_calls(1, Fault::ServerUnavailable);
    standin.fail_next_calls(1, Fault::ConcurrentLimit);
    standin.fail_next_calls(1, Fault::LockedRow);
    assert!(sf.describe("Contact").await.is_ok());
    // Every try counts against the org's limit.
    assert_eq!(sf.api_calls(), 5);
    // A proxy's 502 on a read: read again.
    standin.fail_next_calls(1, Fault::BadGateway);
    assert!(sf.describe("Contact").await.is_ok());
    assert_eq!(sf.api_calls(), 7);
}

#[tokio::test]
async fn salesforce_past_the_bound_the_error_says_which_limit_was_hit() {
    let (standin, sf) = org().await;
    standin.fail_next_calls(5, Fault::ConcurrentLimit);
    let error = sf.describe("Contact").await.unwrap_err();
    assert!(
        matches!(error, SalesforceError::ConcurrentLimit { tries: 5 }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("too many long-running requests run at once"),
        "{message}"
    );
    assert!(!message.contains("24-hour"), "{message}");
    assert_eq!(sf.api_calls(), 5);

    standin.fail_next_calls(5, Fault::Maintenance);
    let error = sf.describe("Contact").await.unwrap_err();
    assert!(
        matches!(error, SalesforceError::Unavailable { tries: 5, .. }),
        "{error}"
    );

    // The daily limit is not tried again.
    standin.limit_requests(0);
    let error = sf.describe("Contact").await.unwrap_err();
    assert!(
        matches!(error, SalesforceError::LimitExceeded(_)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("24-hour API request limit is used up"),
        "{error}"
    );
    assert_eq!(sf.api_calls(), 11);
}

#[tokio::test]
async fn salesforce_a_lost_answer_is_repeated_only_where_repeating_is_harmless() {
    let (standin, sf) = org().await;
    // An upsert by external id: sent again, nothing written twice.
    standin.fail_next_calls(1, Fault::BadGateway);
    let saved = sf
        .save(
            Operation::Upsert,
            "Contact",
            Some("External_Id__c"),
            vec![contact(1), contact(2)],
        )
        .await
        .unwrap();
    assert!(saved.iter().all(|r| r.success), "{saved:?}");
    assert_eq!(standin.records("Contact").len(), 2);
    assert_eq!(sf.api_calls(), 2);

    // An insert is not: the error says it may have been carried out.
    standin.fail_next_calls(1, Fault::GatewayTimeout);
    let error = sf
        .save(Operation::Insert, "Contact", None, vec![contact(3)])
        .await
        .unwrap_err();
    assert!(matches!(error, SalesforceError::Unreachable(_)), "{error}");
    assert!(error.to_string().contains("may or may not"), "{error}");
    assert_eq!(standin.records("Contact").len(), 3);
    assert_eq!(sf.api_calls(), 3);

    // A delete by Id: sent again, and the records the lost try deleted
    // count as deleted.
    let ids: Vec<Map<String, Value>> = standin
        .records("Contact")
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("Id".into(), r["Id"].clone());
            m
        })
        .collect();
    standin.fail_next_calls(1, Fault::BadGateway);
    let deleted = sf
        .save(Operation::Delete, "Contact", None, ids)
        .await
        .unwrap();
    assert!(deleted.iter().all(|r| r.success), "{deleted:?}");
    assert!(standin.records("Contact").is_empty());
}

#[tokio::test]
async fn salesforce_locked_records_are_sent_again_on_their_own() {
    let (standin, sf) = org().await;
    standin.lock_next_records(2);
    let saved = sf
        .save(
            Operation::Insert,
            "Contact",
            None,
            (1..=3).map(contact).collect(),
        )
        .await
        .unwrap();
    assert!(saved.iter().all(|r| r.success), "{saved:?}");
    assert_eq!(standin.records("Contact").len(), 3);
    assert_eq!(sf.api_calls(), 2);

    // Still locked after the last try: those records fail with the reason.
    standin.lock_next_records(100);
    let saved = sf
        .save(Operation::Insert, "Contact", None, vec![contact(4)])
        .await
        .unwrap();
    assert!(!saved[0].success);
    assert!(
        saved[0].reason().contains("UNABLE_TO_LOCK_ROW"),
        "{saved:?}"
    );
    assert_eq!(sf.api_calls(), 7);
    assert_eq!(standin.records("Contact").len(), 3);
}

#[tokio::test]
async fn salesforce_a_run_survives_transient_failures_and_fails_clearly_past_the_bound() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, contacts(1..=30)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;

    standin.fail_next_calls(2, Fault::Maintenance);
    standin.fail_next_calls(2, Fault::ConcurrentLimit);
    standin.lock_next_records(3);
    let before = standin.api_calls();
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_ok"], 30, "{done}");
    // The four refused tries count too (the org answered, not counting them).
    assert_eq!(
        done["api_calls"],
        standin.api_calls() - before + 4,
        "{done}"
    );
    assert_eq!(standin.records("Contact").len(), 30);

    standin.fail_next_calls(5, Fault::ConcurrentLimit);
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["message"].as_str().unwrap();
    assert!(
        message.contains("too many long-running requests run at once"),
        "{message}"
    );
    assert!(!message.contains("24-hour"), "{message}");
}

#[tokio::test]
async fn salesforce_a_lost_answer_to_an_upsert_is_sent_again_and_an_inserts_rows_are_in_doubt() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;

    // An upsert by external id: the write is sent again; nothing twice.
    let csv = b"Key,Last\nC-1,One\nC-2,Two\n".to_vec();
    let upload_id = upload(&app, &owner, csv).await;
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Last", "target": "LastName"},
    ]);
    let job = upsert_job(&app, &owner, &upload_id, &org, mapping).await;
    standin.fail_next_writes(1, Fault::BadGateway);
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_ok"], 2, "{done}");
    assert_eq!(standin.records("Contact").len(), 2);

    // An insert is not sent again: it may have created its records, so
    // its rows go to errors.csv as possibly created and the run stops.
    let upload_id = upload(&app, &owner, contacts(1..=3)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;
    standin.fail_next_writes(1, Fault::BadGateway);
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["message"].as_str().unwrap();
    assert!(message.contains("may or may not"), "{message}");
    assert_eq!(done["rows_failed"], 3, "{done}");
    assert_eq!(standin.records("Contact").len(), 5);
    let errors = result_file(&app, &owner, done["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors.len(), 4, "{errors:?}");
}

#[tokio::test]
async fn salesforce_an_undelete_refused_for_a_passing_reason_is_sent_again_but_not_one_in_doubt() {
    let (standin, sf) = org().await;
    let ids = standin.insert_records("Contact", (1..=4).map(|n| Value::Object(contact(n))));
    let by_id = |ids: &[String]| -> Vec<Map<String, Value>> {
        ids.iter()
            .map(|id| match json!({ "Id": id }) {
                Value::Object(map) => map,
                _ => unreachable!(),
            })
            .collect()
    };
    let deleted = sf
        .save(Operation::Delete, "Contact", None, by_id(&ids))
        .await
        .unwrap();
    assert!(deleted.iter().all(|r| r.success));
    assert_eq!(standin.recycle_bin("Contact").len(), 4);

    standin.fail_next_calls(1, Fault::Maintenance);
    standin.fail_next_calls(1, Fault::ServerUnavailable);
    standin.fail_next_calls(1, Fault::ConcurrentLimit);
    standin.fail_next_calls(1, Fault::LockedRow);
    let calls = sf.api_calls();
    let undone = sf.undelete(&ids[..2]).await.unwrap();
    assert!(undone.iter().all(|r| r.success), "{undone:?}");
    assert_eq!(sf.api_calls() - calls, 5);
    assert_eq!(standin.records("Contact").len(), 2);

    // A proxy's 502 after the undelete was carried out: not sent again,
    // and the error says its outcome is unknown.
    standin.fail_next_calls(1, Fault::BadGateway);
    let error = sf.undelete(&ids[2..]).await.unwrap_err();
    assert!(matches!(error, SalesforceError::Unreachable(_)), "{error}");
    assert!(error.to_string().contains("may or may not"), "{error}");
    assert_eq!(standin.records("Contact").len(), 4);

    // Past the bound, the error names the outage.
    standin.fail_next_calls(5, Fault::ServerUnavailable);
    let error = sf.undelete(&ids[..1]).await.unwrap_err();
    assert!(
        matches!(error, SalesforceError::Unavailable { tries: 5, .. }),
        "{error}"
    );
}
