//! Logs: to stderr, as text for people or JSON for log collectors,
//! filtered by `SLUICE_LOG`.

/// Starts the process's logging in `format` (`text` or `json`).
pub fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let spec =
        std::env::var("SLUICE_LOG").unwrap_or_else(|_| "info,lapin=warn,amq_protocol=warn".into());
    let filter = EnvFilter::try_new(sluice_api::telemetry::log_filter(&spec))
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=warn,amq_protocol=warn"));
    // Logs go to stderr: stdout carries the JSON reports of the maintenance commands.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
