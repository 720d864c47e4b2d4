//! `POST /v1/jobs/{id}/preview`: the source's first rows mapped as a run
//! would write them, each with what is wrong with it, and the rows the
//! job's filter or de-duplication would skip marked. Nothing is written.

use super::definition::formula_context;
use super::*;
use sluice_connectors::mapping::{Duplicates, Filter, FILTERED_OUT};
use sluice_connectors::source::{Row, RowSink};
use sluice_schema::job::BlankValues;
use sluice_schema::kinds::ConnectionKind;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Rows to preview (default 20, at most 200).
    #[param(minimum = 1)]
    rows: Option<usize>,
}

/// `POST /v1/jobs/{id}/preview`: the first rows of the source mapped as a
/// run would write them (formulas evaluated, `TODAY()` and `NOW()` being
/// now), each with what is wrong with it, into a PostgreSQL table or a
/// Salesforce object; a row the job's filter would skip is marked
/// `skipped`, without values. Nothing is written.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The job.")),
    params(PreviewQuery),
    responses(
        Authenticated,
        (status = 200, description = "The rows, mapped.", body = views::Preview),
        (status = 400, description = "`bad_request`: the query string is not `rows=<number>`.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such job in the account, or its target \
            connection is gone.", body = ErrorBody),
        (status = 410, description = "`gone`: the job's upload was deleted.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: the source or target cannot \
            be reached or read, or no longer fits the mapping.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Salesforce refused or failed to \
            describe the object.", body = ErrorBody),
    )
)]
#[post("/v1/jobs/{id}/preview")]
pub async fn preview(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<PreviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let wanted = query.rows.unwrap_or(20).clamp(1, 200);
    let job = find(&state, &user, path.into_inner()).await?;
    let connection_id = job.details.target.connection_id.0;
    let target = connections::find(&state, &user, connection_id).await?;
    let (header, source_rows) = first_rows(&state, &user, &job.details.source, wanted).await?;
    let context = formula_context(&state);
    let plan =
        Plan::new(&job.details.mapping, &header, context).map_err(|e| invalid("mapping", e))?;
    let filter = Filter::of(job.details.filter.as_deref(), &header, context)
        .map_err(|e| invalid("filter", e))?;
    let (kept, set_aside) = sift(filter.as_ref(), source_rows);
    let mut shown = if target.kind == ConnectionKind::Salesforce {
        salesforce_target::preview(&state, &user, &job, &target, &plan, kept).await?
    } else {
        postgres_preview(&state, &user, &job, connection_id, &plan, kept).await?
    };
    shown.rows.sort_by_key(|row| row.row);
    if let Some(dedupe) = &job.details.dedupe {
        let fields: Vec<&str> = shown.fields.iter().map(String::as_str).collect();
        let mut duplicates = Duplicates::new(dedupe, &fields).map_err(|e| invalid("dedupe", e))?;
        if duplicates.keeps_last() {
            // As a run does, the whole source is read first.
            let first = LastOfEach {
                plan: plan.clone(),
                filter: filter.clone(),
                duplicates,
                read: 0,
                stopped: None,
            };
            let bound = Some(LAST_PASS_ROWS + 1);
            let first = read_into(&state, &user, &job.details.source, bound, first).await?;
            if let Some(reason) = first.stopped {
                return Err(invalid("dedupe", reason));
            }
            duplicates = first.duplicates;
        }
        mark_duplicates(duplicates, &shown.fields, &mut shown.rows);
    }
    let salesforce = target.kind == ConnectionKind::Salesforce;
    if let Some(blank) = blank_effect(salesforce, job.row.operation, job.details.blank_values) {
        mark_blanks(
            blank,
            &job.details.key_fields,
            &shown.fields,
            &mut shown.rows,
        );
    }
    shown.rows.extend(set_aside);
    shown.rows.sort_by_key(|row| row.row);
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(shown))
}

