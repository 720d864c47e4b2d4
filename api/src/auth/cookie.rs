//! Sessions of the web pages: the session token in an HttpOnly, Secure,
//! SameSite=Lax cookie, and the CSRF token that every state-changing
//! request sent with that cookie must carry in `X-CSRF-Token`.
//!
//! The CSRF token is a digest of the session token under a label of its
//! own. The pages the server renders for a session carry it; another site
//! can make the browser send the cookie, but cannot read the cookie or the
//! pages, so it cannot know the token. A request with a bearer token is not
//! open to CSRF (a browser never adds that header by itself) and needs none.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "sluice_session";
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The CSRF token of the session whose token is `session`.
pub fn csrf_token(session: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"sluice csrf\0");
    digest.update(session.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// Whether `presented` is the CSRF token of `session`, compared without
/// stopping at the first difference.
pub fn csrf_matches(session: &str, presented: &str) -> bool {
    let expected = csrf_token(session);
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The cookie that carries a session for `ttl`.
pub fn session(token: &str, ttl: chrono::Duration) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .max_age(Duration::seconds(ttl.num_seconds()))
        .finish()
}

/// A cookie that removes the session cookie.
pub fn cleared() -> Cookie<'static> {
    let mut cookie = session("", chrono::Duration::zero());
    cookie.make_removal();
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_belongs_to_one_session() {
        let token = csrf_token("sluice_eu-frankfurt_abc");
        assert!(csrf_matches("sluice_eu-frankfurt_abc", &token));
        assert!(!csrf_matches("sluice_eu-frankfurt_abd", &token));
        assert!(!csrf_matches("sluice_eu-frankfurt_abc", ""));
        assert!(!token.contains("abc"));
    }

    #[test]
    fn the_session_cookie_is_http_only_secure_and_lax() {
        let cookie = session("t", chrono::Duration::hours(1)).to_string();
        for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
    }
}
