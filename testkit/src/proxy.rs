//! A TCP proxy in front of RabbitMQ that a test can cut: paused, it drops every
//! open connection and refuses new ones, exactly what clients see when the
//! broker goes away, without disturbing other tests on the shared broker.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct BrokerProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
}

struct State {
    paused: bool,
    generation: CancellationToken,
}

impl BrokerProxy {
    /// Starts a proxy to the broker of `amqp_url`.
    pub async fn start(amqp_url: &str) -> Self {
        let upstream = authority(amqp_url);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State {
            paused: false,
            generation: CancellationToken::new(),
        }));
        let stop = CancellationToken::new();
        let (st, stopped) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let (paused, generation) = {
                    let s = st.lock().expect("proxy state");
                    (s.paused, s.generation.clone())
                };
                if paused {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = generation.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Self { addr, state, stop }
    }

    /// The AMQP URL that goes through this proxy.
    pub fn url(&self, amqp_url: &str) -> String {
        amqp_url.replacen(&authority(amqp_url), &self.addr.to_string(), 1)
    }

    /// Cuts every connection and refuses new ones.
    pub fn pause(&self) {
        let mut s = self.state.lock().expect("proxy state");
        s.paused = true;
        s.generation.cancel();
    }

    pub fn resume(&self) {
        let mut s = self.state.lock().expect("proxy state");
        s.paused = false;
        s.generation = CancellationToken::new();
    }
}

impl Drop for BrokerProxy {
    fn drop(&mut self) {
        self.pause();
        self.stop.cancel();
    }
}

/// `host:port` of an AMQP URL (default port 5672).
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5672")
    }
}
