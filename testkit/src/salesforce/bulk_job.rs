//! What processing a Bulk API 2.0 job's CSV does to the org: row by row,
//! with the same checks as any other write.

use super::bulk_echo::Echo;
use super::bulk_info::{Failure, Job, Operation, Outcome, Success};
use super::bulk_results::shuffled;
use super::org::Store;
use super::save::{Changes, Errors, Ref, SaveError};
use super::schema::{FieldDef, ObjectDef};
use super::values::{coerce, Bad, Raw};
use serde_json::Value;

/// Why a job stopped when `fail_bulk_jobs_after` makes it fail mid-way.
pub(super) const MID_JOB_FAILURE: &str = "InternalServerError : Retried more than 10 times";

/// How one CSV column sets a record.
pub(super) enum Column {
    Id,
    Field(FieldDef),
    Ref {
        field: String,
        target: String,
        key: String,
    },
}

/// Processes the job's upload against `store`; after `fail_after` records
/// the job fails and the rest stay unprocessed.
pub(super) fn process(
    store: &mut Store,
    job: &Job,
    fail_after: Option<usize>,
    seed: u64,
    echo: Echo,
) -> Outcome {
    let content = job.content.as_deref().unwrap_or_default();
    let (header, rows) = match read_csv(job, content) {
        Ok(csv) => csv,
        Err(message) => return Outcome::failed(message),
    };
    let Some(def) = store.table(&job.object).map(|t| t.def.clone()) else {
        return Outcome::failed(format!(
            "InvalidJob : Unable to find object: {}",
            job.object
        ));
    };
    let columns = match header
        .iter()
        .map(|h| column(store, &def, h))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(columns) => columns,
        // Nothing was processed: every row stays unprocessed.
        Err(message) => {
            return Outcome {
                header,
                unprocessed: rows,
                ..Outcome::failed(message)
            }
        }
    };
    let mut outcome = Outcome {
        header,
        ..Outcome::default()
    };
    for (n, row) in rows.into_iter().enumerate() {
        if fail_after.is_some_and(|limit| n >= limit) {
            outcome.error = Some(MID_JOB_FAILURE.into());
            outcome.unprocessed.push(row);
            continue;
        }
        let (id, changes) = read_row(&columns, &row);
        let outcome_of = apply(store, job, id.clone(), changes);
        let row = echo.row(&columns, row);
        match outcome_of {
            Ok((id, created)) => outcome.successes.push(Success { id, created, row }),
            Err(errors) => {
                let error = errors.first().map(SaveError::bulk_text).unwrap_or_default();
                let id = match job.operation {
                    Operation::Update | Operation::Delete | Operation::HardDelete => {
                        id.unwrap_or_default()
                    }
                    _ => String::new(),
                };
                outcome.failures.push(Failure { id, error, row });
            }
        }
    }
    outcome.successes = shuffled(std::mem::take(&mut outcome.successes), seed);
    outcome.failures = shuffled(std::mem::take(&mut outcome.failures), seed.wrapping_add(1));
    outcome
}

fn read_csv(job: &Job, content: &[u8]) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let crlf = content.windows(2).any(|w| w == b"\r\n");
    let bare_lf = content
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || content[i - 1] != b'\r'));
    if (job.line_ending == "LF" && crlf) || (job.line_ending == "CRLF" && bare_lf) {
        let setting = job.line_ending;
        return Err(format!("ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {setting}"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(job.delimiter.1)
        .from_reader(content);
    let header = reader
        .headers()
        .map_err(|e| format!("ClientInputError : {e}"))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("ClientInputError : {e}"))?;
        rows.push(record.iter().map(str::to_owned).collect());
    }
    Ok((header, rows))
}

