//! A message from a peer site (`[[sites]]`), read before the usual path: a ticket handed
//! to us (opened, the requester told once, the peer answered with our number), the
//! peer's number for a ticket we handed over, or a message that reached the peer about a
//! ticket we own now (added as its author's). Only a transfer signed with the key of the
//! site it comes from counts; any other message with a transfer block is refused, and
//! the pipeline quarantines it.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use crate::apply::{self, DeskRequest};
use crate::config::desk::SiteConfig;
use crate::identify::sender::{Sender, Trust};
use crate::notify::transfer::{is_transfer, open, HandedTicket, Transfer};
use crate::parse::Mail;
use crate::site::Site;
use crate::store;
use crate::ticket::{PeerTicket, Role, SpoolId, TicketId};

/// What became of a message that may be a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// No transfer block: the message takes the usual path.
    NotATransfer,
    Applied { ticket: TicketId, created: bool },
    /// Not a transfer we can trust or place; the reason is for the quarantine.
    Refused(String),
}

/// Reads `mail` as a transfer from a peer site and carries it out.
pub fn receive(site: &Site, conn: &Connection, id: SpoolId, mail: &Mail, now: DateTime<Utc>) -> anyhow::Result<Received> {
    if !is_transfer(&mail.text) {
        return Ok(Received::NotATransfer);
    }
    let from = mail.from.as_ref().map_or("", |from| from.address.as_str());
    let Some(peer) = site.config.sites.iter().find(|peer| peer.writes_from(from)) else {
        return Ok(Received::Refused(format!("a site transfer from {from:?}, which is not one of the configured [[sites]]")));
    };
    let payload = match open(&mail.text, peer.key.expose()) {
        Ok(payload) => payload,
        Err(reason) => return Ok(Received::Refused(format!("a site transfer from {} ({from}) refused: {reason}", peer.name))),
    };
    if !peer.writes_from(&payload.from) || !payload.to.eq_ignore_ascii_case(&site.config.mail.address) {
        return Ok(Received::Refused(format!(
            "a site transfer from {} signed for {} → {}, not for this site ({})",
            peer.name, payload.from, payload.to, site.config.mail.address
        )));
    }
    match payload.transfer {
        Transfer::Ticket(handed) => open_handed(site, conn, id, mail, peer, handed, now),
        Transfer::Accepted { yours, ours } => {
            let ticket = store::tickets::get(conn, TicketId(yours))?;
            let Some(ticket) = ticket.filter(|ticket| ticket.peer.as_ref().is_some_and(|known| known.theirs && known.site == peer.name)) else {
                return Ok(Received::Refused(format!("site {} answered a transfer of ticket {yours}, which was not transferred to it", peer.name)));
            };
            apply::peer_took_over(conn, ticket.number, peer, ours, id, now)?;
            decided(conn, id, mail, ticket.number, "transfer answered")?;
            Ok(Received::Applied { ticket: ticket.number, created: false })
        }
        Transfer::Comment { ours, author, verified, text } => {
            let Some(number) = store::tickets::with_peer_ticket(conn, &peer.name, ours)? else {
                return Ok(Received::Refused(format!("site {} passed on a message about its ticket {ours}, which we did not take over", peer.name)));
            };
            let ticket = store::tickets::get(conn, number)?.ok_or_else(|| anyhow::anyhow!("ticket {number} vanished while receiving"))?;
            let author = crate::parse::bare_address(&author)
                .ok_or_else(|| anyhow::anyhow!("site {} passed on a message by {author:?}, not an address", peer.name))?;
            let known = store::people::find_by_address(conn, &author)?;
            let role = site.rules.configured_person(&author).map(|person| person.role).or(known.map(|(_, role)| role)).unwrap_or(Role::Customer);
            let trust = if verified {
                Trust::Authentic { by: format!("passed on by site {}, which verified the sender", peer.name) }
            } else {
                Trust::Unverified { reason: format!("passed on by site {}, which could not verify the sender", peer.name) }
            };
            let sender = Sender { address: author, name: None, person: known.map(|(person, _)| person), role, trust };
            let plan = crate::plan::plan(crate::plan::PlanInput {
                rules: &site.rules,
                tag: &site.threading.tag,
                lookup: &crate::plan::StoreLookup { conn, rules: &site.rules, now },
                inbound: crate::plan::Inbound {
                    message: Some(id),
                    message_id: mail.message_id.clone(),
                    subject: ticket.subject.clone(),
                    text,
                    ..Default::default()
                },
                class: &crate::classify::Class::Person,
                sender,
                current: Some(&ticket),
                matched_by: Some("site transfer"),
                follow_up_of: None,
                routing: Default::default(),
                now,
            })?;
            let applied = apply::apply(conn, site, &plan, now)?;
            Ok(Received::Applied { ticket: applied.ticket, created: false })
        }
    }
}

