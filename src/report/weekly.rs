//! The weekly report by mail: once a week, on the first scheduler pass from Monday
//! 00:00 UTC on, last week's figures go to `reports.weekly_to`. One letter per
//! recipient, written to the outbox in the same transaction that records the week as
//! sent, so it goes out exactly once however many `tick`s and `serve`s run.
//!
//! The letter is multipart/mixed: a multipart/alternative with the figures as plain
//! text and an HTML part that shows the charts inline (multipart/related, `cid:`
//! references), then the same charts again as PNG attachments for readers that show
//! no HTML.

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::notify::compose::LOOP_HEADER;
use crate::report::chart::{self, Chart};
use crate::report::{build, render, Filter, Grouping, Period, Request};
use crate::rules::Rules;
use crate::store::{self, Store};

/// Weeks the trend and SLA charts of the mail cover, ending with the reported week.
const CHART_WEEKS: i64 = 8;

/// Queues last week's report for each configured recipient unless that week was sent
/// already; returns whether it queued anything.
pub fn send_if_due(config: &Config, rules: &Rules, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<bool> {
    if config.reports.weekly_to.is_empty() {
        return Ok(false);
    }
    let week = Period::last_week(now);
    let week_key = week.from.format("%Y-%m-%d").to_string();
    if store::report::weekly_sent(&store.conn)?.is_some_and(|sent| sent >= week_key) {
        return Ok(false);
    }
    let letters = compose(config, rules, &store.conn, week, now)?;
    let tx = store.write()?;
    // Checked again under the write lock: another process may have sent it meanwhile.
    if store::report::weekly_sent(&tx)?.is_some_and(|sent| sent >= week_key) {
        return Ok(false);
    }
    for letter in &letters {
        let message = store::messages::insert_outgoing(&tx, None, &letter.message_id, &letter.recipient, &letter.subject, &letter.raw, now)?;
        store::outbox::enqueue(&tx, message, None, &config.mail.address, &letter.recipient, now)?;
    }
    store::report::set_weekly_sent(&tx, &week_key)?;
    tx.commit()?;
    tracing::info!(week = week_key, recipients = letters.len(), "weekly report queued");
    Ok(true)
}

/// One recipient's copy of the report.
struct Letter {
    recipient: String,
    message_id: String,
    subject: String,
    raw: Vec<u8>,
}

fn compose(config: &Config, rules: &Rules, conn: &rusqlite::Connection, week: Period, now: DateTime<Utc>) -> anyhow::Result<Vec<Letter>> {
    let figures = build(conn, rules, &config.categories, &Request { period: week, filter: Filter::default(), grouping: Grouping::Queue, with_weekly: false })?;
    let trend_period = Period { from: week.to - Duration::weeks(CHART_WEEKS), to: week.to };
    let trend = build(conn, rules, &config.categories, &Request { period: trend_period, filter: Filter::default(), grouping: Grouping::Total, with_weekly: true })?;
    let charts = [
        (Chart::Trend, chart::png(&trend, Chart::Trend)?),
        (Chart::Categories, chart::png(&figures, Chart::Categories)?),
        (Chart::Sla, chart::png(&trend, Chart::Sla)?),
    ];
    let text = render::text(&figures);
    let subject = format!("Weekly report: {}", render::title(&figures));
    let escape = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let images: String = charts
        .iter()
        .map(|(chart, _)| format!("<p><img src=\"cid:{}\" alt=\"{}\" width=\"800\" height=\"400\"></p>\n", chart.name(), chart.caption()))
        .collect();
    let html = format!("<!DOCTYPE html>\n<html><body>\n<h1>{}</h1>\n{images}<pre>{}</pre>\n</body></html>\n", escape(&subject), escape(&text));
    let png = ContentType::parse("image/png").context("image/png")?;

    let domain = config.mail.address.rsplit_once('@').map_or("localhost", |(_, domain)| domain);
    let from: Mailbox = Mailbox::new(Some(config.mail.name.clone()), config.mail.address.parse().context("mail.address")?);
    let mut letters = Vec::new();
    for recipient in &config.reports.weekly_to {
        let mut related = MultiPart::related().singlepart(SinglePart::html(html.clone()));
        for (chart, bytes) in &charts {
            related = related.singlepart(Attachment::new_inline(chart.name().to_string()).body(bytes.clone(), png.clone()));
        }
        let mut mixed = MultiPart::mixed().multipart(MultiPart::alternative().singlepart(SinglePart::plain(text.clone())).multipart(related));
        for (chart, bytes) in &charts {
            mixed = mixed.singlepart(Attachment::new(format!("{}.png", chart.name())).body(bytes.clone(), png.clone()));
        }
        let digest = hex::encode(&Sha256::digest(format!("{recipient}\n{}\n{}", figures.from, now.timestamp()))[..8]);
        let message_id = format!("reqmail.0.weekly-{digest}@{domain}");
        let mut builder = Message::builder()
            .from(from.clone())
            .to(recipient.parse().with_context(|| format!("reports.weekly_to: {recipient}"))?)
            .subject(subject.clone())
            .date(now.into())
            .message_id(Some(format!("<{message_id}>")));
        // RFC 3834: nobody's auto-responder should answer a report.
        for (name, value) in [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All"), ("Precedence", "bulk"), (LOOP_HEADER, "none")] {
            builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string()));
        }
        let message = builder.multipart(mixed).with_context(|| format!("cannot build the weekly report for {recipient}"))?;
        letters.push(Letter { recipient: recipient.clone(), message_id, subject: subject.clone(), raw: message.formatted() });
    }
    Ok(letters)
}
