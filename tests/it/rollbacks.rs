//! Update, upsert and delete runs, and rolling runs back: every change
//! undone from the run's journal, and rows changed since reported as
//! conflicts rather than overwritten.

use crate::accounts::{account, call, call_json, member};
use crate::imports::{
    connect_target, create_keyed_job, result_file, target_db, upload, wait_for_run,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, TestApp, TestDb};

#[derive(QueryableByName, Debug, PartialEq, Eq, Clone)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    first_name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    source: String,
}

fn rows(target: &TestDb) -> Vec<Row> {
    diesel::sql_query("SELECT id, email, first_name, source FROM contacts ORDER BY id")
        .load(&mut target.connect())
        .unwrap()
}

/// `count` contacts already in the table: person{i}@example.com, named Old {i}.
pub fn seed(target: &TestDb, count: usize) {
    target
        .connect()
        .batch_execute(&format!(
            "INSERT INTO contacts (email, first_name) \
             SELECT 'person' || i || '@example.com', 'Old ' || i FROM generate_series(1, {count}) i"
        ))
        .unwrap();
}

fn people_csv(numbers: impl IntoIterator<Item = (usize, String)>) -> Vec<u8> {
    let mut csv = String::from("Email,Name\n");
    for (i, name) in numbers {
        csv.push_str(&format!("person{i}@example.com,{name}\n"));
    }
    csv.into_bytes()
}

fn named_mapping() -> Value {
    json!([
        {"source": "Email", "target": "email"},
        {"source": "Name", "target": "first_name"},
    ])
}

pub async fn job_id(res: reqwest::Response) -> String {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub async fn run(app: &TestApp, token: &str, job: &str) -> Value {
    let res = call(app, Method::POST, &format!("/v1/jobs/{job}/runs"), token).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let run: Value = res.json().await.unwrap();
    wait_for_run(app, token, run["run_id"].as_str().unwrap()).await
}

/// Asks for a rollback of `run`; a `null` body sends none.
async fn request_rollback(
    app: &TestApp,
    token: &str,
    run: &Value,
    body: Value,
) -> reqwest::Response {
    let request = app
        .client
        .post(app.url(&format!(
            "/v1/runs/{}/rollback",
            run["id"].as_str().unwrap()
        )))
        .bearer_auth(token);
    let request = if body.is_null() {
        request
    } else {
        request.json(&body)
    };
    request.send().await.unwrap()
}

pub async fn roll_back(app: &TestApp, token: &str, run: &Value, body: Value) -> Value {
    let res = request_rollback(app, token, run, body).await;
    let status = res.status();
    let queued: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    wait_for_run(app, token, queued["run_id"].as_str().unwrap()).await
}

pub fn execute(target: &TestDb, sql: &str) {
    target.connect().batch_execute(sql).unwrap();
}

/// An upsert run of `lines` by email into a table of 500 contacts.
struct Upserted {
    app: TestApp,
    target: TestDb,
    /// The table before the run.
    before: Vec<Row>,
    owner: String,
    job: String,
    imported: Value,
}

async fn upserted(lines: impl IntoIterator<Item = (usize, String)>) -> Upserted {
    let app = spawn_app().await;
    let target = target_db();
    seed(&target, 500);
    let before = rows(&target);
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, people_csv(lines)).await;
    let job = job_id(
        create_keyed_job(
            &app,
            &owner,
            &upload,
            &connection,
            "upsert",
            json!(["email"]),
            named_mapping(),
        )
        .await,
    )
    .await;
    let imported = run(&app, &owner, &job).await;
    Upserted {
        app,
        target,
        before,
        owner,
        job,
        imported,
    }
}

