//! Password hashing, limited. argon2id is meant to be expensive (19 MiB and
//! two passes a verification): a flood of log-ins hashed all at once on the
//! blocking pool would take every core and starve every other request. At
//! most half the cores (at least one) hash at a time; a log-in waits its
//! turn for up to five seconds, then gets 503 with `Retry-After`.

use crate::error::ApiError;
use actix_web::web;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a request waits for its turn to hash.
const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Hashing {
    turns: Arc<Semaphore>,
}

impl Hashing {
    /// Half of this machine's cores, at least one.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new((cores / 2).max(1))
    }

    pub fn new(at_once: usize) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(at_once.max(1))),
        }
    }

    /// Runs `hash` on the blocking pool once it is this request's turn.
    pub async fn run<T: Send + 'static>(
        &self,
        hash: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let turn = tokio::time::timeout(WAIT, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Busy)?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let out = web::block(move || {
            let _turn = turn;
            hash()
        })
        .await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_than_the_allowed_hashes_run_at_once() {
        let hashing = Hashing::new(2);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks = (0..8).map(|_| {
            let (hashing, running, most) = (hashing.clone(), running.clone(), most.clone());
            async move {
                hashing
                    .run(move || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        running.fetch_sub(1, SeqCst);
                    })
                    .await
            }
        });
        for outcome in futures_util::future::join_all(tasks).await {
            assert!(outcome.is_ok());
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
