//! HTTPS served by the API itself: the certificate chain and private key
//! come from two PEM files, and a new pair put in their place is taken up
//! without a restart.
//!
//! [`CertResolver`] holds the pair in use and hands it to every TLS
//! handshake; [`watch`] reads both files every [`RELOAD_CHECK_INTERVAL`]
//! and, when what they hold changed (a SHA-256 digest of both, so that a
//! rewrite is seen whatever the file system's clock resolution), takes the
//! new pair up. A pair that does not load (unreadable, not PEM, a key that is not
//! the certificate's) is logged, without its contents, and the pair in use
//! stays; new connections get the new pair, open ones keep theirs.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

/// How often the certificate and key files are checked for a change.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The largest certificate or key file read (a chain is a few KiB).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Where the certificate chain (leaf first) and its private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why a certificate and key could not be used. The messages name the
/// files and the reason, never what the files hold.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is larger than {MAX_PEM_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("the key in {} is not usable with the certificate in {}: {reason}", key.display(), cert.display())]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("TLS set-up: {0}")]
    Setup(String),
}

/// The certificate and key of the API's TLS handshakes, reloadable.
pub struct CertResolver {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// The digest of both files when last read (none: they could not be).
    seen: Mutex<Option<[u8; 32]>>,
}

impl std::fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertResolver")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// What one look at the files did.
#[derive(Debug)]
pub enum Reload {
    /// Neither file changed.
    Unchanged,
    /// A new pair is in use.
    Reloaded,
    /// The files changed but do not load; the pair in use stays.
    Kept(TlsError),
}

impl CertResolver {
    /// Loads the pair in `files`: an error says which file and why.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let read = PemPair::read(&files)?;
        let pair = read.parse(&files)?;
        Ok(Arc::new(Self {
            files,
            current: RwLock::new(pair),
            seen: Mutex::new(Some(read.digest())),
        }))
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The server configuration that serves this resolver's pair (TLS 1.2
    /// and 1.3, ring's safe defaults, no client certificates).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(config)
    }

    /// The pair every new handshake gets.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads the files again if either changed since they were last looked
    /// at; a pair that does not load leaves the one in use.
    pub fn reload_if_changed(&self) -> Reload {
        let read = PemPair::read(&self.files);
        let now = read.as_ref().ok().map(PemPair::digest);
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                return Reload::Unchanged;
            }
            // A pair that fails is not tried again until the files change
            // again (one warning per change, not one per look).
            *seen = now;
        }
        match read.and_then(|read| read.parse(&self.files)) {
            Ok(pair) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = pair;
                Reload::Reloaded
            }
            Err(e) => Reload::Kept(e),
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Looks at the files every [`RELOAD_CHECK_INTERVAL`] until the resolver
/// is dropped (the server that used it has gone).
pub async fn watch(resolver: Weak<CertResolver>) {
    let mut ticks = tokio::time::interval(RELOAD_CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(live) = resolver.upgrade() else {
            return;
        };
        let files = live.files.clone();
        let outcome = match tokio::task::spawn_blocking(move || live.reload_if_changed()).await {
            Ok(outcome) => outcome,
            Err(e) => Reload::Kept(TlsError::Setup(e.to_string())),
        };
        match outcome {
            Reload::Unchanged => {}
            Reload::Reloaded => tracing::info!(
                cert = %files.cert.display(),
                key = %files.key.display(),
                "TLS certificate reloaded"
            ),
            Reload::Kept(e) => tracing::warn!(
                error = %e,
                "the TLS certificate or key changed but does not load; still serving the previous pair"
            ),
        }
    }
}

/// ring, the provider the rest of Sluice's TLS uses (more than one is
/// compiled in, so the choice is explicit).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the two files hold.
struct PemPair {
    cert: Vec<u8>,
    key: zeroize::Zeroizing<Vec<u8>>,
}

impl PemPair {
    fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read_bounded(&files.cert)?,
            key: zeroize::Zeroizing::new(read_bounded(&files.key)?),
        })
    }

    fn digest(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        for part in [&self.cert[..], &self.key[..]] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        digest.finalize().into()
    }

    /// The chain and key, checked to belong together.
    fn parse(&self, files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|chain| !chain.is_empty())
            .ok_or_else(|| TlsError::NoCertificate {
                path: files.cert.clone(),
            })?;
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|_| TlsError::NoKey {
            path: files.key.clone(),
        })?;
        let pair =
            CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Unusable {
                cert: files.cert.clone(),
                key: files.key.clone(),
                reason: e.to_string(),
            })?;
        Ok(Arc::new(pair))
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}
