//! TLS to customers' PostgreSQL databases. [`client_config`] is the one
//! place a TLS configuration is made: every connection (the API's test,
//! job checks and previews, the worker's sources and targets) goes through
//! [`super::connect`], which asks it.
//!
//! `verify-full` is the default: the certificate must chain to a trusted
//! root (the system's web roots, or the connection's own CA certificate)
//! and name the host connected to. `verify-ca` checks the chain but not the
//! name. `require` encrypts without checking who answers: a network
//! attacker can pose as the server and read the password, so it is only
//! ever an explicit, labelled choice.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The largest CA certificate (PEM, possibly a bundle) a connection may
/// carry: 64 KiB, room for a few dozen certificates.
pub const MAX_CA_CERT: usize = 64 * 1024;

/// How a connection uses TLS, by libpq's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No encryption (for a database on the same machine or network).
    Disable,
    /// Stored connections from before the modes were narrowed: TLS if the
    /// server offers it, unverified. New connections cannot choose them.
    Allow,
    Prefer,
    /// Encrypted; the server's certificate is not checked.
    Require,
    /// Encrypted; the certificate chains to a trusted CA (any host name).
    VerifyCa,
    /// Encrypted; the certificate chains to a trusted CA and names the host.
    VerifyFull,
}

impl SslMode {
    /// What a connection gets unless it says otherwise.
    pub const DEFAULT: Self = Self::VerifyFull;
    /// The modes a new connection may choose.
    pub const CHOOSABLE: [Self; 4] = [
        Self::VerifyFull,
        Self::VerifyCa,
        Self::Require,
        Self::Disable,
    ];

    pub fn parse(mode: &str) -> Option<Self> {
        Some(match mode {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate is checked.
    pub fn verifies_server(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyFull)
    }

    /// What the mode protects against, for a person to read.
    pub fn describe(self) -> &'static str {
        match self {
            Self::VerifyFull => "encrypted; the certificate is checked, host name included",
            Self::VerifyCa => {
                "encrypted; the certificate is checked against the CA, but not its host name"
            }
            Self::Require | Self::Allow | Self::Prefer => {
                "encrypted, but the server is NOT verified: anyone on the network path can pose \
                 as it and read the password"
            }
            Self::Disable => "NOT encrypted: for a database on a trusted local network only",
        }
    }
}

/// Why a CA certificate was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaError {
    #[error("ca_cert must be at most {} KiB ({MAX_CA_CERT} bytes)", MAX_CA_CERT / 1024)]
    TooLarge,
    #[error("ca_cert must hold at least one PEM \"CERTIFICATE\" block")]
    Empty,
    #[error("ca_cert is not valid PEM")]
    Pem,
    #[error("ca_cert holds a certificate that cannot be read as an X.509 CA certificate")]
    Certificate,
}

/// The trusted roots a PEM bundle holds; refused unless every certificate
/// in it parses.
pub fn parse_ca(pem: &str) -> Result<RootCertStore, CaError> {
    if pem.len() > MAX_CA_CERT {
        return Err(CaError::TooLarge);
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|_| CaError::Pem)?;
        roots.add(cert).map_err(|_| CaError::Certificate)?;
    }
    if roots.is_empty() {
        return Err(CaError::Empty);
    }
    Ok(roots)
}

/// The TLS configuration for `mode`, trusting `ca` (PEM) when given and
/// the system's web roots otherwise. `None` for `disable`.
pub fn client_config(
    mode: SslMode,
    ca: Option<&str>,
) -> Result<Option<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let roots = || -> Result<Arc<RootCertStore>, String> {
        Ok(Arc::new(match ca {
            Some(pem) => parse_ca(pem).map_err(|e| e.to_string())?,
            None => RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }))
    };
    let config = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::VerifyFull => builder.with_root_certificates(roots()?),
        SslMode::VerifyCa => {
            let chain = WebPkiServerVerifier::builder_with_provider(roots()?, provider)
                .build()
                .map_err(|e| e.to_string())?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(chain)))
        }
        SslMode::Require | SslMode::Allow | SslMode::Prefer => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))),
    };
    Ok(Some(config.with_no_client_auth()))
}

/// `verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require`: any certificate is accepted (the handshake's signatures are
/// still checked, so the session is encrypted to whoever answered).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Why a TLS handshake failed, in words that quote nothing of the server's.
pub(crate) fn describe_tls(e: &rustls::Error) -> &'static str {
    use CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => {
                "the server's certificate is not signed by a trusted certificate authority \
                 (give the connection its CA certificate as ca_cert)"
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for the host name given"
            }
            C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired",
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet"
            }
            C::Revoked => "the server's certificate is revoked",
            _ => "the server's certificate was refused",
        },
        rustls::Error::AlertReceived(_) => "the server ended the TLS handshake",
        _ => "the TLS handshake failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_reads_back_as_its_name() {
        for mode in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert_eq!(SslMode::parse(mode).map(SslMode::as_str), Some(mode));
        }
        assert_eq!(SslMode::parse("verify_full"), None);
        assert!(!SslMode::Require.verifies_server());
        assert!(SslMode::DEFAULT.verifies_server());
    }

    #[test]
    fn a_ca_that_is_not_pem_or_too_large_is_refused() {
        assert_eq!(parse_ca("hello").err(), Some(CaError::Empty));
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(parse_ca(garbage).err(), Some(CaError::Certificate));
        let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(parse_ca(broken).is_err());
        assert_eq!(
            parse_ca(&"x".repeat(MAX_CA_CERT + 1)).err(),
            Some(CaError::TooLarge)
        );
    }
}
