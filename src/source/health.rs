//! Fetch health: every pass over an IMAP mailbox records its success or its error
//! (`store::fetch_health`). A mailbox that keeps failing for
//! `inbound.alert_after_failing_seconds` mails the admins once, with the error and what
//! to do about it (for a lapsed OAuth2 consent: the exact `reqmail oauth login`
//! command); when it works again they get one more message. `serve` logs both.
//!
//! Recording never fails a fetch: a database that cannot take the row is logged.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use super::SharedStore;
use crate::config::ImapConfig;
use crate::notify::compose::{compose, AutoSubmitted, Outgoing};
use crate::oauth::tokens::TokenError;
use crate::site::Site;
use crate::store::fetch_health;

/// What an admin should do about `error` of `account`.
pub fn remedy(error: &anyhow::Error, account: &ImapConfig) -> String {
    if let Some(token_error) = error.chain().find_map(|cause| cause.downcast_ref::<TokenError>()) {
        return match token_error {
            TokenError::NotApproved { command, .. } | TokenError::ConsentNeeded { command, .. } => format!(
                "The OAuth2 consent has expired or was revoked. Run\n\n    {command}\n\nand sign in as {} when asked.",
                account.username
            ),
            TokenError::Unreachable { url, .. } => {
                format!("The provider's token endpoint {url} cannot be reached: check this machine's network, DNS and proxy.")
            }
            TokenError::Other { .. } => format!("Check the [oauth] settings used by [[inbound.imap]] {}.", account.host),
        };
    }
    let text = format!("{error:#}");
    if text.contains("refused the") {
        match &account.oauth_client {
            Some(oauth) => format!(
                "The server refused a fresh token. Check that {} may open this mailbox (for a shared mailbox: full access \
                 to {}), that IMAP is enabled for it, and approve again with\n\n    {}",
                account.username,
                account.mailbox_owner.as_deref().unwrap_or(&account.username),
                crate::oauth::login_command(&oauth.name, oauth.config_file.as_deref())
            ),
            None => format!("Check username and password of [[inbound.imap]] {} (was the password changed?).", account.host),
        }
    } else if text.contains("TLS handshake") {
        "The server's certificate is not trusted: check host (the name in the certificate) and ca_file.".to_string()
    } else if text.contains("does it exist") || text.contains("cannot select") {
        "A configured mailbox cannot be opened: check mailboxes and move_to of [[inbound.imap]].".to_string()
    } else {
        format!("Check that {}:{} can be reached from this machine (host, port, firewall); reqmail keeps trying.", account.host, account.port())
    }
}

/// Records a successful pass and sends the "working again" notice when due.
pub async fn record_success(core: &SharedStore, account: &ImapConfig, mailbox: &str) {
    let (name, mailbox) = (account.account(), mailbox.to_string());
    let result = core.run(move |site, store, now| fetched(site, &mut store.conn, &name, &mailbox, now)).await;
    if let Err(error) = result {
        tracing::warn!("fetch health not recorded: {error:#}");
    }
}

/// Records a failed pass and sends the notice when the failure has lasted long enough.
pub async fn record_failure(core: &SharedStore, account: &ImapConfig, mailbox: &str, error: &anyhow::Error) {
    let (name, mailbox) = (account.account(), mailbox.to_string());
    let (text, remedy) = (format!("{error:#}"), remedy(error, account));
    let result = core.run(move |site, store, now| failed(site, &mut store.conn, &name, &mailbox, &text, &remedy, now)).await;
    if let Err(error) = result {
        tracing::warn!("fetch health not recorded: {error:#}");
    }
}

fn fetched(site: &Site, conn: &mut Connection, account: &str, mailbox: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(crate::store::TransactionBehavior::Immediate)?;
    let before = fetch_health::record_success(&tx, account, mailbox, now)?;
    if let Some(before) = before.filter(|before| before.alerted) {
        let since = before.failing_since.map(crate::clock::format_time).unwrap_or_default();
        tracing::info!(account, mailbox, failing_since = since, "mailbox fetched again; admins told");
        let subject = format!("Mailbox {mailbox:?} of {account} is fetched again");
        let body = format!(
            "reqmail fetches mailbox {mailbox:?} of {account} again.\n\nIt could not be fetched from {since} to {}. \
             The mail that arrived meanwhile stayed on the server and is being read now.\n",
            crate::clock::format_time(now)
        );
        tell_admins(&tx, site, &subject, &body, now)?;
    }
    tx.commit()?;
    Ok(())
}

fn failed(site: &Site, conn: &mut Connection, account: &str, mailbox: &str, error: &str, remedy: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(crate::store::TransactionBehavior::Immediate)?;
    let health = fetch_health::record_failure(&tx, account, mailbox, error, remedy, now)?;
    let since = health.failing_since.unwrap_or(now);
    let limit = chrono::Duration::seconds(site.config.inbound.alert_after_failing_seconds as i64);
    if !health.alerted && now - since >= limit {
        tracing::error!(account, mailbox, failing_since = crate::clock::format_time(since), remedy, "mailbox cannot be fetched; admins told");
        let subject = format!("Mailbox {mailbox:?} of {account} cannot be fetched");
        let body = format!(
            "reqmail cannot fetch mailbox {mailbox:?} of {account} since {} ({} minutes).\n\n\
             Last error:\n\n    {error}\n\nWhat to do:\n\n{remedy}\n\n\
             Mail sent to this mailbox meanwhile waits on the server; nothing is lost. reqmail keeps trying \
             and writes once more when it works again. `reqmail fetch status` shows every mailbox.\n",
            crate::clock::format_time(since),
            (now - since).num_minutes()
        );
        tell_admins(&tx, site, &subject, &body, now)?;
        fetch_health::mark_alerted(&tx, account, mailbox)?;
    }
    tx.commit()?;
    Ok(())
}

/// Queues one message to each admin (from the configuration and the store).
fn tell_admins(conn: &Connection, site: &Site, subject: &str, body: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let config = &site.config;
    let mut admins: Vec<String> = config
        .people
        .iter()
        .filter(|person| person.role == crate::ticket::Role::Admin)
        .filter_map(|person| person.addresses.first().cloned())
        .collect();
    admins.extend(fetch_health::admin_addresses(conn)?);
    admins.iter_mut().for_each(|address| *address = address.to_lowercase());
    admins.sort();
    admins.dedup();
    if admins.is_empty() {
        tracing::warn!(subject, "no admin to tell: add one with `reqmail person add ADDRESS --role admin`");
    }
    for (sequence, admin) in admins.iter().enumerate() {
        let (message_id, raw) = compose(&Outgoing {
            ticket: None,
            from_name: &config.mail.name,
            from_address: &config.mail.address,
            reply_to: &config.mail.address,
            to_address: admin,
            to_name: None,
            subject,
            body,
            in_reply_to: None,
            references: &[],
            auto_submitted: AutoSubmitted::AutoGenerated,
            date: now,
            cause: 0,
            sequence: sequence as u64,
        })?;
        let message = crate::store::messages::insert_outgoing(conn, None, &message_id, admin, subject, &raw, now)?;
        crate::store::outbox::enqueue(conn, message, None, &config.mail.address, admin, now)?;
    }
    Ok(())
}
