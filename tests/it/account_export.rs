//! `POST /v1/account/export`: the account's data and event history,
//! decrypted for it, as a ZIP archive.

use crate::accounts::{account, member};
use crate::imports::{
    connect_target, contacts_csv, contacts_mapping, create_job, run_to_end, target_db, upload,
};
use reqwest::StatusCode;
use serde_json::Value;
use sluice_testkit::{spawn_app, TestApp};
use std::io::Read;

pub(crate) async fn export(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/account/export"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub(crate) fn entry(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> String {
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} is in the archive"))
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[tokio::test]
async fn an_export_holds_the_accounts_data_and_history_decrypted() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let teammate = member(&app, &owner, "grace@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload_id = upload(&app, &owner, contacts_csv(3)).await;
    let job: Value = create_job(&app, &owner, &upload_id, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;

    assert_eq!(
        export(&app, &teammate).await.status(),
        StatusCode::FORBIDDEN
    );
    let res = export(&app, &owner).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let bytes = res.bytes().await.unwrap().to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();

    let account: Value = serde_json::from_str(&entry(&mut archive, "account.json")).unwrap();
    assert_eq!(account["company"], "Analytical Engines Ltd");
    let users = entry(&mut archive, "users.json");
    assert!(
        users.contains("ada@example.com") && users.contains("Grace"),
        "{users}"
    );
    let connections = entry(&mut archive, "connections.json");
    assert!(connections.contains("warehouse"));
    assert!(
        !connections.contains("unused-password"),
        "no secret: {connections}"
    );
    assert!(connections.contains("\"dbname\""), "{connections}");
    let jobs: Value = serde_json::from_str(&entry(&mut archive, "jobs.json")).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["name"], "contacts", "{jobs}");
    assert_eq!(jobs[0]["target"]["object"], "contacts", "{jobs}");
    assert_eq!(jobs[0]["mapping"][1]["source"], "First Name", "{jobs}");
    let runs: Value = serde_json::from_str(&entry(&mut archive, "runs.json")).unwrap();
    assert_eq!(runs[0]["id"], run["id"]);
    let success = entry(
        &mut archive,
        &format!("results/{}/success.csv", run["id"].as_str().unwrap()),
    );
    assert!(success.starts_with("ROW,ID,STATUS"), "{success}");
    assert_eq!(success.lines().count(), 4);

    let history: Vec<Value> = entry(&mut archive, "events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let registered: Vec<&Value> = history
        .iter()
        .filter(|e| e["event_type"] == "user.registered")
        .collect();
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0]["payload"]["email"], "ada@example.com");
    assert_eq!(registered[1]["payload"]["first_name"], "Grace");
    let created = history
        .iter()
        .find(|e| e["event_type"] == "account.created")
        .unwrap();
    assert_eq!(created["payload"]["company"], "Analytical Engines Ltd");
    // What the customer typed of jobs and connections is opened too.
    let opened = |kind: &str| {
        let event = history.iter().find(|e| e["event_type"] == kind).unwrap();
        serde_json::from_str::<Value>(event["payload"]["details"].as_str().unwrap()).unwrap()
    };
    assert_eq!(opened("job.created.v2")["name"], "contacts");
    assert_eq!(opened("connection.created.v2")["name"], "warehouse");
    assert!(history.iter().any(|e| e["event_type"] == "run.finished.v2"));
    assert!(
        history
            .iter()
            .any(|e| e["event_type"] == "account.exported"),
        "the export is recorded"
    );
    // Each event once, in order.
    let seqs: Vec<i64> = history
        .iter()
        .map(|e| e["global_seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}
