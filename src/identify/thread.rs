//! Threading: which ticket a message continues, if any.
//!
//! In this order: the plus-address it was sent to (`help+123@…`), the subject tag
//! (`[REQ #123]`), then In-Reply-To and References against every Message-ID stored for
//! a ticket, in or out. A merged ticket's mail goes on to the ticket it was merged into.

use rusqlite::Connection;

use crate::config::MailConfig;
use crate::identify::subject::SubjectTag;
use crate::parse::Mail;
use crate::store;
use crate::ticket::TicketId;

/// The outcome of threading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketMatch {
    Existing { ticket: TicketId, by: MatchedBy },
    New,
}

/// What tied a message to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    PlusAddress,
    SubjectTag,
    Reference,
    /// A monitor's alert with the key of the ticket its first alert opened.
    MonitorKey,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::PlusAddress => "plus-address",
            MatchedBy::SubjectTag => "subject tag",
            MatchedBy::Reference => "In-Reply-To/References",
            MatchedBy::MonitorKey => "monitor alert key",
        }
    }
}

/// A ticket address `help+123@…` or `help+123-token@…`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlusAddress {
    pub ticket: TicketId,
    pub token: Option<String>,
}

/// The compiled threading rules of one configuration.
#[derive(Debug, Clone)]
pub struct Threading {
    help_local: String,
    help_domain: String,
    pub tag: SubjectTag,
}

impl Threading {
    pub fn new(mail_config: &MailConfig) -> Threading {
        let (local, domain) = crate::config::split_address(&mail_config.address).unwrap_or(("help", "example.com"));
        Threading {
            help_local: local.to_lowercase(),
            help_domain: domain.to_lowercase(),
            tag: SubjectTag::new(&mail_config.subject_tag),
        }
    }

    /// `help+123@example.com`: the address replies about `ticket` go to.
    pub fn ticket_address(&self, ticket: TicketId) -> String {
        format!("{}+{}@{}", self.help_local, ticket, self.help_domain)
    }

    /// Reads `address` as one of our ticket addresses.
    pub fn plus_address(&self, address: &str) -> Option<PlusAddress> {
        let (local, domain) = address.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.help_domain) {
            return None;
        }
        let detail = local.to_lowercase().strip_prefix(&format!("{}+", self.help_local))?.to_string();
        let (number, token) = match detail.split_once('-') {
            Some((number, token)) => (number.to_string(), Some(token.to_string())),
            None => (detail, None),
        };
        if number.is_empty() || number.len() > 18 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(PlusAddress { ticket: TicketId(number.parse().ok()?), token })
    }

    /// Finds the ticket `mail` continues.
    pub fn thread(&self, conn: &Connection, mail: &Mail) -> rusqlite::Result<TicketMatch> {
        for recipient in &mail.recipients {
            if let Some(plus) = self.plus_address(recipient) {
                if let Some(ticket) = store::tickets::resolve_merged(conn, plus.ticket)? {
                    return Ok(TicketMatch::Existing { ticket, by: MatchedBy::PlusAddress });
                }
            }
        }
        if let Some(tagged) = self.tag.find(&mail.subject) {
            if let Some(ticket) = store::tickets::resolve_merged(conn, tagged)? {
                return Ok(TicketMatch::Existing { ticket, by: MatchedBy::SubjectTag });
            }
        }
        // Newest reference first: In-Reply-To, then References from the end.
        let references = mail.in_reply_to.iter().chain(mail.references.iter().rev());
        for message_id in references {
            if let Some(found) = store::messages::ticket_of_message_id(conn, message_id)? {
                if let Some(ticket) = store::tickets::resolve_merged(conn, found)? {
                    return Ok(TicketMatch::Existing { ticket, by: MatchedBy::Reference });
                }
            }
        }
        Ok(TicketMatch::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_addresses() {
        let threading = Threading::new(&MailConfig::default());
        assert_eq!(threading.plus_address("help+123@example.com"), Some(PlusAddress { ticket: TicketId(123), token: None }));
        assert_eq!(
            threading.plus_address("HELP+9-k7f2x9@EXAMPLE.com"),
            Some(PlusAddress { ticket: TicketId(9), token: Some("k7f2x9".into()) })
        );
        assert_eq!(threading.plus_address("help+abc@example.com"), None);
        assert_eq!(threading.plus_address("help+12@other.org"), None);
        assert_eq!(threading.plus_address("helpdesk+12@example.com"), None);
        assert_eq!(threading.plus_address("help@example.com"), None);
        assert_eq!(threading.ticket_address(TicketId(5)), "help+5@example.com");
    }
}
