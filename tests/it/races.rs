//! Requests sent at the same moment: what one of them decides, the others
//! see, whatever order they arrive in.

use crate::accounts::{account, call, call_json, member, person, signup};
use crate::imports::{
    connect_target, contacts_csv, contacts_mapping, create_job, run_to_end, target_db, upload,
};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_schema::schema::{accounts, events, runs, users};
use sluice_testkit::{spawn_app, TestApp, TestDb};

#[tokio::test]
async fn sign_ups_with_one_email_at_the_same_moment_make_one_account() {
    let app = spawn_app().await;
    for trial in 0..5 {
        let body = person(&format!("race{trial}@example.com"));
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let attempts = (0..4).map(|_| {
            let (app, body, barrier) = (&app, body.clone(), barrier.clone());
            async move {
                barrier.wait().await;
                signup(app, &body).await.status()
            }
        });
        let mut statuses = futures_util::future::join_all(attempts).await;
        statuses.sort();
        assert_eq!(
            statuses,
            [
                StatusCode::CREATED,
                StatusCode::CONFLICT,
                StatusCode::CONFLICT,
                StatusCode::CONFLICT
            ],
            "trial {trial}"
        );
    }
    let mut conn = app.conn();
    let accounts: i64 = accounts::table.count().get_result(&mut conn).unwrap();
    let owners: i64 = users::table.count().get_result(&mut conn).unwrap();
    assert_eq!((accounts, owners), (5, 5), "every account has its owner");
}

#[tokio::test]
async fn an_email_is_free_again_once_its_user_is_removed() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "owner@example.com").await;
    member(&app, &owner, "bob@example.com").await;
    assert_eq!(
        signup(&app, &person("bob@example.com")).await.status(),
        StatusCode::CONFLICT
    );
    let listed = call_json(&app, Method::GET, "/v1/users", &owner).await;
    let bob = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "member")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = call(&app, Method::DELETE, &format!("/v1/users/{bob}"), &owner).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        signup(&app, &person("bob@example.com")).await.status(),
        StatusCode::CREATED
    );
}

/// Sends `count` requests made by `send` at the same moment: their
/// statuses, sorted.
async fn at_once<F, Fut>(count: usize, send: F) -> Vec<StatusCode>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    let attempts = (0..count).map(|i| {
        let (barrier, request) = (barrier.clone(), send(i));
        async move {
            barrier.wait().await;
            request.await.status()
        }
    });
    let mut statuses = futures_util::future::join_all(attempts).await;
    statuses.sort();
    statuses
}

/// How many events of `event_type` the log holds.
fn recorded(app: &TestApp, event_type: &str) -> i64 {
    events::table
        .filter(events::event_type.eq(event_type))
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

/// A job of `owner`'s importing three contacts into a fresh table: its id.
async fn contacts_job(app: &TestApp, owner: &str, target: &TestDb) -> String {
    let connection = connect_target(app, owner, target).await;
    let upload = upload(app, owner, contacts_csv(3)).await;
    let job: Value = create_job(app, owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    job["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_rollback_asked_twice_at_the_same_moment_makes_one_rollback_run() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let job = contacts_job(&app, &owner, &target).await;
    let imported = run_to_end(&app, &owner, &job).await;
    assert_eq!(imported["rows_ok"], 3, "{imported}");
    let path = format!("/v1/runs/{}/rollback", imported["id"].as_str().unwrap());
    let statuses = at_once(2, |_| call(&app, Method::POST, &path, &owner)).await;
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::CONFLICT]);

    let mut conn = app.conn();
    let projected: i64 = runs::table
        .filter(runs::kind.eq("rollback"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let recorded: i64 = events::table
        .filter(events::event_type.eq("run.requested"))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "payload->>'kind' = 'rollback'",
        ))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((projected, recorded), (1, 1), "one rollback run");
}

#[tokio::test]
async fn a_job_deleted_twice_at_the_same_moment_is_deleted_once() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let job = contacts_job(&app, &owner, &target).await;
    let path = format!("/v1/jobs/{job}");
    let statuses = at_once(2, |_| call(&app, Method::DELETE, &path, &owner)).await;
    assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND]);
    assert_eq!(recorded(&app, "job.deleted"), 1);
}

#[tokio::test]
async fn a_connection_disconnected_twice_at_the_same_moment_is_disconnected_once() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let path = format!("/v1/connections/{connection}");
    let statuses = at_once(2, |_| call(&app, Method::DELETE, &path, &owner)).await;
    assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND]);
    assert_eq!(recorded(&app, "connection.disconnected"), 1);
}

#[tokio::test]
async fn two_changes_of_a_job_at_the_same_moment_are_both_kept_or_one_is_refused() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let job = contacts_job(&app, &owner, &target).await;
    let path = format!("/v1/jobs/{job}");
    let changes = [
        json!({"name": "renamed"}),
        json!({"mapping": [{"source": "Email", "target": "email"}]}),
    ];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let attempts = changes.iter().map(|change| {
        let (barrier, app, path, owner) = (barrier.clone(), &app, &path, &owner);
        async move {
            barrier.wait().await;
            app.client
                .patch(app.url(path))
                .bearer_auth(owner)
                .json(change)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT)
            && statuses.contains(&StatusCode::OK),
        "{statuses:?}"
    );
    let shown = call_json(&app, Method::GET, &path, &owner).await;
    if statuses[0] == StatusCode::OK {
        assert_eq!(shown["name"], "renamed", "{shown}");
    }
    if statuses[1] == StatusCode::OK {
        let mapping = shown["mapping"].as_array().unwrap();
        assert_eq!(mapping.len(), 1, "{shown}");
        assert_eq!(mapping[0]["source"], "Email", "{shown}");
    }
}
