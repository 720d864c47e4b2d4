//! Lookups: a mapped value replaced by a field of another table's row,
//! found by one of that table's columns (a company's id found by its
//! domain, say). A value several rows have fails its row, or, as the
//! lookup says, takes the first or the latest of them by a column of its
//! choosing (`several`, `order_by`). Each batch asks once per lookup for
//! all its distinct values.

use super::check::check_value;
use super::error::{db_error, TargetError};
use super::table::{describe, quote, Column, Table};
use super::writer::Insert;
use crate::mapping::{Lookup, Several};
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::Client;

struct Resolver {
    /// The field's position among the mapped values.
    position: usize,
    /// The field's name (for messages).
    target: String,
    /// The table looked in (for messages).
    object: String,
    key: Column,
    /// The target column the found value goes to.
    column: Option<Column>,
    /// Finds the rows for a list of key values: (value, found field).
    query: String,
}

/// A run's lookups, checked against their tables.
pub struct Lookups {
    resolvers: Vec<Resolver>,
}

impl Lookups {
    /// Describes each lookup's table and checks that its key column and
    /// field exist (the field defaults to a one-column primary key).
    pub async fn prepare(
        client: &Client,
        lookups: Vec<(usize, Lookup)>,
        target: &Table,
        targets: &[&str],
    ) -> Result<Self, TargetError> {
        let mut resolvers = Vec::with_capacity(lookups.len());
        for (position, lookup) in lookups {
            let name = targets.get(position).copied().unwrap_or_default();
            let invalid = |m: String| TargetError::Invalid(format!("{name}: {m}"));
            let table = describe(client, &lookup.object)
                .await
                .map_err(|e| invalid(e.to_string()))?;
            let key = table.column(&lookup.key).cloned().ok_or_else(|| {
                invalid(format!("{} has no column \"{}\"", table.name, lookup.key))
            })?;
            let field = match &lookup.field {
                Some(field) => field.clone(),
                None => table.single_key().map(str::to_owned).ok_or_else(|| {
                    invalid(format!(
                        "{} has no one-column primary key: name the lookup's field",
                        table.name
                    ))
                })?,
            };
            if table.column(&field).is_none() {
                return Err(invalid(format!("{} has no column \"{field}\"", table.name)));
            }
            let matched = format!(
                "FROM unnest($1::text[]) AS u(v) JOIN {} t ON t.{} = u.v::{}",
                table.qualified(),
                quote(&key.name),
                key.sql_type
            );
            let taken = format!("t.{}::text", quote(&field));
            let order = |column: &Option<String>| match column {
                Some(column) if table.column(column).is_some() => Ok(quote(column)),
                Some(column) => Err(invalid(format!(
                    "{} has no column \"{column}\" to order by",
                    table.name
                ))),
                None => Err(invalid("the lookup needs order_by".into())),
            };
            // Several matching rows: all of them, or one a value.
            let query = match lookup.several {
                Several::Fail => format!("SELECT u.v, {taken} {matched}"),
                Several::First => format!(
                    "SELECT DISTINCT ON (u.v) u.v, {taken} {matched} \
                     ORDER BY u.v, t.{} ASC NULLS LAST, {taken}",
                    order(&lookup.order_by)?
                ),
                Several::Latest => format!(
                    "SELECT DISTINCT ON (u.v) u.v, {taken} {matched} \
                     ORDER BY u.v, t.{} DESC NULLS LAST, {taken}",
                    order(&lookup.order_by)?
                ),
            };
            resolvers.push(Resolver {
                position,
                target: name.to_owned(),
                object: table.name.clone(),
                key,
                column: target.column(name).cloned(),
                query,
            });
        }
        Ok(Self { resolvers })
    }

    pub fn is_empty(&self) -> bool {
        self.resolvers.is_empty()
    }

    /// Where the looked-up fields are among the mapped values.
    pub fn positions(&self) -> Vec<usize> {
        self.resolvers.iter().map(|r| r.position).collect()
    }

    /// Replaces each looked-up value by what it names, then checks it
    /// against its column. Rows whose value names no row or several, or
    /// does not fit, are taken out and returned with the reason.
    pub async fn resolve(
        &self,
        client: &Client,
        rows: &mut Vec<Insert>,
    ) -> Result<Vec<(u64, String)>, TargetError> {
        let mut refused = Vec::new();
        for resolver in &self.resolvers {
            let at = resolver.position;
            let wanted = distinct_values(rows, at, |v| check_value(&resolver.key, Some(v)).is_ok());
            let mut found: HashMap<String, Vec<String>> = HashMap::new();
            if !wanted.is_empty() {
                for row in client
                    .query(&resolver.query, &[&wanted])
                    .await
                    .map_err(db_error)?
                {
                    let value: String = row.get(0);
                    let field: Option<String> = row.get(1);
                    found
                        .entry(value)
                        .or_default()
                        .push(field.unwrap_or_default());
                }
            }
            let blank = || match &resolver.column {
                Some(column) => check_value(column, None),
                None => Ok(()),
            };
            replace_looked_up(rows, at, &mut refused, blank, |value| {
                let outcome = match found.get(value).map(Vec::as_slice) {
                    Some([one]) => Ok(one.clone()),
                    Some(many) => Err(format!(
                        "{}: {} rows of {} have {} \"{}\"; a lookup needs exactly one",
                        resolver.target,
                        many.len(),
                        resolver.object,
                        resolver.key.name,
                        value
                    )),
                    None => Err(format!(
                        "{}: no row of {} has {} \"{}\"",
                        resolver.target, resolver.object, resolver.key.name, value
                    )),
                };
                outcome.and_then(|one| match &resolver.column {
                    Some(column) => check_value(column, Some(&one)).map(|()| one),
                    None => Ok(one),
                })
            });
        }
        Ok(refused)
    }
}

/// The distinct values at `at` of `rows` that `fit` (a batch's values to
/// look up, each asked once), in order.
pub(crate) fn distinct_values(rows: &[Insert], at: usize, fit: impl Fn(&str) -> bool) -> Vec<&str> {
    let wanted: BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r.values.get(at).and_then(Option::as_deref))
        .filter(|v| fit(v))
        .collect();
    wanted.into_iter().collect()
}

/// Replaces the value at `at` of each of `rows` by what `found` makes of
/// it (a lookup's answer), or takes the row out into `refused` with the
/// reason `found` gives; a row without a value there is kept or refused as
/// `blank` says.
pub(crate) fn replace_looked_up(
    rows: &mut Vec<Insert>,
    at: usize,
    refused: &mut Vec<(u64, String)>,
    blank: impl Fn() -> Result<(), String>,
    mut found: impl FnMut(&str) -> Result<String, String>,
) {
    rows.retain_mut(|row| {
        let Some(slot) = row.values.get_mut(at) else {
            return true;
        };
        let outcome = match slot.as_deref() {
            None => blank().map(|()| None),
            Some(value) => found(value).map(Some),
        };
        match outcome {
            Ok(replaced) => {
                if replaced.is_some() {
                    *slot = replaced;
                }
                true
            }
            Err(reason) => {
                refused.push((row.number, reason));
                false
            }
        }
    });
}
