//! rustls client settings shared by the network edges (IMAP in, SMTP out): the CA
//! certificates of a configured PEM file, else the system's roots; ring as the crypto
//! provider, as lettre uses, so there is one TLS stack in the binary.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

/// Client settings trusting `ca_file` (else the system roots); `key` names the
/// configuration key in error messages.
pub fn client_config(ca_file: Option<&Path>, key: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    client_config_at(ca_file, key, Arc::new(rustls::time_provider::DefaultTimeProvider))
}

/// As [`client_config`], checking certificates as of the time `clock` gives: `reqmail
/// doctor` asks whether a certificate will still be valid in a few weeks.
pub fn client_config_at(ca_file: Option<&Path>, key: &str, clock: Arc<dyn rustls::time_provider::TimeProvider>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(file) => {
            let certificates = rustls_pki_types::CertificateDer::pem_file_iter(file)
                .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("{key}: cannot read PEM certificates from {}", file.display()))?;
            for certificate in certificates {
                roots.add(certificate).with_context(|| format!("{key}: a certificate in {} is not usable", file.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for certificate in found.certs {
                // A few odd system certificates are not valid trust anchors; the rest still are.
                let _ = roots.add(certificate);
            }
            if roots.is_empty() {
                anyhow::bail!("no system CA certificates found: install ca-certificates, or set {key}");
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_details(provider, clock)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Opens TLS over `tcp` to `host`, checking its certificate against `config`.
pub async fn connect<S>(config: Arc<rustls::ClientConfig>, host: &str, tcp: S) -> anyhow::Result<tokio_rustls::client::TlsStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let server_name =
        rustls_pki_types::ServerName::try_from(host.to_string()).with_context(|| format!("{host:?} is not a host name TLS can check"))?;
    tokio_rustls::TlsConnector::from(config).connect(server_name, tcp).await.with_context(|| format!("TLS handshake with {host} failed"))
}
