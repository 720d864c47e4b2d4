use crate::support::{all_seqs, append_probes, read_audit_stream, relay_reached};
use sluice_testkit::{spawn_app_with, AppOptions};
use std::time::Duration;

fn relay_only() -> AppOptions {
    AppOptions {
        worker: false,
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn every_event_reaches_the_audit_stream_once_and_in_order() {
    let app = spawn_app_with(relay_only()).await;
    append_probes(&mut app.conn(), 300);
    relay_reached(&app, 300, Duration::from_secs(30)).await;
    let seqs = read_audit_stream(
        &app.broker.url,
        &app.broker.topology.audit_queue(),
        301,
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
}

#[tokio::test]
async fn appends_succeed_while_the_broker_is_unreachable_and_the_relay_catches_up() {
    let app = spawn_app_with(AppOptions {
        proxy: true,
        ..relay_only()
    })
    .await;
    append_probes(&mut app.conn(), 20);
    relay_reached(&app, 20, Duration::from_secs(30)).await;

    let proxy = app.proxy.as_ref().unwrap();
    proxy.pause();
    for _ in 0..5 {
        let request = crate::support::probe_request();
        app.platform.appender.append(request).await.unwrap();
    }
    append_probes(&mut app.conn(), 75);
    assert_eq!(all_seqs(&mut app.conn()), (1..=100).collect::<Vec<_>>());

    proxy.resume();
    relay_reached(&app, 100, Duration::from_secs(30)).await;
    let seqs = read_audit_stream(
        &app.broker.url,
        &app.broker.topology.audit_queue(),
        100,
        Duration::from_secs(10),
    )
    .await;
    let mut distinct = seqs.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        (1..=100).collect::<Vec<_>>(),
        "nothing lost, order kept"
    );
    assert_eq!(
        all_seqs(&mut app.conn()),
        (1..=100).collect::<Vec<_>>(),
        "no duplicate in the log"
    );
}

#[tokio::test]
async fn readiness_reports_the_broker_while_it_is_unreachable() {
    let app = spawn_app_with(AppOptions {
        proxy: true,
        ..relay_only()
    })
    .await;
    let status = |app: &sluice_testkit::TestApp| {
        let request = app.client.get(app.url("/readyz"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    sluice_testkit::eventually(Duration::from_secs(20), "ready", || async {
        (status(&app).await == 200).then_some(())
    })
    .await;
    app.proxy.as_ref().unwrap().pause();
    sluice_testkit::eventually(Duration::from_secs(20), "not ready", || async {
        (status(&app).await == 503).then_some(())
    })
    .await;
    let body: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["checks"]["broker"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok");
    app.proxy.as_ref().unwrap().resume();
    sluice_testkit::eventually(Duration::from_secs(20), "ready again", || async {
        (status(&app).await == 200).then_some(())
    })
    .await;
}

/// Restarts the shared broker: run on its own (see scripts/test.sh).
#[tokio::test]
async fn fault_relay_and_workers_survive_a_broker_restart() {
    let app = sluice_testkit::spawn_app().await;
    let writer = {
        let appender = app.platform.appender.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..200 {
                let request = crate::support::probe_request();
                ids.push(request.stream_id);
                appender.append(request).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    restart_broker().await;
    let mut probes = writer.await.unwrap();
    // Commands issued after the restart need the consumers to have come back.
    for _ in 0..20 {
        let request = crate::support::probe_request();
        probes.push(request.stream_id);
        app.platform.appender.append(request).await.unwrap();
    }

    // Every probe is eventually completed by a worker: nothing was lost.
    let url = app.db.url.clone();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let seen = progress.clone();
    let watcher = tokio::spawn(async move {
        // Says how far the workers got, should the wait below time out.
        let mut last = -1;
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let done = seen.load(std::sync::atomic::Ordering::Relaxed);
            if done != last {
                eprintln!("probes completed so far: {done} of 220");
                last = done;
            }
        }
    });
    sluice_testkit::eventually(Duration::from_secs(90), "all probes completed", || {
        let progress = progress.clone();
        let url = url.clone();
        async move {
            use diesel::prelude::*;
            let mut conn = PgConnection::establish(&url).ok()?;
            let done: i64 = sluice_schema::schema::probes::table
                .filter(sluice_schema::schema::probes::status.eq("completed"))
                .count()
                .get_result(&mut conn)
                .ok()?;
            progress.store(done, std::sync::atomic::Ordering::Relaxed);
            (done == 220).then_some(())
        }
    })
    .await;
    watcher.abort();
    let mut conn = app.conn();
    assert_eq!(probes.len(), 220);
    assert_eq!(
        crate::support::count_events_of_type(&mut conn, "probe.completed"),
        220
    );
    assert_eq!(all_seqs(&mut conn), (1..=440).collect::<Vec<_>>());
    assert!(sluice_events::verify::verify(&mut conn)
        .unwrap()
        .is_intact());
}

async fn restart_broker() {
    for args in [["stop_app"], ["start_app"]] {
        let status = tokio::process::Command::new("rabbitmqctl")
            .args(args)
            .status()
            .await
            .expect("rabbitmqctl must be installed for the fault tests");
        assert!(status.success(), "rabbitmqctl {args:?} failed");
    }
    let status = tokio::process::Command::new("rabbitmqctl")
        .args(["await_startup", "--timeout", "60"])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_standby_relay_takes_over_when_the_active_one_stops() {
    let app = spawn_app_with(AppOptions {
        relay: false,
        ..relay_only()
    })
    .await;
    let first = tokio_util::sync::CancellationToken::new();
    let second = tokio_util::sync::CancellationToken::new();
    tokio::spawn(app.platform.relay().run(first.clone()));
    append_probes(&mut app.conn(), 10);
    relay_reached(&app, 10, Duration::from_secs(30)).await;

    // The second relay finds the lock taken and stands by.
    tokio::spawn(app.platform.relay().run(second.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.cancel();
    append_probes(&mut app.conn(), 10);
    relay_reached(&app, 20, Duration::from_secs(30)).await;
    second.cancel();

    let mut seqs = read_audit_stream(
        &app.broker.url,
        &app.broker.topology.audit_queue(),
        20,
        Duration::from_secs(10),
    )
    .await;
    seqs.dedup();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
}
