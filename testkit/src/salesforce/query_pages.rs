//! A query's pages: 2,000 records each (or `Sforce-Query-Options:
//! batchSize=N`, 200 to 2,000), the rest kept behind a locator until read.
//! `nextRecordsUrl` is `…/query/{locator}-{records so far}`, for `queryAll`
//! too.

use super::org::{self, Cursor};
use super::session::{ApiCall, RestError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::value::RawValue;

const PAGE: usize = 2000;

/// A page of records, each written as the query wrote it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page {
    total_size: usize,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_records_url: Option<String>,
    records: Vec<Box<RawValue>>,
}

/// `Sforce-Query-Options: batchSize=N`, between 200 and 2,000.
pub(super) fn batch_size(req: &HttpRequest) -> usize {
    req.headers()
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|o| o.trim().strip_prefix("batchSize=")?.parse::<usize>().ok())
        })
        .map_or(PAGE, |n| n.clamp(200, PAGE))
}

pub(super) fn first_page(
    org: &mut org::Org,
    records: Vec<Box<RawValue>>,
    batch: usize,
    version: &str,
) -> Page {
    let total = records.len();
    if total <= batch {
        return Page {
            total_size: total,
            done: true,
            next_records_url: None,
            records,
        };
    }
    let locator = org.next_id("01g");
    let first = records[..batch].to_vec();
    org.cursors
        .insert(locator.clone(), Cursor { records, batch });
    Page {
        total_size: total,
        done: false,
        next_records_url: Some(format!("/services/data/{version}/query/{locator}-{batch}")),
        records: first,
    }
}

pub(super) async fn more(
    api: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    let invalid = || RestError::bad_request("INVALID_QUERY_LOCATOR", "invalid query locator");
    let (locator, offset) = path.1.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let mut org = org.lock().expect("stand-in state");
    let cursor = org
        .cursors
        .get(locator)
        .filter(|c| offset > 0 && offset < c.records.len())
        .ok_or_else(invalid)?;
    let end = (offset + cursor.batch).min(cursor.records.len());
    let total = cursor.records.len();
    let records = cursor.records[offset..end].to_vec();
    let done = end == total;
    let next_records_url =
        (!done).then(|| format!("/services/data/{}/query/{locator}-{end}", api.version));
    if done {
        org.cursors.remove(locator);
    }
    Ok(HttpResponse::Ok().json(Page {
        total_size: total,
        done,
        next_records_url,
        records,
    }))
}
