use crate::support::append_probes;
use diesel::connection::SimpleConnection;
use sluice_events::verify::{verify, ProblemKind};
use sluice_testkit::TestDb;

/// Tampering as a database superuser would: with the append-only trigger off.
fn tamper(db: &TestDb, sql: &str) {
    let mut conn = db.connect();
    conn.batch_execute(&format!(
        "BEGIN; SET LOCAL session_replication_role = replica; {sql}; COMMIT;"
    ))
    .unwrap();
}

fn log_of(n: usize) -> TestDb {
    let db = TestDb::new();
    append_probes(&mut db.connect(), n);
    db
}

#[test]
fn an_untouched_log_verifies() {
    let db = log_of(10);
    let report = verify(&mut db.connect()).unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(report.events_checked, 10);
}

#[test]
fn an_altered_payload_is_found() {
    let db = log_of(10);
    tamper(
        &db,
        "UPDATE events SET metadata = '{\"actor\": \"mallory\"}' WHERE global_seq = 4",
    );
    let problem = verify(&mut db.connect()).unwrap().problem.unwrap();
    assert_eq!(
        (problem.global_seq, problem.kind),
        (4, ProblemKind::Altered)
    );
}

#[test]
fn a_removed_event_is_found() {
    let db = log_of(10);
    tamper(&db, "DELETE FROM events WHERE global_seq = 6");
    let problem = verify(&mut db.connect()).unwrap().problem.unwrap();
    assert_eq!(
        (problem.global_seq, problem.kind),
        (6, ProblemKind::Missing)
    );
}

#[test]
fn a_removed_last_event_is_found() {
    let db = log_of(10);
    tamper(&db, "DELETE FROM events WHERE global_seq = 10");
    let problem = verify(&mut db.connect()).unwrap().problem.unwrap();
    assert_eq!(
        (problem.global_seq, problem.kind),
        (10, ProblemKind::Missing)
    );
}

#[test]
fn removing_an_event_and_renumbering_the_rest_is_found() {
    let db = log_of(10);
    tamper(
        &db,
        "DELETE FROM events WHERE global_seq = 3; \
         UPDATE events SET global_seq = global_seq + 1000 WHERE global_seq > 3; \
         UPDATE events SET global_seq = global_seq - 1001 WHERE global_seq > 1000; \
         UPDATE event_log_head SET last_seq = 9",
    );
    let problem = verify(&mut db.connect()).unwrap().problem.unwrap();
    assert_eq!(problem.global_seq, 3);
    assert_ne!(problem.kind, ProblemKind::Altered, "{problem:?}");
}

#[test]
fn two_swapped_events_are_reported_as_reordered() {
    let db = log_of(10);
    tamper(
        &db,
        "UPDATE events SET global_seq = 1000 WHERE global_seq = 5; \
         UPDATE events SET global_seq = 5 WHERE global_seq = 6; \
         UPDATE events SET global_seq = 6 WHERE global_seq = 1000",
    );
    let problem = verify(&mut db.connect()).unwrap().problem.unwrap();
    assert_eq!(
        (problem.global_seq, problem.kind),
        (5, ProblemKind::Reordered)
    );
}
