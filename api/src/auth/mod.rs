//! Authentication: bearer tokens (sessions and API tokens), the web pages'
//! session cookie with its CSRF token, passwords, and
//! failed-login throttling; the OAuth providers.

pub mod cookie;
pub mod dropbox;
pub mod hashing;
pub mod oauth;
pub mod password;
mod roles;
pub mod salesforce;
pub mod token;
mod user;

pub use roles::{
    AccountAdmin, AccountOwner, ChangeSettings, EraseAccount, ExportData, ForceRollback,
    ManageBilling, ManageConnections, ManageJobs, ManageTemplates, Work,
};
pub use user::{page_user, AuthUser, Role};

use actix_web::HttpRequest;

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
