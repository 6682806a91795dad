//! HTTPS and WSS: leaf serves TLS itself (rustls), so TD PINs and tokens never cross the
//! venue Wi-Fi in clear text.
//!
//! - [`certified`]: a PEM certificate chain and key, read and checked as a pair.
//! - [`reloading`]: the certificate leaf serves, swapped in when its files change; a
//!   connection takes the one current at its handshake, so open ones keep going.
//! - [`redirect`]: the plain-HTTP port that sends every request to HTTPS.
//! - [`self_signed`]: `leaf tls self-signed`, a local certificate authority and a certificate
//!   for this box, for a venue with no authority of its own; [`names`] finds the box's names
//!   and addresses for it.

pub mod certified;
pub mod names;
pub mod redirect;
pub mod reloading;
pub mod self_signed;

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

pub use self::certified::TlsError;
pub use self::reloading::{ServedCert, TlsHealth};

/// The cryptography leaf's TLS uses: ring, named rather than left to a process-wide default
/// that another crate in the build could have set differently.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads `cert` and `key` for serving.
pub fn serve(cert: &Path, key: &Path) -> Result<Arc<ServedCert>, TlsError> {
    ServedCert::load(cert, key, provider())
}

/// The acceptor of HTTPS connections, handing out whatever certificate `served` holds at
/// each handshake. HTTP/1.1 only: it is what the server loop speaks, WebSockets included.
pub fn acceptor(served: Arc<ServedCert>) -> Result<TlsAcceptor, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(served);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// TLS as the rest of leaf sees it: whether it is on, and what health says of it.
#[derive(Debug, Clone, Default)]
pub struct TlsState(Option<Arc<ServedCert>>);

impl TlsState {
    pub fn on(served: Arc<ServedCert>) -> Self {
        Self(Some(served))
    }

    pub fn health(&self) -> TlsHealth {
        self.0.as_ref().map_or_else(TlsHealth::off, |s| s.health())
    }
}