#[tokio::test]
async fn an_upsert_is_rolled_back_except_rows_changed_since_unless_forced() {
    // 1,500 rows: the first 500 exist, the rest are new; person10 comes
    // twice, and the later row wins.
    let mut lines: Vec<(usize, String)> = (1..=1500).map(|i| (i, format!("New {i}"))).collect();
    lines.insert(20, (10, "Newer 10".into()));
    let Upserted {
        app,
        target,
        before,
        owner,
        job,
        imported,
    } = upserted(lines).await;
    assert_eq!(imported["status"], "succeeded", "{imported}");
    assert_eq!(imported["rows_ok"], 1501);
    let after = rows(&target);
    assert_eq!(after.len(), 1500);
    assert_eq!(after[9].first_name.as_deref(), Some("Newer 10"));
    assert_eq!(after[700].first_name.as_deref(), Some("New 701"));
    let success = result_file(&app, &owner, imported["id"].as_str().unwrap(), "success").await;
    let status_of = |row: &str| {
        success
            .iter()
            .find(|r| r[0] == row)
            .map(|r| (r[1].clone(), r[2].clone()))
            .unwrap()
    };
    // Row 1 of the file is person1, row 601 is person600 (one extra row
    // before it).
    assert_eq!(
        status_of("1"),
        ("person1@example.com".into(), "updated".into())
    );
    assert_eq!(
        status_of("601"),
        ("person600@example.com".into(), "created".into())
    );

    // Since the run, someone renamed person7 and person900.
    execute(
        &target,
        "UPDATE contacts SET first_name = 'Edited' \
         WHERE email IN ('person7@example.com', 'person900@example.com')",
    );

    let rollback = roll_back(&app, &owner, &imported, json!({})).await;
    assert_eq!(rollback["kind"], "rollback");
    assert_eq!(rollback["rollback_of"], imported["id"]);
    assert_eq!(rollback["status"], "partially_succeeded", "{rollback}");
    assert_eq!(rollback["rows_ok"], 1499);
    assert_eq!(rollback["rows_failed"], 2);
    let rolled = rows(&target);
    assert_eq!(rolled.len(), 501, "the new rows are gone but person900");
    for (now, was) in rolled.iter().zip(&before) {
        if now.email == "person7@example.com" {
            assert_eq!(now.first_name.as_deref(), Some("Edited"));
        } else {
            assert_eq!(now, was, "restored from its before-image");
        }
    }
    assert_eq!(rolled[500].email, "person900@example.com");
    let errors = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors[0], ["ROW", "ERROR"]);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors
        .iter()
        .skip(1)
        .all(|e| e[1].contains("changed since the run")));
    let shown: Value = call_json(
        &app,
        Method::GET,
        &format!("/v1/runs/{}", imported["id"].as_str().unwrap()),
        &owner,
    )
    .await;
    assert_eq!(shown["rolled_back_by"], rollback["id"]);
    assert_eq!(
        shown["status"], "succeeded",
        "the run keeps its own outcome"
    );

    // A member cannot force; an owner can, and the rest is undone.
    let member = member(&app, &owner, "bob@example.com").await;
    assert_eq!(
        request_rollback(&app, &member, &imported, json!({"force": true}))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let forced = roll_back(&app, &owner, &imported, json!({"force": true})).await;
    assert_eq!(forced["status"], "rolled_back", "{forced}");
    assert_eq!(rows(&target), before);
    let history: Value =
        call_json(&app, Method::GET, &format!("/v1/jobs/{job}/runs"), &owner).await;
    let kinds: Vec<&str> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["rollback", "rollback", "import"]);

    // Once rolled back, a run is not rolled back again; nor is a rollback.
    assert_eq!(
        request_rollback(&app, &owner, &imported, json!({}))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        request_rollback(&app, &owner, &forced, json!({}))
            .await
            .status(),
        StatusCode::CONFLICT
    );
}

