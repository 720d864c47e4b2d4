//! What a rollback of a PostgreSQL run counts as a conflict: a column the
//! run wrote that no longer holds what the run wrote. Columns the run did
//! not write (a trigger, another program) and the row's version may move
//! without one, and rolling back two runs newest-first puts the original
//! values back.

use crate::accounts::account;
use crate::imports::{connect_target, create_keyed_job, result_file, target_db, upload};
use crate::rollbacks::{execute, job_id, roll_back, run, seed};
use diesel::prelude::*;
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, TestApp, TestDb};

#[derive(QueryableByName, Debug, PartialEq, Eq, Clone)]
struct Contact {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    first_name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    amount: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    source: String,
}

fn contacts(target: &TestDb) -> Vec<Contact> {
    diesel::sql_query(
        "SELECT email, first_name, amount::text AS amount, source FROM contacts ORDER BY id",
    )
    .load(&mut target.connect())
    .unwrap()
}

/// A CSV of person{i} rows with a name and an amount as given.
fn csv(rows: impl IntoIterator<Item = (usize, String, String)>) -> Vec<u8> {
    let mut csv = String::from("Email,Name,Amount\n");
    for (i, name, amount) in rows {
        csv.push_str(&format!("person{i}@example.com,{name},{amount}\n"));
    }
    csv.into_bytes()
}

/// Runs a keyed job of `operation` by email over `file`: the run as shown.
async fn import(
    app: &TestApp,
    token: &str,
    connection: &str,
    operation: &str,
    file: Vec<u8>,
) -> Value {
    let upload = upload(app, token, file).await;
    let key_fields = if operation == "insert" {
        json!([])
    } else {
        json!(["email"])
    };
    let mapping = json!([
        {"source": "Email", "target": "email"},
        {"source": "Name", "target": "first_name"},
        {"source": "Amount", "target": "amount"},
    ]);
    let job = job_id(
        create_keyed_job(
            app, token, &upload, connection, operation, key_fields, mapping,
        )
        .await,
    )
    .await;
    let done = run(app, token, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    done
}

#[tokio::test]
async fn columns_the_run_did_not_write_may_change_without_a_conflict() {
    let app = spawn_app().await;
    let target = target_db();
    seed(&target, 6);
    let before = contacts(&target);
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    // Amounts as written ("07.50") differ in form from what the table
    // shows ("7.50"): the comparison is in the column's type.
    let file = csv((1..=6).map(|i| (i, format!("New {i}"), format!("0{i}.50"))));
    let imported = import(&app, &owner, &connection, "update", file).await;

    // Since the run, automation touched person2 (a trigger, on an order
    // being placed) and someone edited person3's source: columns the run
    // did not write.
    execute(
        &target,
        "CREATE TABLE orders (email TEXT NOT NULL);
         CREATE FUNCTION mark_ordered() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             UPDATE contacts SET source = 'ordered' WHERE email = NEW.email;
             RETURN NEW;
         END $$;
         CREATE TRIGGER ordered AFTER INSERT ON orders
             FOR EACH ROW EXECUTE FUNCTION mark_ordered();
         INSERT INTO orders VALUES ('person2@example.com');
         UPDATE contacts SET source = 'crm' WHERE email = 'person3@example.com';",
    );

    let rollback = roll_back(&app, &owner, &imported, json!({})).await;
    assert_eq!(rollback["status"], "rolled_back", "{rollback}");
    assert_eq!(rollback["rows_ok"], 6);
    assert_eq!(rollback["rows_failed"], 0);
    let now = contacts(&target);
    for (now, was) in now.iter().zip(&before) {
        assert_eq!(
            (&now.first_name, &now.amount),
            (&was.first_name, &was.amount),
            "{} is restored",
            was.email
        );
    }
    assert_eq!(now[1].source, "ordered", "the trigger's change is kept");
    assert_eq!(now[2].source, "crm", "the edit of another column is kept");
}

#[tokio::test]
async fn an_edit_of_a_column_the_run_wrote_is_a_conflict_naming_the_column() {
    let app = spawn_app().await;
    let target = target_db();
    seed(&target, 4);
    let before = contacts(&target);
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let file = csv((1..=4).map(|i| (i, format!("New {i}"), format!("{i}.5"))));
    let imported = import(&app, &owner, &connection, "update", file).await;
    execute(
        &target,
        "UPDATE contacts SET amount = 99 WHERE email = 'person2@example.com'",
    );

    let rollback = roll_back(&app, &owner, &imported, json!({})).await;
    assert_eq!(rollback["status"], "partially_succeeded", "{rollback}");
    assert_eq!(rollback["rows_ok"], 3);
    assert_eq!(rollback["rows_failed"], 1);
    let now = contacts(&target);
    assert_eq!(now[1].amount.as_deref(), Some("99"), "left as it is");
    assert_eq!(now[1].first_name.as_deref(), Some("New 2"));
    assert_eq!(now[0], before[0]);
    let errors = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[1][0], "2");
    let reason = &errors[1][1];
    assert!(
        reason.contains("\"amount\" no longer holds what the run wrote"),
        "{reason}"
    );
    assert!(!reason.contains("first_name"), "{reason}");
    assert!(!reason.contains("99"), "no value in the reason: {reason}");

    // Forced, the row gets its before-image back.
    let forced = roll_back(&app, &owner, &imported, json!({"force": true})).await;
    assert_eq!(forced["status"], "rolled_back", "{forced}");
    assert_eq!(contacts(&target), before);
}