/// Opens our ticket for a ticket the peer handed over (once: a second copy finds it),
/// and answers the peer with our number.
fn open_handed(site: &Site, conn: &Connection, id: SpoolId, mail: &Mail, peer: &SiteConfig, handed: HandedTicket, now: DateTime<Utc>) -> anyhow::Result<Received> {
    if let Some(number) = store::tickets::with_peer_ticket(conn, &peer.name, handed.number)? {
        let ticket = store::tickets::get(conn, number)?.ok_or_else(|| anyhow::anyhow!("ticket {number} vanished while receiving"))?;
        if !ticket.peer.as_ref().is_some_and(|known| known.theirs) {
            decided(conn, id, mail, number, "transfer already received")?;
            return Ok(Received::Applied { ticket: number, created: false });
        }
        // One we handed over comes back: ours again, under its old number.
        apply::take_back(conn, site, &ticket, peer, &handed.history, id, now)?;
        decided(conn, id, mail, number, "transferred back")?;
        apply::send_transfer(conn, site, &ticket, peer, Transfer::Accepted { yours: handed.number, ours: number.0 }, Some(id), now)?;
        return Ok(Received::Applied { ticket: number, created: false });
    }
    let Some(requester) = crate::parse::bare_address(&handed.requester) else {
        return Ok(Received::Refused(format!("site {} handed over ticket {} with requester {:?}, not an address", peer.name, handed.number, handed.requester)));
    };
    // Levels, host and Cc travel as fields; the category tree is the sending site's own.
    let mut fields = vec![format!("Importance: {}", handed.importance), format!("Priority: {}", handed.priority)];
    fields.extend(handed.host.as_ref().map(|host| format!("Host: {host}")));
    if !handed.cc.is_empty() {
        fields.push(format!("Cc: {}", handed.cc.iter().map(|cc| format!("+{cc}")).collect::<Vec<_>>().join(" ")));
    }
    let mut text = format!("{}\n\nTransferred from site {}, their ticket #{}", fields.join("\n"), peer.name, handed.number);
    if let Some(category) = &handed.category {
        text.push_str(&format!(" (category there: {category})"));
    }
    text.push('.');
    let desk = Sender {
        address: peer.address.to_lowercase(),
        name: Some(peer.name.clone()),
        person: None,
        role: Role::Agent,
        trust: Trust::Authentic { by: format!("signed transfer from site {}", peer.name) },
    };
    let request = DeskRequest {
        requester: &requester,
        subject: &handed.subject,
        text,
        message: Some((id, mail.message_id.clone())),
        transferred_from: Some(PeerTicket { site: peer.name.clone(), number: Some(handed.number), theirs: false }),
    };
    let (ticket, _) = apply::open_for(conn, site, &desk, request, now)?;
    apply::keep_peer_history(conn, ticket, peer, &handed.history, id, now)?;
    let opened = store::tickets::get(conn, ticket)?.ok_or_else(|| anyhow::anyhow!("ticket {ticket} vanished while receiving"))?;
    apply::send_transfer(conn, site, &opened, peer, Transfer::Accepted { yours: handed.number, ours: ticket.0 }, Some(id), now)?;
    Ok(Received::Applied { ticket, created: true })
}

/// Marks a transfer message that changed no ticket's fields as applied to `ticket`.
fn decided(conn: &Connection, id: SpoolId, mail: &Mail, ticket: TicketId, outcome: &str) -> crate::store::Result<()> {
    store::messages::decide(
        conn,
        id,
        &store::messages::Decided {
            state: "applied",
            ticket: Some(ticket),
            message_id: mail.message_id.as_deref(),
            from_address: mail.from.as_ref().map(|from| from.address.as_str()),
            subject: Some(&mail.subject),
            outcome,
        },
    )
}
