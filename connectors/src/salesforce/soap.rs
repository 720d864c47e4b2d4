//! `undelete()` over the SOAP API (partner WSDL): the REST API has no way
//! to take records back out of the recycle bin, which a rollback of a
//! delete needs. Up to 200 ids a call; the session goes in the envelope's
//! `SessionHeader`, and a refused call is a SOAP fault (HTTP 500) whose
//! code says why. A call refused for a passing reason is sent again as
//! `retry.rs` says, but not one that may have been carried out.

use super::retry::{Passing, Repeat};
use super::{Salesforce, SalesforceError, SaveError, SaveResult, API_VERSION, MAX_RECORDS};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::Reader;

impl Salesforce {
    /// Takes the records `ids` out of the recycle bin: one result an id,
    /// in their order.
    pub async fn undelete(&self, ids: &[String]) -> Result<Vec<SaveResult>, SalesforceError> {
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_RECORDS) {
            let chunk_results = self.undelete_chunk(chunk).await?;
            if chunk_results.len() != chunk.len() {
                return Err(SalesforceError::Unreachable(format!(
                    "Salesforce answered {} results for {} records",
                    chunk_results.len(),
                    chunk.len()
                )));
            }
            results.extend(chunk_results);
        }
        Ok(results)
    }

    async fn undelete_chunk(&self, ids: &[String]) -> Result<Vec<SaveResult>, SalesforceError> {
        let url = format!("{}/services/Soap/u/{API_VERSION}", self.instance());
        let body_ids: String = ids
            .iter()
            .map(|id| format!("<urn:ids>{}</urn:ids>", escape(id.as_str())))
            .collect();
        let mut renewed = false;
        let mut tries = 0;
        loop {
            let token = self.access_token.read().await.clone();
            let envelope = format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader><urn:sessionId>{}</urn:sessionId></urn:SessionHeader></soapenv:Header><soapenv:Body><urn:undelete>{body_ids}</urn:undelete></soapenv:Body></soapenv:Envelope>"#,
                escape(token.as_str())
            );
            self.count_call();
            let sent = self
                .http
                .post(&url)
                .header("Content-Type", "text/xml; charset=UTF-8")
                .header("SOAPAction", "\"\"")
                .body(envelope)
                .send()
                .await;
            let (passing, detail) = match sent {
                Err(e) => (Passing::of_transport(&e), e.without_url().to_string()),
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.map_err(|e| {
                        SalesforceError::Unreachable(format!(
                            "an unreadable answer: {}",
                            e.without_url()
                        ))
                    })?;
                    if status.is_success() {
                        return Ok(read(&text)?.results);
                    }
                    // A maintenance page or a proxy's answer is no SOAP.
                    let answer = read(&text).unwrap_or_default();
                    let code = answer
                        .fault
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    match Passing::of_answer(status.as_u16(), &code, &answer.fault_message) {
                        Some(passing) => (passing, format!("Salesforce answered {status}")),
                        None => match code.as_str() {
                            "INVALID_SESSION_ID" if !renewed => {
                                self.renew(&token).await?;
                                renewed = true;
                                continue;
                            }
                            "INVALID_SESSION_ID" => return Err(SalesforceError::Reconnect),
                            "REQUEST_LIMIT_EXCEEDED" => {
                                return Err(SalesforceError::LimitExceeded(answer.fault_message))
                            }
                            _ => {
                                return Err(SalesforceError::Refused {
                                    message: super::without_values(&code, &answer.fault_message),
                                    code,
                                })
                            }
                        },
                    }
                }
            };
            // An undelete that may have been carried out is not sent again:
            // a second one would report its records as not in the recycle bin.
            tries += 1;
            if !passing.repeats(Repeat::Refused) {
                let detail = format!(
                    "{detail}, after the request was sent: it may or may not have been carried out"
                );
                return Err(passing.error(tries, detail));
            }
            if tries >= self.backoff().tries {
                return Err(passing.error(tries, detail));
            }
            tokio::time::sleep(self.backoff().delay(tries)).await;
        }
    }
}

/// What a partner answer says: its results, or its fault.
#[derive(Default)]
struct Answer {
    results: Vec<SaveResult>,
    fault: String,
    fault_message: String,
}

fn read(xml: &str) -> Result<Answer, SalesforceError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        SalesforceError::Unreachable(format!("an unreadable answer: {e}"))
    };
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut answer = Answer::default();
    loop {
        let text = match reader.read_event().map_err(|e| unreadable(&e))? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                match name.as_str() {
                    "result" => answer.results.push(SaveResult {
                        id: None,
                        success: false,
                        created: None,
                        errors: Vec::new(),
                    }),
                    "errors" => {
                        if let Some(result) = answer.results.last_mut() {
                            result.errors.push(SaveError {
                                status_code: String::new(),
                                message: String::new(),
                                fields: Vec::new(),
                            });
                        }
                    }
                    _ => {}
                }
                path.push(name);
                continue;
            }
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Text(t) => t.xml10_content().into_owned(),
            Event::GeneralRef(r) => {
                let entity = format!("&{};", r.xml10_content());
                quick_xml::escape::unescape(&entity)
                    .map_err(|e| unreadable(&e))?
                    .into_owned()
            }
            Event::Eof => break,
            _ => continue,
        };
        let tail: Vec<&str> = path.iter().rev().take(2).map(String::as_str).collect();
        let result = answer.results.last_mut();
        match (tail.as_slice(), result) {
            (["id", "result"], Some(result)) => {
                result.id.get_or_insert_with(String::new).push_str(&text)
            }
            (["success", "result"], Some(result)) => result.success = text == "true",
            ([field, "errors"], Some(result)) => {
                if let Some(error) = result.errors.last_mut() {
                    match *field {
                        "statusCode" => error.status_code.push_str(&text),
                        "message" => error.message.push_str(&text),
                        "fields" => error.fields.push(text),
                        _ => {}
                    }
                }
            }
            (["faultcode", _], _) => answer.fault.push_str(&text),
            (["faultstring", _], _) => answer.fault_message.push_str(&text),
            _ => {}
        }
    }
    Ok(answer)
}
