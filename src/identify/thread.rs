//! Threading: which ticket a message continues, if any.
//!
//! In this order: the plus-address it was sent to (`help+123@…`), the subject tag
//! (`[REQ #123]`), then In-Reply-To and References against every Message-ID stored for
//! a ticket, in or out. A merged ticket's mail goes on to the ticket it was merged into.

use crate::store::Connection;

use crate::config::desk::VendorConfig;
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
    ThreadIndex,
    /// A monitor's alert with the key of the ticket its first alert opened.
    MonitorKey,
    /// A vendor's reply with their own ticket number in the subject.
    VendorTag,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::PlusAddress => "plus-address",
            MatchedBy::SubjectTag => "subject tag",
            MatchedBy::Reference => "In-Reply-To/References",
            MatchedBy::ThreadIndex => "Outlook Thread-Index",
            MatchedBy::MonitorKey => "monitor alert key",
            MatchedBy::VendorTag => "the vendor's ticket number",
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
    vendors: Vec<VendorConfig>,
}

impl Threading {
    pub fn new(mail_config: &MailConfig, vendors: &[VendorConfig]) -> Threading {
        let (local, domain) = crate::config::split_address(&mail_config.address).unwrap_or(("help", "example.com"));
        Threading {
            help_local: local.to_lowercase(),
            help_domain: domain.to_lowercase(),
            tag: SubjectTag::new(&mail_config.subject_tag),
            vendors: vendors.to_vec(),
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
    pub fn thread(&self, conn: &Connection, mail: &Mail) -> crate::store::Result<TicketMatch> {
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
        // A vendor's desk may drop our tag and keep only theirs.
        let sender = mail.from.as_ref().map(|from| from.address.as_str()).unwrap_or_default();
        for vendor in self.vendors.iter().filter(|vendor| vendor.writes_from(sender)) {
            if let Some(number) = vendor.tag.find(&mail.subject) {
                if let Some(ticket) = store::tickets::with_vendor_ticket(conn, &vendor.name, &number)? {
                    return Ok(TicketMatch::Existing { ticket, by: MatchedBy::VendorTag });
                }
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
        // Outlook keeps the conversation's first 22 bytes in every reply's Thread-Index,
        // also when it sends no References.
        let thread_index = mail.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("Thread-Index"));
        if let Some(ticket) = thread_index.and_then(|(_, value)| ticket_of_thread_index(&self.help_domain, value)) {
            if let Some(ticket) = store::tickets::resolve_merged(conn, ticket)? {
                return Ok(TicketMatch::Existing { ticket, by: MatchedBy::ThreadIndex });
            }
        }
        Ok(TicketMatch::New)
    }
}

/// Bytes of an Outlook Thread-Index header block: a 6-byte time and a 16-byte GUID.
const THREAD_INDEX_HEADER_BYTES: usize = 22;
/// Bytes of our mark at the start of the header block; the ticket number fills the rest.
const THREAD_INDEX_MARK_BYTES: usize = THREAD_INDEX_HEADER_BYTES - 8;

/// Our mark for `help_domain`: it tells our conversations from Outlook's own.
fn thread_index_mark(help_domain: &str) -> [u8; THREAD_INDEX_MARK_BYTES] {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("reqmail thread-index\0{}", help_domain.to_lowercase()));
    digest[..THREAD_INDEX_MARK_BYTES].try_into().expect("a SHA-256 digest is longer")
}

/// The `Thread-Index` of our letters about `ticket`, so that Outlook's replies, which keep
/// its first 22 bytes, find the ticket without References. Threading is not trust, so the
/// mark need not be secret.
pub fn thread_index(help_domain: &str, ticket: TicketId) -> String {
    use base64::Engine as _;
    let mut bytes = thread_index_mark(help_domain).to_vec();
    bytes.extend_from_slice(&ticket.0.to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The ticket a `Thread-Index` value of one of our conversations names.
fn ticket_of_thread_index(help_domain: &str, value: &str) -> Option<TicketId> {
    use base64::Engine as _;
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).take(200).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    let header = bytes.get(..THREAD_INDEX_HEADER_BYTES)?;
    if header[..THREAD_INDEX_MARK_BYTES] != thread_index_mark(help_domain) {
        return None;
    }
    let number = i64::from_be_bytes(header[THREAD_INDEX_MARK_BYTES..].try_into().ok()?);
    (number > 0).then_some(TicketId(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_thread_index_comes_back_with_outlooks_child_blocks() {
        use base64::Engine as _;
        let ours = thread_index("example.com", TicketId(4711));
        let mut reply = base64::engine::general_purpose::STANDARD.decode(&ours).unwrap();
        reply.extend_from_slice(&[0x01, 0x9c, 0x3f, 0x21, 0x7a]);
        let reply = base64::engine::general_purpose::STANDARD.encode(reply);
        assert_eq!(ticket_of_thread_index("EXAMPLE.com", &reply), Some(TicketId(4711)));
        assert_eq!(ticket_of_thread_index("other.example", &reply), None, "another desk's conversation");
        // A conversation Outlook started itself.
        assert_eq!(ticket_of_thread_index("example.com", "AdnEhK8Yp3Hq2VxLS0m7y0QJkZ3b5w=="), None);
        assert_eq!(ticket_of_thread_index("example.com", "not base64 at all"), None);
    }

    #[test]
    fn plus_addresses() {
        let threading = Threading::new(&MailConfig::default(), &[]);
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
