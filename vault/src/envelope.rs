//! Envelope encryption: data under a fresh data key, the data key under a KEK.

use crate::{Aad, Keyring, VaultError};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const NONCE: usize = 24;
const TAG: usize = 16;
const WRAPPED: usize = NONCE + 32 + TAG;

/// A sealed secret: `format | kek version | wrapped data key | nonce | ciphertext`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed(kek v{:?}, {} bytes)",
            self.kek_version(),
            self.0.len()
        )
    }
}

impl Sealed {
    /// The KEK version that wraps this secret's data key.
    pub fn kek_version(&self) -> Option<u32> {
        let bytes = self.0.get(1..5)?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    }
}

impl Keyring {
    /// Encrypts `plaintext` for `aad` under a fresh data key wrapped by the primary KEK.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Sealed {
        let data_key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let (version, wrapped) = self.wrap(&data_key, aad);
        let cipher = XChaCha20Poly1305::new(&data_key);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let body = encrypt(&cipher, &nonce, plaintext, &aad.bytes("data"));
        let mut out = Vec::with_capacity(5 + WRAPPED + NONCE + body.len());
        out.push(FORMAT);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Sealed(out)
    }

    pub fn open(&self, sealed: &Sealed, aad: &Aad) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let bytes = &sealed.0;
        if bytes.len() < 5 + WRAPPED + NONCE + TAG || bytes[0] != FORMAT {
            return Err(VaultError::Malformed);
        }
        let version = sealed.kek_version().ok_or(VaultError::Malformed)?;
        let data_key = self.unwrap(version, &bytes[5..5 + WRAPPED], aad)?;
        let cipher = XChaCha20Poly1305::new(data_key.as_slice().into());
        let rest = &bytes[5 + WRAPPED..];
        let nonce = XNonce::from_slice(&rest[..NONCE]);
        decrypt(&cipher, nonce, &rest[NONCE..], &aad.bytes("data"))
    }

    /// Wraps the data key of `(kek_version, wrapped)` under the primary KEK instead.
    pub fn rewrap(
        &self,
        kek_version: u32,
        wrapped: &[u8],
        owner: &Aad,
    ) -> Result<(u32, Vec<u8>), VaultError> {
        let data_key = self.unwrap(kek_version, wrapped, owner)?;
        Ok(self.wrap(&data_key, owner))
    }

    /// The same secret with its data key wrapped under the primary KEK; the
    /// encrypted data itself is untouched.
    pub fn rewrap_sealed(&self, sealed: &Sealed, owner: &Aad) -> Result<Sealed, VaultError> {
        let bytes = &sealed.0;
        if bytes.len() < 5 + WRAPPED + NONCE + TAG || bytes[0] != FORMAT {
            return Err(VaultError::Malformed);
        }
        let version = sealed.kek_version().ok_or(VaultError::Malformed)?;
        let (new_version, wrapped) = self.rewrap(version, &bytes[5..5 + WRAPPED], owner)?;
        let mut out = Vec::with_capacity(bytes.len());
        out.push(FORMAT);
        out.extend_from_slice(&new_version.to_be_bytes());
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&bytes[5 + WRAPPED..]);
        Ok(Sealed(out))
    }

    /// Wraps a data key under the primary KEK: `nonce | ciphertext`.
    pub(crate) fn wrap(&self, data_key: &[u8], aad: &Aad) -> (u32, Vec<u8>) {
        let (version, kek) = self.primary();
        let cipher = XChaCha20Poly1305::new(kek.into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(encrypt(&cipher, &nonce, data_key, &aad.bytes("key")));
        (version, out)
    }

    pub(crate) fn unwrap(
        &self,
        version: u32,
        wrapped: &[u8],
        aad: &Aad,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if wrapped.len() != WRAPPED {
            return Err(VaultError::Malformed);
        }
        let kek = self.key(version).ok_or(VaultError::UnknownKey(version))?;
        let cipher = XChaCha20Poly1305::new(kek.into());
        let nonce = XNonce::from_slice(&wrapped[..NONCE]);
        decrypt(&cipher, nonce, &wrapped[NONCE..], &aad.bytes("key"))
    }
}

pub(crate) fn encrypt(
    cipher: &XChaCha20Poly1305,
    nonce: &XNonce,
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    // Encryption fails only for inputs beyond 256 GiB, which never reach here.
    cipher
        .encrypt(
            nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default()
}

pub(crate) fn decrypt(
    cipher: &XChaCha20Poly1305,
    nonce: &XNonce,
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    cipher
        .decrypt(
            nonce,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad(row: &str) -> Aad {
        Aad::new("acct-1", "connections", row, "password")
    }

    #[test]
    fn a_sealed_secret_opens_for_its_owner_only() {
        let keyring = Keyring::generate();
        let sealed = keyring.seal(b"hunter2-but-longer", &aad("row-1"));
        assert!(!sealed.0.windows(6).any(|w| w == b"hunter"));
        assert_eq!(
            keyring.open(&sealed, &aad("row-1")).unwrap().as_slice(),
            b"hunter2-but-longer"
        );
        assert!(matches!(
            keyring.open(&sealed, &aad("row-2")),
            Err(VaultError::Decrypt)
        ));
        let other_field = Aad::new("acct-1", "connections", "row-1", "user");
        assert!(keyring.open(&sealed, &other_field).is_err());
    }

    #[test]
    fn altered_or_truncated_ciphertext_is_refused() {
        let keyring = Keyring::generate();
        let mut sealed = keyring.seal(b"secret", &aad("r"));
        let last = sealed.0.len() - 1;
        sealed.0[last] ^= 1;
        assert!(keyring.open(&sealed, &aad("r")).is_err());
        assert!(matches!(
            keyring.open(&Sealed(vec![1, 2, 3]), &aad("r")),
            Err(VaultError::Malformed)
        ));
    }

    #[test]
    fn a_rewrapped_secret_opens_under_the_new_primary_only() {
        let mut keyring = Keyring::generate();
        let sealed = keyring.seal(b"secret", &aad("r"));
        let new = keyring.rotate();
        let moved = keyring.rewrap_sealed(&sealed, &aad("r")).unwrap();
        assert_eq!(
            (sealed.kek_version(), moved.kek_version()),
            (Some(1), Some(new))
        );
        assert!(keyring.rewrap_sealed(&sealed, &aad("other")).is_err());
        assert!(keyring.retire(new).is_err(), "the primary stays");
        keyring.retire(1).unwrap();
        assert_eq!(
            keyring.open(&moved, &aad("r")).unwrap().as_slice(),
            b"secret"
        );
        assert!(matches!(
            keyring.open(&sealed, &aad("r")),
            Err(VaultError::UnknownKey(1))
        ));
    }

    #[test]
    fn another_keyring_cannot_open_it() {
        let sealed = Keyring::generate().seal(b"secret", &aad("r"));
        assert!(Keyring::generate().open(&sealed, &aad("r")).is_err());
    }
}
