//! REST `query` and `queryAll` (which also returns the records in the recycle
//! bin, `IsDeleted: true`): `{totalSize, done, records, nextRecordsUrl}`,
//! 2,000 records a page unless `Sforce-Query-Options: batchSize=N` asks
//! for fewer, later pages at `…/query/{locator}`.
//!
//! Numbers, currencies and percents are written as JSON numbers with every
//! digit Salesforce keeps (see `decimal.rs`), not rounded to a double;
//! SOQL orders them by their exact value.

use super::decimal::Decimal;
use super::ids;
use super::org::{self, Record, Store};
use super::query_pages::{batch_size, first_page, more};
use super::schema::{FieldType, ObjectDef};
use super::session::{ApiCall, RestError};
use super::soql::{self, describe_error, Condition, Literal, Path};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/query", web::get().to(query))
        .route("/query/", web::get().to(query))
        .route("/queryAll", web::get().to(query_all))
        .route("/queryAll/", web::get().to(query_all))
        .route("/query/{locator}", web::get().to(more))
        .route("/queryAll/{locator}", web::get().to(more));
}

/// A resolved select or filter path.
enum Column {
    /// A field of the object; whether `=` compares its text with case.
    Field(String, FieldType, bool),
    Related {
        via: String,
        relationship: String,
        target: String,
        field: String,
        field_type: FieldType,
        with_case: bool,
    },
}

impl Column {
    fn field_type(&self) -> FieldType {
        match self {
            Self::Field(_, t, _) | Self::Related { field_type: t, .. } => *t,
        }
    }

    /// Whether its values are record ids, compared in their 18-character form.
    fn holds_ids(&self) -> bool {
        matches!(self.field_type(), FieldType::Id | FieldType::Reference)
    }

    /// Whether `=` and `IN` compare its text with case (a unique
    /// case-sensitive field).
    fn with_case(&self) -> bool {
        match self {
            Self::Field(_, _, with_case) | Self::Related { with_case, .. } => *with_case,
        }
    }
}

