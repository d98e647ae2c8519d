//! Step 10: mail leaves. One [`Transport`] trait with a Maildir, an SMTP and a sendmail
//! backend; `deliver` takes due outbox rows, hands them over, and records the result.
//! `webhook` POSTs the queued webhook events. Only this module speaks SMTP.

pub mod deliver;
pub mod maildir;
pub mod sendmail;
pub mod smtp;
pub mod webhook;

use crate::config::{OutboundConfig, TransportKind};
use crate::store::outbox::Letter;

/// Why a hand-over failed, and whether trying again may help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub permanent: bool,
    pub message: String,
}

impl TransportError {
    pub fn transient(message: impl Into<String>) -> TransportError {
        TransportError { permanent: false, message: message.into() }
    }
    pub fn permanent(message: impl Into<String>) -> TransportError {
        TransportError { permanent: true, message: message.into() }
    }
}

/// Hands letters (envelope and raw bytes) to the next hop.
pub trait Transport: Send {
    fn send(&mut self, letter: &Letter) -> Result<(), TransportError>;

    /// Hands over several letters, a result for each; a transport that can share work
    /// between them (one flush to the disk for all) does so.
    fn send_all(&mut self, letters: &[&Letter]) -> Vec<Result<(), TransportError>> {
        letters.iter().map(|letter| self.send(letter)).collect()
    }
}

/// The transport the configuration names.
pub fn from_config(config: &OutboundConfig) -> anyhow::Result<Box<dyn Transport>> {
    Ok(match config.transport {
        TransportKind::Maildir => Box::new(maildir::MaildirTransport::new(&config.maildir)?),
        TransportKind::Smtp => Box::new(smtp::SmtpTransport::new(&config.smtp)?),
        TransportKind::Sendmail => Box::new(sendmail::SendmailTransport::new(&config.sendmail)),
    })
}
