use crate::support::{all_seqs, append_probes, probe_request};
use diesel::prelude::*;
use sluice_events::event::{ProbeCompleted, ProbeRequested};
use sluice_events::{
    append, append_batch, AppendError, AppendOutcome, AppendRequest, DomainEvent, ExpectedVersion,
    Metadata, NewEvent,
};
use sluice_testkit::TestDb;
use std::sync::Arc;
use uuid::Uuid;

fn completed(n: usize) -> NewEvent {
    NewEvent::new(
        DomainEvent::ProbeCompleted(ProbeCompleted {
            worker: format!("w{n}"),
        }),
        Metadata::actor("test"),
    )
}

#[test]
fn concurrent_appends_to_one_stream_conflict_and_leave_no_gaps() {
    let db = Arc::new(TestDb::new());
    let stream = Uuid::now_v7();
    {
        let mut conn = db.connect();
        let first = AppendRequest::new(
            "probe",
            stream,
            ExpectedVersion::NoStream,
            vec![NewEvent::new(
                DomainEvent::ProbeRequested(ProbeRequested {}),
                Metadata::actor("test"),
            )],
        );
        append(&mut conn, &first).unwrap();
    }
    let writers = 6;
    let attempts = 25;
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut conn = db.connect();
                let (mut ok, mut conflicts) = (0, 0);
                for i in 0..attempts {
                    // Each writer also appends to a stream of its own.
                    append(&mut conn, &probe_request()).unwrap();
                    let version: i64 = sluice_schema::schema::events::table
                        .filter(sluice_schema::schema::events::stream_id.eq(stream))
                        .select(diesel::dsl::max(
                            sluice_schema::schema::events::stream_version,
                        ))
                        .first::<Option<i64>>(&mut conn)
                        .unwrap()
                        .unwrap();
                    let request = AppendRequest::new(
                        "probe",
                        stream,
                        ExpectedVersion::Exactly(version),
                        vec![completed(w * attempts + i)],
                    );
                    match append(&mut conn, &request) {
                        Ok(AppendOutcome::Appended(_)) => ok += 1,
                        Err(AppendError::Conflict { .. }) => conflicts += 1,
                        other => panic!("unexpected outcome {other:?}"),
                    }
                }
                (ok, conflicts)
            })
        })
        .collect();
    let (mut ok, mut conflicts) = (0, 0);
    for h in handles {
        let (o, c) = h.join().unwrap();
        ok += o;
        conflicts += c;
    }
    assert_eq!(ok + conflicts, writers * attempts);
    assert!(ok > 0);

    let mut conn = db.connect();
    let versions: Vec<i64> = sluice_schema::schema::events::table
        .filter(sluice_schema::schema::events::stream_id.eq(stream))
        .select(sluice_schema::schema::events::stream_version)
        .order(sluice_schema::schema::events::stream_version.asc())
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        versions,
        (1..=ok as i64 + 1).collect::<Vec<_>>(),
        "stream versions have no gaps"
    );
    let seqs = all_seqs(&mut conn);
    let total = (1 + writers * attempts + ok) as i64;
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "global_seq is gap-free"
    );
    assert!(sluice_events::verify::verify(&mut conn)
        .unwrap()
        .is_intact());
}

#[test]
fn appending_the_same_event_id_twice_records_it_once() {
    let db = TestDb::new();
    let mut conn = db.connect();
    let request = probe_request();
    assert!(matches!(
        append(&mut conn, &request).unwrap(),
        AppendOutcome::Appended(_)
    ));
    assert_eq!(
        append(&mut conn, &request).unwrap(),
        AppendOutcome::AlreadyRecorded
    );
    assert_eq!(all_seqs(&mut conn), vec![1]);
}

#[test]
fn a_consumer_marker_makes_a_second_handling_a_no_op() {
    let db = TestDb::new();
    let mut conn = db.connect();
    let cause = append_probes(&mut conn, 1).remove(0);
    let handle = |n| {
        AppendRequest::new(
            "probe",
            cause.stream_id,
            ExpectedVersion::Any,
            vec![completed(n)],
        )
        .processing("imports", cause.event_id)
    };
    assert!(matches!(
        append(&mut conn, &handle(1)).unwrap(),
        AppendOutcome::Appended(_)
    ));
    // A redelivery makes new event ids, but the marker says it was handled.
    assert_eq!(
        append(&mut conn, &handle(2)).unwrap(),
        AppendOutcome::AlreadyRecorded
    );
    assert_eq!(all_seqs(&mut conn), vec![1, 2]);
}

