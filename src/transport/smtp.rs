//! SMTP through lettre: implicit TLS or STARTTLS with rustls, optional AUTH, timeouts,
//! and one connection reused for a whole delivery pass. Replies are sorted by RFC 5321
//! §4.2.1: 4xx is transient, 5xx permanent; a failed connection is transient.
//!
//! lettre's async connection runs on a private current-thread runtime (the blocking
//! client pattern), because only that API accepts a socket we open ourselves: with
//! TCP_NODELAY. lettre writes the message and the final `.` in two writes; with Nagle's
//! algorithm the second waits for the server's delayed ACK, about 40 ms per message.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Context as _;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::sendmail::envelope;
use super::{Transport, TransportError};
use crate::store::outbox::Letter;
use crate::config::{SmtpConfig, SmtpSecurity};

pub struct SmtpTransport {
    config: SmtpConfig,
    /// For STARTTLS (lettre upgrades the connection itself).
    starttls: Option<TlsParameters>,
    /// For implicit TLS (we open TLS before lettre sees the socket).
    implicit_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    runtime: tokio::runtime::Runtime,
    connection: Option<AsyncSmtpConnection>,
}

impl SmtpTransport {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<SmtpTransport> {
        let mut starttls = None;
        let mut implicit_tls = None;
        match config.security {
            SmtpSecurity::Starttls => {
                let mut builder = TlsParameters::builder(config.host.clone());
                if let Some(ca_file) = &config.ca_file {
                    let pem = std::fs::read(ca_file)
                        .with_context(|| format!("outbound.smtp.ca_file: cannot read {}", ca_file.display()))?;
                    let certificate = Certificate::from_pem(&pem)
                        .with_context(|| format!("outbound.smtp.ca_file: {} is not a PEM certificate", ca_file.display()))?;
                    builder = builder.add_root_certificate(certificate);
                }
                starttls = Some(builder.build_rustls().context("outbound.smtp: cannot set up TLS")?);
            }
            SmtpSecurity::Tls => implicit_tls = Some(crate::tls::client_config(config.ca_file.as_deref(), "outbound.smtp.ca_file")?),
            SmtpSecurity::None => {}
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the SMTP runtime")?;
        Ok(SmtpTransport { config: config.clone(), starttls, implicit_tls, runtime, connection: None })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_seconds)
    }

    fn server(&self) -> String {
        format!("SMTP server {}:{}", self.config.host, self.config.port)
    }
}

/// TLS over TCP, as lettre's custom-stream interface wants it.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Runs `future` within `timeout`; a timeout is a transient failure naming `what`.
async fn within<T>(
    timeout: Duration,
    what: &str,
    future: impl std::future::Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| Err(TransportError::transient(format!("{what}: no answer within {} seconds", timeout.as_secs()))))
}

/// Sorts a lettre error: a 5xx reply is permanent, everything else may pass.
fn classify(error: lettre::transport::smtp::Error, server: &str) -> TransportError {
    let message = format!("SMTP: {server}: {error}");
    if error.is_permanent() { TransportError::permanent(message) } else { TransportError::transient(message) }
}

impl SmtpTransport {
    /// Connects, says EHLO, upgrades to TLS and authenticates as configured.
    async fn connect(&self) -> Result<AsyncSmtpConnection, TransportError> {
        let server = self.server();
        let hello = ClientId::default();
        let tcp = TcpStream::connect((self.config.host.as_str(), self.config.port))
            .await
            .map_err(|error| TransportError::transient(format!("SMTP: cannot connect to {server}: {error}")))?;
        tcp.set_nodelay(true).ok();
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit_tls {
            Some(tls) => {
                let tls = crate::tls::connect(tls.clone(), &self.config.host, tcp)
                    .await
                    .map_err(|error| TransportError::transient(format!("SMTP: {server}: {error:#}")))?;
                Box::new(TlsTcp(tls))
            }
            None => Box::new(tcp),
        };
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(stream, &hello).await.map_err(|error| classify(error, &server))?;
        if let Some(parameters) = &self.starttls {
            if !connection.can_starttls() {
                return Err(TransportError::transient(format!(
                    "SMTP: {server} does not offer STARTTLS, which outbound.smtp.security = \"starttls\" requires"
                )));
            }
            connection.starttls(parameters.clone(), &hello).await.map_err(|error| classify(error, &server))?;
        }
        if let (Some(username), Some(password)) = (&self.config.username, &self.config.password) {
            let credentials = Credentials::new(username.clone(), password.clone());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|error| TransportError::transient(format!("SMTP: {server} refused the login of {username:?}: {error}")))?;
        }
        Ok(connection)
    }
}

impl Transport for SmtpTransport {
    /// Sends one letter after the other on the kept connection. A failure that leaves no
    /// usable connection (the server does not answer, or cannot be reached) defers the
    /// rest of the batch unsent: each of them would wait for the same timeout.
    fn send_all(&mut self, letters: &[&Letter]) -> Vec<Result<(), TransportError>> {
        let mut results = Vec::with_capacity(letters.len());
        let mut unreachable: Option<String> = None;
        for letter in letters {
            let result = match &unreachable {
                Some(reason) => Err(TransportError::transient(format!("not tried: {reason}"))),
                None => self.send(letter),
            };
            if let Err(error) = &result {
                if !error.permanent && self.connection.is_none() && unreachable.is_none() {
                    unreachable = Some(error.message.clone());
                }
            }
            results.push(result);
        }
        results
    }

    fn send(&mut self, letter: &Letter) -> Result<(), TransportError> {
        let envelope = envelope(&letter.sender, &letter.recipient)?;
        let timeout = self.timeout();
        let server = self.server();
        let mut connection = self.connection.take().filter(|connection| !connection.has_broken());
        let result = self.runtime.block_on(async {
            // A kept connection may have been closed by the server meanwhile: one fresh try.
            for attempt in 0..2 {
                let reused = connection.is_some();
                let mut current = match connection.take() {
                    Some(current) => current,
                    None => within(timeout, &format!("SMTP: connecting to {server}"), self.connect()).await.map_err(|error| (error, None))?,
                };
                let sent = tokio::time::timeout(timeout, current.send(&envelope, &letter.raw)).await;
                match sent {
                    Ok(Ok(_)) => return Ok(current),
                    Ok(Err(error)) if error.is_response() || error.is_transient() || error.is_permanent() => {
                        // The server answered; the connection stays usable unless lettre saw otherwise.
                        if !current.has_broken() {
                            connection = Some(current);
                        }
                        return Err((classify(error, &server), connection.take()));
                    }
                    Ok(Err(error)) if reused && attempt == 0 => {
                        tracing::debug!(%error, "kept SMTP connection failed; reconnecting");
                        continue;
                    }
                    Ok(Err(error)) => return Err((classify(error, &server), None)),
                    Err(_) => {
                        return Err((
                            TransportError::transient(format!("SMTP: {server}: no answer within {} seconds", timeout.as_secs())),
                            None,
                        ))
                    }
                }
            }
            Err((TransportError::transient(format!("SMTP: {server}: connection lost")), None))
        });
        match result {
            Ok(kept) => {
                self.connection = Some(kept);
                Ok(())
            }
            Err((error, kept)) => {
                self.connection = kept;
                Err(error)
            }
        }
    }
}

impl Drop for SmtpTransport {
    fn drop(&mut self) {
        if let Some(mut connection) = self.connection.take() {
            let timeout = self.timeout().min(Duration::from_secs(5));
            self.runtime.block_on(async {
                let _ = tokio::time::timeout(timeout, connection.quit()).await;
            });
        }
    }
}
