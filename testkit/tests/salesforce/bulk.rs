//! Bulk API 2.0 ingest jobs.

use crate::support::Org;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Creates a job, uploads `csv`, closes it: the job id.
pub(crate) async fn run_job(org: &Org, spec: Value, csv: &str) -> String {
    let (status, job) = org.call(Method::POST, "/jobs/ingest", Some(spec)).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["state"], "Open");
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("750"));
    assert_eq!(
        job["contentUrl"],
        format!("services/data/v62.0/jobs/ingest/{id}/batches")
    );
    assert_eq!(upload(org, &id, csv).await, StatusCode::CREATED);
    let (status, closed) = org
        .call(
            Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    assert_eq!(
        (status, &closed["state"]),
        (StatusCode::OK, &json!("UploadComplete"))
    );
    id
}

async fn upload(org: &Org, id: &str, csv: &str) -> StatusCode {
    let response = org
        .http
        .put(org.url(&format!("/jobs/ingest/{id}/batches")))
        .bearer_auth(&org.token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    response.status()
}

/// Polls the job until it is final: the states seen and its last info.
pub(crate) async fn poll(org: &Org, id: &str) -> (Vec<String>, Value) {
    let mut states = Vec::new();
    loop {
        let (_, info) = org.get(&format!("/jobs/ingest/{id}")).await;
        states.push(info["state"].as_str().unwrap().to_owned());
        if states.len() > 10
            || !matches!(
                info["state"].as_str(),
                Some("UploadComplete" | "InProgress")
            )
        {
            return (states, info);
        }
    }
}

pub(crate) fn rows(csv: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn a_bulk_job_moves_through_its_states_and_reports_results_out_of_upload_order() {
    let org = Org::start().await;
    org.standin.complete_bulk_jobs_after_polls(3);
    let mut csv = String::from("LastName,Email,Birthdate\n");
    for i in 0..20 {
        csv += &format!("Doe {i},doe{i}@example.com,1990-01-{:02}\n", i + 1);
    }
    csv += ",nameless@example.com,1990-02-01\nTypo,typo@example.com,31/12/1990\n";
    let id = run_job(
        &org,
        json!({"object": "Contact", "operation": "insert", "lineEnding": "LF"}),
        &csv,
    )
    .await;
    let (states, info) = poll(&org, &id).await;
    assert_eq!(states, ["InProgress", "InProgress", "JobComplete"]);
    assert_eq!(
        (
            &info["numberRecordsProcessed"],
            &info["numberRecordsFailed"]
        ),
        (&json!(22), &json!(2))
    );
    let successes = org
        .text(&format!("/jobs/ingest/{id}/successfulResults/"))
        .await;
    assert!(
        successes.starts_with("\"sf__Id\",\"sf__Created\",LastName,Email,Birthdate\n"),
        "{successes}"
    );
    let names: Vec<String> = rows(&successes).iter().map(|r| r[2].clone()).collect();
    let uploaded: Vec<String> = (0..20).map(|i| format!("Doe {i}")).collect();
    assert_ne!(names, uploaded);
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n[4..].parse::<u32>().unwrap());
    assert_eq!(sorted, uploaded);
    assert_eq!(
        org.text(&format!("/jobs/ingest/{id}/successfulResults/"))
            .await,
        successes
    );
    let row = &rows(&successes)[0];
    assert_eq!(row[1], "true");
    let created = org
        .standin
        .records("Contact")
        .into_iter()
        .find(|r| r["Id"] == row[0].as_str())
        .unwrap();
    assert_eq!(created["LastName"], row[2].as_str());
    let failures = org.text(&format!("/jobs/ingest/{id}/failedResults/")).await;
    assert!(failures.starts_with("\"sf__Id\",\"sf__Error\",LastName,Email,Birthdate\n"));
    let mut errors: Vec<String> = rows(&failures).iter().map(|r| r[1].clone()).collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            "INVALID_TYPE_ON_FIELD_IN_RECORD:Birthdate: value not of required type: 31/12/1990:Birthdate --",
            "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
        ]
    );
    let counts = org.standin.api_call_counts();
    assert_eq!((counts.bulk, counts.bulk_polls), (6, 3));
}