#[test]
fn in_a_group_commit_a_conflicting_request_fails_alone() {
    let db = TestDb::new();
    let mut conn = db.connect();
    let existing = append_probes(&mut conn, 1).remove(0);
    let conflicting = AppendRequest::new(
        "probe",
        existing.stream_id,
        ExpectedVersion::NoStream,
        vec![completed(1)],
    );
    let outcomes =
        append_batch(&mut conn, &[probe_request(), conflicting, probe_request()]).unwrap();
    assert!(matches!(outcomes[0], Ok(AppendOutcome::Appended(_))));
    assert!(matches!(
        outcomes[1],
        Err(AppendError::Conflict { actual: 1, .. })
    ));
    assert!(matches!(outcomes[2], Ok(AppendOutcome::Appended(_))));
    assert_eq!(all_seqs(&mut conn), vec![1, 2, 3]);
    assert!(sluice_events::verify::verify(&mut conn)
        .unwrap()
        .is_intact());
}

#[test]
fn the_log_refuses_update_delete_and_truncate() {
    use diesel::connection::SimpleConnection;
    let db = TestDb::new();
    let mut conn = db.connect();
    append_probes(&mut conn, 2);
    for statement in [
        "UPDATE events SET event_type = 'x' WHERE global_seq = 1",
        "DELETE FROM events WHERE global_seq = 2",
        "TRUNCATE events",
    ] {
        let err = conn.batch_execute(statement).unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_eq!(all_seqs(&mut conn), vec![1, 2]);
}

#[tokio::test]
async fn the_appender_commits_concurrent_requests_with_their_own_outcomes() {
    let db = TestDb::new();
    let pool = sluice_schema::pool(&db.url, 4).unwrap();
    let metrics = sluice_events::EventMetrics::default();
    let appender = sluice_events::Appender::start(pool, metrics.clone(), Default::default());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let appender = appender.clone();
            tokio::spawn(async move { appender.append(probe_request()).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(
            t.await.unwrap().unwrap(),
            AppendOutcome::Appended(_)
        ));
    }
    let mut conn = db.connect();
    assert_eq!(all_seqs(&mut conn), (1..=200).collect::<Vec<_>>());
    assert_eq!(metrics.events_appended.get(), 200);
    assert!(
        metrics.append_batches.get() < 200,
        "concurrent appends should share transactions, got {}",
        metrics.append_batches.get()
    );
}

/// How many times this transaction has read `table` in full so far.
fn full_scans(conn: &mut PgConnection, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Scans {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq_scan: i64,
    }
    diesel::sql_query(
        "SELECT coalesce(seq_scan, 0) AS seq_scan FROM pg_stat_xact_user_tables WHERE relname = $1",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .get_result::<Scans>(conn)
    .unwrap()
    .seq_scan
}

#[test]
fn a_group_commit_on_a_large_log_reads_no_table_in_full() {
    let db = TestDb::new();
    let mut conn = db.connect();
    // A log grown in bursts, as under load, before PostgreSQL's statistics
    // caught up with it: handled commands with their consumers' markers.
    for _ in 0..20 {
        let requests: Vec<AppendRequest> = (0..1000).map(|_| probe_request()).collect();
        let recorded = append_batch(&mut conn, &requests).unwrap();
        let handled: Vec<AppendRequest> = recorded
            .iter()
            .map(|o| match o {
                Ok(AppendOutcome::Appended(events)) => AppendRequest::new(
                    "probe",
                    events[0].stream_id,
                    ExpectedVersion::Exactly(1),
                    vec![completed(1)],
                )
                .processing("imports", events[0].event_id),
                other => panic!("the probe was not appended: {other:?}"),
            })
            .collect();
        append_batch(&mut conn, &handled).unwrap();
    }
    let group: Vec<AppendRequest> = (0..64)
        .map(|_| {
            let cause = probe_request();
            let marker = cause.events[0].event_id;
            probe_request().processing("imports", marker)
        })
        .collect();
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        let outcomes = append_batch(conn, &group).unwrap();
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, Ok(AppendOutcome::Appended(_)))));
        assert_eq!(
            full_scans(conn, "events"),
            0,
            "the group's stream versions and event ids are looked up by index"
        );
        assert_eq!(
            full_scans(conn, "processed_events"),
            0,
            "the group's consumer markers are looked up by index"
        );
        Ok(())
    })
    .unwrap();
}
