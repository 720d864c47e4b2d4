//! SOQL queries (`GET /query?q=`), following `nextRecordsUrl` until done.

use super::{Salesforce, SalesforceError, API_VERSION};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    next_records_url: Option<String>,
    records: Vec<Map<String, Value>>,
}

impl Salesforce {
    /// Every record `soql` selects (each without its `attributes`); with
    /// `all`, deleted records too (`queryAll`).
    pub async fn query(
        &self,
        soql: &str,
        all: bool,
    ) -> Result<Vec<Map<String, Value>>, SalesforceError> {
        let url = self.url(if all { "/queryAll" } else { "/query" });
        let response = self
            .send(|http| http.get(&url).query(&[("q", soql)]))
            .await?;
        let mut page: Page = Self::json(response).await?;
        let mut records = Vec::new();
        loop {
            records.extend(page.records.into_iter().map(|mut r| {
                r.remove("attributes");
                r
            }));
            let next = match page.next_records_url {
                Some(next) if !page.done => next,
                _ => return Ok(records),
            };
            // The next page's path is under the instance, and must stay
            // under the data API.
            let prefix = format!("/services/data/v{API_VERSION}/");
            if !next.starts_with(&prefix) {
                return Err(SalesforceError::Unreachable(
                    "Salesforce gave a next page outside its data API".into(),
                ));
            }
            let url = format!("{}{next}", self.instance_url);
            let response = self.send(|http| http.get(&url)).await?;
            page = Self::json(response).await?;
        }
    }
}

/// A text value as a SOQL string literal.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            other => out.push(other),
        }
    }
    out.push('\'');
    out
}
