//! The import wizard in a real browser: upload, target, mapping, clean,
//! preview and run, into a PostgreSQL table and a Salesforce object (the
//! stand-in), with the mouse and with the keyboard alone. Every step is
//! checked with axe-core at both widths and pictured in docs/screenshots.

use crate::imports::target_db;
use crate::web::*;
use diesel::prelude::*;
use fantoccini::{Client, Locator};
use sluice_testkit::{eventually, spawn_app, TestApp};
use std::time::Duration;

/// A file as people export it: a header that is not the table's column
/// names, US dates, a duplicate email, a non-ASCII name.
const CONTACTS: &str = "E-mail,First Name,Joined,Tier\n\
    ada@example.com,Ada,03/15/2024,gold\n\
    grace@example.com,Grace,12/09/2023,silver\n\
    ada@example.com,Ada again,01/02/2024,gold\n\
    alan@example.com,Alan,06/23/2024,\n\
    émilie@example.com,Émilie,12/17/2023,bronze\n";

fn csv_file(body: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new()
        .prefix("contacts-")
        .suffix(".csv")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), body).unwrap();
    file
}

/// The rows of `contacts`, by email: (first name, joined, source).
fn contacts_in(target: &sluice_testkit::TestDb) -> Vec<(String, Option<String>, String)> {
    #[derive(QueryableByName)]
    struct Contact {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        joined: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Text)]
        source: String,
    }
    diesel::sql_query("SELECT email, joined::text AS joined, source FROM contacts ORDER BY email")
        .load::<Contact>(&mut target.connect())
        .unwrap()
        .into_iter()
        .map(|c| (c.email, c.joined, c.source))
        .collect()
}

/// Uploads `file` on the wizard's first step and waits for the next.
async fn upload_file(b: &Client, app: &TestApp, file: &tempfile::NamedTempFile) {
    b.goto(&site(app, "/app/imports/new")).await.unwrap();
    upload_file_here(b, file).await;
    wait_path(b, "/app/imports/new?upload=").await;
}

/// An account with a database connected (its `contacts` table), signed in
/// in a browser.
async fn signed_in_with_a_table() -> (TestApp, sluice_testkit::TestDb, Browser) {
    let app = spawn_app().await;
    let target = target_db();
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    crate::imports::connect_target(&app, &token, &target).await;
    let browser = browser().await;
    sign_in(&browser.client, &app, "ada@example.com").await;
    (app, target, browser)
}

