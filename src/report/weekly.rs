//! The weekly report by mail: once a week, on the first scheduler pass from Monday
//! 00:00 UTC on, last week's figures go to `reports.weekly_to`. One letter per
//! recipient, written to the outbox in the same transaction that records the week as
//! sent, so it goes out exactly once however many `tick`s and `serve`s run.
//!
//! The letter ([`letter`]) has the figures as plain text and the charts inline and
//! attached.

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::report::chart::{self, Chart};
use crate::report::letter::{self, ChartFile, Content, Letter};
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
        letter.enqueue(&tx, config, now)?;
    }
    store::report::set_weekly_sent(&tx, &week_key)?;
    tx.commit()?;
    tracing::info!(week = week_key, recipients = letters.len(), "weekly report queued");
    Ok(true)
}

fn compose(config: &Config, rules: &Rules, conn: &crate::store::Connection, week: Period, now: DateTime<Utc>) -> anyhow::Result<Vec<Letter>> {
    let figures = build(conn, rules, &config.categories, &Request { period: week, filter: Filter::default(), grouping: Grouping::Queue, with_weekly: false })?;
    let trend_period = Period { from: week.to - Duration::weeks(CHART_WEEKS), to: week.to };
    let trend = build(conn, rules, &config.categories, &Request { period: trend_period, filter: Filter::default(), grouping: Grouping::Total, with_weekly: true })?;
    let charts = [(Chart::Trend, &trend), (Chart::Categories, &figures), (Chart::Sla, &trend)]
        .into_iter()
        .map(|(chart, report)| Ok(ChartFile { name: chart.name().to_string(), caption: chart.caption(), png: chart::png(report, chart)? }))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text = render::text(&figures);
    let subject = format!("Weekly report: {}", render::title(&figures));
    config
        .reports
        .weekly_to
        .iter()
        .map(|recipient| {
            let content =
                Content { recipient, subject: &subject, text: &text, charts: &charts, in_reply_to: None, reply_to: None, auto_submitted: "auto-generated", kind: "weekly" };
            letter::compose(config, &content, now).with_context(|| format!("reports.weekly_to: {recipient}"))
        })
        .collect()
}
