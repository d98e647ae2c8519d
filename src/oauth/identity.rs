//! Who logs in, whose mailbox is read, and which address replies come from are three
//! settings (`username`, `mailbox_owner` and `mail.address`); cloud providers refuse
//! what does not fit together, often with nothing but "authentication failed". These
//! checks say beforehand what to look at; `reqmail rules check` prints them.

use crate::config::{Config, TransportKind};

fn same(one: &str, other: &str) -> bool {
    one.eq_ignore_ascii_case(other)
}

/// Doubts about how the login identities, the mailboxes read and the reply address fit
/// together, each naming the keys concerned. None of them stops reqmail.
pub fn check(config: &Config) -> Vec<String> {
    let reply = &config.mail.address;
    let mut doubts = Vec::new();
    let mut mailboxes_read = Vec::new();
    for (index, imap) in config.inbound.imap.iter().enumerate() {
        let key = format!("inbound.imap[{index}] ({})", imap.host);
        let owner = imap.mailbox_owner.as_deref().unwrap_or(&imap.username);
        mailboxes_read.push(owner.to_string());
        if imap.mailbox_owner.as_deref().is_some_and(|owner| same(owner, &imap.username)) {
            doubts.push(format!("{key}: mailbox_owner is the login itself ({owner}); leave it out"));
        }
        if imap.auth.oauth_mechanism().is_some() && !imap.username.contains('@') {
            doubts.push(format!(
                "{key}: username {:?} is not an address; Microsoft 365 and Google expect the full address of the account that approved",
                imap.username
            ));
        }
        if imap.mailbox_owner.is_some() && imap.oauth_client.as_ref().is_some_and(|oauth| oauth.provider == crate::config::OAuthProvider::Google) {
            doubts.push(format!(
                "{key}: Google has no delegated IMAP login; mailbox_owner {owner:?} cannot be opened as {:?} (log in as the mailbox itself)",
                imap.username
            ));
        }
    }
    // Only addresses can be compared with mail.address; a local server's "help" cannot.
    let reads_reply_mailbox = mailboxes_read.iter().any(|name| same(name, reply));
    if !reads_reply_mailbox && mailboxes_read.iter().any(|name| name.contains('@')) {
        doubts.push(format!(
            "replies go to mail.address {reply} (and {reply_plus}), but the IMAP accounts read {}: make sure mail to {reply} reaches one of them \
             (an alias or forwarding there), or set mailbox_owner = {reply:?} to read it",
            mailboxes_read.join(", "),
            reply_plus = reply.replacen('@', "+NUMBER@", 1)
        ));
    }
    let smtp = &config.outbound.smtp;
    if config.outbound.transport == TransportKind::Smtp && smtp.auth.oauth_mechanism().is_some() {
        if let Some(user) = smtp.username.as_deref().filter(|user| !same(user, reply)) {
            doubts.push(format!(
                "outbound.smtp: logs in as {user} but sends From {reply} (mail.address): {user} must be allowed to send as {reply} \
                 (Microsoft 365: Send As on that mailbox; Google: a verified \"Send mail as\" address), else every letter is refused"
            ));
        }
    }
    doubts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubts(toml: &str) -> Vec<String> {
        check(&Config::from_toml(toml).unwrap())
    }

    #[test]
    fn fitting_settings_raise_no_doubt() {
        let oauth = "[oauth.m365]\nprovider = \"microsoft\"\nclient_id = \"app\"\n";
        let fitting = format!(
            "[mail]\naddress = \"help@example.com\"\n[outbound]\ntransport = \"smtp\"\n[outbound.smtp]\nusername = \"help@example.com\"\nauth = \"xoauth2\"\noauth = \"m365\"\n\
             {oauth}[[inbound.imap]]\nhost = \"outlook.office365.com\"\nusername = \"agent@example.com\"\nmailbox_owner = \"help@example.com\"\nauth = \"xoauth2\"\noauth = \"m365\"\n"
        );
        assert_eq!(doubts(&fitting), Vec::<String>::new());
    }

    #[test]
    fn a_reply_address_nobody_reads_and_a_sender_without_send_as_are_named() {
        let oauth = "[oauth.m365]\nprovider = \"microsoft\"\nclient_id = \"app\"\n";
        let found = doubts(&format!(
            "[mail]\naddress = \"help@example.com\"\n[outbound]\ntransport = \"smtp\"\n[outbound.smtp]\nusername = \"agent@example.com\"\nauth = \"xoauth2\"\noauth = \"m365\"\n\
             {oauth}[[inbound.imap]]\nhost = \"outlook.office365.com\"\nusername = \"agent@example.com\"\nauth = \"xoauth2\"\noauth = \"m365\"\n"
        ));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("replies go to mail.address help@example.com") && found[0].contains("agent@example.com"), "{}", found[0]);
        assert!(found[1].starts_with("outbound.smtp: logs in as agent@example.com") && found[1].contains("Send As"), "{}", found[1]);
    }
}
