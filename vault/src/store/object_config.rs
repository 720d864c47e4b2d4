//! The object store's settings, checked, and the S3 client made from them.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::Duration;

/// The smallest part S3 accepts (but the last).
pub const MIN_PART: usize = 5 * 1024 * 1024;

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
    #[error("the storage URL must look like s3://bucket or s3://bucket/prefix (no credentials, port or query in it)")]
    Url,
    #[error("the storage endpoint must be an http:// or https:// URL")]
    Endpoint,
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

/// The S3 client for `config`, and the prefix of the store's objects.
pub(super) fn client(
    config: &ObjectStoreConfig,
) -> Result<(AmazonS3, ObjectPath), ObjectStoreConfigError> {
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
        // Neither error repeats the value: it may hold credentials.
        let bad = || ObjectStoreConfigError::Endpoint;
        let parsed = url::Url::parse(endpoint).map_err(|_| bad())?;
        let host = parsed.host().ok_or_else(bad)?;
        let http = match parsed.scheme() {
            "https" => false,
            "http" => true,
            _ => return Err(bad()),
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
    Ok((client, ObjectPath::from(prefix)))
}

/// `s3://bucket/prefix` as (bucket, prefix).
fn bucket_and_prefix(url: &str) -> Result<(String, String), ObjectStoreConfigError> {
    let bad = || ObjectStoreConfigError::Url;
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
                matches!(bucket_and_prefix(bad), Err(ObjectStoreConfigError::Url)),
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
        let refused = client(&config("http://store.example.com:9000"));
        assert!(matches!(refused, Err(ObjectStoreConfigError::PlainHttp)));
        let half = client(&ObjectStoreConfig {
            secret_access_key: None,
            ..config("https://store.example.com")
        });
        assert!(matches!(half, Err(ObjectStoreConfigError::HalfCredentials)));
        let small = client(&ObjectStoreConfig {
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
