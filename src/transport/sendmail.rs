//! The local sendmail program. lettre runs `sendmail -i -f SENDER -- RECIPIENT`: the
//! `--` keeps an address that begins with `-` from being read as an option.

use lettre::address::Envelope;
use lettre::Transport as _;

use super::{Transport, TransportError};
use crate::store::outbox::Letter;
use crate::config::SendmailConfig;

pub struct SendmailTransport {
    inner: lettre::SendmailTransport,
}

impl SendmailTransport {
    pub fn new(config: &SendmailConfig) -> SendmailTransport {
        SendmailTransport { inner: lettre::SendmailTransport::new_with_command(config.command.as_os_str()) }
    }
}

pub(super) fn envelope(sender: &str, recipient: &str) -> Result<Envelope, TransportError> {
    let parse = |address: &str| {
        address.parse().map_err(|error| TransportError::permanent(format!("cannot send to or from {address:?}: {error}")))
    };
    Envelope::new(Some(parse(sender)?), vec![parse(recipient)?])
        .map_err(|error| TransportError::permanent(format!("bad envelope {sender} -> {recipient}: {error}")))
}

impl Transport for SendmailTransport {
    fn send(&mut self, letter: &Letter) -> Result<(), TransportError> {
        let envelope = envelope(&letter.sender, &letter.recipient)?;
        // sendmail's exit status does not say whether another try could help; assume it can.
        self.inner.send_raw(&envelope, &letter.raw).map_err(|error| TransportError::transient(format!("sendmail failed: {error}")))
    }
}
