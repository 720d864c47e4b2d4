use crate::support::append_probes;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use sluice_events::event::ProbeCompleted;
use sluice_events::replay::{replay, ReplayError};
use sluice_events::{append, AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
use sluice_testkit::TestDb;

fn log_with_history() -> TestDb {
    let db = TestDb::new();
    let mut conn = db.connect();
    let requested = append_probes(&mut conn, 20);
    for cause in requested.iter().step_by(2) {
        let done = NewEvent::new(
            DomainEvent::ProbeCompleted(ProbeCompleted { worker: "w".into() }),
            Metadata::caused_by(cause, "worker:w"),
        );
        append(
            &mut conn,
            &AppendRequest::new(
                "probe",
                cause.stream_id,
                ExpectedVersion::Exactly(1),
                vec![done],
            ),
        )
        .unwrap();
    }
    db
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn replay_schemas(conn: &mut PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name LIKE 'sluice_replay_%'",
    )
    .get_result::<Count>(conn)
    .unwrap()
    .n
}

#[test]
fn replay_rebuilds_projections_equal_to_the_live_ones_and_changes_nothing() {
    let db = log_with_history();
    let mut conn = db.connect();
    let report = replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
    assert_eq!(report.events_replayed, 30);
    let probes = report.tables.iter().find(|t| t.table == "probes").unwrap();
    assert_eq!((probes.live_rows, probes.replayed_rows), (20, 20));
    assert_eq!(replay_schemas(&mut conn), 0, "the scratch schema is gone");
}

#[test]
fn replay_reports_a_projection_that_drifted_from_the_log() {
    let db = log_with_history();
    let mut conn = db.connect();
    conn.batch_execute(
        "UPDATE probes SET status = 'queued', completed_at = NULL, completed_by = NULL \
         WHERE probe_id = (SELECT probe_id FROM probes WHERE status = 'completed' LIMIT 1)",
    )
    .unwrap();
    let report = replay(&mut conn, false).unwrap();
    assert!(!report.is_equal());
    let probes = report.tables.iter().find(|t| t.table == "probes").unwrap();
    assert_eq!((probes.only_live, probes.only_replayed), (1, 1));
}

#[test]
fn replay_can_keep_the_rebuilt_tables() {
    let db = log_with_history();
    let mut conn = db.connect();
    let report = replay(&mut conn, true).unwrap();
    let schema = report.kept_in.unwrap();
    let n = diesel::sql_query(format!("SELECT count(*) AS n FROM {schema}.probes"))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
    assert_eq!(n, 20);
}

#[test]
fn replay_stops_at_an_event_type_it_does_not_know() {
    let db = log_with_history();
    let mut conn = db.connect();
    conn.batch_execute(
        "BEGIN; SET LOCAL session_replication_role = replica; \
         UPDATE events SET event_type = 'probe.teleported' WHERE global_seq = 7; COMMIT;",
    )
    .unwrap();
    match replay(&mut conn, false) {
        Err(ReplayError::Decode(e)) => assert!(e.to_string().contains("probe.teleported"), "{e}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn replay_rebuilds_uploads_and_key_rotations() {
    use crate::uploads::{marked_csv, upload_multipart};
    use sluice_events::event::{KeyRewrapProgress, KeyRotationFinished, KeyRotationRequested};
    let app = sluice_testkit::spawn_app().await;
    let (owner, _) = crate::accounts::account(&app, "ada@example.com").await;
    let mut ids = Vec::new();
    for name in ["a.csv", "b.csv", "c.csv"] {
        let created: serde_json::Value = upload_multipart(&app, &owner, name, marked_csv())
            .await
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let path = format!("/v1/uploads/{}", ids[0]);
    crate::accounts::call(&app, reqwest::Method::DELETE, &path, &owner).await;
    app.platform.clock.advance(chrono::Duration::hours(2));
    sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "w")
        .await
        .unwrap();

    let mut conn = app.conn();
    let rotation = uuid::Uuid::now_v7();
    let events = [
        DomainEvent::KeyRotationRequested(KeyRotationRequested { primary: 2 }),
        DomainEvent::KeyRewrapProgress(KeyRewrapProgress {
            table: "subject_keys".into(),
            done: 10_000,
        }),
        DomainEvent::KeyRotationFinished(KeyRotationFinished {
            rewrapped: [("subject_keys".to_owned(), 12_345)].into(),
            worker: "w".into(),
        }),
    ];
    for event in events {
        append(
            &mut conn,
            &AppendRequest::new(
                "key_rotation",
                rotation,
                ExpectedVersion::Any,
                vec![NewEvent::new(event, Metadata::actor("test"))],
            ),
        )
        .unwrap();
    }
    let report = replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
    let uploads = report.tables.iter().find(|t| t.table == "uploads").unwrap();
    assert_eq!((uploads.live_rows, uploads.replayed_rows), (3, 3));
    let rotations = report
        .tables
        .iter()
        .find(|t| t.table == "key_rotations")
        .unwrap();
    assert_eq!((rotations.live_rows, rotations.replayed_rows), (1, 1));
}
