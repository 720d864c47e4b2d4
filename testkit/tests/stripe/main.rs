//! The Stripe stand-in, driven by the real async-stripe client and webhook
//! parser: every answer and event it gives has Stripe's shape.

mod api;
mod robustness;
mod webhooks;

/// The Stripe client's builder. Two rustls crypto providers are linked into
/// the workspace, so the process's default is chosen first, as Sluice's own
/// billing client does.
fn client_builder(secret: &str) -> stripe::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    stripe::ClientBuilder::new(secret)
}