/// A batch undone set-wise (no key twice): the rows changed or gone since
/// are told apart from the rest, each with its own reason, and everything
/// else is undone.
#[tokio::test]
async fn a_batch_rolled_back_at_once_still_names_each_row_changed_or_gone_since() {
    let lines = (1..=1500).map(|i| (i, format!("New {i}")));
    let Upserted {
        app,
        target,
        before,
        owner,
        imported,
        ..
    } = upserted(lines).await;
    assert_eq!(imported["rows_ok"], 1500, "{imported}");

    // Since the run: two rows edited, an updated row and a created row deleted.
    execute(
        &target,
        "UPDATE contacts SET first_name = 'Edited' \
         WHERE email IN ('person7@example.com', 'person900@example.com'); \
         DELETE FROM contacts \
         WHERE email IN ('person5@example.com', 'person1200@example.com')",
    );
    let rollback = roll_back(&app, &owner, &imported, json!({})).await;
    assert_eq!(rollback["status"], "partially_succeeded", "{rollback}");
    assert_eq!(rollback["rows_ok"], 1497);
    assert_eq!(rollback["rows_failed"], 3);

    let errors = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "errors").await;
    let reason = |row: &str| {
        errors
            .iter()
            .find(|e| e[0] == row)
            .map(|e| e[1].clone())
            .unwrap_or_else(|| panic!("row {row} not in {errors:?}"))
    };
    assert!(reason("7").contains("changed since the run"));
    assert!(reason("900").contains("changed since the run"));
    assert!(reason("5").contains("deleted since the run"));
    let success = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "success").await;
    let status = |row: &str| success.iter().find(|r| r[0] == row).map(|r| r[2].clone());
    assert_eq!(status("1200").as_deref(), Some("already_deleted"));
    assert_eq!(status("1").as_deref(), Some("restored"));
    assert_eq!(status("1499").as_deref(), Some("deleted"));

    let rolled = rows(&target);
    assert_eq!(
        rolled.len(),
        500,
        "the new rows are gone but person900; person5 is gone"
    );
    assert!(rolled.iter().any(|r| r.email == "person900@example.com"));
    let mut kept = before.iter().filter(|r| r.email != "person5@example.com");
    for now in rolled.iter().filter(|r| r.email != "person900@example.com") {
        let was = kept.next().unwrap();
        if now.email == "person7@example.com" {
            assert_eq!(now.first_name.as_deref(), Some("Edited"));
        } else {
            assert_eq!(now, was, "restored from its before-image");
        }
    }
}

#[tokio::test]
async fn an_insert_rollback_deletes_the_rows_it_created() {
    let (app, target, before, owner, imported) = inserted(target_db()).await;
    // Someone deleted one of the new rows since: it is already gone.
    execute(
        &target,
        "DELETE FROM contacts WHERE email = 'person150@example.com'",
    );
    let rollback = roll_back(&app, &owner, &imported, json!(null)).await;
    assert_eq!(rollback["status"], "rolled_back", "{rollback}");
    assert_eq!(rollback["rows_ok"], 2500);
    assert_eq!(rows(&target), before);
    let success = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "success").await;
    assert_eq!(success[0], ["ROW", "ID", "STATUS"]);
    let already: Vec<&Vec<String>> = success
        .iter()
        .filter(|r| r[2] == "already_deleted")
        .collect();
    assert_eq!(already.len(), 1);
    assert_eq!(already[0][0], "51", "person150 was row 51 of the file");
}

/// An insert of 2,500 rows (three batches of the test worker's 1,000) by
/// a new job: the app, the target, the rows before, the owner and the run.
async fn inserted(target: TestDb) -> (TestApp, TestDb, Vec<Row>, String, Value) {
    let app = spawn_app().await;
    seed(&target, 3);
    let before = rows(&target);
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(
        &app,
        &owner,
        people_csv((100..2600).map(|i| (i, format!("P {i}")))),
    )
    .await;
    let job = job_id(
        create_keyed_job(
            &app,
            &owner,
            &upload,
            &connection,
            "insert",
            json!([]),
            named_mapping(),
        )
        .await,
    )
    .await;
    let imported = run(&app, &owner, &job).await;
    assert_eq!(imported["rows_ok"], 2500, "{imported}");
    (app, target, before, owner, imported)
}

#[tokio::test]
async fn an_insert_rollback_undone_several_steps_at_once_still_leaves_rows_changed_since() {
    // The table has no foreign key pointing at it: the rollback's steps
    // are under way together, one on each of the worker's connections.
    let (app, target, before, owner, imported) = inserted(target_db()).await;
    execute(
        &target,
        "UPDATE contacts SET first_name = 'Edited' \
         WHERE email IN ('person150@example.com', 'person2450@example.com')",
    );
    let rollback = roll_back(&app, &owner, &imported, json!(null)).await;
    assert_eq!(rollback["status"], "partially_succeeded", "{rollback}");
    assert_eq!(rollback["rows_ok"], 2498);
    assert_eq!(rollback["rows_failed"], 2);
    let errors = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "errors").await;
    let failed: Vec<&str> = errors[1..].iter().map(|e| e[0].as_str()).collect();
    assert_eq!(
        failed,
        ["2351", "51"],
        "in the rollback's order, newest batch first: {errors:?}"
    );
    assert!(errors[1][1].contains("changed since the run"), "{errors:?}");
    let left = rows(&target);
    assert_eq!(&left[..3], &before[..], "the rows before the run stay");
    let emails: Vec<&str> = left[3..].iter().map(|r| r.email.as_str()).collect();
    assert_eq!(emails, ["person150@example.com", "person2450@example.com"]);
    assert!(left[3..]
        .iter()
        .all(|r| r.first_name.as_deref() == Some("Edited")));
}

