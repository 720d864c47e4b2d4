use crate::support::count_events_of_type;
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use serde_json::Value;
use sluice_events::RecordedEvent;
use sluice_testkit::{eventually, spawn_app, spawn_app_with, AppOptions, TestApp};
use std::time::Duration;

async fn request_probe(app: &TestApp) -> String {
    let body: Value = app
        .ops(reqwest::Method::POST, "/v1/ops/probes")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["probe_id"].as_str().unwrap().to_owned()
}

async fn probe_status(app: &TestApp, id: &str) -> String {
    let body: Value = app
        .ops(reqwest::Method::GET, &format!("/v1/ops/probes/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["status"].as_str().unwrap_or_default().to_owned()
}

/// Requests a probe and waits until a worker completed it.
async fn completed_probe(app: &TestApp) -> String {
    let id = request_probe(app).await;
    eventually(Duration::from_secs(30), "probe completed", || async {
        (probe_status(app, &id).await == "completed").then_some(())
    })
    .await;
    id
}

/// Waits until the dead-letter listing is not empty, and returns it.
async fn dead_letters(app: &TestApp) -> Value {
    eventually(Duration::from_secs(30), "a dead letter", || async {
        let body: Value = app
            .ops(reqwest::Method::GET, "/v1/ops/dead-letters")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (!body["dead_letters"].as_array()?.is_empty()).then_some(body)
    })
    .await
}

/// Publishes a wire event to the service's exchange, as the relay would.
async fn publish(app: &TestApp, routing_key: &str, event: &RecordedEvent) {
    let conn = sluice_events::amqp::connect(&app.broker.url, "test-publisher")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            app.broker.topology.events_exchange().as_str().into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            &event.to_wire().unwrap(),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let _ = conn.close(200, "done".into()).await;
}

fn event_at(app: &TestApp, seq: i64) -> RecordedEvent {
    use diesel::prelude::*;
    use sluice_schema::models::EventRow;
    use sluice_schema::schema::events;
    let row = events::table
        .find(seq)
        .select(EventRow::as_select())
        .first(&mut app.conn())
        .unwrap();
    RecordedEvent::from_row(row).unwrap()
}

fn skipped(app: &TestApp) -> u64 {
    app.platform
        .metrics
        .deliveries
        .get_or_create(&vec![
            ("consumer".to_owned(), "imports".to_owned()),
            ("outcome".to_owned(), "skipped".to_owned()),
        ])
        .get()
}

#[tokio::test]
async fn a_probe_travels_from_the_api_through_the_worker_and_back() {
    let app = spawn_app().await;
    let id = completed_probe(&app).await;
    let completed = event_at(&app, 2);
    assert_eq!(completed.stream_id.to_string(), id);
    assert_eq!(
        completed.metadata.causation_id,
        Some(event_at(&app, 1).event_id.0),
        "the worker's event names its cause"
    );
}

#[tokio::test]
async fn a_redelivered_command_is_acknowledged_and_skipped() {
    let app = spawn_app().await;
    completed_probe(&app).await;
    let command = event_at(&app, 1);
    publish(&app, "probe.requested", &command).await;
    publish(&app, "probe.requested", &command).await;
    eventually(
        Duration::from_secs(30),
        "two skipped deliveries",
        || async { (skipped(&app) >= 2).then_some(()) },
    )
    .await;
    let mut conn = app.conn();
    assert_eq!(count_events_of_type(&mut conn, "probe.completed"), 1);
    assert_eq!(crate::support::all_seqs(&mut conn), vec![1, 2]);
}

#[tokio::test]
async fn a_command_the_worker_refuses_is_dead_lettered_and_visible() {
    let app = spawn_app().await;
    completed_probe(&app).await;
    // A result event routed as a command: the worker refuses it for good.
    let misrouted = event_at(&app, 2);
    publish(&app, "probe.requested", &misrouted).await;
    let body = dead_letters(&app).await;
    let dead = &body["dead_letters"][0];
    assert_eq!(dead["event_id"], misrouted.event_id.0.to_string());
    assert_eq!(dead["event_type"], "probe.completed");
    assert_eq!(dead["queue"], app.broker.topology.imports_queue());
    assert_eq!(dead["reason"], "rejected");
}

fn deliveries(app: &TestApp, consumer: &str, outcome: &str) -> u64 {
    app.platform
        .metrics
        .deliveries
        .get_or_create(&vec![
            ("consumer".to_owned(), consumer.to_owned()),
            ("outcome".to_owned(), outcome.to_owned()),
        ])
        .get()
}

/// A command recorded and relayed while no worker runs.
async fn queued_probe() -> (TestApp, String) {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let id = request_probe(&app).await;
    crate::support::relay_reached(&app, 1, Duration::from_secs(30)).await;
    (app, id)
}

#[tokio::test]
async fn a_database_outage_is_waited_out_without_losing_the_command() {
    let (app, id) = queued_probe().await;
    app.db.refuse_connections();
    app.start_worker(Duration::from_secs(60));
    eventually(Duration::from_secs(20), "a retry", || async {
        (deliveries(&app, "imports", "retried") > 0).then_some(())
    })
    .await;
    app.db.allow_connections();
    eventually(Duration::from_secs(30), "probe completed", || async {
        (probe_status(&app, &id).await == "completed").then_some(())
    })
    .await;
    assert_eq!(
        deliveries(&app, "imports", "requeued"),
        0,
        "retried in place"
    );
    assert_eq!(
        count_events_of_type(&mut app.conn(), "delivery.dead_lettered"),
        0
    );
}

#[tokio::test]
async fn a_command_that_keeps_failing_is_dead_lettered_at_the_delivery_limit() {
    let (app, id) = queued_probe().await;
    app.db.refuse_connections();
    app.start_worker(Duration::ZERO);
    let limit = app.broker.topology.delivery_limit;
    // Each try waits for the pool's checkout timeout while the database is away.
    eventually(Duration::from_secs(90), "the delivery limit", || async {
        (deliveries(&app, "imports", "requeued") > limit as u64).then_some(())
    })
    .await;
    app.db.allow_connections();
    let body = dead_letters(&app).await;
    let dead = &body["dead_letters"][0];
    assert_eq!(dead["event_type"], "probe.requested");
    assert_eq!(dead["reason"], "delivery_limit");
    assert_eq!(
        probe_status(&app, &id).await,
        "queued",
        "the command was not carried out"
    );
}

#[tokio::test]
async fn a_command_recorded_in_another_region_is_refused() {
    let app = spawn_app().await;
    completed_probe(&app).await;
    let mut foreign = event_at(&app, 1);
    assert_eq!(foreign.metadata.region.as_deref(), Some("eu-frankfurt"));
    foreign.metadata.region = Some("us-dallas".into());
    foreign.event_id = sluice_schema::ids::EventId::new();
    foreign.stream_id = uuid::Uuid::now_v7();
    publish(&app, "probe.requested", &foreign).await;
    let body = dead_letters(&app).await;
    assert_eq!(
        body["dead_letters"][0]["event_id"],
        foreign.event_id.0.to_string()
    );
    assert_eq!(body["dead_letters"][0]["reason"], "rejected");
    assert_eq!(count_events_of_type(&mut app.conn(), "probe.completed"), 1);
}
