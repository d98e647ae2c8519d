//! A letter that carries figures: the text for every reader, and when there are charts,
//! an HTML alternative that shows them inline (multipart/related, `cid:` references)
//! plus the same charts as PNG attachments for readers that show no HTML. The weekly
//! report and the answers to requests by mail are written this way.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use crate::store::Connection;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::notify::compose::LOOP_HEADER;
use crate::store;

/// One chart as a PNG file: its name (the attachment is NAME.png, the inline part's
/// Content-ID is NAME) and what it shows.
pub struct ChartFile {
    pub name: String,
    pub caption: &'static str,
    pub png: Vec<u8>,
}

/// What one letter says.
pub struct Content<'a> {
    pub recipient: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub charts: &'a [ChartFile],
    /// The message it answers, for the reader's thread.
    pub in_reply_to: Option<&'a str>,
    /// Where a reply should go, when not to the help address.
    pub reply_to: Option<&'a str>,
    /// RFC 3834: `auto-generated` (the weekly report) or `auto-replied` (an answer).
    pub auto_submitted: &'static str,
    /// Distinguishes letters written for one recipient at one moment.
    pub kind: &'a str,
}

/// A composed letter, ready for the outbox.
pub struct Letter {
    pub recipient: String,
    pub message_id: String,
    pub subject: String,
    pub raw: Vec<u8>,
}

impl Letter {
    /// Writes the letter and its outbox row in the caller's transaction.
    pub fn enqueue(&self, conn: &Connection, config: &Config, now: DateTime<Utc>) -> crate::store::Result<()> {
        let message = store::messages::insert_outgoing(conn, None, &self.message_id, &self.recipient, &self.subject, &self.raw, now)?;
        store::outbox::enqueue(conn, message, None, &config.mail.address, &self.recipient, now)?;
        Ok(())
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Builds the letter from the help address to `content.recipient`.
pub fn compose(config: &Config, content: &Content<'_>, now: DateTime<Utc>) -> anyhow::Result<Letter> {
    let Content { recipient, subject, text, charts, in_reply_to, reply_to, auto_submitted, kind } = *content;
    let body = if charts.is_empty() {
        MultiPart::mixed().singlepart(SinglePart::plain(text.to_string()))
    } else {
        let png = ContentType::parse("image/png").context("image/png")?;
        let images: String = charts
            .iter()
            .map(|chart| format!("<p><img src=\"cid:{}\" alt=\"{}\" width=\"800\" height=\"400\"></p>\n", chart.name, chart.caption))
            .collect();
        let html = format!("<!DOCTYPE html>\n<html><body>\n<h1>{}</h1>\n{images}<pre>{}</pre>\n</body></html>\n", escape(subject), escape(text));
        let mut related = MultiPart::related().singlepart(SinglePart::html(html));
        for chart in charts {
            related = related.singlepart(Attachment::new_inline(chart.name.clone()).body(chart.png.clone(), png.clone()));
        }
        let mut mixed = MultiPart::mixed().multipart(MultiPart::alternative().singlepart(SinglePart::plain(text.to_string())).multipart(related));
        for chart in charts {
            mixed = mixed.singlepart(Attachment::new(format!("{}.png", chart.name)).body(chart.png.clone(), png.clone()));
        }
        mixed
    };
    let domain = config.mail.address.rsplit_once('@').map_or("localhost", |(_, domain)| domain);
    let from = Mailbox::new(Some(config.mail.name.clone()), config.mail.address.parse().context("mail.address")?);
    let digest = hex::encode(&Sha256::digest(format!("{recipient}\n{kind}\n{subject}\n{}", now.timestamp_micros()))[..8]);
    let message_id = format!("reqmail.0.{kind}-{digest}@{domain}");
    let mut builder = Message::builder()
        .from(from)
        .to(recipient.parse().with_context(|| format!("{recipient:?} is not an address to write to"))?)
        .subject(subject)
        .date(now.into())
        .message_id(Some(format!("<{message_id}>")));
    if let Some(address) = reply_to {
        builder = builder.reply_to(address.parse().with_context(|| format!("{address:?} is not an address to reply to"))?);
    }
    if let Some(answered) = in_reply_to {
        builder = builder.in_reply_to(format!("<{answered}>")).references(format!("<{answered}>"));
    }
    // RFC 3834: nobody's auto-responder should answer these.
    for (name, value) in [("Auto-Submitted", auto_submitted), ("X-Auto-Response-Suppress", "All"), ("Precedence", "bulk"), (LOOP_HEADER, "none")] {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string()));
    }
    let message = builder.multipart(body).with_context(|| format!("cannot build the letter {subject:?} to {recipient}"))?;
    Ok(Letter { recipient: recipient.to_string(), message_id, subject: subject.to_string(), raw: message.formatted() })
}
