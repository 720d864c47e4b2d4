//! Subject keys: one data key per account for its personal data (names,
//! emails, company), stored wrapped by the keyring. Destroying an account's
//! subject key makes that data unreadable everywhere it was written, the
//! event log included (crypto-shredding).

use crate::envelope::{decrypt, encrypt};
use crate::{Aad, Keyring, VaultError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

pub struct SubjectKey {
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKey(..)")
    }
}

fn wrap_aad(account: &str) -> Aad {
    Aad::new(account, "subject_keys", account, "key")
}

impl SubjectKey {
    pub fn generate() -> Self {
        Self {
            key: Zeroizing::new(XChaCha20Poly1305::generate_key(&mut OsRng).to_vec()),
        }
    }

    /// The key wrapped by the primary KEK, for storage: `(kek version, wrapped)`.
    pub fn wrap(&self, keyring: &Keyring, account: &str) -> (u32, Vec<u8>) {
        keyring.wrap(&self.key, &wrap_aad(account))
    }

    pub fn unwrap(
        keyring: &Keyring,
        account: &str,
        kek_version: u32,
        wrapped: &[u8],
    ) -> Result<Self, VaultError> {
        Ok(Self {
            key: keyring.unwrap(kek_version, wrapped, &wrap_aad(account))?,
        })
    }

    /// Encrypts one field: base64 of `nonce | ciphertext`.
    pub fn encrypt(&self, plaintext: &str, aad: &Aad) -> String {
        let cipher = XChaCha20Poly1305::new(self.key.as_slice().into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(encrypt(
            &cipher,
            &nonce,
            plaintext.as_bytes(),
            &aad.bytes("pii"),
        ));
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, text: &str, aad: &Aad) -> Result<Zeroizing<String>, VaultError> {
        let bytes = STANDARD.decode(text).map_err(|_| VaultError::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(VaultError::Malformed);
        }
        let cipher = XChaCha20Poly1305::new(self.key.as_slice().into());
        let plain = decrypt(
            &cipher,
            XNonce::from_slice(&bytes[..24]),
            &bytes[24..],
            &aad.bytes("pii"),
        )?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_opens_with_the_accounts_key_only() {
        let keyring = Keyring::generate();
        let key = SubjectKey::generate();
        let aad = Aad::new("acct", "users", "u1", "email");
        let text = key.encrypt("ada@example.com", &aad);
        // Neither the text nor the bytes it encodes hold the address (a
        // check for a fragment such as "ada" would fail by chance, once in a
        // few thousand runs, on random base64).
        let sealed = STANDARD.decode(&text).unwrap();
        assert!(!text.contains("ada@example.com"));
        assert!(!sealed.windows(15).any(|w| w == b"ada@example.com"));
        let (version, wrapped) = key.wrap(&keyring, "acct");
        let again = SubjectKey::unwrap(&keyring, "acct", version, &wrapped).unwrap();
        assert_eq!(
            again.decrypt(&text, &aad).unwrap().as_str(),
            "ada@example.com"
        );
        assert!(SubjectKey::unwrap(&keyring, "other", version, &wrapped).is_err());
        assert!(SubjectKey::generate().decrypt(&text, &aad).is_err());
        let moved = Aad::new("acct", "users", "u2", "email");
        assert!(again.decrypt(&text, &moved).is_err());
    }
}
