//! Session and API tokens: `sluice_<region>_<43 characters>`, 256 random bits.
//! Only their SHA-256 is stored. The region in the token lets any deployment
//! refuse another region's token without looking it up.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sluice_";

/// A new token for `region`.
pub fn generate(region: &str) -> String {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    format!("{PREFIX}{region}_{}", URL_SAFE_NO_PAD.encode(secret))
}

pub fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The region a token was issued in, if it has Sluice's shape.
pub fn region_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    // A region has no '_'; the secret (base64url) may.
    let (region, secret) = rest.split_once('_')?;
    (secret.len() == 43 && !region.is_empty()).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_region_and_is_unique() {
        // Secrets often contain '_' and '-': the region must still come out right.
        for _ in 0..500 {
            let token = generate("eu-frankfurt");
            assert_eq!(region_of(&token), Some("eu-frankfurt"), "{token}");
        }
        assert_ne!(generate("au-sydney"), generate("au-sydney"));
        assert_eq!(region_of("sluice_x"), None);
        assert_eq!(region_of("bearer-something"), None);
    }
}
