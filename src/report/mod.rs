//! Reports: metrics for a period and filter, grouped by time or by a ticket attribute,
//! with the category tree and per-host failure figures. The SQL is in
//! [`crate::store::report`]; this module turns its counts into [`Report`], measuring
//! response and resolution times in each queue's working time with time on hold left
//! out. Rendering is in [`render`] (text, CSV, JSON, HTML) and [`chart`] (SVG, PNG).

pub mod by_mail;
pub mod chart;
pub mod letter;
pub mod render;
pub mod weekly;


use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::clock::{format_time, parse_time};
use crate::rules::Rules;
use crate::store::report::{self as sql, Moment, Span};
pub use crate::store::report::{Filter, Grouping};

/// The half-open period `from <= t < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    /// From the start of day `from` to the end of day `to` (both YYYY-MM-DD, UTC). Without
    /// `to`, up to the end of today; without `from`, the four weeks before `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: DateTime<Utc>) -> anyhow::Result<Period> {
        let day = |text: &str, name: &str| {
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").with_context(|| format!("--{name} {text:?} is not a date like 2026-11-30"))
        };
        let last_day = match to {
            Some(text) => day(text, "to")?,
            None => now.date_naive(),
        };
        let first_day = match from {
            Some(text) => day(text, "from")?,
            None => last_day - Duration::days(27),
        };
        if first_day > last_day {
            anyhow::bail!("--from {first_day} is after --to {last_day}");
        }
        let start = |date: NaiveDate| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        Ok(Period { from: start(first_day), to: start(last_day + Duration::days(1)) })
    }

    /// The week (Monday to Sunday) before the one that holds `now`.
    pub fn last_week(now: DateTime<Utc>) -> Period {
        let monday = monday_of(now.date_naive());
        let to = monday.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        Period { from: to - Duration::days(7), to }
    }

    fn span(&self) -> Span {
        Span { from: format_time(self.from), to: format_time(self.to) }
    }
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

/// Median and 90th percentile of a duration, in working minutes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timing {
    pub count: usize,
    pub median_minutes: Option<i64>,
    pub p90_minutes: Option<i64>,
}

impl Timing {
    fn of(mut minutes: Vec<i64>) -> Timing {
        minutes.sort_unstable();
        // Nearest rank: the smallest value with at least p of the values at or below it.
        let rank = |p: f64| -> Option<i64> {
            let index = ((p * minutes.len() as f64).ceil() as usize).max(1) - 1;
            minutes.get(index).copied()
        };
        Timing { count: minutes.len(), median_minutes: rank(0.5), p90_minutes: rank(0.9) }
    }
}

/// The figures of one row (or of the whole period).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub opened: i64,
    pub resolved: i64,
    pub closed: i64,
    pub reopened: i64,
    /// Unfinished tickets (new, open, hold) at the end of the row's period.
    pub backlog: i64,
    /// Tickets resolved in the period after their SLA due time.
    pub late: i64,
    /// `late` among the tickets resolved in the period that have an SLA.
    pub late_share: Option<f64>,
    pub first_response: Timing,
    pub resolution: Timing,
    pub time_spent_minutes: i64,
    pub vendor_minutes: i64,
    pub surveys: i64,
    /// The average rating, 1 to 5.
    pub satisfaction: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub key: String,
    pub metrics: Metrics,
}

/// One node of the category tree: its own tickets plus its subcategories'.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryNode {
    /// The full path, e.g. "E-Mail / MTA Problem"; "(none)" for tickets without one.
    pub path: String,
    pub depth: usize,
    pub opened: i64,
    pub resolved: i64,
    pub children: usize,
}