/// The rows the job's filter keeps, to be mapped; and, shown as they are,
/// those it would skip and those it cannot decide for (which a run fails),
/// as a run's reading step sets them aside.
fn sift(filter: Option<&Filter>, rows: Vec<Row>) -> (Vec<Row>, Vec<views::PreviewRow>) {
    let Some(filter) = filter else {
        return (rows, Vec::new());
    };
    let mut kept = Vec::with_capacity(rows.len());
    let mut set_aside = Vec::new();
    for row in rows {
        let verdict = match &row.fields {
            Ok(fields) => filter.keeps(|i| fields.get(i).map(String::as_str)),
            Err(_) => Ok(true),
        };
        let (skipped, errors) = match verdict {
            Ok(true) => {
                kept.push(row);
                continue;
            }
            Ok(false) => (Some(FILTERED_OUT.to_owned()), Vec::new()),
            Err(reason) => (None, vec![reason]),
        };
        set_aside.push(views::PreviewRow {
            row: row.number,
            values: serde_json::Map::new(),
            errors,
            skipped,
            blanks: Default::default(),
        });
    }
    (kept, set_aside)
}

/// What a run into PostgreSQL or Salesforce (`salesforce`) does with a
/// blank value: an insert writes NULL into a PostgreSQL column and leaves
/// a Salesforce field unset; an update or upsert does what the job says;
/// a delete writes no field.
fn blank_effect(
    salesforce: bool,
    operation: Operation,
    blanks: BlankValues,
) -> Option<views::Blank> {
    match (operation, salesforce, blanks) {
        (Operation::Delete, _, _) => None,
        (Operation::Insert, false, _) => Some(views::Blank::Cleared),
        (Operation::Insert, true, _) | (_, _, BlankValues::Leave) => Some(views::Blank::Left),
        (_, _, BlankValues::Clear) => Some(views::Blank::Cleared),
    }
}

/// Marks each blank value of the rows that would be written (not a key
/// field's, which is never blank in a row written) with `blank`.
fn mark_blanks(
    blank: views::Blank,
    key_fields: &[String],
    fields: &[String],
    rows: &mut [views::PreviewRow],
) {
    let written = |row: &&mut views::PreviewRow| row.errors.is_empty() && row.skipped.is_none();
    for row in rows.iter_mut().filter(written) {
        let blanks = fields
            .iter()
            .filter(|f| !key_fields.iter().any(|k| k.eq_ignore_ascii_case(f)))
            .filter(|f| row.values.get(*f).is_none_or(Value::is_null))
            .map(|f| (f.clone(), blank))
            .collect();
        row.blanks = blanks;
    }
}