#[tokio::test]
async fn deleting_created_rows_reaches_beyond_the_table_with_a_reference_to_it_a_trigger_or_a_rule()
{
    use sluice_connectors::postgres as pg;
    let app = spawn_app().await;
    let target = target_db();
    let mut params = crate::connections::params_for(&app, "unused-password");
    params["dbname"] = json!(target.name);
    let client = pg::connect(&pg::PgParams::from_json(
        &params,
        "unused-password".to_owned().into(),
    ))
    .await
    .unwrap();
    let reaches = || async {
        let table = pg::describe(&client, "contacts").await.unwrap();
        pg::deletes_reach_beyond(&client, &table).await.unwrap()
    };
    assert!(!reaches().await, "a table of its own");
    // A reference from the table to another does not count: deleting a
    // row that refers reads nothing else.
    execute(
        &target,
        "CREATE TABLE teams (id INT PRIMARY KEY); \
         ALTER TABLE contacts ADD COLUMN team_id INT REFERENCES teams (id)",
    );
    assert!(!reaches().await, "its own references");
    for (what, added, removed) in [
        (
            "a reference to it",
            "CREATE TABLE notes (contact_id INT REFERENCES contacts (id))",
            "DROP TABLE notes",
        ),
        (
            "a trigger",
            "CREATE FUNCTION noted() RETURNS trigger LANGUAGE plpgsql AS \
             'BEGIN RETURN OLD; END'; \
             CREATE TRIGGER noted BEFORE DELETE ON contacts FOR EACH ROW EXECUTE FUNCTION noted()",
            "DROP TRIGGER noted ON contacts",
        ),
        (
            "a rule",
            "CREATE TABLE gone (id INT); \
             CREATE RULE kept AS ON DELETE TO contacts DO ALSO INSERT INTO gone VALUES (OLD.id)",
            "DROP RULE kept ON contacts",
        ),
    ] {
        execute(&target, added);
        assert!(reaches().await, "{what}");
        execute(&target, removed);
        assert!(!reaches().await, "{what} removed");
    }
}

#[tokio::test]
async fn an_insert_rollback_of_a_table_other_rows_refer_to_keeps_a_row_still_referred_to() {
    // A foreign key points at the table: deleting a row checks another
    // table, so the steps are under way one at a time.
    let target = target_db();
    execute(
        &target,
        "CREATE TABLE notes (id SERIAL PRIMARY KEY, contact_id INT NOT NULL REFERENCES contacts (id))",
    );
    let (app, target, before, owner, imported) = inserted(target).await;
    execute(
        &target,
        "INSERT INTO notes (contact_id) \
         SELECT id FROM contacts WHERE email = 'person1200@example.com'",
    );
    let rollback = roll_back(&app, &owner, &imported, json!(null)).await;
    assert_eq!(rollback["status"], "partially_succeeded", "{rollback}");
    assert_eq!(rollback["rows_ok"], 2499);
    assert_eq!(rollback["rows_failed"], 1);
    let errors = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[1][0], "1101", "person1200 was row 1101 of the file");
    assert!(
        errors[1][1].contains("notes"),
        "names what refers to it: {errors:?}"
    );
    let left = rows(&target);
    assert_eq!(&left[..3], &before[..]);
    assert_eq!(left.len(), 4);
    assert_eq!(left[3].email, "person1200@example.com");
}

