//! A job's results: the successful, failed and unprocessed records as CSV,
//! in an order of their own (Salesforce keeps no order), the same every time.

use super::bulk::invalid_state;
use super::bulk_info::{Job, State};
use super::org;
use super::session::{ApiCall, RestError};
use actix_web::{web, HttpResponse};

#[derive(Clone, Copy)]
enum Results {
    Successful,
    Failed,
    Unprocessed,
}

fn results(org: &org::Shared, id: &str, which: Results) -> Result<HttpResponse, RestError> {
    let org = org.lock().expect("stand-in state");
    let job = org.jobs.get(id).ok_or_else(RestError::not_found)?;
    if !matches!(
        job.state,
        State::JobComplete | State::Failed | State::Aborted
    ) {
        return Err(invalid_state(format!(
            "Job {} is {}: its results are not ready",
            job.id,
            job.state.name()
        )));
    }
    let empty = Default::default();
    let outcome = job.outcome.as_ref().unwrap_or(&empty);
    let (csv, count) = match which {
        Results::Successful => {
            let rows = outcome.successes.iter().map(|s| {
                let mut row = vec![s.id.as_str(), if s.created { "true" } else { "false" }];
                row.extend(s.row.iter().map(String::as_str));
                row
            });
            (
                results_csv(job, &["sf__Id", "sf__Created"], &outcome.header, rows),
                outcome.successes.len(),
            )
        }
        Results::Failed => {
            let rows = outcome.failures.iter().map(|f| {
                let mut row = vec![f.id.as_str(), f.error.as_str()];
                row.extend(f.row.iter().map(String::as_str));
                row
            });
            (
                results_csv(job, &["sf__Id", "sf__Error"], &outcome.header, rows),
                outcome.failures.len(),
            )
        }
        Results::Unprocessed => {
            let rows = outcome
                .unprocessed
                .iter()
                .map(|r| r.iter().map(String::as_str).collect());
            (
                results_csv(job, &[], &outcome.header, rows),
                outcome.unprocessed.len(),
            )
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv")
        .insert_header(("Sforce-Locator", "null"))
        .insert_header(("Sforce-NumberOfRecords", count.to_string()))
        .body(csv))
}

pub(super) async fn successful(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    results(&org, &path.1, Results::Successful)
}

pub(super) async fn failed(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    results(&org, &path.1, Results::Failed)
}

pub(super) async fn unprocessed(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    results(&org, &path.1, Results::Unprocessed)
}

/// A fixed shuffle of `items` (by `seed`) that is never the order they came in.
pub(super) fn shuffled<T>(items: Vec<T>, seed: u64) -> Vec<T> {
    let mut indexed: Vec<(usize, T)> = items.into_iter().enumerate().collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..indexed.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        indexed.swap(i, (state % (i as u64 + 1)) as usize);
    }
    if indexed.len() > 1
        && indexed
            .iter()
            .enumerate()
            .all(|(at, (from, _))| at == *from)
    {
        indexed.rotate_left(1);
    }
    indexed.into_iter().map(|(_, item)| item).collect()
}

/// Result CSV: the `sf__` columns quoted, then the uploaded header as it
/// came; every value quoted, as Salesforce writes them.
fn results_csv<'a>(
    job: &Job,
    prefix: &[&str],
    header: &[String],
    rows: impl Iterator<Item = Vec<&'a str>>,
) -> String {
    let delimiter = (job.delimiter.1 as char).to_string();
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let mut head: Vec<String> = prefix.iter().map(|p| quote(p)).collect();
    head.extend(header.iter().map(|h| {
        if h.contains(['"', '\n', '\r']) || h.contains(&delimiter) {
            quote(h)
        } else {
            h.clone()
        }
    }));
    let mut out = head.join(&delimiter) + "\n";
    for row in rows {
        let cells: Vec<String> = row.into_iter().map(quote).collect();
        out += &(cells.join(&delimiter) + "\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shuffled;

    #[test]
    fn results_are_reordered_the_same_way_every_time() {
        for n in 2..50 {
            let order = shuffled((0..n).collect::<Vec<_>>(), 7);
            assert_ne!(order, (0..n).collect::<Vec<_>>());
            assert_eq!(order, shuffled((0..n).collect::<Vec<_>>(), 7));
        }
    }
}