/// Failures of one host or system in the period.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub host: String,
    pub failures: i64,
    /// Mean time to repair: opening to resolution (the last one), wall-clock hours.
    pub mttr_hours: Option<f64>,
    /// Mean time between failures: the period's hours less the repair time, per failure.
    pub mtbf_hours: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub grouping: Grouping,
    pub filter: FilterView,
    pub total: Metrics,
    pub rows: Vec<Row>,
    pub categories: Vec<CategoryNode>,
    pub hosts: Vec<HostRow>,
    /// The weekly series behind the charts (empty unless asked for).
    pub weekly: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FilterView {
    pub queue: Option<String>,
    pub category: Option<String>,
    pub owner: Option<String>,
    pub organisation: Option<String>,
    pub host: Option<String>,
}

impl From<&Filter> for FilterView {
    fn from(filter: &Filter) -> FilterView {
        FilterView {
            queue: filter.queue.clone(),
            category: filter.category.clone(),
            owner: filter.owner.clone(),
            organisation: filter.organisation.clone(),
            host: filter.host.clone(),
        }
    }
}

/// What a report is asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub period: Period,
    pub filter: Filter,
    pub grouping: Grouping,
    /// Also the weekly series that the charts draw.
    pub with_weekly: bool,
}

/// Builds the report. `categories` are the configured category paths, whose spelling
/// the tree shows (tickets store them lower-cased).
pub fn build(conn: &crate::store::Connection, rules: &Rules, categories: &[String], request: &Request) -> anyhow::Result<Report> {
    let Request { period, ref filter, grouping, with_weekly } = *request;
    let (rows, total) = rows_for(conn, rules, period, filter, grouping)?;
    let weekly = match (with_weekly, grouping) {
        (false, _) => Vec::new(),
        (true, Grouping::Week) => rows.clone(),
        (true, _) => rows_for(conn, rules, period, filter, Grouping::Week)?.0,
    };
    Ok(Report {
        from: format_time(period.from),
        to: format_time(period.to),
        grouping,
        filter: filter.into(),
        total,
        rows: if grouping == Grouping::Total { Vec::new() } else { rows },
        categories: category_tree(conn, period, filter, categories)?,
        hosts: hosts(conn, period, filter)?,
        weekly,
    })
}

