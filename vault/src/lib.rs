//! Encryption at rest. A keyring of 256-bit key-encryption keys (KEKs) with
//! versions, one of them primary; XChaCha20-Poly1305 envelope encryption of
//! secrets under fresh data keys wrapped by the primary KEK; associated data
//! that binds each ciphertext to its owner, so a ciphertext moved to another
//! row does not decrypt; per-account subject keys for personal data, whose
//! destruction erases that data (crypto-shredding); and blind indexes, keyed
//! hashes that let a unique value (an email) be found without storing it in
//! clear; and the store of encrypted files, in a local directory or an
//! S3-compatible bucket (only ciphertext leaves the process either way).

mod aad;
mod envelope;
mod file;
mod keyring;
mod shared;
mod store;
mod subject;

pub use aad::{owner, Aad};
pub use envelope::Sealed;
pub use file::{DecryptReader, EncryptWriter, FileError, FileKey, CHUNK};
pub use keyring::{Keyring, KeyringSource};
pub use shared::SharedKeyring;
pub use store::{FileStore, ObjectStoreConfig, ObjectStoreConfigError, Staged};
pub use subject::SubjectKey;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("decryption failed: wrong key, wrong owner or altered ciphertext")]
    Decrypt,
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("key version {0} is not in the keyring")]
    UnknownKey(u32),
    #[error("keyring: {0}")]
    Keyring(String),
}
