//! Helpers shared by the integration tests.

use diesel::prelude::*;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use sluice_events::{AppendOutcome, RecordedEvent};
use sluice_schema::schema::events;
use std::time::Duration;

pub use sluice_testkit::probe_request;

/// Appends `n` probe requests directly, one transaction each.
pub fn append_probes(conn: &mut PgConnection, n: usize) -> Vec<RecordedEvent> {
    (0..n)
        .flat_map(
            |_| match sluice_events::append(conn, &probe_request()).unwrap() {
                AppendOutcome::Appended(events) => events,
                AppendOutcome::AlreadyRecorded => panic!("a new event was reported as recorded"),
            },
        )
        .collect()
}

pub fn all_seqs(conn: &mut PgConnection) -> Vec<i64> {
    events::table
        .select(events::global_seq)
        .order(events::global_seq.asc())
        .load(conn)
        .unwrap()
}

pub fn count_events_of_type(conn: &mut PgConnection, event_type: &str) -> i64 {
    events::table
        .filter(events::event_type.eq(event_type))
        .count()
        .get_result(conn)
        .unwrap()
}

/// Reads the audit stream from its first offset until `want` messages arrived
/// (or `timeout`), returning their `global_seq` in arrival order.
pub async fn read_audit_stream(
    amqp_url: &str,
    queue: &str,
    want: usize,
    timeout: Duration,
) -> Vec<i64> {
    read_audit_wire(amqp_url, queue, want, timeout)
        .await
        .iter()
        .map(|data| RecordedEvent::from_wire(data).unwrap().global_seq)
        .collect()
}

/// The audit stream's messages from its first, as published (up to `want`).
pub async fn read_audit_wire(
    amqp_url: &str,
    queue: &str,
    want: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    let conn = sluice_events::amqp::connect(amqp_url, "test-audit-reader")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_qos(500, BasicQosOptions::default())
        .await
        .unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        AMQPValue::LongString("first".into()),
    );
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "audit-reader".into(),
            BasicConsumeOptions::default(),
            args,
        )
        .await
        .unwrap();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while messages.len() < want {
        let next = tokio::time::timeout_at(deadline, consumer.next()).await;
        let Ok(Some(Ok(delivery))) = next else { break };
        messages.push(delivery.data.clone());
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    let _ = conn.close(200, "done".into()).await;
    messages
}

/// Waits until the relay's cursor reaches `seq`.
pub async fn relay_reached(app: &sluice_testkit::TestApp, seq: i64, timeout: Duration) {
    let url = app.db.url.clone();
    sluice_testkit::eventually(timeout, "the relay cursor", || {
        let url = url.clone();
        async move {
            let mut conn = PgConnection::establish(&url).ok()?;
            let cursor: i64 = sluice_schema::schema::relay_cursors::table
                .select(sluice_schema::schema::relay_cursors::last_seq)
                .first(&mut conn)
                .ok()?;
            (cursor >= seq).then_some(())
        }
    })
    .await
}

/// The regular files under `dir`, at any depth.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}
