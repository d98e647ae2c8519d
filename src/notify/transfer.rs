//! Transfers between sites: the signed message one reqmail installation sends another
//! (a ticket handed over, the receiver's number in answer, a message that still reached
//! the old site), and reading one back. The payload is JSON, base64 between marker
//! lines, signed with HMAC-SHA256 under the key both sites configure; nothing in it is
//! believed before the signature is checked.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::compose::{compose, AutoSubmitted, Outgoing};
use super::letters::{Composed, Raw, Writer};
use crate::config::desk::SiteConfig;
use crate::ticket::{Role, TicketId};

/// What one site tells another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transfer {
    /// A ticket handed over: the receiver opens one and answers with its number.
    Ticket(HandedTicket),
    /// The receiver's number (`ours`) for the ticket the sender handed over (`yours`).
    Accepted { yours: i64, ours: i64 },
    /// A message that reached the sender about its ticket `ours`, which the receiver owns now.
    Comment { ours: i64, author: String, verified: bool, text: String },
}

/// A ticket as it travels: what the receiving site needs to carry on with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandedTicket {
    pub number: i64,
    pub subject: String,
    pub requester: String,
    pub cc: Vec<String>,
    pub importance: String,
    pub priority: String,
    pub host: Option<String>,
    pub category: Option<String>,
    /// The history, oldest first, as `at actor: detail` lines of public comments and changes.
    pub history: Vec<String>,
}

/// The signed content: who sends it to whom, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub from: String,
    pub to: String,
    pub transfer: Transfer,
}

const BEGIN: &str = "-----BEGIN REQMAIL TRANSFER-----";
const END: &str = "-----END REQMAIL TRANSFER-----";
const SIGNATURE: &str = "Signature: hmac-sha256=";

/// Whether `text` carries a transfer block (signed or not).
pub fn is_transfer(text: &str) -> bool {
    text.contains(BEGIN)
}

fn mac(key: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length")
}

/// The block for `payload`: base64 in lines of 76, then its signature under `key`.
pub fn seal(payload: &Payload, key: &str) -> String {
    let json = serde_json::to_vec(payload).expect("a transfer serialises");
    let mut signer = mac(key);
    signer.update(&json);
    let signature = hex::encode(signer.finalize().into_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(&json);
    let lines: Vec<&str> = encoded.as_bytes().chunks(76).map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII")).collect();
    format!("{BEGIN}\n{}\n{END}\n{SIGNATURE}{signature}\n", lines.join("\n"))
}

/// Reads the block in `text` and checks its signature under `key`; `Err` says what is wrong.
pub fn open(text: &str, key: &str) -> Result<Payload, String> {
    let start = text.find(BEGIN).ok_or("no transfer block")? + BEGIN.len();
    let length = text[start..].find(END).ok_or("the transfer block has no end line")?;
    let encoded: String = text[start..start + length].chars().filter(|c| !c.is_whitespace()).collect();
    let json = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|error| format!("the transfer block is not base64: {error}"))?;
    let after = &text[start + length + END.len()..];
    let signature = after
        .lines()
        .find_map(|line| line.trim().strip_prefix(SIGNATURE))
        .ok_or("the transfer is not signed")?;
    let signature = hex::decode(signature.trim()).map_err(|_| "the transfer's signature is not hex")?;
    let mut verifier = mac(key);
    verifier.update(&json);
    verifier.verify_slice(&signature).map_err(|_| "the transfer's signature does not match the key configured for this site")?;
    serde_json::from_slice(&json).map_err(|error| format!("the signed transfer is not one this version reads: {error}"))
}

/// The letter carrying `transfer` about our `ticket` to `peer`.
pub fn letter(writer: Writer<'_>, ticket: TicketId, peer: &SiteConfig, subject: &str, transfer: Transfer, cause: i64, now: DateTime<Utc>) -> anyhow::Result<Composed> {
    let config = writer.config;
    let payload = Payload { from: config.mail.address.clone(), to: peer.address.clone(), transfer };
    let body = format!(
        "{} hands this over to {} (reqmail transfer between sites); it is read by reqmail, not by a person.\n\n{}",
        config.mail.address,
        peer.name,
        seal(&payload, peer.key.expose())
    );
    // No tag of ours: both sites may use the same one, and the peer must not thread this onto its own ticket of our number.
    let subject = format!("reqmail transfer: {subject}");
    let (message_id, raw) = compose(&Outgoing {
        ticket: Some(ticket),
        from_name: &config.mail.name,
        from_address: &config.mail.address,
        reply_to: &config.mail.address,
        to_address: &peer.address,
        to_name: Some(&peer.name),
        subject: &subject,
        body: &body,
        in_reply_to: None,
        references: &[],
        auto_submitted: AutoSubmitted::AutoGenerated,
        date: now,
        cause,
        sequence: u64::MAX,
    })?;
    Ok(Composed {
        ticket: Some(ticket),
        kind: "transfer",
        template: "transfer".to_string(),
        to: peer.address.clone(),
        role: Role::Agent,
        subject,
        message_id,
        raw: Raw::Ready(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            from: "help@a.example".into(),
            to: "help@b.example".into(),
            transfer: Transfer::Comment { ours: 7, author: "ann@example.com".into(), verified: true, text: "Still broken.".into() },
        }
    }

    #[test]
    fn a_sealed_transfer_opens_with_its_key_only() {
        let key = "a shared key of some length";
        let block = seal(&payload(), key);
        assert!(is_transfer(&block));
        assert_eq!(open(&format!("Some words first.\n\n{block}\n-- \nsignature"), key), Ok(payload()));
        assert!(open(&block, "another key of some length").unwrap_err().contains("does not match"));
        let unsigned = block.lines().filter(|line| !line.starts_with("Signature")).collect::<Vec<_>>().join("\n");
        assert!(open(&unsigned, key).unwrap_err().contains("not signed"));
        // A forger who changes the content cannot keep the signature.
        let forged_json = serde_json::to_vec(&Payload { from: "help@evil.example".into(), ..payload() }).unwrap();
        let forged_body = base64::engine::general_purpose::STANDARD.encode(forged_json);
        let signature = block.lines().last().unwrap();
        let forged = format!("{BEGIN}\n{forged_body}\n{END}\n{signature}\n");
        assert!(open(&forged, key).is_err());
    }

    #[test]
    fn a_garbled_transfer_block_is_an_error_that_says_what_is_wrong() {
        let key = "a shared key of some length";
        let signed_garbage = {
            let mut signer = mac(key);
            signer.update(b"\xff\x00not json");
            hex::encode(signer.finalize().into_bytes())
        };
        let garbage_base64 = base64::engine::general_purpose::STANDARD.encode(b"\xff\x00not json");
        for (text, says) in [
            (format!("{BEGIN}\nAAAA"), "no end line"),
            (format!("{BEGIN}\n\u{fffd}\u{0}€€€\n{END}\n{SIGNATURE}00\n"), "not base64"),
            (format!("{BEGIN}\nAAAA\n{END}\n{SIGNATURE}not-hex\n"), "not hex"),
            (format!("{END}\n{BEGIN}\nAAAA\n{END}\n{SIGNATURE}00\n"), "does not match"),
            (format!("{BEGIN}\n{garbage_base64}\n{END}\n{SIGNATURE}{signed_garbage}\n"), "not one this version reads"),
        ] {
            let error = open(&text, key).unwrap_err();
            assert!(error.contains(says), "{says:?} for {text:?}: {error}");
        }
    }
}
