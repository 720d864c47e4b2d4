//! REST: describe the org's objects (describe global) and an object, and sObject Collections (create, update, upsert
//! and delete up to 200 records a call, each record succeeding or failing on
//! its own unless `allOrNone`).

use super::ids;
use super::input::{read_record, upsert_key, JsonRecord};
use super::org::{self, Store};
use super::save::{Errors, SaveError};
use super::session::{method_not_allowed, ApiCall, RestError};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

const COLLECTION_LIMIT: usize = 200;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sobjects", web::get().to(describe_global))
        .route("/sobjects/", web::get().to(describe_global))
        .route("/sobjects/{object}/describe", web::get().to(describe))
        .route("/sobjects/{object}/describe/", web::get().to(describe))
        .service(
            web::resource("/composite/sobjects")
                .route(web::post().to(create))
                .route(web::patch().to(update))
                .route(web::delete().to(delete))
                .default_service(web::to(method_not_allowed("POST,PATCH,DELETE"))),
        )
        .service(
            web::resource("/composite/sobjects/{object}/{field}")
                .route(web::patch().to(upsert))
                .default_service(web::to(method_not_allowed("PATCH"))),
        );
}

/// `GET /sobjects`: every object of the org, without its fields.
async fn describe_global(api: ApiCall, org: web::Data<org::Shared>) -> HttpResponse {
    let org = org.lock().expect("stand-in state");
    let sobjects: Vec<Value> = org
        .store
        .tables()
        .map(|table| table.def.summary(&table.prefix, &api.version))
        .collect();
    HttpResponse::Ok().json(json!({
        "encoding": "UTF-8",
        "maxBatchSize": COLLECTION_LIMIT,
        "sobjects": sobjects,
    }))
}

async fn describe(
    api: ApiCall,
    org: web::Data<org::Shared>,
    object: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    let org = org.lock().expect("stand-in state");
    let table = org
        .store
        .table(&object.1)
        .ok_or_else(RestError::not_found)?;
    Ok(HttpResponse::Ok().json(table.def.describe(&table.prefix, &api.version)))
}

/// A request's JSON body, and its text to point into.
fn parse_body(body: &[u8]) -> Result<(Value, String), RestError> {
    let text = String::from_utf8_lossy(body).into_owned();
    match serde_json::from_str(&text) {
        Ok(value) => Ok((value, text)),
        Err(e) => {
            let text = e.to_string();
            let cause = text.split(" at line ").next().unwrap_or_default();
            let message = format!("{cause} at [line:{}, column:{}]", e.line(), e.column());
            Err(RestError::bad_request("JSON_PARSER_ERROR", message))
        }
    }
}

fn exceeded() -> RestError {
    let message = "record limit reached. cannot submit more than 200 records into this call";
    RestError::bad_request("EXCEEDED_ID_LIMIT", message)
}

