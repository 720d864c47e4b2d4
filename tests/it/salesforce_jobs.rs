//! Jobs into a connected Salesforce org, against the stand-in: the mapping
//! checked against the object's description when the job is defined, the
//! preview of the first rows as records, and the org's session renewed
//! (and the renewed token kept) on the way.

use crate::accounts::{account, call};
use crate::imports::upload;
use crate::salesforce_connect::consent;
use crate::salesforce_login::no_redirects;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app_with, AppOptions, TestApp};

/// An account with a connected org that has Account and Contact.
struct Org {
    standin: SalesforceStandIn,
    app: TestApp,
    owner: String,
    connection: String,
    upload: String,
}

const CONTACTS: &str = "\
Email,First Name,Last Name,Birthdate,Account,Key
ada@example.com,Ada,Lovelace,1815-12-10,ACC-1,C-1
charles@example.com,Charles,Babbage,26.12.1791,ACC-1,C-2
";

/// Connects an org through the API, as its admin would, and uploads
/// [`CONTACTS`].
async fn connected() -> Org {
    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    let app = spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    standin.sign_in_as("admin@org.example", true);
    let callback = consent(&app, &owner, "salesforce", "Production org").await;
    let res = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let connection = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let upload = upload(&app, &owner, CONTACTS.as_bytes().to_vec()).await;
    Org {
        standin,
        app,
        owner,
        connection,
        upload,
    }
}

impl Org {
    /// `POST /v1/jobs` from the upload into `object` of the org.
    async fn job(
        &self,
        object: &str,
        operation: &str,
        key_fields: Value,
        mapping: Value,
    ) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/v1/jobs"))
            .bearer_auth(&self.owner)
            .json(&json!({
                "name": "contacts",
                "source": {"upload_id": self.upload},
                "target": {"connection_id": self.connection, "object": object},
                "operation": operation,
                "key_fields": key_fields,
                "mapping": mapping,
            }))
            .send()
            .await
            .unwrap()
    }

    async fn created(&self, operation: &str, key_fields: Value, mapping: Value) -> Value {
        let res = self.job("Contact", operation, key_fields, mapping).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    /// The `error` of a job refused as invalid (422).
    async fn refused(
        &self,
        object: &str,
        operation: &str,
        key_fields: Value,
        mapping: Value,
    ) -> Value {
        let res = self.job(object, operation, key_fields, mapping).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        res.json::<Value>().await.unwrap()["error"].clone()
    }

    /// An access token is issued for each renewal (refresh tokens stay).
    fn tokens_issued(&self) -> usize {
        self.standin.issued_tokens().len()
    }
}

fn contact_mapping() -> Value {
    json!([
        {"source": "Email", "target": "Email"},
        {"source": "First Name", "target": "FirstName"},
        {"source": "Last Name", "target": "LastName"},
        {"source": "Birthdate", "target": "Birthdate"},
    ])
}

fn with(mapping: Value, more: Value) -> Value {
    let mut all = mapping.as_array().unwrap().clone();
    all.push(more);
    Value::Array(all)
}

#[tokio::test]
async fn a_contact_insert_job_is_checked_against_the_org_and_created() {
    let org = connected().await;
    let before = org.standin.api_call_counts().rest;
    let job = org.created("insert", json!([]), contact_mapping()).await;
    assert_eq!(job["target"]["object"], "Contact");
    assert_eq!(job["target"]["connection_id"], org.connection.as_str());
    assert_eq!(job["operation"], "insert");
    assert!(
        org.standin.api_call_counts().rest > before,
        "the object was described"
    );
    assert!(
        org.standin.records("Contact").is_empty(),
        "defining a job writes nothing"
    );
}

#[tokio::test]
async fn an_unknown_field_or_a_missing_last_name_is_refused_naming_the_mapping() {
    let org = connected().await;
    let shoe = json!({"source": "Key", "target": "Shoe_Size__c"});
    let error = org
        .refused(
            "Contact",
            "insert",
            json!([]),
            with(contact_mapping(), shoe),
        )
        .await;
    assert_eq!(error["field"], "mapping", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("Shoe_Size__c"), "{message}");

    let without_last_name = json!([
        {"source": "Email", "target": "Email"},
        {"source": "First Name", "target": "FirstName"},
    ]);
    let error = org
        .refused("Contact", "insert", json!([]), without_last_name)
        .await;
    assert_eq!(error["field"], "mapping", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("LastName"), "{message}");

    let error = org
        .refused("Spaceship__c", "insert", json!([]), contact_mapping())
        .await;
    assert_eq!(error["field"], "target.object", "{error}");
}