#[tokio::test]
async fn two_runs_on_the_same_rows_roll_back_newest_first_without_conflicts() {
    let app = spawn_app().await;
    let target = target_db();
    seed(&target, 3);
    let before = contacts(&target);
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    // The first run updates person1-3 and creates person4-5, its amounts
    // in another form than the table shows; the second changes them all.
    let first = csv((1..=5).map(|i| (i, format!("First {i}"), format!("0{i}.50"))));
    let first = import(&app, &owner, &connection, "upsert", first).await;
    let second = csv((1..=5).map(|i| (i, format!("Second {i}"), format!("{i}"))));
    let second = import(&app, &owner, &connection, "update", second).await;
    assert_eq!(contacts(&target)[4].first_name.as_deref(), Some("Second 5"));

    let undo_second = roll_back(&app, &owner, &second, json!({})).await;
    assert_eq!(undo_second["status"], "rolled_back", "{undo_second}");
    assert_eq!(contacts(&target)[4].amount.as_deref(), Some("5.50"));
    let undo_first = roll_back(&app, &owner, &first, json!({})).await;
    assert_eq!(undo_first["status"], "rolled_back", "{undo_first}");
    assert_eq!(undo_first["rows_ok"], 5);
    assert_eq!(contacts(&target), before, "the original values are back");
}

#[tokio::test]
async fn created_rows_are_deleted_though_automation_touched_them() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let file = csv((1..=3).map(|i| (i, format!("P {i}"), format!(" 0{i}.10"))));
    let imported = import(&app, &owner, &connection, "insert", file).await;
    execute(
        &target,
        "UPDATE contacts SET source = 'enriched' WHERE email = 'person1@example.com';
         UPDATE contacts SET first_name = 'Renamed' WHERE email = 'person3@example.com';",
    );
    let rollback = roll_back(&app, &owner, &imported, json!({})).await;
    assert_eq!(rollback["status"], "partially_succeeded", "{rollback}");
    assert_eq!(rollback["rows_ok"], 2);
    let left = contacts(&target);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].email, "person3@example.com");
    let errors = result_file(&app, &owner, rollback["id"].as_str().unwrap(), "errors").await;
    assert!(
        errors[1][1].contains("\"first_name\" no longer holds"),
        "{errors:?}"
    );
}