async fn query(
    api: ApiCall,
    org: web::Data<org::Shared>,
    req: HttpRequest,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, RestError> {
    run(&api, &org, &req, &params, false)
}

async fn query_all(
    api: ApiCall,
    org: web::Data<org::Shared>,
    req: HttpRequest,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, RestError> {
    run(&api, &org, &req, &params, true)
}

fn run(
    api: &ApiCall,
    org: &org::Shared,
    req: &HttpRequest,
    params: &HashMap<String, String>,
    all: bool,
) -> Result<HttpResponse, RestError> {
    let Some(text) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        let message = "A query string has to be specified";
        return Err(RestError::bad_request("MALFORMED_QUERY", message));
    };
    let mut org = org.lock().expect("stand-in state");
    let plan = plan(&org.store, text)?;
    let records = select(&org.store, &plan, all, &api.version);
    let batch = batch_size(req);
    Ok(HttpResponse::Ok().json(first_page(&mut org, records, batch, &api.version)))
}

/// A query resolved against the org's objects.
struct Plan {
    object: String,
    columns: Vec<Column>,
    /// Each condition: a column, the values it may (or may not) equal.
    filters: Vec<(Column, Vec<Literal>, bool)>,
    /// Each ordering column: descending, nulls last.
    order: Vec<(Column, bool, bool)>,
    limit: Option<usize>,
}

fn plan(store: &Store, text: &str) -> Result<Plan, RestError> {
    let q = soql::parse(text).map_err(|e| {
        let message = describe_error(text, e.column, &e.message);
        RestError::bad_request("MALFORMED_QUERY", message)
    })?;
    let Some(table) = store.table(&q.object) else {
        let message = format!(
            "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
            q.object
        );
        let message = describe_error(text, q.object_column, &message);
        return Err(RestError::bad_request("INVALID_TYPE", message));
    };
    let resolve = |path: &Path| {
        resolve(store, &table.def, path).map_err(|m| {
            RestError::bad_request("INVALID_FIELD", describe_error(text, path.column, &m))
        })
    };
    let columns = q.fields.iter().map(resolve).collect::<Result<_, _>>()?;
    let filters = q
        .conditions
        .iter()
        .map(|c| match c {
            Condition::Equals(p, v, is) => Ok((resolve(p)?, vec![v.clone()], *is)),
            Condition::In(p, vs, is) => Ok((resolve(p)?, vs.clone(), *is)),
        })
        .collect::<Result<_, RestError>>()?;
    let order = q
        .order
        .iter()
        .map(|o| Ok((resolve(&o.path)?, o.descending, o.nulls_last)))
        .collect::<Result<_, RestError>>()?;
    Ok(Plan {
        object: table.def.name.clone(),
        columns,
        filters,
        order,
        limit: q.limit,
    })
}

/// The records a plan selects, rendered as the response carries them.
fn select(store: &Store, plan: &Plan, all: bool, version: &str) -> Vec<Box<RawValue>> {
    let Some(table) = store.table(&plan.object) else {
        return Vec::new();
    };
    let mut rows: Vec<&Record> = table.live.values().collect();
    if all {
        rows.extend(table.bin.values());
        rows.sort_by_key(|r| r.get("Id").map(Value::to_string));
    }
    rows.retain(|r| {
        plan.filters.iter().all(|(column, values, is)| {
            let value = value_at(store, r, column);
            values.iter().any(|v| matches(&value, v, column)) == *is
        })
    });
    if !plan.order.is_empty() {
        rows.sort_by(|a, b| {
            plan.order
                .iter()
                .map(|(column, descending, nulls_last)| {
                    let (a, b) = (value_at(store, a, column), value_at(store, b, column));
                    match (a.is_null(), b.is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) if *nulls_last => Ordering::Greater,
                        (true, false) => Ordering::Less,
                        (false, true) if *nulls_last => Ordering::Less,
                        (false, true) => Ordering::Greater,
                        (false, false) => {
                            let ordering = compare(&a, &b, column.field_type().is_decimal());
                            if *descending {
                                ordering.reverse()
                            } else {
                                ordering
                            }
                        }
                    }
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
    }
    rows.truncate(plan.limit.unwrap_or(usize::MAX));
    rows.iter()
        .map(|r| render(store, &plan.object, r, &plan.columns, version))
        .collect()
}

fn resolve(store: &Store, def: &ObjectDef, path: &Path) -> Result<Column, String> {
    let no_column = |column: &str, object: &str| {
        format!("No such column '{column}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.")
    };
    match path.parts.as_slice() {
        [field] => def
            .field_named(field)
            .map(|f| Column::Field(f.name.clone(), f.field_type, f.compared_with_case()))
            .ok_or_else(|| no_column(field, &def.name)),
        [relationship, field] => {
            let lookup = def.relationship(relationship);
            let target = lookup.and_then(|f| store.table(f.reference_to.first()?));
            let (Some(lookup), Some(target)) = (lookup, target) else {
                return Err(format!("Didn't understand relationship '{relationship}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."));
            };
            let Some(f) = target.def.field_named(field) else {
                return Err(no_column(field, &target.def.name));
            };
            Ok(Column::Related {
                via: lookup.name.clone(),
                relationship: lookup.relationship_name.clone().unwrap_or_default(),
                target: target.def.name.clone(),
                field: f.name.clone(),
                field_type: f.field_type,
                with_case: f.compared_with_case(),
            })
        }
        _ => Err(no_column(&path.parts.join("."), &def.name)),
    }
}

fn parent<'a>(store: &'a Store, record: &Record, via: &str) -> Option<&'a Record> {
    let id = record.get(via)?.as_str()?;
    store.object_of(id)?.live.get(id)
}

fn value_at(store: &Store, record: &Record, column: &Column) -> Value {
    let value = match column {
        Column::Field(name, _, _) => record.get(name),
        Column::Related { via, field, .. } => parent(store, record, via).and_then(|p| p.get(field)),
    };
    value.cloned().unwrap_or(Value::Null)
}

/// SOQL's `=`: text ignoring case (but in a unique case-sensitive field),
/// ids in either length, decimals by value.
fn matches(value: &Value, literal: &Literal, column: &Column) -> bool {
    match (value, literal) {
        (Value::Null, Literal::Null) => true,
        (Value::String(a), Literal::Text(b)) if column.holds_ids() => {
            ids::normalize(b).as_deref() == Some(a.as_str())
        }
        (Value::String(a), Literal::Number(b)) if column.field_type().is_decimal() => {
            match (Decimal::parse(a), Decimal::parse(&b.to_string())) {
                (Some(a), Some(b)) => a.compare(&b).is_eq(),
                _ => false,
            }
        }
        (Value::String(a), Literal::Text(b)) if column.with_case() => a == b,
        (Value::String(a), Literal::Text(b)) => a.to_lowercase() == b.to_lowercase(),
        (Value::Number(a), Literal::Number(b)) => a.as_f64() == Some(*b),
        (Value::Bool(a), Literal::Bool(b)) => a == b,
        _ => false,
    }
}

/// SOQL's order of two values: nulls first, numbers by value, text
/// ignoring case.
fn compare(a: &Value, b: &Value, decimals: bool) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::String(x), Value::String(y)) if decimals => {
            match (Decimal::parse(x), Decimal::parse(y)) {
                (Some(x), Some(y)) => x.compare(&y),
                _ => x.cmp(y),
            }
        }
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (x, y) => x
            .to_string()
            .to_lowercase()
            .cmp(&y.to_string().to_lowercase()),
    }
}