/// Marks the rows a run would skip as duplicates, among `rows` (in the
/// source's order) that would be written, whose values are of `fields`.
/// Keeping the last, `duplicates` holds what the first pass over the whole
/// source noted.
fn mark_duplicates(mut duplicates: Duplicates, fields: &[String], rows: &mut [views::PreviewRow]) {
    let written = |row: &&mut views::PreviewRow| row.errors.is_empty() && row.skipped.is_none();
    let values = |row: &views::PreviewRow| -> Vec<Option<String>> {
        fields
            .iter()
            .map(|f| row.values.get(f).and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let mut kept: Vec<&mut views::PreviewRow> = rows.iter_mut().filter(written).collect();
    for row in &mut kept {
        let values = values(row);
        let verdict = duplicates.check(row.row, |at| values.get(at).and_then(|v| v.as_deref()));
        if let Ok(Some(reason)) = verdict {
            row.values = serde_json::Map::new();
            row.skipped = Some(reason);
        }
    }
}

/// A preview of a job into a PostgreSQL table: the rows mapped, their
/// lookups resolved, each value checked against its column.
async fn postgres_preview(
    state: &AppState,
    user: &AuthUser,
    job: &Job,
    connection_id: Uuid,
    plan: &Plan,
    source_rows: Vec<Row>,
) -> Result<views::Preview, ApiError> {
    let object = &job.details.target.object;
    let params = connections::postgres_params(state, user, connection_id, TARGET).await?;
    let client = pg::connect(&params).await.map_err(target_error)?;
    let table = pg::describe(&client, object).await.map_err(target_error)?;
    let targets: Vec<String> = plan.targets().iter().map(|t| (*t).to_owned()).collect();
    let target_names: Vec<&str> = targets.iter().map(String::as_str).collect();
    let lookups = pg::Lookups::prepare(&client, plan.lookups(), &table, &target_names)
        .await
        .map_err(target_error)?;
    let looked_up = lookups.positions();
    let columns: Vec<Option<pg::Column>> =
        targets.iter().map(|t| table.column(t).cloned()).collect();

    // Each row mapped, or why it cannot be; then the lookups resolved.
    let mut mapped: Vec<(u64, Vec<Option<String>>, Vec<String>)> = source_rows
        .into_iter()
        .map(|row| match row.fields.and_then(|f| plan.apply(&f)) {
            Err(e) => (row.number, Vec::new(), vec![e]),
            Ok(values) => (row.number, values, Vec::new()),
        })
        .collect();
    if !lookups.is_empty() {
        let mut inserts: Vec<pg::Insert> = mapped
            .iter()
            .filter(|(_, values, errors)| errors.is_empty() && !values.is_empty())
            .map(|(number, values, _)| pg::Insert {
                number: *number,
                values: values.clone(),
            })
            .collect();
        let unresolved = lookups
            .resolve(&client, &mut inserts)
            .await
            .map_err(target_error)?;
        for (number, values, errors) in &mut mapped {
            if let Some(found) = inserts.iter_mut().find(|i| i.number == *number) {
                *values = std::mem::take(&mut found.values);
            }
            errors.extend(
                unresolved
                    .iter()
                    .filter(|(n, _)| n == number)
                    .map(|(_, reason)| reason.clone()),
            );
        }
    }
    drop(client);
    let rows = mapped
        .into_iter()
        .map(|(number, values, mut errors)| {
            if errors.is_empty() {
                errors = values
                    .iter()
                    .zip(&columns)
                    .enumerate()
                    .filter(|(i, _)| !looked_up.contains(i))
                    .filter_map(|(_, (value, column))| {
                        column
                            .as_ref()
                            .and_then(|c| pg::check_value(c, value.as_deref()).err())
                    })
                    .collect();
            }
            let shown: serde_json::Map<String, Value> = targets
                .iter()
                .zip(values.iter())
                .map(|(t, v)| (t.clone(), json!(v)))
                .collect();
            views::PreviewRow {
                row: number,
                values: shown,
                errors,
                skipped: None,
                blanks: Default::default(),
            }
        })
        .collect();
    Ok(views::Preview {
        fields: targets,
        rows,
    })
}

/// A job's source's header and its first `wanted` rows.
pub(crate) async fn first_rows(
    state: &AppState,
    user: &AuthUser,
    source: &Source,
    wanted: usize,
) -> Result<(Vec<String>, Vec<sluice_connectors::source::Row>), ApiError> {
    let sink = FirstRows {
        wanted,
        header: Vec::new(),
        rows: Vec::new(),
    };
    let sink = read_into(state, user, source, Some(wanted), sink).await?;
    Ok((sink.header, sink.rows))
}

/// Reads the job's `source` into `sink` on the blocking pool: an upload
/// (a CSV, or a workbook's sheet), or a query (at most `limit` rows).
async fn read_into<S: RowSink + Send + 'static>(
    state: &AppState,
    user: &AuthUser,
    source: &Source,
    limit: Option<usize>,
    sink: S,
) -> Result<S, ApiError> {
    match source {
        Source::Upload { upload_id, sheet } => {
            let (upload, _) = match uploads::described(state, user, upload_id.0).await {
                Err(ApiError::NotFound) => {
                    return Err(ApiError::Gone(
                        "the job's upload was deleted; upload the file again and define the \
                         job anew"
                            .into(),
                    ))
                }
                other => other?,
            };
            read_upload(state, user, &upload, sheet.clone(), sink).await
        }
        Source::Query {
            connection_id,
            query,
        } => {
            let params = connections::postgres_params(state, user, connection_id.0, SOURCE).await?;
            let reader = pg::stream_query(&params, query, limit)
                .await
                .map_err(source_error)?;
            web::block(move || -> Result<_, ApiError> {
                let mut sink = sink;
                sluice_connectors::source::CsvSource::open(reader, &pg::query_dialect())
                    .and_then(|source| source.feed(&mut sink))
                    .map_err(|e| invalid("source.query", e.to_string()))?;
                Ok(sink)
            })
            .await?
        }
    }
}

/// A run's first pass when the job keeps the last of duplicates, made for
/// a preview: each row of the source that the filter keeps and the mapping
/// maps is noted by its key, so that the rows shown are marked as the run
/// would mark them, a duplicate past the rows shown included.
struct LastOfEach {
    plan: Plan,
    filter: Option<Filter>,
    duplicates: Duplicates,
    /// The rows read so far.
    read: usize,
    /// Why the pass stopped (more distinct keys than a run keeps, or more
    /// rows than a preview reads).
    stopped: Option<String>,
}

/// The most rows a preview reads to find the last of each duplicate: the
/// whole source is read inside the request, so a larger source is left to
/// a trial run.
pub const LAST_PASS_ROWS: usize = 1_000_000;

impl RowSink for LastOfEach {
    fn header(&mut self, _: Vec<String>) -> bool {
        true
    }

    fn row(&mut self, row: sluice_connectors::source::Record<'_>) -> bool {
        self.read += 1;
        if self.read > LAST_PASS_ROWS {
            self.stopped = Some(format!(
                "to keep the last of duplicates the preview reads the whole source, and this one \
                 has more than {LAST_PASS_ROWS} rows: run a trial ({{\"sample\": N}}) to see \
                 what a run writes"
            ));
            return false;
        }
        let Ok(fields) = row.fields else {
            return true;
        };
        if let Some(filter) = &self.filter {
            if filter.keeps(|i| fields.get(i)) != Ok(true) {
                return true;
            }
        }
        let Ok(values) = self.plan.apply_to(fields) else {
            return true;
        };
        let value = |at: usize| values.get(at).and_then(|v| v.as_deref());
        match self.duplicates.note(row.number, value) {
            Ok(()) => true,
            Err(reason) => {
                self.stopped = Some(reason);
                false
            }
        }
    }
}

/// Collects a source's header and its first rows.
struct FirstRows {
    wanted: usize,
    header: Vec<String>,
    rows: Vec<sluice_connectors::source::Row>,
}

impl sluice_connectors::source::RowSink for FirstRows {
    fn header(&mut self, header: Vec<String>) -> bool {
        self.header = header;
        self.wanted > 0
    }

    fn row(&mut self, row: sluice_connectors::source::Record<'_>) -> bool {
        self.rows.push(row.to_row());
        self.rows.len() < self.wanted
    }
}

/// An upload's header and its first `wanted` rows (a CSV, or a workbook's
/// sheet), read and decrypted on the blocking pool.
pub(super) async fn read_rows(
    state: &AppState,
    user: &AuthUser,
    upload: &sluice_schema::models::UploadRow,
    sheet: Option<String>,
    wanted: usize,
) -> Result<(Vec<String>, Vec<sluice_connectors::source::Row>), ApiError> {
    let sink = FirstRows {
        wanted,
        header: Vec::new(),
        rows: Vec::new(),
    };
    let sink = read_upload(state, user, upload, sheet, sink).await?;
    Ok((sink.header, sink.rows))
}

/// Reads an upload (a CSV, or a workbook's sheet) into `sink`, decrypted
/// on the blocking pool.
async fn read_upload<S: RowSink + Send + 'static>(
    state: &AppState,
    user: &AuthUser,
    upload: &sluice_schema::models::UploadRow,
    sheet: Option<String>,
    sink: S,
) -> Result<S, ApiError> {
    use sluice_connectors::detect::Format;
    use sluice_connectors::source::{read_sheet, CsvSource};
    let account = user.account_id;
    let id = sluice_schema::ids::UploadId(upload.upload_id);
    let key = state
        .db(move |conn| Ok(sluice_schema::repo::uploads::key(conn, account, id)?))
        .await?
        .ok_or_else(|| ApiError::Gone("the upload's file is deleted".into()))?;
    let reader = uploads::open_file(state, upload, key)?;
    let format = Format::from_name(&format!("x.{}", upload.format))
        .ok_or_else(|| ApiError::Internal("an upload of an unknown format".into()))?;
    web::block(move || -> Result<_, ApiError> {
        let mut sink = sink;
        let read = match format {
            Format::Csv => CsvSource::detect(reader).and_then(|source| source.feed(&mut sink)),
            _ => read_sheet(reader, format, sheet.as_deref(), &mut sink),
        };
        read.map_err(|e| invalid("source", e.to_string()))?;
        Ok(sink)
    })
    .await?
}
