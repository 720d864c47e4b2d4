//! How runs into a Salesforce org name records, against the stand-in:
//! keys read in queries whose encoded URL Salesforce takes.

use crate::salesforce_target::client;
use serde_json::json;
use sluice_connectors::journal::Action;
use sluice_connectors::salesforce::{Operation, Writer};
use sluice_testkit::salesforce::SalesforceStandIn;

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
