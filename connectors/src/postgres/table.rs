//! A target table as a run sees it: its columns and their types, its
//! primary key (and the sequence behind it) and its unique keys, read from
//! the catalog.

use super::error::{db_error, TargetError};
use tokio_postgres::Client;

/// A column of the target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type's name (`int4`, `text`, `timestamptz`...).
    pub type_name: String,
    /// The type as SQL writes it, without its length or precision
    /// (`integer`, `character varying`, `crm.mood`...): text is cast to it,
    /// and the column's own limits are then enforced on assignment.
    pub sql_type: String,
    pub nullable: bool,
    pub has_default: bool,
    /// For `varchar(n)` and `char(n)`.
    pub max_length: Option<i32>,
}

/// What a run needs to know of its target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
    /// The sequence behind a one-column primary key, if it has one.
    pub key_sequence: Option<String>,
    /// The column sets of every unique constraint and index (the primary
    /// key's among them).
    pub unique_keys: Vec<Vec<String>>,
}

impl Table {
    /// `"schema"."name"`, quoted.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The one-column primary key, if the table has one.
    pub fn single_key(&self) -> Option<&str> {
        match self.primary_key.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether `fields` are exactly the columns of a unique constraint or
    /// index, so that they name at most one row.
    pub fn is_unique(&self, fields: &[String]) -> bool {
        let wanted: std::collections::BTreeSet<&str> = fields.iter().map(String::as_str).collect();
        wanted.len() == fields.len()
            && self.unique_keys.iter().any(|key| {
                key.len() == wanted.len() && key.iter().all(|c| wanted.contains(c.as_str()))
            })
    }
}

/// An identifier, quoted for SQL.
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Describes `object` (`table` in `public`, or `schema.table`).
pub async fn describe(client: &Client, object: &str) -> Result<Table, TargetError> {
    let (schema, name) = match object.split_once('.') {
        Some((schema, name)) => (schema.to_owned(), name.to_owned()),
        None => ("public".to_owned(), object.to_owned()),
    };
    let columns = columns_of(client, &schema, &name).await?;
    if columns.is_empty() {
        return Err(TargetError::Invalid(format!(
            "the database has no table {schema}.{name} (or this user cannot see it)"
        )));
    }
    let primary_key = primary_key_of(client, &schema, &name).await?;
    let unique_keys = unique_keys_of(client, &schema, &name).await?;
    let key_sequence = match primary_key.as_slice() {
        [one] => key_sequence_of(client, &schema, &name, one).await?,
        _ => None,
    };
    Ok(Table {
        schema,
        name,
        columns,
        primary_key,
        key_sequence,
        unique_keys,
    })
}

/// The table's columns that a run can write (none if the table is not
/// there or cannot be seen), in their order.
async fn columns_of(client: &Client, schema: &str, name: &str) -> Result<Vec<Column>, TargetError> {
    let rows = client
        .query(
            "SELECT a.attname::text, t.typname::text, NOT a.attnotnull, a.atthasdef OR a.attidentity <> '', \
                    CASE WHEN a.atttypmod > 4 AND t.typname IN ('varchar', 'bpchar') THEN a.atttypmod - 4 END, \
                    format_type(a.atttypid, NULL) \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
               AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            type_name: r.get(1),
            nullable: r.get(2),
            has_default: r.get(3),
            max_length: r.get(4),
            sql_type: r.get(5),
        })
        .collect())
}

/// The primary key's columns, in the key's order.
async fn primary_key_of(
    client: &Client,
    schema: &str,
    name: &str,
) -> Result<Vec<String>, TargetError> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary \
             ORDER BY array_position(i.indkey, a.attnum)",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The column sets of every unique constraint and index that holds for
/// every row (no partial or expression index).
async fn unique_keys_of(
    client: &Client,
    schema: &str,
    name: &str,
) -> Result<Vec<Vec<String>>, TargetError> {
    let rows = client
        .query(
            "SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique \
               AND i.indpred IS NULL AND i.indexprs IS NULL \
             GROUP BY i.indexrelid",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The sequence behind the one-column primary key `key`, if it has one.
async fn key_sequence_of(
    client: &Client,
    schema: &str,
    name: &str,
    key: &str,
) -> Result<Option<String>, TargetError> {
    Ok(client
        .query_one(
            "SELECT pg_get_serial_sequence($1, $2)",
            &[&format!("{}.{}", quote(schema), quote(name)), &key],
        )
        .await
        .map_err(db_error)?
        .get::<_, Option<String>>(0))
}