#[tokio::test]
async fn a_bulk_job_that_fails_mid_way_leaves_the_rest_unprocessed() {
    let org = Org::start().await;
    org.standin.fail_bulk_jobs_after(3);
    let csv = "LastName\nA\nB\nC\nD\nE\n";
    let id = run_job(
        &org,
        json!({"object": "Contact", "operation": "insert"}),
        csv,
    )
    .await;
    let (states, info) = poll(&org, &id).await;
    assert_eq!(states.last().unwrap(), "Failed");
    assert!(info["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(info["numberRecordsProcessed"], 3);
    assert_eq!(
        rows(
            &org.text(&format!("/jobs/ingest/{id}/successfulResults/"))
                .await
        )
        .len(),
        3
    );
    let unprocessed = org
        .text(&format!("/jobs/ingest/{id}/unprocessedrecords/"))
        .await;
    assert_eq!(unprocessed, "LastName\n\"D\"\n\"E\"\n");
    assert_eq!(org.standin.records("Contact").len(), 3);
}

#[tokio::test]
async fn a_bulk_job_takes_one_upload_only() {
    let org = Org::start().await;
    let (_, job) = org
        .call(
            Method::POST,
            "/jobs/ingest",
            Some(json!({"object": "Account", "operation": "insert"})),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(upload(&org, id, "Name\nAcme\n").await, StatusCode::CREATED);
    assert_eq!(
        upload(&org, id, "Name\nGlobex\n").await,
        StatusCode::BAD_REQUEST
    );
    let (_, aborted) = org
        .call(
            Method::PATCH,
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "Aborted"})),
        )
        .await;
    assert_eq!(aborted["state"], "Aborted");
    assert!(org.standin.records("Account").is_empty());
}

#[tokio::test]
async fn a_bulk_csv_naming_an_unknown_field_fails_the_job() {
    let org = Org::start().await;
    let id = run_job(
        &org,
        json!({"object": "Contact", "operation": "insert"}),
        "LastName,Shoe_Size__c\nDoe,9\n",
    )
    .await;
    let (_, info) = poll(&org, &id).await;
    assert_eq!(info["state"], "Failed");
    assert_eq!(
        info["errorMessage"],
        "InvalidBatch : Field name not found : Shoe_Size__c"
    );
    let unprocessed = org
        .text(&format!("/jobs/ingest/{id}/unprocessedrecords/"))
        .await;
    assert_eq!(unprocessed, "LastName,Shoe_Size__c\n\"Doe\",\"9\"\n");
}

#[tokio::test]
async fn a_bulk_upsert_sets_lookups_by_external_id_and_says_what_it_created() {
    let org = Org::start().await;
    let account = org.standin.insert_records(
        "Account",
        [json!({"Name": "Analytical Engines", "External_Id__c": "A-1"})],
    );
    org.standin.insert_records(
        "Contact",
        [json!({"LastName": "Lovelace", "External_Id__c": "C-1"})],
    );
    let spec = json!({"object": "Contact", "operation": "upsert", "externalIdFieldName": "External_Id__c", "lineEnding": "CRLF"});
    let csv = "External_Id__c,LastName,Account.External_Id__c\r\nC-1,Lovelace,A-1\r\nC-2,Hopper,A-404\r\nC-3,Babbage,\r\n";
    let id = run_job(&org, spec, csv).await;
    poll(&org, &id).await;
    let mut created: Vec<(String, String)> = rows(
        &org.text(&format!("/jobs/ingest/{id}/successfulResults/"))
            .await,
    )
    .into_iter()
    .map(|r| (r[2].clone(), r[1].clone()))
    .collect();
    created.sort();
    assert_eq!(
        created,
        [
            ("C-1".into(), "false".into()),
            ("C-3".into(), "true".into())
        ]
    );
    let failed = rows(&org.text(&format!("/jobs/ingest/{id}/failedResults/")).await);
    assert_eq!(failed[0][1], "INVALID_FIELD:Foreign key external ID: A-404 not found for field External_Id__c in entity Account:--");
    let contacts = org.standin.records("Contact");
    assert_eq!(contacts[0]["AccountId"], json!(account[0]));
}

#[tokio::test]
async fn a_bulk_delete_fills_the_recycle_bin_and_a_hard_delete_does_not() {
    let org = Org::start().await;
    let ids = org.standin.insert_records(
        "Account",
        [json!({"Name": "Acme"}), json!({"Name": "Globex"})],
    );
    let id = run_job(
        &org,
        json!({"object": "Account", "operation": "delete"}),
        &format!("Id\n{}\n", ids[0]),
    )
    .await;
    poll(&org, &id).await;
    let id = run_job(
        &org,
        json!({"object": "Account", "operation": "hardDelete"}),
        &format!("Id\n{}\n", ids[1]),
    )
    .await;
    poll(&org, &id).await;
    assert!(org.standin.records("Account").is_empty());
    let bin = org.standin.recycle_bin("Account");
    assert_eq!((bin.len(), &bin[0]["Id"]), (1, &json!(ids[0])));
}