#[tokio::test]
async fn an_upsert_matches_by_an_external_id_field_only() {
    let org = connected().await;
    let mapping = with(
        contact_mapping(),
        json!({"source": "Key", "target": "External_Id__c"}),
    );
    let error = org
        .refused("Contact", "upsert", json!(["Email"]), mapping.clone())
        .await;
    assert_eq!(error["field"], "key_fields", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not an external id"),
        "{error}"
    );
    let job = org
        .created("upsert", json!(["External_Id__c"]), mapping)
        .await;
    assert_eq!(job["key_fields"], json!(["External_Id__c"]));
}

#[tokio::test]
async fn a_lookup_sets_the_account_by_its_external_id() {
    let org = connected().await;
    let account = |object: &str| {
        json!({"source": "Account", "target": "AccountId",
               "transform": {"type": "lookup", "object": object, "key": "External_Id__c"}})
    };
    org.created(
        "insert",
        json!([]),
        with(contact_mapping(), account("Account")),
    )
    .await;

    // AccountId refers to Account, not to Contact.
    let error = org
        .refused(
            "Contact",
            "insert",
            json!([]),
            with(contact_mapping(), account("Contact")),
        )
        .await;
    assert_eq!(error["field"], "mapping", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("AccountId"),
        "{error}"
    );

    // Taking the latest of several is a lookup Sluice makes itself, by a
    // field of Account to order by.
    let latest = |order_by: &str| {
        json!({"source": "Account", "target": "AccountId",
            "transform": {"type": "lookup", "object": "Account", "key": "External_Id__c",
                          "several": "latest", "order_by": order_by}})
    };
    org.created(
        "insert",
        json!([]),
        with(contact_mapping(), latest("LastModifiedDate")),
    )
    .await;
    let error = org
        .refused(
            "Contact",
            "insert",
            json!([]),
            with(contact_mapping(), latest("Changed")),
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Account has no field \"Changed\" to order by"),
        "{error}"
    );
}

#[tokio::test]
async fn the_preview_shows_each_row_mapped_and_a_bad_date_on_its_own_row() {
    let org = connected().await;
    let mapping = with(
        contact_mapping(),
        json!({"source": "Account", "target": "AccountId",
               "transform": {"type": "lookup", "object": "Account", "key": "External_Id__c"}}),
    );
    let job = org.created("insert", json!([]), mapping).await;
    let path = format!("/v1/jobs/{}/preview", job["id"].as_str().unwrap());
    let res = call(&org.app, Method::POST, &path, &org.owner).await;
    assert_eq!(res.status(), StatusCode::OK);
    let preview: Value = res.json().await.unwrap();
    assert_eq!(
        preview["fields"],
        json!(["Email", "FirstName", "LastName", "Birthdate", "AccountId"])
    );
    let rows = preview["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["row"], 1);
    assert_eq!(rows[0]["values"]["LastName"], "Lovelace");
    assert_eq!(rows[0]["values"]["AccountId"], "ACC-1");
    assert_eq!(rows[0]["errors"], json!([]), "{preview}");
    let errors = rows[1]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{preview}");
    assert!(
        errors[0].as_str().unwrap().contains("Birthdate"),
        "{preview}"
    );
    assert!(
        org.standin.records("Contact").is_empty(),
        "a preview writes nothing"
    );
}

#[tokio::test]
async fn an_expired_session_is_renewed_during_job_creation_and_the_new_token_kept() {
    let org = connected().await;
    org.standin.expire_access_tokens();
    let before = org.tokens_issued();
    let job = org.created("insert", json!([]), contact_mapping()).await;
    assert_eq!(org.tokens_issued(), before + 1, "the session was renewed");

    // The renewed token was kept: the preview and another job need no
    // renewal of their own.
    let path = format!("/v1/jobs/{}/preview", job["id"].as_str().unwrap());
    let res = call(&org.app, Method::POST, &path, &org.owner).await;
    assert_eq!(res.status(), StatusCode::OK);
    org.created("insert", json!([]), contact_mapping()).await;
    assert_eq!(org.tokens_issued(), before + 1, "no second renewal");
}

#[tokio::test]
async fn an_org_out_of_api_requests_is_an_upstream_failure() {
    let org = connected().await;
    org.standin.limit_requests(0);
    let res = org
        .job("Contact", "insert", json!([]), contact_mapping())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let error = res.json::<Value>().await.unwrap()["error"].clone();
    assert_eq!(error["code"], "upstream_failed", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("API request limit"),
        "{error}"
    );
}
