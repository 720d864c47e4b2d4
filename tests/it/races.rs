//! Requests sent at the same moment: what one of them decides, the others
//! see, whatever order they arrive in.

use crate::accounts::{account, call, call_json, member, person, signup};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use sluice_schema::schema::{accounts, users};
use sluice_testkit::spawn_app;

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