/// `{"allOrNone": bool, "records": [...]}` read against the org's objects.
fn read_batch(
    store: &Store,
    object: Option<&str>,
    value: &Value,
    text: &str,
) -> Result<(bool, Vec<JsonRecord>), RestError> {
    let Some(records) = value.get("records").and_then(Value::as_array) else {
        let message =
            "Unrecognized request body: expected {\"allOrNone\": boolean, \"records\": [...]}";
        return Err(RestError::bad_request("JSON_PARSER_ERROR", message));
    };
    if records.len() > COLLECTION_LIMIT {
        return Err(exceeded());
    }
    let all_or_none = value
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let records = records
        .iter()
        .map(|r| read_record(store, object, r, text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((all_or_none, records))
}

/// Applies `write` to each item in order. All-or-none, one failure rolls
/// every write back and the items that had succeeded report so.
pub(super) fn transact<T, R>(
    store: &mut Store,
    all_or_none: bool,
    items: Vec<T>,
    mut write: impl FnMut(&mut Store, T) -> Result<R, Errors>,
) -> Vec<Result<R, Errors>> {
    let mut write = move |store: &mut Store, item: T| {
        if store.locked > 0 {
            store.locked -= 1;
            return Err(vec![SaveError::locked()]);
        }
        write(store, item)
    };
    if !all_or_none {
        return items.into_iter().map(|item| write(store, item)).collect();
    }
    let mut draft = store.clone();
    let results: Vec<Result<R, Errors>> = items
        .into_iter()
        .map(|item| write(&mut draft, item))
        .collect();
    if results.iter().all(Result::is_ok) {
        *store = draft;
        return results;
    }
    results
        .into_iter()
        .map(|r| r.and_then(|_| Err(vec![SaveError::rolled_back()])))
        .collect()
}

/// A `SaveResult` or `DeleteResult`: the id, `success`, `errors`.
fn save_result(result: &Result<String, Errors>, id: Option<String>) -> Value {
    match result {
        Ok(id) => json!({"id": id, "success": true, "errors": []}),
        Err(errors) => {
            let mut out = json!({"success": false, "errors": errors.iter().map(SaveError::json).collect::<Vec<_>>()});
            if let Some(id) = id {
                out["id"] = json!(id);
            }
            out
        }
    }
}

async fn create(
    _: ApiCall,
    org: web::Data<org::Shared>,
    body: web::Bytes,
) -> Result<HttpResponse, RestError> {
    let (value, text) = parse_body(&body)?;
    let mut org = org.lock().expect("stand-in state");
    let (all_or_none, records) = read_batch(&org.store, None, &value, &text)?;
    let results = transact(&mut org.store, all_or_none, records, |store, r| {
        store.create(&r.object, r.changes)
    });
    let body: Vec<Value> = results.iter().map(|r| save_result(r, None)).collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn update(
    _: ApiCall,
    org: web::Data<org::Shared>,
    body: web::Bytes,
) -> Result<HttpResponse, RestError> {
    let (value, text) = parse_body(&body)?;
    let mut org = org.lock().expect("stand-in state");
    let (all_or_none, records) = read_batch(&org.store, None, &value, &text)?;
    let ids: Vec<Option<String>> = records
        .iter()
        .map(|r| r.id.as_deref().and_then(ids::normalize))
        .collect();
    let results = transact(&mut org.store, all_or_none, records, |store, r| {
        match r.id {
            Some(id) => store.update(&id, r.changes),
            None => Err(vec![SaveError::new(
                "MISSING_ARGUMENT",
                "Id not specified in an update call",
                vec![],
            )]),
        }
    });
    let body: Vec<Value> = results
        .iter()
        .zip(ids)
        .map(|(r, id)| save_result(r, id))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn upsert(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, RestError> {
    let (_, object, field) = path.into_inner();
    let (value, text) = parse_body(&body)?;
    let mut org = org.lock().expect("stand-in state");
    let (object, key) = upsert_key(&org.store, &object, &field)?;
    let (all_or_none, records) = read_batch(&org.store, Some(&object), &value, &text)?;
    let results = transact(&mut org.store, all_or_none, records, |store, r| {
        store.upsert(&object, &key, r.changes)
    });
    let body: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok((id, created)) => {
                json!({"id": id, "success": true, "errors": [], "created": created})
            }
            Err(errors) => json!({
                "success": false,
                "errors": errors.iter().map(SaveError::json).collect::<Vec<_>>(),
                "created": false,
            }),
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn delete(
    _: ApiCall,
    org: web::Data<org::Shared>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, RestError> {
    let Some(ids) = query.get("ids").filter(|ids| !ids.is_empty()) else {
        return Err(RestError::bad_request(
            "MISSING_ARGUMENT",
            "ids parameter is required",
        ));
    };
    let ids: Vec<String> = ids.split(',').map(|id| id.trim().to_owned()).collect();
    if ids.len() > COLLECTION_LIMIT {
        return Err(exceeded());
    }
    let all_or_none = query
        .get("allOrNone")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut org = org.lock().expect("stand-in state");
    let results = transact(&mut org.store, all_or_none, ids.clone(), |store, id| {
        store.delete(&id)
    });
    let body: Vec<Value> = results
        .iter()
        .zip(ids)
        .map(|(r, id)| save_result(r, ids::normalize(&id)))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}
