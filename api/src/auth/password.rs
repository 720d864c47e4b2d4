//! Passwords: NIST SP 800-63B rules (at least 12 characters, no cap below 64,
//! not a common password, not the user's own email) and argon2id with OWASP's
//! parameters (19 MiB, 2 passes, 1 lane). Hashing and verifying are CPU-heavy:
//! callers run them on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::HashSet;
use std::sync::LazyLock;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// Common passwords of at least 12 characters (shorter ones fail the length
/// rule anyway), one a line, compared case-insensitively.
static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Why a password is refused, in words for the user.
pub fn check(password: &str, email: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err("password must be at least 12 characters");
    }
    if chars > MAX_CHARS {
        return Err("password must be at most 128 characters");
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower) {
        return Err("password is too common; choose another");
    }
    let mut distinct = lower.chars().collect::<Vec<_>>();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3 {
        return Err("password repeats too few characters");
    }
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || (local.chars().count() >= 4 && lower.contains(local)) {
        return Err("password must not contain your email address");
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    // These parameters are constants within argon2's accepted ranges.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// An argon2id PHC string with a fresh salt.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches `phc`; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_nist() {
        assert!(check("short-pw", "a@b.c").is_err());
        assert!(check("Password1234", "a@b.c").is_err(), "common");
        assert!(
            check("Correct Horse Battery Staple", "a@b.c").is_err(),
            "common"
        );
        assert!(check("aaaaaaaaaaaaaaa", "a@b.c").is_err());
        assert!(check("ada.lovelace-rocks", "ada.lovelace@example.com").is_err());
        assert!(check("violet kettle marching softly", "ada@example.com").is_ok());
        assert!(
            check(&"x1y".repeat(50), "ada@example.com").is_err(),
            "too long"
        );
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash("violet kettle marching softly").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("violet kettle marching softly", &phc));
        assert!(!verify("violet kettle marching softy", &phc));
        assert!(!verify("anything", "not a hash"));
    }
}
