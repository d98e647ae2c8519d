//! Reply tokens (DESIGN §4): `help+123-k7f2x9abcd@example.com`.
//!
//! Each letter reqmail sends names, in its Reply-To, a token that is an HMAC-SHA256
//! (RFC 2104) over the ticket number and the recipient's address, keyed with a secret
//! only reqmail knows. A reply that carries the token and comes from that same address
//! proves the sender could read our mail to that address. A token is worth nothing for
//! any other address (a forwarded letter does not lend its token), and nothing for any
//! other ticket. Comparison is in constant time.
//!
//! The secret is `mail.secret` when configured; otherwise one is generated once from
//! the system's random source and kept in the `settings` table.

use hmac::{Hmac, Mac};
use crate::store::Connection;
use sha2::{Digest, Sha256};

use crate::config::MailConfig;
use crate::identify::thread::Threading;
use crate::ticket::TicketId;

/// Length of a token in base32 characters: 50 bits, enough that guessing is hopeless
/// against a server that answers each guess by mail.
pub const TOKEN_LENGTH: usize = 10;
const SETTING: &str = "reply_token_secret";
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The token secret: configured, or generated once and kept in the database.
pub fn secret(conn: &Connection, mail: &MailConfig) -> crate::store::Result<Vec<u8>> {
    if let Some(secret) = &mail.secret {
        return Ok(secret.as_bytes().to_vec());
    }
    if let Some(stored) = crate::store::setting(conn, SETTING)? {
        return Ok(stored.into_bytes());
    }
    Ok(crate::store::setting_or_insert(conn, SETTING, &hex::encode(random_bytes()))?.into_bytes())
}

fn random_bytes() -> [u8; 32] {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    let from_system = std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    if from_system.is_err() {
        // No /dev/urandom (a chroot): still unpredictable enough to an outsider.
        let mut hasher = Sha256::new();
        hasher.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
        hasher.update((&bytes as *const _ as usize).to_be_bytes());
        bytes.copy_from_slice(&hasher.finalize());
    }
    bytes
}

/// The token of `address` for `ticket`.
pub fn token(secret: &[u8], ticket: TicketId, address: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"reqmail reply token v1\0");
    mac.update(ticket.0.to_string().as_bytes());
    mac.update(b"\0");
    mac.update(address.trim().to_lowercase().as_bytes());
    let digest = mac.finalize().into_bytes();
    // 10 base32 characters from the first 50 bits.
    let mut bits: u64 = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let mut out = String::with_capacity(TOKEN_LENGTH);
    for _ in 0..TOKEN_LENGTH {
        out.push(BASE32[(bits >> 59) as usize] as char);
        bits <<= 5;
    }
    out
}

/// Whether `presented` is the token of `address` for `ticket`, compared in constant time.
pub fn verify(secret: &[u8], ticket: TicketId, address: &str, presented: &str) -> bool {
    let expected = token(secret, ticket, address);
    let presented = presented.trim().to_ascii_lowercase();
    if presented.len() != expected.len() {
        return false;
    }
    expected.bytes().zip(presented.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// `help+TICKET-TOKEN@domain`: the Reply-To of a letter to `recipient` about `ticket`.
pub fn reply_address(conn: &Connection, mail: &MailConfig, threading: &Threading, ticket: TicketId, recipient: &str) -> crate::store::Result<String> {
    let secret = secret(conn, mail)?;
    let plain = threading.ticket_address(ticket);
    let (local, domain) = plain.rsplit_once('@').expect("ticket addresses have a domain");
    Ok(format!("{local}-{}@{domain}", token(&secret, ticket, recipient)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_belongs_to_one_address_and_one_ticket() {
        let secret = b"0123456789abcdef0123";
        let token_ann = token(secret, TicketId(5), "ann@example.org");
        assert_eq!(token_ann.len(), TOKEN_LENGTH);
        assert!(token_ann.bytes().all(|b| BASE32.contains(&b)));
        assert!(verify(secret, TicketId(5), "Ann@Example.org", &token_ann));
        assert!(verify(secret, TicketId(5), "ann@example.org", &token_ann.to_uppercase()));
        assert!(!verify(secret, TicketId(5), "mallory@example.net", &token_ann), "forwarded token");
        assert!(!verify(secret, TicketId(6), "ann@example.org", &token_ann), "other ticket");
        assert!(!verify(b"another secret 12345", TicketId(5), "ann@example.org", &token_ann));
        assert!(!verify(secret, TicketId(5), "ann@example.org", &token_ann[..9]));
        assert!(!verify(secret, TicketId(5), "ann@example.org", ""));
    }

    #[test]
    fn the_secret_is_generated_once() {
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let config = MailConfig::default();
        let first = secret(&store.conn, &config).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(secret(&store.conn, &config).unwrap(), first);
        let configured = MailConfig { secret: Some("configured secret value".into()), ..MailConfig::default() };
        assert_eq!(secret(&store.conn, &configured).unwrap(), b"configured secret value");
    }
}
