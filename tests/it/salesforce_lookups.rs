//! Lookups Sluice makes itself in a Salesforce org, against the stand-in:
//! a reference set to the record found by a field that need not be unique
//! (an Account by its `Name`), without regard to case, with several
//! matches failing the row or taking the latest; through another
//! reference (a Task's `WhoId` set to the Contact whose Account has an
//! external id); by sObject Collections and by Bulk API 2.0; in the
//! preview; and the mistakes refused when the job is saved.

use crate::accounts::{account, call};
use crate::imports::{result_file, upload};
use crate::salesforce_runs::{app_for, connect_org, create_job_into, run};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::{task, SalesforceStandIn};
use sluice_testkit::TestApp;

/// An owner with the stand-in's org connected (Bulk above
/// `bulk_above_rows` rows), whose Accounts are Acme, Globex, and two
/// named Initech, the second of them changed last: the app, the owner's
/// token, the connection, and the ids of Acme and of both Initechs.
struct Org {
    standin: SalesforceStandIn,
    app: TestApp,
    owner: String,
    connection: String,
    acme: String,
    initech: [String; 2],
}

async fn org(bulk_above_rows: usize) -> Org {
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(1);
    let app = app_for(&standin, bulk_above_rows, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_org(&app, &owner, &standin).await;
    let ids = standin.insert_records(
        "Account",
        [
            json!({"Name": "Acme", "External_Id__c": "A-1"}),
            json!({"Name": "Globex", "External_Id__c": "A-2"}),
            json!({"Name": "Initech", "External_Id__c": "A-3"}),
            json!({"Name": "Initech", "External_Id__c": "A-4"}),
        ],
    );
    // The second Initech is changed after both were made: it is the
    // latest modified, and the last in the order they were made.
    standin.update_record("Account", &ids[3], json!({"Phone": "555-0100"}));
    Org {
        standin,
        app,
        owner,
        connection,
        acme: ids[0].clone(),
        initech: [ids[2].clone(), ids[3].clone()],
    }
}

const CONTACTS: &str = "\
Last,Email,Company
Lovelace,ada@example.com,ACME
Babbage,charles@example.com,Initech
Hopper,grace@example.com,Nowhere Inc
Turing,alan@example.com,
";

/// The contacts' mapping, with the company looked up by `lookup`.
fn mapping(lookup: Value) -> Value {
    let mut transform = json!({"type": "lookup", "object": "Account", "key": "Name"});
    for (k, v) in lookup.as_object().unwrap() {
        transform[k] = v.clone();
    }
    json!([
        {"source": "Last", "target": "LastName"},
        {"source": "Email", "target": "Email"},
        {"source": "Company", "target": "AccountId", "transform": transform},
    ])
}

impl Org {
    async fn job(&self, csv: &str, object: &str, mapping: Value) -> String {
        let upload = upload(&self.app, &self.owner, csv.as_bytes().to_vec()).await;
        let job = json!({"operation": "insert", "key_fields": [], "mapping": mapping});
        create_job_into(
            &self.app,
            &self.owner,
            &upload,
            &self.connection,
            object,
            job,
        )
        .await
    }

    /// `POST /v1/jobs` of CONTACTS into Contact with `mapping`, refused:
    /// its error.
    async fn refused(&self, mapping: Value) -> Value {
        let upload = upload(&self.app, &self.owner, CONTACTS.as_bytes().to_vec()).await;
        let res = self
            .app
            .client
            .post(self.app.url("/v1/jobs"))
            .bearer_auth(&self.owner)
            .json(&json!({
                "name": "contacts",
                "source": {"upload_id": upload},
                "target": {"connection_id": self.connection, "object": "Contact"},
                "operation": "insert",
                "mapping": mapping,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        res.json::<Value>().await.unwrap()["error"].clone()
    }

    /// Each contact's account id, by last name.
    fn accounts_of_contacts(&self) -> Vec<(String, Value)> {
        let mut contacts: Vec<(String, Value)> = self
            .standin
            .records("Contact")
            .into_iter()
            .map(|c| {
                let last = c["LastName"].as_str().unwrap().to_owned();
                (last, c.get("AccountId").cloned().unwrap_or(Value::Null))
            })
            .collect();
        contacts.sort_by(|a, b| a.0.cmp(&b.0));
        contacts
    }
}

/// errors.csv's rows as (row, reason).
async fn errors(org: &Org, run: &Value) -> Vec<(String, String)> {
    let rows = result_file(&org.app, &org.owner, run["id"].as_str().unwrap(), "errors").await;
    rows.into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

async fn a_lookup_by_name(bulk_above_rows: usize) {
    let org = org(bulk_above_rows).await;
    let job = org.job(CONTACTS, "Contact", mapping(json!({}))).await;
    let finished = run(&org.app, &org.owner, &job).await;
    assert_eq!(finished["rows_ok"], 2, "{finished}");
    assert_eq!(finished["rows_failed"], 2, "{finished}");
    assert_eq!(org.standin.bulk_jobs() > 0, bulk_above_rows < 4);

    // ACME found Acme without regard to case; a blank company sets none.
    assert_eq!(
        org.accounts_of_contacts(),
        vec![
            ("Lovelace".to_owned(), json!(org.acme)),
            ("Turing".to_owned(), Value::Null),
        ]
    );
    let errors = errors(&org, &finished).await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, "2");
    assert!(
        errors[0]
            .1
            .contains("2 Account records have Name \"Initech\""),
        "{errors:?}"
    );
    assert_eq!(errors[1].0, "3");
    assert!(
        errors[1]
            .1
            .contains("no Account record has Name \"Nowhere Inc\""),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_lookup_by_a_name_finds_one_account_by_collections_and_several_fail_the_row() {
    a_lookup_by_name(2_000).await;
}

#[tokio::test]
async fn a_lookup_by_a_name_finds_one_account_by_bulk_jobs_too() {
    a_lookup_by_name(1).await;
}

#[tokio::test]
async fn a_lookup_taking_the_latest_or_the_first_of_several_accounts_takes_it_by_the_order_asked() {
    let org = org(2_000).await;
    assert_ne!(org.initech[0], org.initech[1]);
    let latest = json!({"several": "latest", "order_by": "LastModifiedDate"});
    let job = org.job(CONTACTS, "Contact", mapping(latest)).await;
    let finished = run(&org.app, &org.owner, &job).await;
    assert_eq!(finished["rows_ok"], 3, "{finished}");
    let contacts = org.accounts_of_contacts();
    assert_eq!(contacts[0], ("Babbage".to_owned(), json!(org.initech[1])));

    // The first by phone number, an account without one last.
    org.standin.reset_records();
    let ids = org.standin.insert_records(
        "Account",
        [
            json!({"Name": "Initech"}),
            json!({"Name": "Initech", "Phone": "555-0200"}),
            json!({"Name": "Initech", "Phone": "555-0100"}),
        ],
    );
    let first = json!({"several": "first", "order_by": "Phone"});
    let csv = "Last,Email,Company\nBabbage,charles@example.com,initech\n";
    let job = org.job(csv, "Contact", mapping(first)).await;
    let finished = run(&org.app, &org.owner, &job).await;
    assert_eq!(finished["rows_ok"], 1, "{finished}");
    assert_eq!(org.accounts_of_contacts()[0].1, json!(ids[2]));
}

#[tokio::test]
async fn a_task_finds_its_contact_through_the_contacts_account() {
    let org = org(2_000).await;
    org.standin.define_object(task());
    let contacts = org.standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Lovelace", "Account": {"External_Id__c": "A-1"}}),
            json!({"LastName": "Babbage", "Account": {"External_Id__c": "A-2"}}),
            json!({"LastName": "Hopper", "Account": {"External_Id__c": "A-2"}}),
        ],
    );
    let csv = "Subject,Customer\nCall Acme,a-1\nCall Globex,A-2\nCall nobody,A-9\n";
    let mapping = json!([
        {"source": "Subject", "target": "Subject"},
        {"source": "Customer", "target": "WhoId", "transform": {
            "type": "lookup", "object": "Contact", "key": "Account.External_Id__c",
            "several": "latest", "order_by": "CreatedDate"}},
    ]);
    let job = org.job(csv, "Task", mapping).await;
    let finished = run(&org.app, &org.owner, &job).await;
    assert_eq!(finished["rows_ok"], 2, "{finished}");
    let mut tasks: Vec<(String, Value)> = org
        .standin
        .records("Task")
        .into_iter()
        .map(|t| {
            (
                t["Subject"].as_str().unwrap().to_owned(),
                t["WhoId"].clone(),
            )
        })
        .collect();
    tasks.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        tasks,
        vec![
            ("Call Acme".to_owned(), json!(contacts[0])),
            // Globex has two contacts: the one made last.
            ("Call Globex".to_owned(), json!(contacts[2])),
        ]
    );
    let errors = errors(&org, &finished).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .1
            .contains("no Contact record has Account.External_Id__c \"A-9\""),
        "{errors:?}"
    );
}

#[tokio::test]
async fn the_preview_shows_the_account_a_name_finds_and_why_another_finds_none() {
    let org = org(2_000).await;
    let job = org.job(CONTACTS, "Contact", mapping(json!({}))).await;
    let calls = org.standin.api_calls();
    let res = call(
        &org.app,
        Method::POST,
        &format!("/v1/jobs/{job}/preview"),
        &org.owner,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let preview: Value = res.json().await.unwrap();
    let rows = preview["rows"].as_array().unwrap();
    assert_eq!(rows[0]["values"]["AccountId"], json!(org.acme), "{preview}");
    assert_eq!(rows[0]["errors"], json!([]), "{preview}");
    assert!(
        rows[1]["errors"][0]
            .as_str()
            .unwrap()
            .contains("2 Account records have Name"),
        "{preview}"
    );
    assert!(
        rows[2]["errors"][0]
            .as_str()
            .unwrap()
            .contains("no Account record has Name"),
        "{preview}"
    );
    assert_eq!(rows[3]["errors"], json!([]), "{preview}");
    // Described (Contact, Account) and one query for the rows' names.
    assert_eq!(org.standin.api_calls() - calls, 3);
    assert!(org.standin.records("Contact").is_empty());
}

#[tokio::test]
async fn a_lookup_the_org_cannot_make_is_refused_when_the_job_is_saved() {
    let org = org(2_000).await;
    let cases = [
        (
            json!({"key": "Nickname"}),
            "Account has no field \"Nickname\"",
        ),
        (
            json!({"key": "AnnualRevenue"}),
            "a lookup matches on a text field",
        ),
        (
            json!({"key": "Parent.Name"}),
            "Account has no relationship \"Parent\"",
        ),
        (
            json!({"key": "Owner.Manager.Name"}),
            "Account has no relationship \"Owner\"",
        ),
        (
            json!({"several": "latest", "order_by": "Modified"}),
            "Account has no field \"Modified\" to order by",
        ),
        (json!({"several": "latest"}), "needs order_by"),
    ];
    for (lookup, expected) in cases {
        let error = org.refused(mapping(lookup.clone())).await;
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{lookup}: {error}"
        );
    }
    // A Task's contact through the contact's account, and no further.
    org.standin.define_object(task());
    let upload = upload(&org.app, &org.owner, CONTACTS.as_bytes().to_vec()).await;
    let res = org
        .app
        .client
        .post(org.app.url("/v1/jobs"))
        .bearer_auth(&org.owner)
        .json(&json!({
            "name": "tasks",
            "source": {"upload_id": upload},
            "target": {"connection_id": org.connection, "object": "Task"},
            "operation": "insert",
            "mapping": [
                {"source": "Last", "target": "Subject"},
                {"source": "Company", "target": "WhoId", "transform": {"type": "lookup",
                    "object": "Contact", "key": "Account.Owner.Name"}},
            ],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = res.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(error["field"], "mapping", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("goes through one reference at most"),
        "{error}"
    );
    assert!(
        org.standin.records("Contact").is_empty(),
        "nothing was written"
    );
}
