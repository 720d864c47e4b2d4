//! The relay never stops the world: an event it cannot publish is
//! quarantined with an alert, the events after it flow, and the operator
//! settles it with `sluice relay republish | discard`.

use crate::support::{append_probes, read_audit_stream, relay_reached};
use diesel::prelude::*;
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde_json::Value;
use sluice_events::event::{DomainEvent, ProbeCompleted};
use sluice_events::{AppendError, AppendRequest, ExpectedVersion, NewEvent};
use sluice_schema::models::{EventRow, QuarantineRow};
use sluice_schema::schema::{event_log_head, events, relay_quarantine};
use sluice_testkit::{spawn_app_with, AppOptions, TestApp};
use std::process::Command;
use std::time::Duration;

fn relay_only() -> AppOptions {
    AppOptions {
        worker: false,
        ..AppOptions::default()
    }
}

fn completed(worker: String) -> AppendRequest {
    let event = NewEvent::new(
        DomainEvent::ProbeCompleted(ProbeCompleted { worker }),
        sluice_events::Metadata::actor("test"),
    );
    AppendRequest::new(
        "probe",
        uuid::Uuid::now_v7(),
        ExpectedVersion::Any,
        vec![event],
    )
}

/// Writes an event of `bytes` bytes straight into the log, hash chain and
/// all, as one recorded before events had a maximum size would be.
fn record_oversized(conn: &mut PgConnection, bytes: usize) -> i64 {
    conn.transaction(|conn| {
        let (last_seq, last_hash): (i64, Vec<u8>) = event_log_head::table
            .select((event_log_head::last_seq, event_log_head::last_hash))
            .for_update()
            .first(conn)?;
        let mut row = EventRow {
            global_seq: last_seq + 1,
            event_id: uuid::Uuid::now_v7(),
            stream_type: "probe".into(),
            stream_id: uuid::Uuid::now_v7(),
            stream_version: 1,
            account_id: None,
            event_type: "probe.completed".into(),
            payload: serde_json::json!({ "worker": "w".repeat(bytes) }),
            metadata: serde_json::json!({ "actor": "test" }),
            recorded_at: chrono::DateTime::from_timestamp_micros(
                chrono::Utc::now().timestamp_micros(),
            )
            .unwrap(),
            prev_hash: last_hash,
            hash: Vec::new(),
        };
        row.hash = sluice_events::hash::event_hash(&row);
        diesel::insert_into(events::table)
            .values(&row)
            .execute(conn)?;
        diesel::update(event_log_head::table)
            .set((
                event_log_head::last_seq.eq(row.global_seq),
                event_log_head::last_hash.eq(&row.hash),
            ))
            .execute(conn)?;
        QueryResult::Ok(row.global_seq)
    })
    .unwrap()
}

fn quarantined(app: &TestApp) -> Vec<QuarantineRow> {
    relay_quarantine::table
        .order(relay_quarantine::global_seq.asc())
        .select(QuarantineRow::as_select())
        .load(&mut app.conn())
        .unwrap()
}

