//! The sender: the person behind the From address, and their role.
//!
//! The identity is the addr-spec, never the display name. Unknown senders become
//! customers when the ticket change is applied.
//!
//! Trust (DESIGN §4): authentic when the message was sent to one of our ticket
//! addresses with the reply token made for exactly this From address and that ticket
//! ([`token`]), or when our MTA's Authentication-Results show aligned DMARC, DKIM or SPF
//! ([`authentication`]). Never with several From mailboxes or fields, or a From address
//! that appears only after decoding. The author of a mail an agent forwarded is who the
//! forward names ([`forwarded`]), never proven.

use crate::store::Connection;

use crate::identify::{authentication, token};
use crate::parse::{Mail, Mailbox};
use crate::config::{Config, MailConfig};
use crate::identify::thread::Threading;
use crate::store;
use crate::ticket::{PersonId, Role};

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The From addr-spec, lower-cased.
    pub address: String,
    pub name: Option<String>,
    /// The known person, or `None` for a first-time sender.
    pub person: Option<PersonId>,
    pub role: Role,
    /// Whether the From address is proven (DESIGN §4); only authentic senders may
    /// issue commands, approve, or change the Cc list.
    pub trust: Trust,
}

/// How far a sender's From address can be believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Proven: the reply token of this recipient, or aligned DMARC/DKIM/SPF results
    /// from the trusted receiving server.
    Authentic { by: String },
    /// Not proven; the text may be kept as a note, flagged as unverified.
    Unverified { reason: String },
}

impl Trust {
    pub fn is_authentic(&self) -> bool {
        matches!(self, Trust::Authentic { .. })
    }
}

/// What the configuration says of an address: its role and the person's name.
#[derive(Debug, Clone, Copy)]
pub struct Configured<'a> {
    pub role: Role,
    pub name: Option<&'a str>,
}

/// Finds the sender of `mail`; `None` when the message names no usable From address.
/// `configured` looks up what the configuration says of an address; a role given there
/// wins over the one stored in the database.
pub fn identify<'a>(
    conn: &Connection,
    mail: &Mail,
    config: &Config,
    threading: &Threading,
    configured: impl FnOnce(&str) -> Option<Configured<'a>>,
) -> crate::store::Result<Option<Sender>> {
    let Some(from) = &mail.from else { return Ok(None) };
    // A web form's mailer writes in the customer's name; the customer is in Reply-To, and
    // nothing proves that address.
    let relayed_for = mail.reply_to.as_ref().filter(|_| config.identify.form_relays.iter().any(|relay| relay.eq_ignore_ascii_case(&from.address)));
    let (from, trust) = match relayed_for {
        Some(customer) => (customer, Trust::Unverified { reason: format!("named in Reply-To by the web form relay {}", from.address) }),
        None if config.identify.trust_from_header && mail.from_count == 1 && mail.from_fields == 1 => {
            (from, Trust::Authentic { by: "identify.trust_from_header".into() })
        }
        None => (from, trust(conn, mail, &config.mail, threading)?),
    };
    person_behind(conn, from, trust, configured).map(Some)
}

/// The author of a message that `forwarder`, an authentic agent, forwarded to us: the
/// agent vouches that the mail came to them, but nothing proves its From line, so the
/// author is unverified and may at most describe a new request (DESIGN §4).
pub fn forwarded<'a>(
    conn: &Connection,
    author: &Mailbox,
    forwarder: &Sender,
    configured: impl FnOnce(&str) -> Option<Configured<'a>>,
) -> crate::store::Result<Sender> {
    let trust = Trust::Unverified { reason: format!("forwarded by {}; the forwarded From line proves nothing", forwarder.address) };
    person_behind(conn, author, trust, configured)
}

fn person_behind<'a>(
    conn: &Connection,
    mailbox: &Mailbox,
    trust: Trust,
    configured: impl FnOnce(&str) -> Option<Configured<'a>>,
) -> crate::store::Result<Sender> {
    let known = store::people::find_by_address(conn, &mailbox.address)?;
    let configured = configured(&mailbox.address);
    Ok(Sender {
        address: mailbox.address.clone(),
        name: mailbox.name.clone().or_else(|| configured.and_then(|person| person.name.map(str::to_string))),
        person: known.map(|(person, _)| person),
        role: configured.map(|person| person.role).or(known.map(|(_, role)| role)).unwrap_or(Role::Customer),
        trust,
    })
}

/// How far the From address of `mail` is proven.
pub fn trust(conn: &Connection, mail: &Mail, mail_config: &MailConfig, threading: &Threading) -> crate::store::Result<Trust> {
    let Some(from) = &mail.from else {
        return Ok(Trust::Unverified { reason: "no usable From address".into() });
    };
    if mail.from_count != 1 || mail.from_fields != 1 {
        return Ok(Trust::Unverified { reason: format!("{} From mailboxes in {} From fields", mail.from_count, mail.from_fields) });
    }
    if mail.from_disguised {
        return Ok(Trust::Unverified { reason: "the From address is disguised (encoded-word inside the address)".into() });
    }
    let mut token_for_someone_else = false;
    let mut secret = None;
    // A person's letters may go to one of their addresses and the answer come from another.
    let mut own_addresses = None;
    for recipient in &mail.recipients {
        let Some(plus) = threading.plus_address(recipient) else { continue };
        let Some(presented) = plus.token.as_deref() else { continue };
        if secret.is_none() {
            secret = Some(token::secret(conn, mail_config)?);
            own_addresses = Some(store::people::addresses_of(conn, &from.address)?);
        }
        let secret = secret.as_deref().expect("just set");
        let addresses = own_addresses.as_deref().expect("set with the secret");
        if let Some(address) = addresses.iter().find(|address| token::verify(secret, plus.ticket, address, presented)) {
            let by = if address.eq_ignore_ascii_case(&from.address) {
                format!("reply token of {} for ticket {}", from.address, plus.ticket)
            } else {
                format!("reply token of {address}, an address of the same person, for ticket {}", plus.ticket)
            };
            return Ok(Trust::Authentic { by });
        }
        token_for_someone_else = true;
    }
    if let Some(by) = authentication::verdict(mail, mail_config.trusted_authserv_id.as_deref()) {
        return Ok(Trust::Authentic { by });
    }
    let reason = if token_for_someone_else {
        "the reply token was made for another address or ticket (a forwarded letter)"
    } else {
        "no reply token and no trusted authentication results"
    };
    Ok(Trust::Unverified { reason: reason.into() })
}
