//! The object-store backend: files kept as objects in an S3-compatible
//! bucket, `<prefix>/<kind>/<id>.slcf`. Only ciphertext leaves the process:
//! a file is written, encrypted, to a local staging file exactly as in a
//! directory, and its commit uploads it (in parts, for a large one) under
//! its final name, where it appears whole or not at all; a read downloads
//! the object to an unnamed local file and decrypts from there.
//!
//! The store's own small runtime does the network I/O, so the store's
//! blocking interface may be called from any thread without deadlock: from
//! the blocking pool, as every caller does.

use super::object_config::{ObjectStoreConfig, ObjectStoreConfigError};
use futures_util::StreamExt;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use std::fmt;
use std::future::Future;
use std::io::{self, Seek, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// Parts uploaded at once for one file.
const PARTS_IN_FLIGHT: usize = 2;

/// The bucket, the prefix of the store's objects in it, and the runtime
/// that does the network I/O.
pub(super) struct Remote {
    client: Arc<AmazonS3>,
    prefix: ObjectPath,
    part_size: usize,
    runtime: IoRuntime,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("prefix", &self.prefix.as_ref())
            .finish_non_exhaustive()
    }
}

/// A runtime shut down without waiting when the last store goes (which
/// may happen on an async thread, where a plain drop would panic).
struct IoRuntime(Option<tokio::runtime::Runtime>);

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Remote {
    /// Checks the settings and that the bucket answers.
    pub(super) fn connect(config: &ObjectStoreConfig) -> Result<Self, ObjectStoreConfigError> {
        let (client, prefix) = super::object_config::client(config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-storage")
            .enable_all()
            .build()
            .map_err(|e| ObjectStoreConfigError::Client(e.to_string()))?;
        let remote = Self {
            client: Arc::new(client),
            prefix,
            part_size: config.part_size,
            runtime: IoRuntime(Some(runtime)),
        };
        let client = remote.client.clone();
        let probe = remote.prefix.clone();
        remote
            .run(async move {
                client
                    .list_with_delimiter(Some(&probe))
                    .await
                    .map(drop)
                    .map_err(|e| io::Error::other(e.to_string()))
            })
            .map_err(|e| ObjectStoreConfigError::Unreachable(e.to_string()))?;
        Ok(remote)
    }

    /// Runs `work` on the store's runtime and waits for it: from any
    /// thread, never a deadlock (an async thread waits, though: call the
    /// store from the blocking pool).
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = io::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        let Some(runtime) = &self.runtime.0 else {
            return Err(io::Error::other("the object store is shut down"));
        };
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = done.send(work.await);
        });
        outcome
            .recv()
            .map_err(|_| io::Error::other("the object store's task failed"))?
    }

    fn dir(&self, kind: &str) -> ObjectPath {
        self.prefix.clone().join(kind)
    }

    fn location(&self, kind: &str, id: &str) -> ObjectPath {
        self.dir(kind).join(format!("{id}.{}", super::SUFFIX))
    }

    /// Uploads the whole file at `staged` as `id` of `kind`: in one request,
    /// or in parts when it is larger than a part. Under its final name an
    /// object is whole: S3 shows it only once the upload completes.
    pub(super) fn upload(&self, staged: &Path, kind: &str, id: &str) -> io::Result<()> {
        let client = self.client.clone();
        let location = self.location(kind, id);
        let part_size = self.part_size;
        let staged = staged.to_owned();
        self.run(async move {
            let size = tokio::fs::metadata(&staged).await?.len();
            if size <= part_size as u64 {
                let bytes = tokio::fs::read(&staged).await?;
                client.put(&location, bytes.into()).await.map_err(storage)?;
                return Ok(());
            }
            let upload = client.put_multipart(&location).await.map_err(storage)?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, part_size);
            match send_parts(&mut parts, &staged, part_size).await {
                Ok(()) => parts.finish().await.map(drop).map_err(storage),
                Err(e) => {
                    let _ = parts.abort().await;
                    Err(e)
                }
            }
        })
    }

    /// Downloads `id` of `kind` to an unnamed local file (in `scratch`),
    /// rewound: gone once closed.
    pub(super) fn download(
        &self,
        scratch: &Path,
        kind: &str,
        id: &str,
    ) -> io::Result<std::fs::File> {
        let client = self.client.clone();
        let location = self.location(kind, id);
        let mut file = tempfile::tempfile_in(scratch)?;
        let copy = file.try_clone()?;
        self.run(async move {
            let got = client.get(&location).await.map_err(storage)?;
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, copy);
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk.map_err(storage)?)?;
            }
            out.flush()
        })?;
        file.rewind()?;
        Ok(file)
    }

    /// Deletes `id` of `kind`; whether there was one.
    pub(super) fn delete(&self, kind: &str, id: &str) -> io::Result<bool> {
        let client = self.client.clone();
        let location = self.location(kind, id);
        self.run(async move {
            match client.head(&location).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(storage(e)),
            }
            client.delete(&location).await.map_err(storage)?;
            Ok(true)
        })
    }

    /// Every object of `kind`: its id and when it was written.
    pub(super) fn list(&self, kind: &str) -> io::Result<Vec<(String, SystemTime)>> {
        let client = self.client.clone();
        let dir = self.dir(kind);
        self.run(async move {
            let mut listed = client.list(Some(&dir));
            let mut files = Vec::new();
            while let Some(meta) = listed.next().await {
                files.extend(entry(&meta.map_err(storage)?));
            }
            Ok(files)
        })
    }

    /// The objects of `kind` whose ids start with `start`, listed by that
    /// prefix alone (not every object of the kind).
    pub(super) fn list_starting(
        &self,
        kind: &str,
        start: &str,
    ) -> io::Result<Vec<(String, SystemTime)>> {
        use object_store::list::{PaginatedListOptions, PaginatedListStore};
        let client = self.client.clone();
        let prefix = format!("{}/{start}", self.dir(kind).as_ref());
        self.run(async move {
            let mut files = Vec::new();
            let mut page_token = None;
            loop {
                let options = PaginatedListOptions {
                    page_token,
                    ..PaginatedListOptions::default()
                };
                let page = client
                    .list_paginated(Some(&prefix), options)
                    .await
                    .map_err(storage)?;
                files.extend(page.result.objects.iter().filter_map(entry));
                match page.page_token {
                    Some(next) => page_token = Some(next),
                    None => return Ok(files),
                }
            }
        })
    }
}

/// A listed object as a file of the store: its id and when it was written.
fn entry(meta: &object_store::ObjectMeta) -> Option<(String, SystemTime)> {
    let id = meta
        .location
        .filename()?
        .strip_suffix(&format!(".{}", super::SUFFIX))?;
    Some((id.to_owned(), SystemTime::from(meta.last_modified)))
}

/// Reads the staged file a part at a time into the upload, with at most
/// [`PARTS_IN_FLIGHT`] parts being sent.
async fn send_parts(parts: &mut WriteMultipart, staged: &Path, part_size: usize) -> io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(staged).await?;
    let mut buffer = vec![0u8; part_size.min(8 * 1024 * 1024)];
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        parts
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(storage)?;
        parts.write(&buffer[..read]);
    }
}

/// An object store's error as an I/O error: a missing object is
/// `NotFound`, as a missing file is.
fn storage(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => {
            io::Error::new(io::ErrorKind::NotFound, "no such object in the store")
        }
        e => io::Error::other(format!("object store: {e}")),
    }
}
