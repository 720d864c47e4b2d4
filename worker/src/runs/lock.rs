//! One worker at a time on a run: a PostgreSQL advisory lock on the run,
//! held on a connection of its own for as long as the worker works on it.

use super::{retry, RunHandler, Stop};
use sluice_schema::ids::RunId;
use sluice_schema::repo::jobs;
use uuid::Uuid;

/// The advisory-lock key of a run in Sluice's database.
pub fn lock_key(run: Uuid) -> i64 {
    let (high, low) = run.as_u64_pair();
    i64::from_ne_bytes((high ^ low).to_ne_bytes())
}

/// How often a worker waiting for a run's lock tries again.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_secs(2);

impl RunHandler {
    /// Takes the run's lock on a connection of its own, waiting while
    /// another worker holds it; `None` once the run turns out finished.
    pub(super) async fn lock(&self, run: RunId) -> Result<Option<diesel::PgConnection>, Stop> {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        let url = self.platform.config.database_url.clone();
        let mut conn = tokio::task::spawn_blocking(move || diesel::PgConnection::establish(&url))
            .await
            .map_err(retry)?
            .map_err(retry)?;
        let key = lock_key(run.0);
        let mut waited = false;
        loop {
            let finished = self
                .db(move |c| jobs::run_any(c, run))
                .await?
                .is_some_and(|r| r.finished_at.is_some());
            if finished {
                return Ok(None);
            }
            let (back, locked) = tokio::task::spawn_blocking(move || {
                let locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                    .bind::<diesel::sql_types::BigInt, _>(key)
                    .get_result::<Locked>(&mut conn)
                    .map(|l| l.locked);
                (conn, locked)
            })
            .await
            .map_err(retry)?;
            conn = back;
            if locked.map_err(retry)? {
                // The run may have finished while this worker waited.
                let finished = self
                    .db(move |c| jobs::run_any(c, run))
                    .await?
                    .is_some_and(|r| r.finished_at.is_some());
                return Ok((!finished).then_some(conn));
            }
            if !waited {
                tracing::info!(run = %run, "another worker is on this run; waiting for it");
                waited = true;
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }
}
