//! The keyring file: versioned KEKs (one primary) and the blind-index key.
//!
//! ```json
//! {"format": 1, "primary": 2, "keys": {"1": "<base64>", "2": "<base64>"}, "index_key": "<base64>"}
//! ```
//!
//! Written with mode 0600. The index key never rotates: blind indexes made
//! with it must stay comparable.

use crate::VaultError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{KeyInit, OsRng};
use chacha20poly1305::XChaCha20Poly1305;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::Path;
use zeroize::Zeroizing;

type Key = Zeroizing<[u8; 32]>;

pub struct Keyring {
    keys: BTreeMap<u32, Key>,
    primary: u32,
    index_key: Key,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .field("primary", &self.primary)
            .finish_non_exhaustive()
    }
}

/// Where the keyring came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringSource {
    Loaded,
    /// No file existed and a new one was written (development only).
    Created,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    primary: u32,
    keys: BTreeMap<u32, String>,
    index_key: String,
}

fn random_key() -> Key {
    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key);
    out
}

fn decode_key(text: &str) -> Result<Key, VaultError> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text)
            .map_err(|_| VaultError::Keyring("a key is not base64".into()))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(VaultError::Keyring("a key is not 256 bits".into()));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

impl Keyring {
    /// A new keyring with one primary key (version 1).
    pub fn generate() -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(1, random_key());
        Self {
            keys,
            primary: 1,
            index_key: random_key(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, VaultError> {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                VaultError::Keyring(format!("cannot read {}: {e}", path.display()))
            })?);
        let file: File = serde_json::from_str(&text).map_err(|e| {
            VaultError::Keyring(format!("{} is not a keyring: {e}", path.display()))
        })?;
        if file.format != 1 {
            return Err(VaultError::Keyring(format!(
                "unknown keyring format {}",
                file.format
            )));
        }
        let keys = file
            .keys
            .iter()
            .map(|(v, k)| Ok((*v, decode_key(k)?)))
            .collect::<Result<BTreeMap<_, _>, VaultError>>()?;
        if !keys.contains_key(&file.primary) {
            return Err(VaultError::Keyring(format!(
                "primary key version {} is not in the keyring",
                file.primary
            )));
        }
        Ok(Self {
            keys,
            primary: file.primary,
            index_key: decode_key(&file.index_key)?,
        })
    }

    /// Loads the keyring, or, when `create` allows it and there is no file,
    /// makes one and writes it. Processes starting together (an API and a
    /// worker) agree on one keyring: the file is put in place only if it is
    /// still missing, and whoever comes second loads the first one's.
    pub fn load_or_create(path: &Path, create: bool) -> Result<(Self, KeyringSource), VaultError> {
        if path.exists() || !create {
            return Ok((Self::load(path)?, KeyringSource::Loaded));
        }
        let keyring = Self::generate();
        let nonce = random_key();
        let tmp = path.with_extension(format!(
            "{}-{:02x}{:02x}{:02x}{:02x}.new",
            std::process::id(),
            nonce[0],
            nonce[1],
            nonce[2],
            nonce[3]
        ));
        keyring.write(&tmp, path)?;
        // A hard link fails if the name is taken, unlike a rename.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok((keyring, KeyringSource::Created)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::load(path)?, KeyringSource::Loaded))
            }
            Err(e) => Err(VaultError::Keyring(format!(
                "cannot write {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes the keyring readable by its owner only, replacing the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), VaultError> {
        let tmp = path.with_extension("tmp");
        self.write(&tmp, path)?;
        std::fs::rename(&tmp, path)
            .map_err(|e| VaultError::Keyring(format!("cannot write {}: {e}", path.display())))
    }

    /// Writes the keyring to `tmp` (owner-only, forced to disk), to be put
    /// in place at `path`.
    fn write(&self, tmp: &Path, path: &Path) -> Result<(), VaultError> {
        let file = File {
            format: 1,
            primary: self.primary,
            keys: self
                .keys
                .iter()
                .map(|(v, k)| (*v, STANDARD.encode(k.as_slice())))
                .collect(),
            index_key: STANDARD.encode(self.index_key.as_slice()),
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&file).map_err(|e| VaultError::Keyring(e.to_string()))?,
        );
        let io = |e: std::io::Error| {
            VaultError::Keyring(format!("cannot write {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut out = options.open(tmp).map_err(io)?;
            out.write_all(text.as_bytes()).map_err(io)?;
            out.sync_all().map_err(io)?;
        }
        Ok(())
    }

    pub fn primary_version(&self) -> u32 {
        self.primary
    }

    /// Every key version, oldest first.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Adds a new key and makes it the primary; older keys still decrypt.
    pub fn rotate(&mut self) -> u32 {
        let version = self.keys.keys().max().map_or(1, |v| v + 1);
        self.keys.insert(version, random_key());
        self.primary = version;
        version
    }

    /// Removes a key. The caller must first make sure nothing is wrapped
    /// under it any more; the primary key cannot be retired.
    pub fn retire(&mut self, version: u32) -> Result<(), VaultError> {
        if version == self.primary {
            return Err(VaultError::Keyring(
                "the primary key cannot be retired".into(),
            ));
        }
        self.keys
            .remove(&version)
            .map(|_| ())
            .ok_or(VaultError::UnknownKey(version))
    }

    pub(crate) fn primary(&self) -> (u32, &[u8; 32]) {
        // `primary` is always a key of `keys`: checked on load, set on generate.
        let key = self.keys.get(&self.primary).map_or(&[0u8; 32], |k| &**k);
        (self.primary, key)
    }

    pub(crate) fn key(&self, version: u32) -> Option<&[u8; 32]> {
        self.keys.get(&version).map(|k| &**k)
    }

    /// A keyed hash of `value` for look-ups (`domain` separates uses).
    pub fn blind_index(&self, domain: &str, value: &str) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.index_key.as_slice()) else {
            return [0; 32];
        };
        mac.update(&(domain.len() as u32).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Aad;

    #[test]
    fn a_saved_keyring_loads_and_opens_what_it_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let (keyring, source) = Keyring::load_or_create(&path, true).unwrap();
        assert_eq!(source, KeyringSource::Created);
        let aad = Aad::new("a", "t", "r", "f");
        let sealed = keyring.seal(b"x", &aad);
        let (again, source) = Keyring::load_or_create(&path, true).unwrap();
        assert_eq!(source, KeyringSource::Loaded);
        assert_eq!(again.open(&sealed, &aad).unwrap().as_slice(), b"x");
        assert_eq!(
            again.blind_index("email", "a@b"),
            keyring.blind_index("email", "a@b")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_missing_keyring_is_an_error_unless_creation_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let err = Keyring::load_or_create(&dir.path().join("none.json"), false).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }

    #[test]
    fn processes_creating_the_keyring_together_agree_on_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let made: Vec<(Keyring, KeyringSource)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Keyring::load_or_create(&path, true).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let created = made
            .iter()
            .filter(|(_, source)| *source == KeyringSource::Created)
            .count();
        assert_eq!(created, 1, "one creates it, the others load it");
        let on_disk = Keyring::load(&path).unwrap();
        for (keyring, _) in &made {
            assert_eq!(keyring.index_key.as_slice(), on_disk.index_key.as_slice());
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn debug_output_names_versions_but_no_key() {
        let keyring = Keyring::generate();
        let text = format!("{keyring:?}");
        assert!(text.contains("primary: 1"), "{text}");
        assert!(
            !text.contains(&STANDARD.encode(keyring.primary().1)),
            "{text}"
        );
    }
}