#[tokio::test]
async fn the_wizard_maps_fixes_a_date_from_the_preview_and_runs_a_trial_into_postgres() {
    let (app, target, browser) = signed_in_with_a_table().await;
    let b = &browser.client;
    let file = csv_file(CONTACTS);

    // Upload: the first step, with its drop zone.
    b.goto(&site(&app, "/app/imports/new")).await.unwrap();
    look(b, "wizard-1-upload").await;
    upload_file(b, &app, &file).await;

    // Target: the table found by searching the list.
    wait_for(b, "#object option[value=contacts]").await;
    fill(b, "object-search", "cont").await;
    wait_text(b, "object-count", "1 table or object matching “cont”.").await;
    choose(b, "object", "contacts").await;
    assert_eq!(
        b.find(Locator::Id("job-name"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        file.path().file_stem().unwrap().to_str().unwrap(),
        "the import is named after its file"
    );
    look(b, "wizard-2-target").await;
    let current = b
        .find(Locator::Css(".steps [aria-current=step]"))
        .await
        .unwrap();
    assert_eq!(current.text().await.unwrap(), "Target");
    next_step(b, "target", "mapping").await;

    // Mapping: auto-matched columns with their confidence, types and
    // required fields in the drop-downs, the unmatched column left out.
    wait_mapping(b, "email").await;
    let email_option = text_at(b, "#field-0 option[value=email]").await;
    assert!(
        email_option.contains("text") && email_option.contains("required"),
        "{email_option}"
    );
    assert_eq!(
        value_of(b, "field-0").await,
        "email",
        "E-mail matched to email"
    );
    assert_eq!(value_of(b, "field-1").await, "first_name");
    assert_eq!(value_of(b, "field-2").await, "joined");
    assert_eq!(value_of(b, "field-3").await, "", "Tier matches no field");
    let confidence = text_of(b, "match-1").await;
    assert!(confidence.contains("% sure"), "{confidence}");
    // A formula for the `source` column, checked as it is typed: a
    // misspelt column is named, then the values of the first rows shown.
    click(b, "#add-formula").await;
    choose(b, "formula-target-1", "source").await;
    fill(b, "formula-text-1", "\"web-\" & LOWER([Tierr])").await;
    eventually(Duration::from_secs(20), "the formula's error", || async {
        let shown = text_of(b, "formula-check-1").await;
        shown.contains("did you mean Tier").then_some(())
    })
    .await;
    // Sent as it is, the API's refusal is shown at that formula, named as
    // on screen, with the focus on it.
    next_step(b, "mapping", "clean").await;
    click(b, "[data-step=clean] [data-next=preview]").await;
    let alert = wait_for(b, "#wizard > .error:not([hidden])").await;
    let said = alert.text().await.unwrap();
    assert!(said.starts_with("Formula: at position"), "{said}");
    assert_eq!(focused(b).await, "formula-text-1");
    assert!(b
        .find(Locator::Css("[data-step=mapping]:not([hidden])"))
        .await
        .is_ok());
    look(b, "wizard-3-mapping-refused").await;
    fill(
        b,
        "formula-text-1",
        "IF(ISBLANK([Tier]), \"web\", \"web-\" & [Tier])",
    )
    .await;
    eventually(Duration::from_secs(20), "the formula's values", || async {
        let shown = text_of(b, "formula-check-1").await;
        (shown.contains("web-gold") && shown.contains(": web ·")).then_some(())
    })
    .await;
    look(b, "wizard-3-mapping").await;
    next_step(b, "mapping", "clean").await;

    // Clean: duplicates by email, the first kept.
    wait_for(b, "[data-step=clean]:not([hidden]) #dedupe-email").await;
    click(b, "#dedupe-email").await;
    look(b, "wizard-4-clean").await;
    next_step(b, "clean", "preview").await;

    // Preview: the US dates are no dates as the column is read; the
    // problem links to the control that fixes it.
    wait_for(
        b,
        "[data-step=preview]:not([hidden]) #preview-rows tbody tr.problem",
    )
    .await;
    let status = text_of(b, "preview-status").await;
    assert!(status.contains("with a problem"), "{status}");
    look(b, "wizard-5-preview-problem").await;
    assert_eq!(
        text_at(b, "#preview-rows tbody tr:first-child td.bad").await,
        "03/15/2024",
        "the cell with the problem is marked"
    );
    click(b, "#preview-rows tr.problem .problem-note button").await;
    assert_eq!(
        focused(b).await,
        "transform-2",
        "the Joined column's transform"
    );
    choose(b, "transform-2", "date").await;
    fill(b, "transform-value-2", "%m/%d/%Y").await;
    to_clean_preview(b, 5).await;
    let skipped = text_at(b, "#preview-rows tbody").await;
    assert!(
        skipped.contains("Skipped: duplicate of row 1 (email)"),
        "{skipped}"
    );
    look(b, "wizard-5-preview").await;

    // Run: a trial of two rows first.
    next_step(b, "preview", "run").await;
    wait_for(b, "[data-step=run]:not([hidden])").await;
    click(b, "input[name=how][value=trial]").await;
    fill(b, "sample", "2").await;
    look(b, "wizard-6-run").await;
    click(b, "#start-run").await;
    wait_path(b, "/app/runs/").await;
    wait_text(b, "status", "Completed").await;
    assert_eq!(
        contacts_in(&target),
        vec![
            (
                "ada@example.com".into(),
                Some("2024-03-15".into()),
                "web-gold".into()
            ),
            (
                "grace@example.com".into(),
                Some("2023-12-09".into()),
                "web-silver".into()
            ),
        ]
    );

    // Then the rest, from the trial's page: each row once, the trial's
    // not again; and the rest rolled back leaves the trial's rows.
    let trial_page = b.current_url().await.unwrap().path().to_owned();
    submit(b, "#run-rest").await;
    let rest_page = eventually(Duration::from_secs(30), "the rest's page", || async {
        let url = b.current_url().await.ok()?;
        (url.path() != trial_page).then(|| url.path().to_owned())
    })
    .await;
    // As in a run of every row, the rest's row 3 repeats the trial's row 1.
    wait_text(b, "status", "Completed").await;
    assert_eq!(contacts_in(&target).len(), 4, "five rows, one a duplicate");
    roll_back_here(b, &rest_page).await;
    assert_eq!(contacts_in(&target).len(), 2, "the trial's rows stay");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_wizard_imports_into_a_salesforce_object_and_the_run_is_rolled_back() {
    use sluice_testkit::salesforce::SalesforceStandIn;
    let standin = SalesforceStandIn::start().await;
    let app = crate::salesforce_runs::app_for(&standin, 2_000, true).await;
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    let org = crate::salesforce_runs::connect_org(&app, &token, &standin).await;
    let file = csv_file(
        "Last Name,Email,Birthdate\n\
         Lovelace,ada@example.com,1815-12-10\n\
         Hopper,grace@example.com,1906-12-09\n\
         Châtelet,emilie@example.com,1706-12-17\n",
    );
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;
    upload_file(b, &app, &file).await;

    // The org, then its Contact object found by its label.
    choose(b, "target", &org).await;
    fill(b, "object-search", "Cont").await;
    wait_for(b, "#object option[value=Contact]").await;
    choose(b, "object", "Contact").await;
    look(b, "wizard-salesforce-target").await;
    next_step(b, "target", "mapping").await;

    // Auto-match by name and label; a required field left unmapped is
    // called out until a column goes to it.
    wait_mapping(b, "LastName").await;
    assert_eq!(value_of(b, "field-0").await, "LastName");
    assert_eq!(value_of(b, "field-1").await, "Email");
    assert_eq!(value_of(b, "field-2").await, "Birthdate");
    assert!(text_of(b, "match-0").await.contains("% sure"));
    choose(b, "field-0", "").await;
    let missing = text_of(b, "required-missing").await;
    assert!(missing.contains("Last Name"), "{missing}");
    look(b, "wizard-salesforce-mapping").await;
    choose(b, "field-0", "LastName").await;
    assert!(
        b.find(Locator::Css("#required-missing[hidden]"))
            .await
            .is_ok(),
        "nothing required is missing"
    );
    to_clean_preview(b, 3).await;
    look(b, "wizard-salesforce-preview").await;
    next_step(b, "preview", "run").await;
    click(b, "#start-run").await;
    let run_page = wait_path(b, "/app/runs/").await;
    wait_text(b, "status", "Completed").await;
    let written = crate::salesforce_runs::contacts_by_email(&standin);
    assert_eq!(written.len(), 3);
    assert_eq!(written["emilie@example.com"]["LastName"], "Châtelet");
    assert_eq!(written["ada@example.com"]["Birthdate"], "1815-12-10");

    // Rolled back from the run's page: the contacts are gone.
    roll_back_here(b, &run_page).await;
    assert_eq!(standin.record_count("Contact"), 0);
    b.clone().close().await.unwrap();
}

/// Types `text` where the focus is, as keys.
async fn type_keys(b: &Client, text: &str) {
    b.active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_whole_wizard_works_from_the_keyboard_alone() {
    let (app, target, browser) = signed_in_with_a_table().await;
    let b = &browser.client;
    let file = csv_file(CONTACTS);
    b.goto(&site(&app, "/app/imports/new")).await.unwrap();

    // The file is chosen (a browser's own dialog), the rest is keys.
    tab_to(b, "file").await;
    type_keys(b, file.path().to_str().unwrap()).await;
    press(b, TAB).await;
    press(b, ENTER).await;
    wait_path(b, "/app/imports/new?upload=").await;
    wait_for(b, "#object option[value=contacts]").await;

    // Target: the search, then the list, with arrows.
    tab_to(b, "object-search").await;
    type_keys(b, "contacts").await;
    wait_text(b, "object-count", "1 table or object matching “contacts”.").await;
    tab_to(b, "object").await;
    press(b, DOWN).await;
    assert_eq!(value_of(b, "object").await, "contacts");
    press(b, TAB).await;
    tab_to(b, "Next: map the columns").await;
    press(b, ENTER).await;
    wait_mapping(b, "email").await;
    assert_eq!(
        focused(b).await,
        "step-mapping",
        "the step's heading has the focus"
    );

    // Mapping: the dates read as the file writes them.
    tab_to(b, "transform-2").await;
    type_keys(b, "Read as a d").await;
    assert_eq!(value_of(b, "transform-2").await, "date");
    tab_to(b, "transform-value-2").await;
    type_keys(b, "%m/%d/%Y").await;
    tab_to(b, "Next: clean the rows").await;
    press(b, ENTER).await;

    // Clean: the blank handling's second choice, and back to the first,
    // with arrows; duplicates are left for the target to refuse.
    wait_for(b, "[data-step=clean]:not([hidden]) #dedupe-email").await;
    tab_to_text_of_label(b, "clears the field").await;
    press(b, DOWN).await;
    press(b, UP).await;
    tab_to(b, "Next: preview").await;
    press(b, ENTER).await;
    wait_text(b, "preview-status", "5 rows shown, none with a problem.").await;
    assert_eq!(focused(b).await, "step-preview");
    tab_to(b, "Next: run").await;
    press(b, ENTER).await;
    wait_for(b, "[data-step=run]:not([hidden])").await;
    // A trial of two rows: the second choice of the radio group, by arrow.
    tab_to_text_of_label(b, "Every row").await;
    press(b, DOWN).await;
    tab_to(b, "sample").await;
    type_keys(b, "\u{E003}\u{E003}2").await;
    assert_eq!(value_of(b, "sample").await, "2");
    tab_to(b, "start-run").await;
    press(b, ENTER).await;
    wait_path(b, "/app/runs/").await;
    wait_text(b, "status", "Completed").await;
    assert_eq!(contacts_in(&target).len(), 2);
    // Then the rest, from the trial's page: the repeated email is refused.
    let trial_page = b.current_url().await.unwrap().path().to_owned();
    tab_to(b, "Run the remaining rows").await;
    press(b, ENTER).await;
    let rest_page = left(b, &trial_page).await;
    wait_text(b, "status", "Completed with 1 error").await;
    assert_eq!(contacts_in(&target).len(), 4);

    // The first Ada removed from the table, the failed row is retried.
    diesel::sql_query("DELETE FROM contacts WHERE email = 'ada@example.com'")
        .execute(&mut target.connect())
        .unwrap();
    tab_to(b, "Retry the failed rows").await;
    press(b, ENTER).await;
    let retry_page = left(b, &rest_page).await;
    wait_text(b, "status", "Completed").await;
    let written = contacts_in(&target);
    assert_eq!(written.len(), 4, "{written:?}");
    assert!(written.contains(&(
        "ada@example.com".into(),
        Some("2024-01-02".into()),
        "manual".into()
    )));

    // And the retry rolled back, confirmed with Enter in the dialog.
    tab_to(b, "Roll back this run").await;
    press(b, ENTER).await;
    eventually(Duration::from_secs(10), "the confirmation", || async {
        b.accept_alert().await.ok()
    })
    .await;
    left(b, &retry_page).await;
    wait_text(b, "status", "Rolled back").await;
    assert_eq!(contacts_in(&target).len(), 3);
    b.clone().close().await.unwrap();
}

/// Waits until the browser has left the page at `path`: the new path.
async fn left(b: &Client, path: &str) -> String {
    eventually(Duration::from_secs(30), "another page", || async {
        let url = b.current_url().await.ok()?;
        (url.path() != path).then(|| url.path().to_owned())
    })
    .await
}

/// Presses Tab until the focus is on the control labelled `text` (a radio
/// button or a checkbox inside its label).
async fn tab_to_text_of_label(b: &Client, text: &str) {
    for _ in 0..80 {
        let label = b
            .execute(
                "return document.activeElement.closest('label')?.textContent.trim() ?? '';",
                vec![],
            )
            .await
            .unwrap();
        if label == text {
            return;
        }
        press(b, TAB).await;
    }
    panic!("Tab never reached “{text}”");
}

#[tokio::test]
async fn a_job_reopens_in_the_wizard_with_its_choices_and_its_mapping_is_kept_for_later_files() {
    use crate::imports::{contacts_csv, contacts_mapping, create_job, upload};
    let app = spawn_app().await;
    let target = target_db();
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    let connection = crate::imports::connect_target(&app, &token, &target).await;
    let upload_id = upload(&app, &token, contacts_csv(3)).await;
    let job: serde_json::Value =
        create_job(&app, &token, &upload_id, &connection, contacts_mapping())
            .await
            .json()
            .await
            .unwrap();
    let job_id = job["id"].as_str().unwrap();
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;

    // The job's choices, as it was defined through the API.
    b.goto(&site(&app, &format!("/app/imports/new?job={job_id}")))
        .await
        .unwrap();
    wait_for(b, "#object option[value=contacts]:checked").await;
    to_mapping(b, "email").await;
    assert_eq!(value_of(b, "field-0").await, "email");
    assert_eq!(
        value_of(b, "transform-0").await,
        "kept",
        "trim then lower, as the job has it"
    );
    assert_eq!(value_of(b, "field-3").await, "joined");
    assert_eq!(value_of(b, "transform-3").await, "date");
    assert_eq!(value_of(b, "transform-value-3").await, "%d.%m.%Y");
    assert_eq!(value_of(b, "transform-2").await, "number");
    assert!(text_at(b, "#fixed")
        .await
        .contains("source: set by the job (constant)"));
    look(b, "wizard-edit-mapping").await;

    // Kept for later files under a name.
    fill(b, "template-name", "Contacts export").await;
    click(b, "#save-template").await;
    wait_text(b, "template-status", "Saved as “Contacts export”.").await;

    // Changed: the first name no longer imported; the rest as it was.
    choose(b, "field-1", "").await;
    to_clean_preview(b, 3).await;
    let saved = crate::accounts::call_json(
        &app,
        reqwest::Method::GET,
        &format!("/v1/jobs/{job_id}"),
        &token,
    )
    .await;
    let mapping = saved["mapping"].as_array().unwrap();
    assert_eq!(mapping.len(), 4, "{saved}");
    assert!(!mapping.iter().any(|e| e["target"] == "first_name"));
    assert_eq!(
        mapping[0]["transform"],
        serde_json::json!([{"type": "trim"}, {"type": "lower"}])
    );
    assert!(mapping
        .iter()
        .any(|e| e["target"] == "source" && e["transform"]["type"] == "constant"));

    // A new file starts from the saved mapping.
    let second = csv_file("Email;First Name;Amount;Joined\nbo@example.com;Bo;1,50;01.02.2025\n");
    upload_file(b, &app, &second).await;
    wait_for(b, "#object option[value=contacts]").await;
    choose(b, "object", "contacts").await;
    next_step(b, "target", "mapping").await;
    wait_for(
        b,
        "[data-step=mapping]:not([hidden]) #template option:nth-child(2)",
    )
    .await;
    let option = b
        .find(Locator::Css("#template option:nth-child(2)"))
        .await
        .unwrap();
    assert_eq!(option.text().await.unwrap(), "Contacts export");
    option.click().await.unwrap();
    assert_eq!(value_of(b, "transform-3").await, "date");
    assert_eq!(value_of(b, "transform-value-3").await, "%d.%m.%Y");
    assert_eq!(value_of(b, "field-1").await, "first_name");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_file_comes_by_drag_and_drop_or_from_dropbox_and_a_job_whose_file_is_gone_takes_a_new_one(
) {
    use sluice_testkit::dropbox::DropboxStandIn;
    let standin = DropboxStandIn::start().await;
    standin.put_file("/Exports/contacts.csv", CONTACTS.as_bytes());
    let app = crate::dropbox_connect::app_with(&standin).await;
    let target = target_db();
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    crate::imports::connect_target(&app, &token, &target).await;
    crate::dropbox_connect::connect(&app, &token).await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;

    // Dropped on the upload step: uploaded at once.
    b.goto(&site(&app, "/app/imports/new")).await.unwrap();
    b.execute(
        "const data = new DataTransfer();
         data.items.add(new File(['Email,Name\\nada@example.com,Ada\\n'], 'dropped.csv', { type: 'text/csv' }));
         document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true }));",
        vec![],
    )
    .await
    .unwrap();
    wait_path(b, "/app/imports/new?upload=").await;
    wait_for(b, "#column-1").await;
    let column = b.find(Locator::Id("column-1")).await.unwrap();
    assert_eq!(column.prop("textContent").await.unwrap().unwrap(), "Name");
    assert!(text_at(b, "main")
        .await
        .contains("From dropped.csv: 2 columns."));

    // A path Dropbox does not have is refused at the field; then the file.
    b.goto(&site(&app, "/app/imports/new")).await.unwrap();
    look(b, "wizard-1-upload-dropbox").await;
    fill(b, "dropbox-path", "/Exports/nothing.csv").await;
    submit(b, "#from-dropbox").await;
    let alert = wait_for(b, "#from-dropbox .error:not([hidden])").await;
    assert!(!alert.text().await.unwrap().is_empty());
    fill(b, "dropbox-path", "/Exports/contacts.csv").await;
    submit(b, "#from-dropbox").await;
    wait_path(b, "/app/imports/new?upload=").await;
    wait_for(b, "#object option[value=contacts]").await;
    choose(b, "object", "contacts").await;
    to_mapping(b, "email").await;
    choose(b, "transform-2", "date").await;
    fill(b, "transform-value-2", "%m/%d/%Y").await;
    to_clean_preview(b, 5).await;
    let first_upload = b
        .find(Locator::Id("wizard"))
        .await
        .unwrap()
        .attr("data-upload")
        .await
        .unwrap()
        .unwrap();
    let jobs = crate::accounts::call_json(&app, reqwest::Method::GET, "/v1/jobs", &token).await;
    let job_id = jobs["jobs"][0]["id"].as_str().unwrap().to_owned();

    // The file deleted, the job reopens on the upload step, says why, and
    // takes a new file with its mapping kept.
    let res = crate::accounts::call(
        &app,
        reqwest::Method::DELETE,
        &format!("/v1/uploads/{first_upload}"),
        &token,
    )
    .await;
    assert!(res.status().is_success(), "{}", res.status());
    b.goto(&site(&app, &format!("/app/imports/new?job={job_id}")))
        .await
        .unwrap();
    let said = text_at(b, "main .error").await;
    assert!(said.contains("that file is gone"), "{said}");
    look(b, "wizard-edit-file-gone").await;
    upload_file_here(b, &csv_file(CONTACTS)).await;
    let at = wait_path(b, "/app/imports/new?upload=").await;
    assert!(at.contains(&format!("job={job_id}")), "{at}");
    wait_for(b, "#object option[value=contacts]:checked").await;
    to_mapping(b, "email").await;
    assert_eq!(value_of(b, "transform-value-2").await, "%m/%d/%Y");
    to_clean_preview(b, 5).await;
    let saved = crate::accounts::call_json(
        &app,
        reqwest::Method::GET,
        &format!("/v1/jobs/{job_id}"),
        &token,
    )
    .await;
    assert_ne!(
        saved["source"]["upload_id"],
        first_upload.as_str(),
        "the job reads the new file"
    );
    b.clone().close().await.unwrap();
}

/// Uploads `file` on the upload step already shown.
async fn upload_file_here(b: &Client, file: &tempfile::NamedTempFile) {
    b.find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(file.path().to_str().unwrap())
        .await
        .unwrap();
    submit(b, "#upload").await;
}
