//! SOQL queries (`GET /query?q=`), following `nextRecordsUrl` until done.
//!
//! Numbers are read exactly: Salesforce writes a number, currency or
//! percent with every digit it keeps, more than an `f64` holds. A whole
//! number that fits in 64 bits is read as a JSON number; any other as its
//! canonical decimal text (see `decimal.rs`), which is also how the client
//! sends such values, so a value read back compares equal to the one
//! written, and a before-image restores every digit.

use super::{decimal, Salesforce, SalesforceError, API_VERSION};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    done: bool,
    #[serde(default)]
    next_records_url: Option<String>,
    records: Vec<Box<RawValue>>,
}

impl Page {
    /// The page's records, their numbers read exactly.
    fn records(&self) -> Result<Vec<Map<String, Value>>, SalesforceError> {
        let unreadable = |e: serde_json::Error| {
            SalesforceError::Unreachable(format!("an unreadable record: {e}"))
        };
        self.records
            .iter()
            .map(|raw| match exact(raw).map_err(unreadable)? {
                Value::Object(record) => Ok(record),
                _ => Err(SalesforceError::Unreachable(
                    "a record that is no JSON object".into(),
                )),
            })
            .collect()
    }
}

/// A JSON value with its numbers read exactly (see [`number`]).
fn exact(raw: &RawValue) -> Result<Value, serde_json::Error> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text)?;
            let fields = fields
                .into_iter()
                .map(|(name, value)| Ok((name, exact(&value)?)))
                .collect::<Result<Map<String, Value>, serde_json::Error>>()?;
            Ok(Value::Object(fields))
        }
        Some(b'[') => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(text)?;
            let items = items.iter().map(|item| exact(item));
            Ok(Value::Array(items.collect::<Result<_, _>>()?))
        }
        Some(b'-' | b'0'..=b'9') => Ok(number(text)),
        _ => serde_json::from_str(text),
    }
}

/// A JSON number as written: a whole number that fits in 64 bits as a
/// number, any other as its exact decimal text.
fn number(text: &str) -> Value {
    match decimal::canonical(text) {
        Some(exact) => match exact.parse::<i64>() {
            Ok(whole) => Value::from(whole),
            Err(_) => Value::String(exact),
        },
        None => Value::String(text.to_owned()),
    }
}

impl Salesforce {
    /// Every record `soql` selects (each without its `attributes`, its
    /// numbers read exactly); with `all`, deleted records too (`queryAll`).
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
            records.extend(page.records()?.into_iter().map(|mut r| {
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

/// The longest URL a query is sent with, its SOQL percent-encoded as it
/// travels: Salesforce refuses a request URI over 16,384 bytes (`414 URI
/// Too Long`), and a URI and headers over 16,384 bytes together (`431`);
/// 4 KiB of that are left to the headers (Salesforce Help 000386264).
const MAX_URL: usize = 16_384 - 4_096;

/// The bytes `text` takes in a URL's query once percent-encoded as a
/// form value (as the client sends `q`): letters, digits and `*-._` as
/// they are, a space as `+`, every other byte as `%XX`. A character outside
/// ASCII is two to four bytes, so six to twelve once encoded.
fn encoded_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' | b' ' => 1,
            _ => 3,
        })
        .sum()
}

impl Salesforce {
    /// The records of `object` whose `field` holds one of `values` (record
    /// ids, or an external id's values), with `fields`: what an update or
    /// upsert is about to change, read just before it (the before-images a
    /// rollback restores). As many queries as the values need to keep each
    /// one's URL, once encoded, within Salesforce's limit; deleted records
    /// with `all`.
    pub async fn records_by(
        &self,
        object: &str,
        field: &str,
        values: &[String],
        fields: &[&str],
        all: bool,
    ) -> Result<Vec<Map<String, Value>>, SalesforceError> {
        self.records_where(object, field, values, fields, None, all)
            .await
    }

    /// The live records of `object` whose `field` (or a related record's,
    /// `Account.External_Id__c`) holds one of `values`, with `fields`,
    /// each query's records in `order` (an `ORDER BY` list of field names
    /// with `ASC`, `DESC` and `NULLS LAST`): a lookup's candidates. Each
    /// value is in one query only, so its records come in that order.
    pub async fn records_ordered(
        &self,
        object: &str,
        field: &str,
        values: &[String],
        fields: &[&str],
        order: Option<&str>,
    ) -> Result<Vec<Map<String, Value>>, SalesforceError> {
        self.records_where(object, field, values, fields, order, false)
            .await
    }

