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
            let url = format!("{}{next}", self.instance());
            let response = self.send(|http| http.get(&url)).await?;
            page = Self::json(response).await?;
        }
    }
}

/// The longest SOQL text sent in one query: percent-encoded it stays well
/// under the 16,384 bytes Salesforce takes in a request URI.
const MAX_SOQL: usize = 4000;

impl Salesforce {
    /// The records of `object` whose `field` holds one of `values` (record
    /// ids, or an external id's values), with `fields`: what an update or
    /// upsert is about to change, read just before it (the before-images a
    /// rollback restores). As many queries as the values need to keep each
    /// one's URI within Salesforce's limit; deleted records with `all`.
    pub async fn records_by(
        &self,
        object: &str,
        field: &str,
        values: &[String],
        fields: &[&str],
        all: bool,
    ) -> Result<Vec<Map<String, Value>>, SalesforceError> {
        let names = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        };
        if !names(object) || !names(field) || !fields.iter().all(|f| names(f)) {
            return Err(SalesforceError::Refused {
                code: "INVALID_FIELD".into(),
                message: "a field or object name holds characters SOQL does not take".into(),
            });
        }
        let head = format!(
            "SELECT {} FROM {object} WHERE {field} IN (",
            fields.join(", ")
        );
        let mut records = Vec::new();
        let mut soql = head.clone();
        let mut listed = 0;
        for value in values {
            let literal = literal(value);
            if listed > 0 && soql.len() + literal.len() + 2 > MAX_SOQL {
                soql.push(')');
                records.extend(self.query(&soql, all).await?);
                soql.clone_from(&head);
                listed = 0;
            }
            if listed > 0 {
                soql.push_str(", ");
            }
            soql.push_str(&literal);
            listed += 1;
        }
        if listed > 0 {
            soql.push(')');
            records.extend(self.query(&soql, all).await?);
        }
        Ok(records)
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
