//! "Has this consumer processed that event?", asked by many deliveries at
//! once and answered with one query per group, the way the appender groups
//! writes.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use sluice_schema::ids::EventId;
use sluice_schema::PgPool;
use std::collections::HashSet;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

const MAX_GROUP: usize = 512;

/// Which of the events (an array) the consumer processed, each looked up by
/// the primary key on its own: filtered with `= ANY`, PostgreSQL read every
/// row of the consumer for each group once its statistics were stale.
const PROCESSED: &str = "SELECT m.event_id FROM unnest($2::uuid[]) AS m(event_id) \
     WHERE (SELECT true FROM processed_events p \
            WHERE p.consumer = $1 AND p.event_id = m.event_id)";

#[derive(QueryableByName)]
struct Processed {
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
}

type Reply = oneshot::Sender<Result<bool, String>>;

#[derive(Clone)]
pub struct ProcessedCheck {
    jobs: mpsc::Sender<(Uuid, Reply)>,
}

impl ProcessedCheck {
    /// Starts the look-up task for `consumer`; it ends when every handle is dropped.
    pub fn start(pool: PgPool, consumer: String) -> Self {
        let (jobs, rx) = mpsc::channel(2 * MAX_GROUP);
        tokio::spawn(run(pool, consumer, rx));
        Self { jobs }
    }

    pub async fn contains(&self, event: EventId) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((event.0, reply))
            .await
            .map_err(|_| "processed check stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "processed check stopped".to_owned())?
    }
}

async fn run(pool: PgPool, consumer: String, mut rx: mpsc::Receiver<(Uuid, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (ids, replies): (Vec<Uuid>, Vec<Reply>) =
            std::mem::take(&mut group).into_iter().unzip();
        let pool = pool.clone();
        let name = consumer.clone();
        let lookup = ids.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            diesel::sql_query(PROCESSED)
                .bind::<Text, _>(name)
                .bind::<Array<SqlUuid>, _>(lookup)
                .load::<Processed>(&mut conn)
                .map(|found| {
                    found
                        .into_iter()
                        .map(|p| p.event_id)
                        .collect::<HashSet<_>>()
                })
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        for (id, reply) in ids.into_iter().zip(replies) {
            let _ = reply.send(
                found
                    .as_ref()
                    .map(|f| f.contains(&id))
                    .map_err(Clone::clone),
            );
        }
    }
}