/// The row keys of a time grouping: every week or month the period touches, even empty ones.
fn time_keys(period: Period, grouping: Grouping) -> Vec<String> {
    let mut keys = Vec::new();
    let last = (period.to - Duration::seconds(1)).date_naive();
    match grouping {
        Grouping::Week => {
            let mut monday = monday_of(period.from.date_naive());
            while monday <= last {
                keys.push(monday.format("%Y-%m-%d").to_string());
                monday += Duration::days(7);
            }
        }
        Grouping::Month => {
            let (mut year, mut month) = (period.from.year(), period.from.month());
            while (year, month) <= (last.year(), last.month()) {
                keys.push(format!("{year:04}-{month:02}"));
                (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
            }
        }
        _ => {}
    }
    keys
}

/// The rows of `grouping` and the whole period's figures, from one pass: every event
/// falls in exactly one row, so counts add up; the backlog at the end of the period is
/// the last time row's, or the sum over the rows of a ticket attribute.
fn rows_for(
    conn: &crate::store::Connection,
    rules: &Rules,
    period: Period,
    filter: &Filter,
    grouping: Grouping,
) -> anyhow::Result<(Vec<Row>, Metrics)> {
    let span = period.span();
    let mut table: BTreeMap<String, Metrics> = BTreeMap::new();
    for key in time_keys(period, grouping) {
        table.entry(key).or_default();
    }
    if grouping == Grouping::Total {
        table.entry(String::new()).or_default();
    }
    for (key, count) in sql::opened(conn, &span, filter, grouping)? {
        table.entry(key).or_default().opened = count;
    }
    for (key, transitions) in sql::transitions(conn, &span, filter, grouping)? {
        let metrics = table.entry(key).or_default();
        metrics.resolved = transitions.resolved;
        metrics.closed = transitions.closed;
        metrics.reopened = transitions.reopened;
    }
    for (key, minutes, vendor) in sql::time_worked(conn, &span, filter, grouping)? {
        let metrics = table.entry(key).or_default();
        metrics.time_spent_minutes = minutes;
        metrics.vendor_minutes = vendor;
    }
    for (key, answers, sum) in sql::satisfaction(conn, &span, filter, grouping)? {
        let metrics = table.entry(key).or_default();
        metrics.surveys = answers;
        metrics.satisfaction = (answers > 0).then(|| sum as f64 / answers as f64);
    }
    backlog(conn, &span, filter, grouping, &mut table)?;
    let mut total = timings(conn, rules, &span, filter, grouping, &mut table)?;
    let mut rating_sum = 0.0;
    for metrics in table.values() {
        total.opened += metrics.opened;
        total.resolved += metrics.resolved;
        total.closed += metrics.closed;
        total.reopened += metrics.reopened;
        total.time_spent_minutes += metrics.time_spent_minutes;
        total.vendor_minutes += metrics.vendor_minutes;
        total.surveys += metrics.surveys;
        rating_sum += metrics.satisfaction.unwrap_or(0.0) * metrics.surveys as f64;
        if !grouping.is_time() {
            total.backlog += metrics.backlog;
        }
    }
    if grouping.is_time() {
        total.backlog = table.values().next_back().map_or(0, |metrics| metrics.backlog);
    }
    total.satisfaction = (total.surveys > 0).then(|| rating_sum / total.surveys as f64);
    Ok((table.into_iter().map(|(key, metrics)| Row { key, metrics }).collect(), total))
}

/// Unfinished tickets at the end of each row's period: those unfinished now, less the
/// changes since then.
fn backlog(conn: &crate::store::Connection, span: &Span, filter: &Filter, grouping: Grouping, table: &mut BTreeMap<String, Metrics>) -> anyhow::Result<()> {
    let now: HashMap<String, i64> = sql::backlog_now(conn, filter, grouping)?.into_iter().collect();
    if grouping.is_time() {
        let changes = sql::backlog_changes(conn, span, filter, grouping)?;
        let mut level = now.values().sum::<i64>() - changes.iter().filter(|(key, _)| key.is_none()).map(|(_, sum)| sum).sum::<i64>();
        let by_key: HashMap<String, i64> = changes.into_iter().filter_map(|(key, sum)| key.map(|key| (key, sum))).collect();
        // Keys sort in time order; walk back from the end of the period.
        for (key, metrics) in table.iter_mut().rev() {
            metrics.backlog = level;
            level -= by_key.get(key).copied().unwrap_or(0);
        }
    } else {
        let after = Span { from: span.to.clone(), to: "9999-12-31T00:00:00Z".to_string() };
        let changes: HashMap<String, i64> =
            sql::backlog_changes(conn, &after, filter, grouping)?.into_iter().filter_map(|(key, sum)| key.map(|key| (key, sum))).collect();
        for key in now.keys() {
            table.entry(key.clone()).or_default();
        }
        for (key, metrics) in table.iter_mut() {
            metrics.backlog = now.get(key).copied().unwrap_or(0) - changes.get(key).copied().unwrap_or(0);
        }
        // Rows with nothing in the period and nothing left open say nothing.
        table.retain(|_, metrics| *metrics != Metrics::default());
    }
    Ok(())
}

/// Time to first response and to resolution, in the queue's working time less the
/// working time on hold; and late resolutions. Returns these figures for the whole period.
fn timings(
    conn: &crate::store::Connection,
    rules: &Rules,
    span: &Span,
    filter: &Filter,
    grouping: Grouping,
    table: &mut BTreeMap<String, Metrics>,
) -> anyhow::Result<Metrics> {
    let timed = sql::timed(conn, span, filter, grouping)?;
    let mut numbers: Vec<i64> = timed.iter().map(|timed| timed.ticket).collect();
    numbers.sort_unstable();
    numbers.dedup();
    // Per ticket, its times on hold: (start, end).
    let mut holds: HashMap<i64, Vec<[DateTime<Utc>; 2]>> = HashMap::new();
    let mut open_hold: HashMap<i64, DateTime<Utc>> = HashMap::new();
    for (ticket, at, on_hold) in sql::hold_changes(conn, &numbers)? {
        let Some(at) = parse_time(&at) else { continue };
        if on_hold {
            open_hold.insert(ticket, at);
        } else if let Some(start) = open_hold.remove(&ticket) {
            holds.entry(ticket).or_default().push([start, at]);
        }
    }
    for (ticket, start) in open_hold {
        holds.entry(ticket).or_default().push([start, DateTime::<Utc>::MAX_UTC]);
    }
    let mut first_responses: HashMap<String, Vec<i64>> = HashMap::new();
    let mut resolutions: HashMap<String, Vec<i64>> = HashMap::new();
    let mut late: HashMap<String, (i64, i64)> = HashMap::new();
    for item in &timed {
        let Some(created) = parse_time(&item.created) else { continue };
        let calendar = rules.calendar_of(&item.queue);
        let held = holds.get(&item.ticket).map(Vec::as_slice).unwrap_or(&[]);
        let working = |end: DateTime<Utc>| -> i64 {
            let on_hold: Duration =
                held.iter().map(|[start, stop]| calendar.between((*start).max(created), (*stop).min(end))).fold(Duration::zero(), |a, b| a + b);
            (calendar.between(created, end) - on_hold).num_minutes().max(0)
        };
        let Some(at) = parse_time(&item.at) else { continue };
        match item.moment {
            Moment::FirstResponse => first_responses.entry(item.key.clone()).or_default().push(working(at)),
            Moment::Resolution => {
                resolutions.entry(item.key.clone()).or_default().push(working(at));
                if let Some(due) = item.due.as_deref().and_then(parse_time) {
                    let counts = late.entry(item.key.clone()).or_default();
                    counts.1 += 1;
                    if at > due {
                        counts.0 += 1;
                    }
                }
            }
        }
    }
    let all = |by_key: &HashMap<String, Vec<i64>>| by_key.values().flatten().copied().collect::<Vec<i64>>();
    let (late_count, with_sla) = late.values().fold((0, 0), |sum, counts| (sum.0 + counts.0, sum.1 + counts.1));
    let total = Metrics {
        first_response: Timing::of(all(&first_responses)),
        resolution: Timing::of(all(&resolutions)),
        late: late_count,
        late_share: (with_sla > 0).then(|| late_count as f64 / with_sla as f64),
        ..Metrics::default()
    };
    for (key, minutes) in first_responses {
        table.entry(key).or_default().first_response = Timing::of(minutes);
    }
    for (key, minutes) in resolutions {
        table.entry(key).or_default().resolution = Timing::of(minutes);
    }
    for (key, (late_count, with_sla)) in late {
        let metrics = table.entry(key).or_default();
        metrics.late = late_count;
        metrics.late_share = (with_sla > 0).then(|| late_count as f64 / with_sla as f64);
    }
    Ok(total)
}

/// The category tree, each node counting its subcategories' tickets too, in path order.
fn category_tree(conn: &crate::store::Connection, period: Period, filter: &Filter, configured: &[String]) -> anyhow::Result<Vec<CategoryNode>> {
    let spelled: HashMap<String, &str> = configured
        .iter()
        .flat_map(|path| path.split('/').map(str::trim).collect::<Vec<_>>())
        .map(|part| (part.to_lowercase(), part))
        .collect();
    let mut nodes: BTreeMap<Vec<String>, (i64, i64)> = BTreeMap::new();
    for (path, opened, resolved) in sql::by_category(conn, &period.span(), filter)? {
        let parts: Vec<String> = if path.is_empty() {
            vec!["(none)".to_string()]
        } else {
            path.split(" / ").map(|part| spelled.get(part.trim()).map_or_else(|| part.trim().to_string(), |part| part.to_string())).collect()
        };
        for depth in 1..=parts.len() {
            let node = nodes.entry(parts[..depth].to_vec()).or_default();
            node.0 += opened;
            node.1 += resolved;
        }
    }
    let children = |parts: &Vec<String>| nodes.keys().filter(|other| other.len() == parts.len() + 1 && other.starts_with(parts)).count();
    Ok(nodes
        .iter()
        .map(|(parts, (opened, resolved))| CategoryNode {
            path: parts.join(" / "),
            depth: parts.len() - 1,
            opened: *opened,
            resolved: *resolved,
            children: children(parts),
        })
        .collect())
}

/// What one host's failures add up to.
#[derive(Default)]
struct HostTally {
    failures: i64,
    repair_hours: Vec<f64>,
    down_hours: f64,
}

/// Failures, MTTR and MTBF per host.
fn hosts(conn: &crate::store::Connection, period: Period, filter: &Filter) -> anyhow::Result<Vec<HostRow>> {
    let period_hours = (period.to - period.from).num_minutes() as f64 / 60.0;
    let mut by_host: BTreeMap<String, HostTally> = BTreeMap::new();
    for failure in sql::host_failures(conn, &period.span(), filter)? {
        let tally = by_host.entry(failure.host.clone()).or_default();
        tally.failures += 1;
        let (Some(created), resolved) = (parse_time(&failure.created), failure.resolved.as_deref().and_then(parse_time)) else { continue };
        if let Some(resolved) = resolved {
            tally.repair_hours.push((resolved - created).num_minutes() as f64 / 60.0);
        }
        // Down from the failure until repaired, within the period.
        let down_until = resolved.unwrap_or(period.to).min(period.to);
        tally.down_hours += (down_until - created).num_minutes().max(0) as f64 / 60.0;
    }
    Ok(by_host
        .into_iter()
        .map(|(host, tally)| HostRow {
            host,
            failures: tally.failures,
            mttr_hours: (!tally.repair_hours.is_empty()).then(|| tally.repair_hours.iter().sum::<f64>() / tally.repair_hours.len() as f64),
            mtbf_hours: (tally.failures > 0).then(|| (period_hours - tally.down_hours).max(0.0) / tally.failures as f64),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(Timing::of(vec![]), Timing { count: 0, median_minutes: None, p90_minutes: None });
        assert_eq!(Timing::of(vec![7]), Timing { count: 1, median_minutes: Some(7), p90_minutes: Some(7) });
        let timing = Timing::of((1..=10).rev().collect());
        assert_eq!((timing.median_minutes, timing.p90_minutes), (Some(5), Some(9)));
        let timing = Timing::of((1..=11).collect());
        assert_eq!((timing.median_minutes, timing.p90_minutes), (Some(6), Some(10)));
    }

    #[test]
    fn periods_are_whole_days_and_weeks_start_on_monday() {
        let now = at("2026-12-02T15:00:00Z");
        let period = Period::parse(Some("2026-11-23"), Some("2026-11-29"), now).unwrap();
        assert_eq!((period.from, period.to), (at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z")));
        let default = Period::parse(None, None, now).unwrap();
        assert_eq!((default.from, default.to), (at("2026-11-05T00:00:00Z"), at("2026-12-03T00:00:00Z")));
        assert!(Period::parse(Some("2026-12-01"), Some("2026-11-01"), now).unwrap_err().to_string().contains("after"));
        assert!(Period::parse(Some("1.12.2026"), None, now).unwrap_err().to_string().contains("--from"));
        assert_eq!(Period::last_week(now), period);
        assert_eq!(Period::last_week(at("2026-11-30T00:00:00Z")), period, "Monday midnight reports the week just ended");
    }

    #[test]
    fn time_rows_cover_every_week_or_month_touched() {
        let period = Period { from: at("2026-11-25T00:00:00Z"), to: at("2027-01-02T00:00:00Z") };
        let weeks = time_keys(period, Grouping::Week);
        assert_eq!(weeks.first().map(String::as_str), Some("2026-11-23"));
        assert_eq!(weeks.last().map(String::as_str), Some("2026-12-28"));
        assert_eq!(weeks.len(), 6);
        assert_eq!(time_keys(period, Grouping::Month), ["2026-11", "2026-12", "2027-01"]);
        assert!(time_keys(period, Grouping::Queue).is_empty());
    }
}