    async fn records_where(
        &self,
        object: &str,
        field: &str,
        values: &[String],
        fields: &[&str],
        order: Option<&str>,
        all: bool,
    ) -> Result<Vec<Map<String, Value>>, SalesforceError> {
        let names = |name: &str| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
        };
        let ordering = |order: &str| {
            order.split(',').all(|item| {
                let mut words = item.split_whitespace();
                words.next().is_some_and(names)
                    && words.all(|w| matches!(w, "ASC" | "DESC" | "NULLS" | "FIRST" | "LAST"))
            })
        };
        if !names(object)
            || !names(field)
            || !fields.iter().all(|f| names(f))
            || !order.is_none_or(ordering)
        {
            return Err(SalesforceError::Refused {
                code: "INVALID_FIELD".into(),
                message: "a field or object name holds characters SOQL does not take".into(),
            });
        }
        let head = format!(
            "SELECT {} FROM {object} WHERE {field} IN (",
            fields.join(", ")
        );
        let tail = match order {
            Some(order) => format!(") ORDER BY {order}"),
            None => ")".to_owned(),
        };
        // The URL but the values: `…/query?q=`, the head, and the tail.
        let url = self.url(if all { "/queryAll" } else { "/query" });
        let fixed = url.len() + "?q=".len() + encoded_len(&head) + encoded_len(&tail);
        let separator = encoded_len(", ");
        let mut records = Vec::new();
        let mut soql = head.clone();
        let mut size = fixed;
        let mut listed = 0;
        for value in values {
            let literal = literal(value);
            let more = encoded_len(&literal) + if listed > 0 { separator } else { 0 };
            if listed > 0 && size + more > MAX_URL {
                soql.push_str(&tail);
                records.extend(self.query(&soql, all).await?);
                soql.clone_from(&head);
                size = fixed;
                listed = 0;
            }
            if listed > 0 {
                soql.push_str(", ");
                size += separator;
            }
            size += encoded_len(&literal);
            if size > MAX_URL {
                return Err(SalesforceError::Refused {
                    code: "QUERY_TOO_LONG".into(),
                    message: format!(
                        "a query of {object} by {field} reading {} fields is longer than a \
                         Salesforce URL takes, even for one value: map fewer fields",
                        fields.len()
                    ),
                });
            }
            soql.push_str(&literal);
            listed += 1;
        }
        if listed > 0 {
            soql.push_str(&tail);
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

#[cfg(test)]
mod tests {
    use super::{encoded_len, exact, literal};
    use serde_json::json;
    use serde_json::value::RawValue;

    #[test]
    fn encoded_lengths_are_those_of_the_url_sent() {
        for text in [
            "SELECT Id, Name FROM Contact WHERE External_Id__c IN ('K-1', 'k*2.x_')",
            "O'Brien \\ \"quoted\"\n%20+&=#?/",
            "日本語のキー, Ωmega, emoji 😀🎉, é",
        ] {
            let soql = format!("SELECT Id FROM Contact WHERE Name IN ({})", literal(text));
            let url =
                reqwest::Url::parse_with_params("https://x.example/q", [("q", &soql)]).unwrap();
            let sent = url.query().unwrap().len() - "q=".len();
            assert_eq!(encoded_len(&soql), sent, "{soql}");
        }
    }

    #[test]
    fn numbers_are_read_with_every_digit() {
        let raw = RawValue::from_string(
            r#"{"A": 1234567890123456.78, "B": 0.1234567890123456789, "C": 42, "D": 15.0,
                "E": -1.5E3, "F": "text", "G": null, "H": true,
                "Account": {"Amount": 0.10, "Names": ["x", 2.50]}}"#
                .into(),
        )
        .unwrap();
        assert_eq!(
            exact(&raw).unwrap(),
            json!({"A": "1234567890123456.78", "B": "0.1234567890123456789", "C": 42, "D": 15,
                   "E": -1500, "F": "text", "G": null, "H": true,
                   "Account": {"Amount": "0.1", "Names": ["x", "2.5"]}})
        );
    }
}