/// `Email`, `Id`, or a lookup by external id such as
/// `Account.External_Id__c`; a polymorphic lookup's names the object of
/// the record it refers to, as `Opportunity:What.External_Id__c` (Bulk API
/// 2.0 and Bulk API Developer Guide, "Relationship Fields in a Header Row
/// (2.0)": `ObjectType:RelationshipName.IndexedFieldName`), and only a
/// polymorphic lookup's may. The refusal of a polymorphic lookup without
/// its object, and of an object it does not refer to, are worded by the
/// stand-in.
fn column(store: &Store, def: &ObjectDef, name: &str) -> Result<Column, String> {
    let not_found = || format!("InvalidBatch : Field name not found : {name}");
    if let Some((relationship, key)) = name.split_once('.') {
        let (typed, relationship) = match relationship.split_once(':') {
            Some((typed, relationship)) => (Some(typed), relationship),
            None => (None, relationship),
        };
        let lookup = def.relationship(relationship).ok_or_else(not_found)?;
        let target = match typed {
            Some(_) if !lookup.is_polymorphic() => {
                return Err(format!(
                    "InvalidBatch : type is not needed for non polymorphic foreign key references: {relationship}"
                ))
            }
            Some(typed) => lookup.refers_to(typed).ok_or_else(|| {
                format!("InvalidBatch : {relationship} does not refer to {typed}: {name}")
            })?,
            None if lookup.is_polymorphic() => {
                return Err(format!(
                    "InvalidBatch : type is needed for polymorphic foreign key references: {relationship}"
                ))
            }
            None => lookup.reference_to.first().ok_or_else(not_found)?,
        };
        let target = store.table(target).ok_or_else(not_found)?;
        let key = target
            .def
            .field_named(key)
            .filter(|f| f.external_id || f.id_lookup)
            .ok_or_else(not_found)?;
        return Ok(Column::Ref {
            field: lookup.name.clone(),
            target: target.def.name.clone(),
            key: key.name.clone(),
        });
    }
    match def.field_named(name) {
        Some(f) if f.name == "Id" => Ok(Column::Id),
        Some(f) => Ok(Column::Field(f.clone())),
        None => Err(not_found()),
    }
}

/// A row's id and changes. An empty cell leaves a field alone; `#N/A` clears it.
fn read_row(columns: &[Column], row: &[String]) -> (Option<String>, Changes) {
    let mut id = None;
    let mut changes = Changes::default();
    for (column, cell) in columns.iter().zip(row).filter(|(_, c)| !c.is_empty()) {
        match column {
            Column::Id => {
                id = Some(cell.clone());
                changes
                    .values
                    .push(("Id".into(), Value::String(cell.clone())));
            }
            Column::Field(field) => match coerce(field, Raw::Text(cell)) {
                Ok(value) => changes.values.push((field.name.clone(), value)),
                Err(bad) => {
                    let (code, what) = match bad {
                        Bad::Type => (
                            "INVALID_TYPE_ON_FIELD_IN_RECORD",
                            "value not of required type",
                        ),
                        Bad::Email => ("INVALID_EMAIL_ADDRESS", "invalid email address"),
                        Bad::Range => (
                            "NUMBER_OUTSIDE_VALID_RANGE",
                            "value outside of valid range on numeric field",
                        ),
                    };
                    let message = format!("{}: {what}: {cell}", field.label);
                    changes
                        .errors
                        .push(SaveError::new(code, message, vec![field.name.clone()]));
                }
            },
            Column::Ref { field, .. } if cell == "#N/A" => {
                changes.values.push((field.clone(), Value::Null))
            }
            Column::Ref { field, target, key } => changes.refs.push(Ref {
                field: field.clone(),
                target: target.clone(),
                key: key.clone(),
                value: cell.clone(),
            }),
        }
    }
    (id, changes)
}

fn apply(
    store: &mut Store,
    job: &Job,
    id: Option<String>,
    changes: Changes,
) -> Result<(String, bool), Errors> {
    let missing = |call: &str| {
        vec![SaveError::new(
            "MISSING_ARGUMENT",
            format!("Id not specified in {call} call"),
            vec![],
        )]
    };
    match (job.operation, id) {
        (Operation::Insert, _) => store.create(&job.object, changes).map(|id| (id, true)),
        (Operation::Upsert, _) => {
            let key = job.external_id.as_deref().unwrap_or("Id");
            store.upsert(&job.object, key, changes)
        }
        (Operation::Update, Some(id)) => store.update(&id, changes).map(|id| (id, false)),
        (Operation::Delete, Some(id)) => store.delete(&id).map(|id| (id, false)),
        (Operation::HardDelete, Some(id)) => store.hard_delete(&id).map(|id| (id, false)),
        (Operation::Update, None) => Err(missing("an update")),
        (_, None) => Err(missing("a delete")),
    }
}
