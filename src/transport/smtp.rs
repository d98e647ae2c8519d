//! SMTP through lettre: implicit TLS or STARTTLS with rustls, optional AUTH, timeouts,
//! and a reused connection for a whole delivery pass. Replies are sorted by RFC 5321
//! §4.2.1: 4xx is transient, 5xx permanent; a failed connection is transient.

use std::time::Duration;

use anyhow::Context as _;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::Transport as _;

use super::sendmail::envelope;
use super::{Transport, TransportError};
use crate::config::{SmtpConfig, SmtpSecurity};

pub struct SmtpTransport {
    inner: lettre::SmtpTransport,
}

impl SmtpTransport {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<SmtpTransport> {
        let tls_parameters = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(config.host.clone());
            if let Some(ca_file) = &config.ca_file {
                let pem = std::fs::read(ca_file).with_context(|| format!("outbound.smtp.ca_file: cannot read {}", ca_file.display()))?;
                let certificate = Certificate::from_pem(&pem)
                    .with_context(|| format!("outbound.smtp.ca_file: {} is not a PEM certificate", ca_file.display()))?;
                builder = builder.add_root_certificate(certificate);
            }
            builder.build_rustls().context("outbound.smtp: cannot set up TLS")
        };
        let tls = match config.security {
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
            SmtpSecurity::Starttls => Tls::Required(tls_parameters()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = lettre::SmtpTransport::builder_dangerous(config.host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.timeout_seconds)));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
        }
        Ok(SmtpTransport { inner: builder.build() })
    }
}

impl Transport for SmtpTransport {
    fn send(&mut self, sender: &str, recipient: &str, raw: &[u8]) -> Result<(), TransportError> {
        let envelope = envelope(sender, recipient)?;
        self.inner.send_raw(&envelope, raw).map(|_| ()).map_err(|error| {
            let message = format!("SMTP: {error}");
            if error.is_permanent() { TransportError::permanent(message) } else { TransportError::transient(message) }
        })
    }
}
