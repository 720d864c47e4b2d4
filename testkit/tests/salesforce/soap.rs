//! SOAP API `undelete()`.

use crate::support::Org;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn envelope(session: &str, ids: &[&str]) -> String {
    let ids: String = ids
        .iter()
        .map(|id| format!("<urn:ids>{id}</urn:ids>"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">
  <soapenv:Header><urn:SessionHeader><urn:sessionId>{session}</urn:sessionId></urn:SessionHeader></soapenv:Header>
  <soapenv:Body><urn:undelete>{ids}</urn:undelete></soapenv:Body>
</soapenv:Envelope>"#
    )
}

async fn undelete(org: &Org, session: &str, ids: &[&str]) -> (StatusCode, String) {
    let response = org
        .http
        .post(format!("{}/services/Soap/u/62.0", org.standin.url))
        .header("content-type", "text/xml; charset=UTF-8")
        .header("SOAPAction", "\"\"")
        .body(envelope(session, ids))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn soap_undelete_restores_a_deleted_record_and_refuses_one_not_in_the_recycle_bin() {
    let org = Org::start().await;
    let ids = org.standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Lovelace"}),
            json!({"LastName": "Hopper"}),
        ],
    );
    org.call(
        Method::DELETE,
        &format!("/composite/sobjects?ids={}", ids[0]),
        None,
    )
    .await;
    assert_eq!(org.standin.records("Contact").len(), 1);
    let (status, body) = undelete(&org, &org.token, &[&ids[0], &ids[1]]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(&format!(
            "<undeleteResponse><result><id>{}</id><success>true</success></result>",
            ids[0]
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        "<result><errors><message>Entity is not in the recycle bin</message><statusCode>UNDELETE_FAILED</statusCode></errors><id>{}</id><success>false</success></result>",
        ids[1]
    )));
    assert_eq!(org.standin.records("Contact").len(), 2);
    assert!(org.standin.recycle_bin("Contact").is_empty());
    assert_eq!(org.standin.api_call_counts().soap, 1);
}

#[tokio::test]
async fn soap_undelete_with_an_expired_session_is_a_fault() {
    let org = Org::start().await;
    org.standin.expire_access_tokens();
    let (status, body) = undelete(&org, &org.token, &["0035g0000000001AAA"]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body.contains("<faultcode>sf:INVALID_SESSION_ID</faultcode>"),
        "{body}"
    );
    assert!(body.contains("<sf:exceptionCode>INVALID_SESSION_ID</sf:exceptionCode>"));
}
