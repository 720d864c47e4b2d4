//! The keyring a running process uses, kept in step with its file: a
//! rotation made by `sluice keys rotate` (in another process, perhaps on
//! another machine with the same file) is picked up without a restart.

use crate::{Keyring, VaultError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often the file's modification time is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

pub struct SharedKeyring {
    path: Option<PathBuf>,
    current: RwLock<Arc<Keyring>>,
    checked: Mutex<(Instant, Option<SystemTime>)>,
}

impl std::fmt::Debug for SharedKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeyring")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SharedKeyring {
    /// `path` is the file to follow; `None` keeps the keyring as given.
    pub fn new(keyring: Keyring, path: Option<PathBuf>) -> Self {
        let modified = path.as_ref().and_then(modified);
        Self {
            path,
            current: RwLock::new(Arc::new(keyring)),
            checked: Mutex::new((Instant::now(), modified)),
        }
    }

    /// The keyring, re-read first if its file changed.
    pub fn get(&self) -> Arc<Keyring> {
        self.refresh_if_changed();
        self.snapshot()
    }

    fn snapshot(&self) -> Arc<Keyring> {
        match self.current.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn refresh_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let Ok(mut checked) = self.checked.lock() else {
            return;
        };
        if checked.0.elapsed() < CHECK_EVERY {
            return;
        }
        checked.0 = Instant::now();
        let now = modified(path);
        if now != checked.1 && self.reload().is_ok() {
            checked.1 = now;
        }
    }

    /// Re-reads the file now.
    pub fn reload(&self) -> Result<(), VaultError> {
        let Some(path) = &self.path else {
            return Err(VaultError::Keyring("this keyring has no file".into()));
        };
        let fresh = Arc::new(Keyring::load(path)?);
        if let Ok(mut current) = self.current.write() {
            *current = fresh;
        }
        Ok(())
    }

    /// Runs `f` with the keyring; if it meets a key version it does not know
    /// (rotated elsewhere a moment ago), re-reads the file once and retries.
    pub fn with<T>(&self, f: impl Fn(&Keyring) -> Result<T, VaultError>) -> Result<T, VaultError> {
        match f(&self.get()) {
            Err(VaultError::UnknownKey(_)) if self.reload().is_ok() => f(&self.snapshot()),
            other => other,
        }
    }
}

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl SharedKeyring {
    /// Unwraps a file's data key kept as `(kek version, wrapped)` in the
    /// database, re-reading the keyring file once for a version it lacks.
    pub fn file_key(
        &self,
        owner: &crate::Aad,
        kek_version: u32,
        wrapped: &[u8],
    ) -> Result<crate::FileKey, VaultError> {
        self.with(|k| crate::FileKey::unwrap(k, owner, kek_version, wrapped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Aad;

    #[test]
    fn a_rotation_in_the_file_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let keyring = Keyring::generate();
        keyring.save(&path).unwrap();
        let shared = SharedKeyring::new(Keyring::load(&path).unwrap(), Some(path.clone()));

        // Another process rotates and seals under the new key.
        let mut elsewhere = Keyring::load(&path).unwrap();
        elsewhere.rotate();
        elsewhere.save(&path).unwrap();
        let aad = Aad::new("a", "t", "r", "f");
        let sealed = elsewhere.seal(b"fresh", &aad);

        let opened = shared.with(|k| k.open(&sealed, &aad)).unwrap();
        assert_eq!(opened.as_slice(), b"fresh");
        assert_eq!(shared.get().primary_version(), 2);
    }
}
