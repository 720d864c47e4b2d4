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

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::future::Future;
use std::io::{self, Seek, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The smallest part S3 accepts (but the last).
pub const MIN_PART: usize = 5 * 1024 * 1024;
/// Parts uploaded at once for one file.
const PARTS_IN_FLIGHT: usize = 2;

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct ObjectStoreConfig {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// An S3-compatible server's address (MinIO, Ceph...); none for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// With the secret; neither: the environment's own credentials (an
    /// instance or pod role).
    pub access_key_id: Option<SecretString>,
    pub secret_access_key: Option<SecretString>,
    /// Plain HTTP to an endpoint that is not on this machine.
    pub allow_http: bool,
    /// Files larger than this are uploaded in parts of this size.
    pub part_size: usize,
}

impl fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

/// Why the object store's settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreConfigError {
    #[error("the storage URL must look like s3://bucket or s3://bucket/prefix: {0}")]
    Url(String),
    #[error("the storage endpoint is not a URL: {0}")]
    Endpoint(String),
    #[error("the storage endpoint uses plain HTTP to another machine; use HTTPS, or allow HTTP where the network is private")]
    PlainHttp,
    #[error("give the access key id and the secret access key together, or neither")]
    HalfCredentials,
    #[error("the part size must be at least 5 MiB")]
    PartSize,
    #[error("the object store: {0}")]
    Client(String),
    #[error("the bucket cannot be listed ({0}): check the bucket's name, the endpoint and the credentials")]
    Unreachable(String),
}

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

/// `s3://bucket/prefix` as (bucket, prefix).
fn bucket_and_prefix(url: &str) -> Result<(String, String), ObjectStoreConfigError> {
    let bad = || ObjectStoreConfigError::Url(url.chars().take(200).collect());
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    if parsed.scheme() != "s3"
        || !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.query().is_some()
        || parsed.port().is_some()
    {
        return Err(bad());
    }
    let bucket = parsed
        .host_str()
        .filter(|b| !b.is_empty())
        .ok_or_else(bad)?;
    let prefix = parsed.path().trim_matches('/').to_owned();
    Ok((bucket.to_owned(), prefix))
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => *name == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl Remote {
    /// Checks the settings and that the bucket answers.
    pub(super) fn connect(config: &ObjectStoreConfig) -> Result<Self, ObjectStoreConfigError> {
        let (bucket, prefix) = bucket_and_prefix(&config.url)?;
        if config.part_size < MIN_PART {
            return Err(ObjectStoreConfigError::PartSize);
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&config.region)
            .with_retry(RetryConfig {
                max_retries: 5,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(300)),
            );
        if let Some(endpoint) = &config.endpoint {
            let parsed = url::Url::parse(endpoint).map_err(|_| {
                ObjectStoreConfigError::Endpoint(endpoint.chars().take(200).collect())
            })?;
            let host = parsed.host().ok_or_else(|| {
                ObjectStoreConfigError::Endpoint(endpoint.chars().take(200).collect())
            })?;
            let http = match parsed.scheme() {
                "https" => false,
                "http" => true,
                _ => {
                    return Err(ObjectStoreConfigError::Endpoint(
                        endpoint.chars().take(200).collect(),
                    ))
                }
            };
            if http && !config.allow_http && !is_loopback(&host) {
                return Err(ObjectStoreConfigError::PlainHttp);
            }
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_allow_http(http)
                // Path-style requests: what S3-compatible servers take.
                .with_virtual_hosted_style_request(false);
        }
        match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id.expose_secret())
                    .with_secret_access_key(secret.expose_secret());
            }
            (None, None) => {}
            _ => return Err(ObjectStoreConfigError::HalfCredentials),
        }
        let client = builder
            .build()
            .map_err(|e| ObjectStoreConfigError::Client(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-storage")
            .enable_all()
            .build()
            .map_err(|e| ObjectStoreConfigError::Client(e.to_string()))?;
        let remote = Self {
            client: Arc::new(client),
            prefix: ObjectPath::from(prefix),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_url_names_a_bucket_and_maybe_a_prefix() {
        assert_eq!(
            bucket_and_prefix("s3://files").unwrap(),
            ("files".into(), String::new())
        );
        assert_eq!(
            bucket_and_prefix("s3://files/eu/sluice/").unwrap(),
            ("files".into(), "eu/sluice".into())
        );
        for bad in [
            "files",
            "s3://",
            "s3:///prefix",
            "https://files/x",
            "s3://key:secret@files",
            "s3://files:9000",
        ] {
            assert!(
                matches!(bucket_and_prefix(bad), Err(ObjectStoreConfigError::Url(_))),
                "{bad}"
            );
        }
    }

    fn config(endpoint: &str) -> ObjectStoreConfig {
        ObjectStoreConfig {
            url: "s3://files".into(),
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            access_key_id: Some("id".to_owned().into()),
            secret_access_key: Some("the-secret".to_owned().into()),
            allow_http: false,
            part_size: MIN_PART,
        }
    }

    #[test]
    fn plain_http_reaches_only_this_machine_unless_allowed() {
        let refused = Remote::connect(&config("http://store.example.com:9000"));
        assert!(matches!(refused, Err(ObjectStoreConfigError::PlainHttp)));
        let half = Remote::connect(&ObjectStoreConfig {
            secret_access_key: None,
            ..config("https://store.example.com")
        });
        assert!(matches!(half, Err(ObjectStoreConfigError::HalfCredentials)));
        let small = Remote::connect(&ObjectStoreConfig {
            part_size: 1024,
            ..config("https://store.example.com")
        });
        assert!(matches!(small, Err(ObjectStoreConfigError::PartSize)));
    }

    #[test]
    fn the_secret_never_prints() {
        let shown = format!("{:?}", config("https://store.example.com"));
        assert!(!shown.contains("the-secret"), "{shown}");
    }
}