fn attributes(object: &str, id: Option<&Value>, version: &str) -> Value {
    let id = id.and_then(Value::as_str).unwrap_or_default();
    json!({"type": object, "url": format!("/services/data/{version}/sobjects/{object}/{id}")})
}

/// A record's selected fields, in order, each written as JSON already.
struct Fields(Vec<(String, Box<RawValue>)>);

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl Fields {
    fn put(&mut self, name: &str, value: Box<RawValue>) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    fn written(&self) -> Box<RawValue> {
        to_raw_value(self).unwrap_or_else(|_| json_raw(&Value::Null))
    }
}

fn json_raw(value: &Value) -> Box<RawValue> {
    to_raw_value(value).expect("a JSON value is written as JSON")
}

/// A stored value as a query writes it: a decimal as a JSON number, with
/// all its digits.
fn cell(value: Option<&Value>, field_type: FieldType) -> Box<RawValue> {
    match value {
        Some(Value::String(text)) if field_type.is_decimal() => {
            RawValue::from_string(text.clone()).unwrap_or_else(|_| json_raw(&json!(text)))
        }
        Some(value) => json_raw(value),
        None => json_raw(&Value::Null),
    }
}

fn render(
    store: &Store,
    object: &str,
    record: &Record,
    columns: &[Column],
    version: &str,
) -> Box<RawValue> {
    let mut out = Fields(Vec::new());
    out.put(
        "attributes",
        json_raw(&attributes(object, record.get("Id"), version)),
    );
    // Each relationship's record, as far as it is written yet.
    let mut related: Vec<(String, Fields)> = Vec::new();
    for column in columns {
        match column {
            Column::Field(name, field_type, _) => {
                out.put(name, cell(record.get(name), *field_type));
            }
            Column::Related {
                via,
                relationship,
                target,
                field,
                field_type,
                ..
            } => {
                let Some(parent) = parent(store, record, via) else {
                    out.put(relationship, json_raw(&Value::Null));
                    continue;
                };
                let at = match related.iter().position(|(r, _)| r == relationship) {
                    Some(at) => at,
                    None => {
                        let mut nested = Fields(Vec::new());
                        let attributes = attributes(target, parent.get("Id"), version);
                        nested.put("attributes", json_raw(&attributes));
                        related.push((relationship.clone(), nested));
                        related.len() - 1
                    }
                };
                let nested = &mut related[at].1;
                nested.put(field, cell(parent.get(field), *field_type));
                out.put(relationship, nested.written());
            }
        }
    }
    out.written()
}
