//! A RabbitMQ namespace per test: its own exchanges and queues on the shared
//! broker, deleted when the test ends.

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use sluice_events::Topology;

pub struct TestBroker {
    pub url: String,
    pub topology: Topology,
}

impl TestBroker {
    pub fn new() -> Self {
        Self {
            url: crate::amqp_url(),
            topology: Topology::new(format!("t{}", uuid::Uuid::new_v4().simple())),
        }
    }
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let url = self.url.clone();
        let topology = self.topology.clone();
        // Drop cannot await: clean up on a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(conn) = sluice_events::amqp::connect(&url, "test-cleanup").await else {
                    return;
                };
                if let Ok(channel) = conn.create_channel().await {
                    for queue in topology.queues() {
                        let _ = channel
                            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                            .await;
                    }
                    for exchange in topology.exchanges() {
                        let _ = channel
                            .exchange_delete(
                                exchange.as_str().into(),
                                ExchangeDeleteOptions::default(),
                            )
                            .await;
                    }
                }
                let _ = conn.close(200, "done".into()).await;
            });
        })
        .join();
    }
}
