//! SMTP through lettre: implicit TLS or STARTTLS with rustls, optional AUTH (a password,
//! or an OAuth2 token with XOAUTH2 or OAUTHBEARER), timeouts,
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
        if let Some(mechanism) = self.config.auth.oauth_mechanism() {
            self.oauth_auth(&mut connection, mechanism).await?;
        } else if let (Some(username), Some(password)) = (&self.config.username, &self.config.password) {
            let credentials = Credentials::new(username.clone(), password.clone());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|error| TransportError::transient(format!("SMTP: {server} refused the login of {username:?}: {error}")))?;
        }
        Ok(connection)
    }
}

impl SmtpTransport {
    /// Connects, upgrades to TLS and logs in as configured, then says goodbye: whether
    /// delivery could start (`reqmail doctor`).
    pub fn check(&self) -> Result<(), TransportError> {
        let server = self.server();
        self.runtime.block_on(async {
            let mut connection = within(self.timeout(), &format!("SMTP: connecting to {server}"), self.connect()).await?;
            let _ = tokio::time::timeout(self.timeout(), connection.quit()).await;
            Ok(())
        })
    }
}

/// One line of a SASL exchange, sent as it is (lettre's `Auth` cannot encode
/// OAUTHBEARER, and its XOAUTH2 stops at the server's error challenge, leaving the
/// exchange open).
struct SaslLine<'a>(&'a str);

impl std::fmt::Display for SaslLine<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}\r\n", self.0)
    }
}

impl SmtpTransport {
    /// AUTH XOAUTH2 or OAUTHBEARER (RFC 4954, RFC 7628) with the initial response. A
    /// refused token is refreshed once and tried again on the same connection.
    async fn oauth_auth(&self, connection: &mut AsyncSmtpConnection, mechanism: crate::oauth::Mechanism) -> Result<(), TransportError> {
        let server = self.server();
        let oauth = self
            .config
            .oauth_client
            .clone()
            .ok_or_else(|| TransportError::permanent(format!("SMTP: {server}: outbound.smtp.oauth names no [oauth] client")))?;
        let user = self.config.username.clone().unwrap_or_default();
        let mut refused: Option<crate::oauth::Secret> = None;
        loop {
            let token = crate::oauth::tokens::access_token_off_thread(&oauth, refused.as_ref())
                .await
                .map_err(|error| TransportError::transient(format!("SMTP: token refresh stopped: {error}")))?
                .map_err(|error| TransportError::transient(format!("SMTP: {server}: {error}")))?;
            let initial = mechanism.initial_response_base64(&user, &self.config.host, self.config.port, &token);
            let mut answer = connection.command(SaslLine(&format!("AUTH {} {}", mechanism.name(), initial.expose()))).await;
            if matches!(&answer, Ok(response) if response.has_code(334)) {
                // The server's error challenge: acknowledge it so that it sends the failure.
                let acknowledgement = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mechanism.error_acknowledgement());
                answer = connection.command(SaslLine(&acknowledgement)).await;
            }
            match answer {
                Ok(response) if response.is_positive() && !response.has_code(334) => return Ok(()),
                Ok(_) | Err(_) if refused.is_none() && !connection.has_broken() => {
                    tracing::info!(server, "SMTP refused the access token; refreshing it once");
                    refused = Some(token);
                }
                Ok(response) => {
                    return Err(TransportError::transient(format!("SMTP: {server} answered the {} login of {user:?} with {}", mechanism.name(), response.code())))
                }
                Err(error) => {
                    return Err(TransportError::transient(format!(
                        "SMTP: {server} refused the {} login of {user:?} with a fresh token of oauth.{}: {error} \
                         (may {user:?} send through this server? `reqmail oauth login {}` approves again)",
                        mechanism.name(),
                        oauth.name,
                        oauth.name
                    )))
                }
            }
        }
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
