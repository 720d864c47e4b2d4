//! The tables a connection's user can import into, for a wizard's list:
//! ordinary and partitioned tables the user may insert into, outside the
//! system schemas, without Sluice's own (`_sluice_*`) tables. A table is
//! named as a job's target names it: `table` in `public`, `schema.table`
//! elsewhere.

use super::error::{db_error, TargetError};
use tokio_postgres::Client;

/// One page of tables whose name contains `search` (any case), after the
/// name `after`, in name order; at most `limit`.
pub async fn list_tables(
    client: &Client,
    search: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, TargetError> {
    let pattern = search.map(|s| format!("%{}%", like_escaped(&s.to_lowercase())));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT name FROM ( \
               SELECT CASE WHEN n.nspname = 'public' THEN c.relname::text \
                           ELSE n.nspname || '.' || c.relname END AS name \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_%' \
                 AND c.relname NOT LIKE '\\_sluice\\_%' \
                 AND has_table_privilege(c.oid, 'INSERT') \
             ) t \
             WHERE ($1::text IS NULL OR lower(name) LIKE $1) \
               AND ($2::text IS NULL OR name COLLATE \"C\" > $2) \
             ORDER BY name COLLATE \"C\" LIMIT $3",
            &[&pattern, &after, &limit],
        )
        .await
        .map_err(db_error)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `text` with LIKE's wildcards and escape taken literally.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcards_in_a_search_are_taken_literally() {
        assert_eq!(super::like_escaped("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
