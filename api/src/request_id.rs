//! Request ids: taken from a well-formed `X-Request-Id` or generated, carried
//! in a task-local so that error bodies and log lines can name it.

use uuid::Uuid;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "x-request-id";

/// Accepts an upstream id only if it is short and plain; otherwise makes one.
pub fn choose(upstream: Option<&str>) -> String {
    match upstream {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
        {
            id.to_owned()
        }
        _ => Uuid::new_v4().to_string(),
    }
}

pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The current request's id, or `-` outside a request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}
