//! Encrypted files, kept in one of two places behind this one interface:
//!
//! * **a local directory** (the default): `<root>/<kind>/<id>.slcf`, each
//!   written by [`crate::FileKey::writer`] to a staging file first and
//!   renamed into place once complete;
//! * **an S3-compatible bucket** ([`FileStore::open_object_store`]):
//!   `<prefix>/<kind>/<id>.slcf`, the local directory holding only the
//!   staging files of this process and the unnamed files reads download to
//!   (see [`object`]).
//!
//! Either way a file under its final name is always whole, and only
//! ciphertext is ever written. Local directories are 0700 and files 0600.

mod object;
mod object_config;

use object::Remote;
pub use object_config::{ObjectStoreConfig, ObjectStoreConfigError};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

const SUFFIX: &str = "slcf";
const STAGING: &str = "part";
/// How old a staging file of an object store's is before a new process
/// deletes it as left over.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct FileStore {
    /// The files (a local store), or the staging area (an object store).
    root: PathBuf,
    remote: Option<Arc<Remote>>,
}

/// A file being written: removed on drop unless committed.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    committed: bool,
}

impl Staged {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl FileStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        create_private_dir(&root)?;
        Ok(Self { root, remote: None })
    }

    /// Opens the store in an S3-compatible bucket, staging files in the
    /// local directory `staging` (created if needed), after checking that
    /// the bucket answers.
    pub fn open_object_store(
        staging: impl Into<PathBuf>,
        config: &ObjectStoreConfig,
    ) -> Result<Self, ObjectStoreConfigError> {
        let root = staging.into();
        create_private_dir(&root).map_err(|e| {
            ObjectStoreConfigError::Client(format!("the local staging directory: {e}"))
        })?;
        let remote = Remote::connect(config)?;
        let store = Self {
            root,
            remote: Some(Arc::new(remote)),
        };
        store.remove_stale_staging();
        Ok(store)
    }

    /// Deletes the staging files an earlier process on this host left
    /// (killed while writing them): with an object store, no other host's
    /// sweep sees them. A file written in the last hour may be another
    /// process's and stays.
    fn remove_stale_staging(&self) {
        let Ok(kinds) = fs::read_dir(&self.root) else {
            return;
        };
        let Some(stale) = SystemTime::now().checked_sub(STALE_STAGING) else {
            return;
        };
        for kind in kinds.flatten() {
            let Some(kind) = kind.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            for (id, modified) in self.list_local(&kind).unwrap_or_default() {
                if modified < stale {
                    let _ = self.remove_staging(&kind, &id);
                }
            }
        }
    }

    /// The local directory: the files, or (an object store) the staging area.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the files are kept in an object store.
    pub fn is_object_store(&self) -> bool {
        self.remote.is_some()
    }

    fn dir(&self, kind: &str) -> io::Result<PathBuf> {
        let dir = self.root.join(kind);
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Where the file `id` of `kind` lives once committed (in a local store).
    pub fn path(&self, kind: &str, id: &str) -> PathBuf {
        self.root.join(kind).join(format!("{id}.{SUFFIX}"))
    }

    /// A new staging file for `id` of `kind`, open for writing.
    pub fn stage(&self, kind: &str, id: &str) -> io::Result<(Staged, File)> {
        let path = self.dir(kind)?.join(format!("{id}.{STAGING}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        Ok((
            Staged {
                path,
                committed: false,
            },
            file,
        ))
    }

    /// Moves a complete staging file to its final name (after `sync_all`),
    /// or uploads it to the object store (and deletes it here). Blocking
    /// I/O: call it on the blocking pool.
    pub fn commit(&self, staged: Staged, kind: &str, id: &str) -> io::Result<()> {
        self.put(staged, kind, id, true)
    }

    /// As [`FileStore::commit`], without forcing the directory to disk (for
    /// files whose loss in a power cut is handled).
    pub fn commit_unsynced(&self, staged: Staged, kind: &str, id: &str) -> io::Result<()> {
        self.put(staged, kind, id, false)
    }

    fn put(&self, mut staged: Staged, kind: &str, id: &str, durable: bool) -> io::Result<()> {
        if let Some(remote) = &self.remote {
            // `staged` deletes the local copy as it goes.
            return remote.upload(&staged.path, kind, id);
        }
        fs::rename(&staged.path, self.path(kind, id))?;
        staged.committed = true;
        if durable {
            if let Ok(dir) = File::open(self.root.join(kind)) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }

    /// Opens the committed file `id` of `kind` (downloaded, from an object
    /// store: blocking I/O, call it on the blocking pool).
    pub fn open_file(&self, kind: &str, id: &str) -> io::Result<File> {
        match &self.remote {
            Some(remote) => remote.download(&self.root, kind, id),
            None => File::open(self.path(kind, id)),
        }
    }

    /// Opens the committed file `id` of `kind` for reading its plaintext,
    /// decrypting as it goes (see [`FileKey::reader`]).
    pub fn reader(
        &self,
        kind: &str,
        id: &str,
        key: &crate::FileKey,
        owner: &crate::Aad,
    ) -> Result<crate::DecryptReader<File>, crate::FileError> {
        key.reader(owner, self.open_file(kind, id)?)
    }

    /// Removes a staging file of `id` of `kind` that a writer killed part-way
    /// left behind, leaving the committed file (if any) in place: a file
    /// written again replaces it only when its [`FileStore::commit`] renames
    /// the new one over it.
    pub fn remove_staging(&self, kind: &str, id: &str) -> io::Result<()> {
        let staging = self.root.join(kind).join(format!("{id}.{STAGING}"));
        match fs::remove_file(staging) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the file `id` of `kind` (and any staging file of it); whether
    /// there was one.
    pub fn remove(&self, kind: &str, id: &str) -> io::Result<bool> {
        let staging = self.root.join(kind).join(format!("{id}.{STAGING}"));
        let mut removed = false;
        for path in [staging, self.path(kind, id)] {
            match fs::remove_file(path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(remote) = &self.remote {
            removed |= remote.delete(kind, id)?;
        }
        Ok(removed)
    }

    /// Every file of `kind` (committed, or staging here): its id and when
    /// it was last written.
    pub fn list(&self, kind: &str) -> io::Result<Vec<(String, SystemTime)>> {
        let mut files = self.list_local(kind)?;
        if let Some(remote) = &self.remote {
            files.extend(remote.list(kind)?);
        }
        Ok(files)
    }

    /// The files of `kind` whose ids start with `start` (a run's files:
    /// `"<run>."`); an object store lists only those.
    pub fn list_starting(&self, kind: &str, start: &str) -> io::Result<Vec<(String, SystemTime)>> {
        let mut files: Vec<_> = self
            .list_local(kind)?
            .into_iter()
            .filter(|(id, _)| id.starts_with(start))
            .collect();
        if let Some(remote) = &self.remote {
            files.extend(remote.list_starting(kind, start)?);
        }
        Ok(files)
    }

    fn list_local(&self, kind: &str) -> io::Result<Vec<(String, SystemTime)>> {
        let dir = self.root.join(kind);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((id, ext)) = name.rsplit_once('.') else {
                continue;
            };
            if ext == SUFFIX || ext == STAGING {
                let modified = entry.metadata()?.modified()?;
                files.push((id.to_owned(), modified));
            }
        }
        Ok(files)
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn staged_files_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path().join("files")).unwrap();
        let (staged, mut file) = store.stage("uploads", "a").unwrap();
        file.write_all(b"ciphertext").unwrap();
        assert!(!store.path("uploads", "a").exists());
        store.commit(staged, "uploads", "a").unwrap();
        assert!(store.path("uploads", "a").exists());
        assert_eq!(store.list("uploads").unwrap().len(), 1);

        let (staged, _) = store.stage("uploads", "b").unwrap();
        drop(staged);
        assert_eq!(store.list("uploads").unwrap().len(), 1, "abandoned");
        assert_eq!(store.list_starting("uploads", "a").unwrap().len(), 1);
        assert!(store.list_starting("uploads", "b").unwrap().is_empty());
        assert!(store.remove("uploads", "a").unwrap());
        assert!(!store.remove("uploads", "a").unwrap());
    }

    #[test]
    fn a_file_written_again_replaces_the_old_one_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path().join("files")).unwrap();
        let (staged, mut file) = store.stage("results", "a").unwrap();
        file.write_all(b"whole").unwrap();
        store.commit(staged, "results", "a").unwrap();
        // A writer killed part-way left its staging file behind.
        let (staged, mut file) = store.stage("results", "a").unwrap();
        file.write_all(b"ha").unwrap();
        std::mem::forget(staged);
        store.remove_staging("results", "a").unwrap();
        let (staged, mut file) = store.stage("results", "a").unwrap();
        file.write_all(b"half").unwrap();
        assert_eq!(fs::read(store.path("results", "a")).unwrap(), b"whole");
        store.commit(staged, "results", "a").unwrap();
        assert_eq!(fs::read(store.path("results", "a")).unwrap(), b"half");
        assert_eq!(store.list("results").unwrap().len(), 1);
    }
}
