//! Capturing a test process's log lines.

/// Sends every log line of this test process, at `filter`'s levels, to a
/// buffer the test can search. Call it first: a process has one subscriber.
pub fn capture_logs(filter: &str) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, Mutex};
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buffer.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            sluice_api::telemetry::log_filter(filter),
        ))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .try_init()
        .expect("capture_logs must be the first logging set-up of the test");
    buffer
}