fn operator(app: &TestApp, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_DATABASE_URL", &app.db.url)
        .env("SLUICE_AMQP_URL", &app.broker.url)
        .env("SLUICE_AMQP_NAMESPACE", &app.broker.topology.namespace)
        .env("SLUICE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

#[tokio::test]
async fn an_event_over_the_maximum_is_refused_when_it_is_appended() {
    let app = spawn_app_with(relay_only()).await;
    let refused = app
        .platform
        .appender
        .append(completed("w".repeat(sluice_events::MAX_EVENT_BYTES)))
        .await;
    assert!(
        matches!(refused, Err(AppendError::TooLarge { .. })),
        "{refused:?}"
    );
    let fits = app
        .platform
        .appender
        .append(completed("w".repeat(1000)))
        .await;
    assert!(fits.is_ok());
    let count: i64 = events::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 1, "the refused event left nothing");
}

#[tokio::test]
async fn an_event_too_large_to_publish_is_quarantined_and_later_events_flow() {
    let app = spawn_app_with(relay_only()).await;
    append_probes(&mut app.conn(), 5);
    let big = record_oversized(&mut app.conn(), 3 * 1024 * 1024);
    append_probes(&mut app.conn(), 5);
    // The five probes after it and the alert itself are published.
    relay_reached(&app, big + 6, Duration::from_secs(30)).await;

    let rows = quarantined(&app);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].global_seq, big);
    assert_eq!(rows[0].event_type, "probe.completed");
    assert!(rows[0].reason.contains("larger than"), "{}", rows[0].reason);
    assert!(rows[0].outcome.is_none());

    let published = read_audit_stream(
        &app.broker.url,
        &app.broker.topology.audit_queue(),
        11,
        Duration::from_secs(5),
    )
    .await;
    let expected: Vec<i64> = (1..=big + 6).filter(|s| *s != big).collect();
    assert_eq!(
        published, expected,
        "everything but the one event, in order"
    );

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sluice_relay_quarantined_events_total 1"),
        "{metrics}"
    );

    // The operator sees it, and discards it; a second settlement is refused.
    let (code, listed, _) = operator(&app, &["relay", "quarantined"]);
    assert_eq!(code, 0);
    assert_eq!(listed[0]["global_seq"], big);
    let (code, settled, stderr) = operator(&app, &["relay", "discard", &big.to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(settled["outcome"], "discarded");
    assert_eq!(quarantined(&app)[0].outcome.as_deref(), Some("discarded"));
    let (code, _, stderr) = operator(&app, &["relay", "republish", &big.to_string()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("discarded already"), "{stderr}");
    let (code, _, stderr) = operator(&app, &["relay", "discard", "1"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no event at position 1"), "{stderr}");
}

#[tokio::test]
async fn an_event_the_broker_keeps_refusing_is_quarantined_and_can_be_republished() {
    let app = spawn_app_with(relay_only()).await;
    append_probes(&mut app.conn(), 3);
    relay_reached(&app, 3, Duration::from_secs(30)).await;

    // A queue that refuses every message routed to it: the broker nacks
    // each `probe.completed` for as long as it is bound.
    let conn = sluice_events::amqp::connect(&app.broker.url, "test-refuser")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let refuser = format!("{}.refuser", app.broker.topology.namespace);
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    channel
        .queue_declare(
            refuser.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            refuser.as_str().into(),
            app.broker.topology.events_exchange().as_str().into(),
            "probe.completed".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let refused = match app
        .platform
        .appender
        .append(completed("worker-1".into()))
        .await
        .unwrap()
    {
        sluice_events::AppendOutcome::Appended(events) => events[0].global_seq,
        other => panic!("{other:?}"),
    };
    append_probes(&mut app.conn(), 4);
    relay_reached(&app, refused + 5, Duration::from_secs(60)).await;
    let rows = quarantined(&app);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].global_seq, refused);
    assert!(rows[0].reason.contains("refused"), "{}", rows[0].reason);

    // Once the broker takes it again, the operator re-publishes it.
    let _ = conn.close(200, "done".into()).await;
    drop(channel);
    let unbind = sluice_events::amqp::connect(&app.broker.url, "test-refuser")
        .await
        .unwrap();
    unbind
        .create_channel()
        .await
        .unwrap()
        .queue_delete(refuser.as_str().into(), Default::default())
        .await
        .unwrap();
    let _ = unbind.close(200, "done".into()).await;
    let (code, settled, stderr) = operator(&app, &["relay", "republish", &refused.to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(settled["outcome"], "republished");
    let published = read_audit_stream(
        &app.broker.url,
        &app.broker.topology.audit_queue(),
        100,
        Duration::from_secs(5),
    )
    .await;
    assert!(published.contains(&refused));
    assert!(published.contains(&(refused + 4)), "later events flowed");
}

#[tokio::test]
async fn readiness_says_lagging_while_an_old_event_is_unpublished() {
    // No relay in this process: the events stay unpublished until the
    // test moves the cursor as a relay would.
    let app = spawn_app_with(AppOptions {
        relay: false,
        relay_max_lag: Duration::from_secs(1),
        ..relay_only()
    })
    .await;
    app.platform
        .broker_up
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let readiness = || async {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    };
    let (status, _) = readiness().await;
    assert_eq!(status, 200, "an empty log has nothing to publish");

    append_probes(&mut app.conn(), 3);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, body) = readiness().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["relay"], "lagging");
    assert!(body["relay_lag_seconds"].as_u64().unwrap() >= 1);

    diesel::sql_query(
        "INSERT INTO relay_cursors (name, last_seq, updated_at) VALUES ($1, 3, now()) \
         ON CONFLICT (name) DO UPDATE SET last_seq = 3",
    )
    .bind::<diesel::sql_types::Text, _>(sluice_events::relay::cursor::cursor_name(
        &app.broker.topology,
    ))
    .execute(&mut app.conn())
    .unwrap();
    let (status, body) = readiness().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["relay_lag_seconds"], 0);
}
