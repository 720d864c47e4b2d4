pub mod accounts;
pub mod api_tokens;
pub mod dead_letters;
pub mod health;
pub mod probes;
pub mod salesforce_login;
pub mod sessions;
pub mod users;