#[tokio::test]
async fn updates_and_deletes_are_rolled_back_and_a_key_taken_since_is_a_conflict() {
    let app = spawn_app().await;
    let target = target_db();
    seed(&target, 40);
    let before = rows(&target);
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;

    // An update: rows whose key names no row are refused one by one.
    let upload_update = upload(
        &app,
        &owner,
        people_csv((1..=10).chain([99]).map(|i| (i, format!("Upd {i}")))),
    )
    .await;
    let update = job_id(
        create_keyed_job(
            &app,
            &owner,
            &upload_update,
            &connection,
            "update",
            json!(["email"]),
            named_mapping(),
        )
        .await,
    )
    .await;
    let updated = run(&app, &owner, &update).await;
    assert_eq!(updated["status"], "partially_succeeded", "{updated}");
    assert_eq!(
        (updated["rows_ok"].as_i64(), updated["rows_failed"].as_i64()),
        (Some(10), Some(1))
    );
    let errors = result_file(&app, &owner, updated["id"].as_str().unwrap(), "errors").await;
    assert!(
        errors[1][1].contains("no row of contacts has this email"),
        "{errors:?}"
    );
    assert_eq!(rows(&target)[4].first_name.as_deref(), Some("Upd 5"));
    assert_eq!(rows(&target).len(), 40);

    // A delete of rows 11 to 30.
    let upload_delete = upload(
        &app,
        &owner,
        people_csv((11..=30).map(|i| (i, String::new()))),
    )
    .await;
    let delete = job_id(
        create_keyed_job(
            &app,
            &owner,
            &upload_delete,
            &connection,
            "delete",
            json!(["email"]),
            json!([{"source": "Email", "target": "email"}]),
        )
        .await,
    )
    .await;
    let deleted = run(&app, &owner, &delete).await;
    assert_eq!(deleted["status"], "succeeded", "{deleted}");
    assert_eq!(rows(&target).len(), 20);
    // Since then, someone made a new person12.
    execute(
        &target,
        "INSERT INTO contacts (email, first_name) VALUES ('person12@example.com', 'Someone else')",
    );

    let undelete = roll_back(&app, &owner, &deleted, json!({})).await;
    assert_eq!(undelete["status"], "partially_succeeded", "{undelete}");
    assert_eq!(undelete["rows_failed"], 1);
    let errors = result_file(&app, &owner, undelete["id"].as_str().unwrap(), "errors").await;
    assert!(errors[1][1].contains("exists again"), "{errors:?}");
    let restored = rows(&target);
    assert_eq!(restored.len(), 40);
    assert!(
        before[10..30]
            .iter()
            .filter(|r| r.email != "person12@example.com")
            .all(|r| restored.contains(r)),
        "the deleted rows are back with their ids and values"
    );

    let undo_update = roll_back(&app, &owner, &updated, json!({})).await;
    assert_eq!(undo_update["status"], "rolled_back", "{undo_update}");
    assert_eq!(&rows(&target)[..10], &before[..10]);
}

#[tokio::test]
async fn keyed_jobs_are_checked_and_expired_runs_cannot_be_rolled_back() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, people_csv([(1, "A".to_owned())])).await;
    let refused = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        res.json::<Value>().await.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (operation, key_fields, says) in [
        ("update", json!([]), "key_fields"),
        ("upsert", json!(["first_name"]), "no unique constraint"),
        ("delete", json!(["email"]), "only its key fields"),
        ("merge", json!([]), "insert, update, upsert, delete"),
    ] {
        let res = create_keyed_job(
            &app,
            &owner,
            &upload,
            &connection,
            operation,
            key_fields,
            named_mapping(),
        )
        .await;
        let message = refused(res).await;
        assert!(message.contains(says), "{operation}: {message}");
    }

    let job = job_id(
        create_keyed_job(
            &app,
            &owner,
            &upload,
            &connection,
            "insert",
            json!([]),
            named_mapping(),
        )
        .await,
    )
    .await;
    let imported = run(&app, &owner, &job).await;
    assert_eq!(imported["status"], "succeeded");
    let bad_body = app
        .client
        .post(app.url(&format!(
            "/v1/runs/{}/rollback",
            imported["id"].as_str().unwrap()
        )))
        .bearer_auth(&owner)
        .body("{\"forse\": true}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.platform.clock.advance(chrono::Duration::days(15));
    assert_eq!(
        request_rollback(&app, &owner, &imported, json!({}))
            .await
            .status(),
        StatusCode::GONE
    );
    assert_eq!(rows(&target).len(), 1, "nothing was undone");
}
