//! Erasure (`DELETE /v1/account`): secrets, files and the subject key
//! destroyed; no personal data left in a dump of the database; the event
//! log still verifies, and replay shows the account erased.

use crate::accounts::{call, login, member, session, signup, PASSWORD};
use crate::imports::{connect_target, contacts_mapping, create_job, run_to_end, target_db, upload};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_schema::schema::{
    accounts, connection_secrets, password_hashes, result_keys, subject_keys, token_hashes,
    upload_keys, users,
};
use sluice_testkit::{spawn_app, TestApp};

const EMAIL: &str = "zebediah.quartermaine@erase-me.example";
const TEAMMATE: &str = "philippa.ostrowska@erase-me.example";

async fn erase(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .delete(app.url("/v1/account"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn dump(app: &TestApp) -> String {
    let out = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rows_of(app: &TestApp, account: uuid::Uuid) -> [i64; 7] {
    let mut conn = app.conn();
    let count = |n: QueryResult<i64>| n.unwrap();
    [
        count(
            subject_keys::table
                .filter(subject_keys::account_id.eq(account))
                .count()
                .get_result(&mut conn),
        ),
        count(
            password_hashes::table
                .filter(password_hashes::account_id.eq(account))
                .count()
                .get_result(&mut conn),
        ),
        count(
            token_hashes::table
                .filter(token_hashes::account_id.eq(account))
                .count()
                .get_result(&mut conn),
        ),
        count(
            connection_secrets::table
                .filter(connection_secrets::account_id.eq(account))
                .count()
                .get_result(&mut conn),
        ),
        count(
            upload_keys::table
                .filter(upload_keys::account_id.eq(account))
                .count()
                .get_result(&mut conn),
        ),
        count(
            result_keys::table
                .filter(result_keys::account_id.eq(account))
                .count()
                .get_result(&mut conn),
        ),
        count(
            users::table
                .filter(users::account_id.eq(account))
                .count()
                .get_result(&mut conn),
        ),
    ]
}

#[tokio::test]
async fn erasure_destroys_secrets_files_and_the_subject_key_and_the_log_still_verifies() {
    let app = spawn_app().await;
    let res = signup(
        &app,
        &json!({
            "first_name": "Zebediah",
            "last_name": "Quartermaine",
            "email": EMAIL,
            "company": "Quartermaine Orchards",
            "country": "nz",
            "password": PASSWORD,
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let account: uuid::Uuid = created["account_id"].as_str().unwrap().parse().unwrap();
    let owner = session(&app, EMAIL).await;
    let teammate_token = member(&app, &owner, TEAMMATE).await;
    let target = target_db();
    let connection = connect_target(&app, &owner, &target).await;
    let upload_id = upload(&app, &owner, crate::imports::contacts_csv(5)).await;
    let job = create_job(&app, &owner, &upload_id, &connection, contacts_mapping()).await;
    let job: Value = job.json().await.unwrap();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(
        rows_of(&app, account).iter().all(|n| *n > 0),
        "{:?}",
        rows_of(&app, account)
    );
    assert!(!app.store.list("uploads").unwrap().is_empty());
    assert!(!app.store.list("results").unwrap().is_empty());

    // Only the owner, and only when they say they mean it.
    assert_eq!(
        erase(
            &app,
            &teammate_token,
            json!({"confirm": "erase this account"})
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let res = erase(&app, &owner, json!({"confirm": "yes"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        rows_of(&app, account).iter().all(|n| *n > 0),
        "nothing changed"
    );

    let res = erase(&app, &owner, json!({"confirm": "erase this account"})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // Nobody of the account can come back in.
    assert_eq!(
        call(&app, Method::GET, "/v1/me", &owner).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/me", &teammate_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, EMAIL, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // No secret, key or person of the account is left, nor any file.
    assert_eq!(rows_of(&app, account), [0; 7]);
    assert!(app.store.list("uploads").unwrap().is_empty());
    assert!(app.store.list("results").unwrap().is_empty());
    // A dump of the whole database holds none of their personal data.
    let dumped = dump(&app);
    for personal in [
        "Zebediah",
        "Quartermaine",
        EMAIL,
        TEAMMATE,
        "Philippa",
        "Orchards",
    ] {
        assert!(!dumped.contains(personal), "{personal} is in the dump");
    }
    assert!(!dumped.to_lowercase().contains("erase-me"));

    // The log is intact, and replay rebuilds the account as erased.
    let mut conn = app.conn();
    assert!(sluice_events::verify::verify(&mut conn)
        .unwrap()
        .is_intact());
    let replayed = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(replayed.is_equal(), "{replayed:?}");
    let erased: Option<chrono::DateTime<chrono::Utc>> = accounts::table
        .find(account)
        .select(accounts::erased_at)
        .first(&mut conn)
        .unwrap();
    assert!(erased.is_some());

    // The email is free for a new account.
    let res = signup(&app, &crate::accounts::person(EMAIL)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
