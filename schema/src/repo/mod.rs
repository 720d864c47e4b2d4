//! Queries over the projections and secret tables. Every function that reads
//! tenant data takes the caller's [`crate::ids::AccountId`]; the only
//! exceptions find the tenant in the first place (log in, token look-up).

pub mod accounts;
pub mod billing;
pub mod connections;
pub mod jobs;
pub mod keys;
pub mod mapping_templates;
pub mod oauth;
pub mod probes;
pub mod throttle;
pub mod tokens;
pub mod uploads;

pub use probes::{find_probe, list_dead_letters};
