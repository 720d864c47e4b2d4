//! The `Stripe-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`,
//! each `v1` an HMAC-SHA256 under the endpoint's secret of `<t>.<body>`.
//! While a secret is being rolled Stripe signs with each active one, so a
//! header may hold several `v1`; one that matches is enough. Other schemes
//! (`v0`) are ignored. A timestamp more than five minutes from now is
//! refused, so that a captured delivery cannot be replayed later.
//!
//! `async-stripe`'s own check parses the event into the types of the API
//! version the crate was generated for as part of the check; an account
//! whose webhooks are of another version would have every one refused.
//! The check here verifies the bytes alone, and the handler reads only the
//! fields it needs.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signature's time may be from now, as Stripe's libraries allow.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused (never which secret or signature was tried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    #[error("no signature in the Stripe-Signature header matches the payload")]
    Mismatch,
    #[error("the signature's timestamp is more than 5 minutes from now")]
    Stale,
}

/// Checks `header` for `payload` under `secret`, at `now` (Unix seconds).
pub fn verify(header: &str, payload: &[u8], secret: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.extend(hex::decode(sig).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    // `verify_slice` compares in constant time.
    if !signatures
        .iter()
        .any(|sig| mac.clone().verify_slice(sig).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.payment_failed"}"#;

    fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn a_signature_made_with_the_secret_is_accepted() {
        let header = format!("t=1000,v1={}", sign(SECRET, 1000, BODY));
        assert_eq!(verify(&header, BODY, SECRET, 1000), Ok(()));
        assert_eq!(verify(&header, BODY, SECRET, 1300), Ok(()));
    }

    #[test]
    fn one_matching_signature_of_several_is_enough() {
        let header = format!(
            "t=1000,v1={},v1={},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
            sign(b"whsec_old", 1000, BODY),
            sign(SECRET, 1000, BODY)
        );
        assert_eq!(verify(&header, BODY, SECRET, 1000), Ok(()));
    }

    #[test]
    fn another_secret_or_body_is_a_mismatch() {
        let header = format!("t=1000,v1={}", sign(b"whsec_forged", 1000, BODY));
        assert_eq!(
            verify(&header, BODY, SECRET, 1000),
            Err(SignatureError::Mismatch)
        );
        let header = format!("t=1000,v1={}", sign(SECRET, 1000, BODY));
        assert_eq!(
            verify(&header, b"{\"id\":\"evt_2\"}", SECRET, 1000),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too: moving it breaks the signature.
        let moved = format!("t=2000,v1={}", sign(SECRET, 1000, BODY));
        assert_eq!(
            verify(&moved, BODY, SECRET, 2000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_older_or_newer_than_five_minutes_is_stale() {
        let header = format!("t=1000,v1={}", sign(SECRET, 1000, BODY));
        assert_eq!(
            verify(&header, BODY, SECRET, 1301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&header, BODY, SECRET, 699),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn headers_without_a_time_or_a_v1_are_malformed() {
        let sig = sign(SECRET, 1000, BODY);
        for header in [
            String::new(),
            format!("v1={sig}"),
            "t=1000".to_owned(),
            "t=1000,v0=abcd".to_owned(),
            format!("t=soon,v1={sig}"),
            "t=1000,v1=not-hex".to_owned(),
        ] {
            assert_eq!(
                verify(&header, BODY, SECRET, 1000),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }
}
