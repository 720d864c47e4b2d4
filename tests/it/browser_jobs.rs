//! The jobs pages in a real browser: the list, a job's page, and its
//! schedule set, paused, resumed and removed, by mouse and by keyboard
//! alone; a run started from the job's page.

use crate::accounts::{account, call_json};
use crate::imports::{connect_target, target_db};
use crate::schedules::{crm_job, people};
use crate::web::*;
use fantoccini::Locator;
use reqwest::Method;
use serde_json::Value;
use sluice_testkit::{eventually, spawn_app, TestApp, TestDb};
use std::time::Duration;

/// An account with a connection to read from, one to write into, and a job
/// that reads a query (so it can run on a schedule): the token, the job's
/// id, and the databases (kept for the test's length).
async fn job_to_schedule(app: &TestApp, email: &str) -> (String, String, [TestDb; 2]) {
    let target = target_db();
    let source = people(3);
    let (token, _) = account(app, email).await;
    let into = connect_target(app, &token, &target).await;
    let from = connect_target(app, &token, &source).await;
    let job = crm_job(app, &token, &from, &into, Value::Null).await;
    let id = job["id"].as_str().unwrap().to_owned();
    (token, id, [target, source])
}

async fn job_json(app: &TestApp, token: &str, id: &str) -> Value {
    call_json(app, Method::GET, &format!("/v1/jobs/{id}"), token).await
}

#[tokio::test]
async fn browser_a_user_schedules_pauses_resumes_and_removes_a_jobs_schedule_then_runs_it() {
    let app = spawn_app().await;
    let (token, id, _dbs) = job_to_schedule(&app, "ada@example.com").await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;

    // The jobs page lists the job, where it writes, and how it runs.
    b.goto(&site(&app, "/app/jobs")).await.unwrap();
    let table = wait_for(b, "#jobs-table").await.text().await.unwrap();
    for says in [
        "nightly from the crm",
        "warehouse: contacts",
        "Only when asked",
        "Never run",
    ] {
        assert!(table.contains(says), "{says}: {table}");
    }
    look(b, "jobs").await;
    click(b, &format!("#jobs-table a[href='/app/jobs/{id}']")).await;
    wait_path(b, &format!("/app/jobs/{id}")).await;
    let page = wait_for(b, "main").await.text().await.unwrap();
    assert!(page.contains("A query on warehouse"), "{page}");
    assert!(page.contains("the column mail"), "{page}");
    look(b, "job").await;

    // A bad cron expression: the error beside the field, the focus on it.
    click(b, "#schedule-kind option[value=cron]").await;
    fill(b, "schedule-cron", "every day").await;
    submit(b, "#schedule-form").await;
    wait_for(b, "#schedule-cron[aria-invalid=true]").await;
    assert!(text_of(b, "schedule-cron-error")
        .await
        .contains("five fields"));
    let alert = text_at(b, "#schedule-form [role=alert]").await;
    assert!(alert.starts_with("Cron expression:"), "{alert}");
    assert_eq!(focused(b).await, "schedule-cron");
    assert!(job_json(&app, &token, &id).await["schedule"].is_null());

    // Every day at 06:00: the schedule in words, and its next run.
    click(b, "#schedule-kind option[value=daily]").await;
    submit(b, "#schedule-form").await;
    wait_text(b, "schedule-words", "Every day at 06:00 UTC").await;
    assert!(text_of(b, "next-run").await.starts_with("Next run:"));
    let job = job_json(&app, &token, &id).await;
    assert_eq!(job["schedule"], "0 6 * * *");
    assert!(job["next_run_at"].is_string(), "{job}");
    look(b, "job-scheduled").await;

    click(b, "#pause-schedule").await;
    wait_for(b, "#resume-schedule").await;
    assert_eq!(text_of(b, "paused").await, "Paused");
    assert!(text_of(b, "next-run").await.starts_with("Paused"));
    assert_eq!(job_json(&app, &token, &id).await["schedule_paused"], true);
    look(b, "job-paused").await;

    click(b, "#resume-schedule").await;
    wait_for(b, "#pause-schedule").await;
    assert_eq!(job_json(&app, &token, &id).await["schedule_paused"], false);

    click(b, "#remove-schedule").await;
    wait_text(b, "runs-by-itself", "Runs only when asked.").await;
    assert!(job_json(&app, &token, &id).await["schedule"].is_null());

    // The jobs page says how its last run went, once the job ran.
    click(b, "#run-now").await;
    wait_path(b, "/app/runs/").await;
    wait_text(b, "status", "Completed").await;
    b.goto(&site(&app, "/app/jobs")).await.unwrap();
    let table = wait_for(b, "#jobs-table").await.text().await.unwrap();
    assert!(table.contains("Completed"), "{table}");
}

#[tokio::test]
async fn browser_a_keyboard_alone_sets_and_pauses_a_schedule() {
    let app = spawn_app().await;
    let (token, id, _dbs) = job_to_schedule(&app, "grace@example.com").await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "grace@example.com").await;
    b.goto(&site(&app, &format!("/app/jobs/{id}")))
        .await
        .unwrap();
    wait_for(b, "#schedule-form").await;

    tab_to(b, "Save the schedule").await;
    press(b, ENTER).await;
    wait_text(b, "schedule-words", "Every day at 06:00 UTC").await;
    tab_to(b, "pause-schedule").await;
    press(b, SPACE).await;
    wait_for(b, "#resume-schedule").await;
    eventually(Duration::from_secs(10), "the pause", || async {
        (job_json(&app, &token, &id).await["schedule_paused"] == true).then_some(())
    })
    .await;

    // Deleted once confirmed: back to the jobs page, which says what to do
    // first; the job's address is a page not found.
    click(b, "#delete-job").await;
    eventually(Duration::from_secs(10), "the confirmation", || async {
        b.accept_alert().await.ok()
    })
    .await;
    wait_for(b, "#first-steps").await;
    assert_eq!(wait_path(b, "/app/jobs").await, "/app/jobs");
    look(b, "jobs-empty").await;
    b.goto(&site(&app, &format!("/app/jobs/{id}")))
        .await
        .unwrap();
    assert_eq!(text_at(b, "h1").await, "Page not found");
    let unknown = format!("/app/jobs/{}", uuid::Uuid::new_v4());
    b.goto(&site(&app, &unknown)).await.unwrap();
    assert_eq!(text_at(b, "h1").await, "Page not found");
}

#[tokio::test]
async fn browser_a_member_runs_a_job_and_is_offered_no_change_to_it() {
    let app = spawn_app().await;
    let (owner, id, _dbs) = job_to_schedule(&app, "ada@example.com").await;
    crate::accounts::member(&app, &owner, "alan@example.com").await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "alan@example.com").await;

    // The job's page: its definition, Run now, and no control a member
    // may not use.
    b.goto(&site(&app, &format!("/app/jobs/{id}")))
        .await
        .unwrap();
    assert!(text_of(b, "manage-note").await.contains("owner and admins"));
    for absent in ["#edit-job", "#delete-job", "#schedule-form", "#retry-form"] {
        assert!(b.find(Locator::Css(absent)).await.is_err(), "{absent}");
    }
    look(b, "job-member").await;
    click(b, "#run-now").await;
    wait_path(b, "/app/runs/").await;
    wait_text(b, "status", "Completed").await;

    // The wizard says who defines imports instead of taking a file.
    b.goto(&site(&app, "/app/imports/new")).await.unwrap();
    assert!(text_of(b, "define-note").await.contains("owner and admins"));
    assert!(b.find(Locator::Id("upload")).await.is_err());
    b.clone().close().await.unwrap();
}
