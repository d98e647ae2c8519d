//! A [`Report`] as aligned text, CSV, JSON or one self-contained HTML page.

use std::fmt::Write as _;

use crate::report::{chart, Metrics, Report};

/// A column of a metrics table: heading and the cell of one row.
type Column = (&'static str, fn(&Metrics) -> String);

const COLUMNS: &[Column] = &[
    ("opened", |m| m.opened.to_string()),
    ("resolved", |m| m.resolved.to_string()),
    ("closed", |m| m.closed.to_string()),
    ("reopened", |m| m.reopened.to_string()),
    ("backlog", |m| m.backlog.to_string()),
    ("late", |m| m.late.to_string()),
    ("late %", |m| percent(m.late_share)),
    ("response median", |m| hours(m.first_response.median_minutes)),
    ("response p90", |m| hours(m.first_response.p90_minutes)),
    ("resolution median", |m| hours(m.resolution.median_minutes)),
    ("resolution p90", |m| hours(m.resolution.p90_minutes)),
    ("time spent", |m| hours(Some(m.time_spent_minutes))),
    ("vendor time", |m| hours(Some(m.vendor_minutes))),
    ("surveys", |m| m.surveys.to_string()),
    ("satisfaction", |m| m.satisfaction.map_or("-".into(), |rating| format!("{rating:.2}"))),
];

fn hours(minutes: Option<i64>) -> String {
    minutes.map_or("-".into(), |minutes| format!("{:.1}h", minutes as f64 / 60.0))
}

fn percent(share: Option<f64>) -> String {
    share.map_or("-".into(), |share| format!("{:.0}%", share * 100.0))
}

fn optional_hours(value: Option<f64>) -> String {
    value.map_or("-".into(), |value| format!("{value:.1}h"))
}

/// What the report covers, in words.
pub fn title(report: &Report) -> String {
    let last_day = crate::clock::parse_time(&report.to).map_or(report.to.clone(), |to| (to - chrono::Duration::seconds(1)).format("%Y-%m-%d").to_string());
    let mut title = format!("Tickets {} to {last_day}", report.from.get(..10).unwrap_or(&report.from));
    let filter = &report.filter;
    for (name, value) in [
        ("queue", &filter.queue),
        ("category", &filter.category),
        ("owner", &filter.owner),
        ("organisation", &filter.organisation),
        ("host", &filter.host),
    ] {
        if let Some(value) = value {
            let _ = write!(title, ", {name} {value}");
        }
    }
    title
}

/// The label of the rows' key column.
fn key_heading(report: &Report) -> &'static str {
    match report.grouping {
        crate::report::Grouping::Total => "",
        crate::report::Grouping::Week => "week of",
        crate::report::Grouping::Month => "month",
        crate::report::Grouping::Queue => "queue",
        crate::report::Grouping::Category => "category",
        crate::report::Grouping::Owner => "owner",
        crate::report::Grouping::Host => "host",
    }
}

fn key_text(key: &str) -> &str {
    if key.is_empty() {
        "(none)"
    } else {
        key
    }
}

/// Columns of figures padded to their widest cell; the first left-aligned, the rest
/// right-aligned.
fn aligned(table: &[Vec<String>]) -> String {
    padded(table, |column| column > 0)
}

/// Columns of words (lists of tickets) padded to their widest cell, all left-aligned.
pub fn left_aligned(table: &[Vec<String>]) -> String {
    padded(table, |_| false)
}

fn padded(table: &[Vec<String>], right_aligned: fn(usize) -> bool) -> String {
    let width = table.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..width).map(|column| table.iter().filter_map(|row| row.get(column)).map(|cell| cell.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in table {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(column, cell)| if right_aligned(column) { format!("{cell:>w$}", w = widths[column]) } else { format!("{cell:<w$}", w = widths[column]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The aligned text form; `text` is also the plain-text part of the weekly mail.
pub fn text(report: &Report) -> String {
    let mut out = format!("{}\n\n", title(report));
    let totals: Vec<Vec<String>> = COLUMNS.iter().map(|(name, cell)| vec![format!("{name}:"), cell(&report.total)]).collect();
    out.push_str(&aligned(&totals));
    if !report.rows.is_empty() {
        out.push('\n');
        let mut table = vec![std::iter::once(key_heading(report).to_string()).chain(COLUMNS.iter().map(|(name, _)| name.to_string())).collect()];
        for row in &report.rows {
            table.push(std::iter::once(key_text(&row.key).to_string()).chain(COLUMNS.iter().map(|(_, cell)| cell(&row.metrics))).collect());
        }
        out.push_str(&aligned(&table));
    }
    if !report.categories.is_empty() {
        out.push_str("\nBy category\n");
        let mut table = vec![vec!["category".to_string(), "opened".into(), "resolved".into()]];
        for node in &report.categories {
            let name = node.path.rsplit(" / ").next().unwrap_or(&node.path);
            table.push(vec![format!("{}{name}", "  ".repeat(node.depth)), node.opened.to_string(), node.resolved.to_string()]);
        }
        out.push_str(&aligned(&table));
    }
    if !report.hosts.is_empty() {
        out.push_str("\nBy host\n");
        let mut table = vec![vec!["host".to_string(), "failures".into(), "MTTR".into(), "MTBF".into()]];
        for host in &report.hosts {
            table.push(vec![host.host.clone(), host.failures.to_string(), optional_hours(host.mttr_hours), optional_hours(host.mtbf_hours)]);
        }
        out.push_str(&aligned(&table));
    }
    out
}

/// One CSV record (RFC 4180 quoting).
fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|cell| if cell.contains([',', '"', '\n', '\r']) { format!("\"{}\"", cell.replace('"', "\"\"")) } else { cell.clone() })
        .collect();
    quoted.join(",") + "\r\n"
}

/// The rows (or the total, for an ungrouped report) as CSV, with numbers a spreadsheet
/// reads: durations in minutes, shares as fractions.
pub fn csv(report: &Report) -> String {
    let headings = [
        "key",
        "opened",
        "resolved",
        "closed",
        "reopened",
        "backlog",
        "late",
        "late_share",
        "first_response_median_minutes",
        "first_response_p90_minutes",
        "resolution_median_minutes",
        "resolution_p90_minutes",
        "time_spent_minutes",
        "vendor_minutes",
        "surveys",
        "satisfaction",
    ];
    let mut out = csv_line(&headings.map(String::from));
    let number = |value: Option<i64>| value.map_or(String::new(), |value| value.to_string());
    let real = |value: Option<f64>| value.map_or(String::new(), |value| format!("{value:.4}"));
    let total = crate::report::Row { key: "total".into(), metrics: report.total.clone() };
    for row in report.rows.iter().chain(std::iter::once(&total)) {
        let m = &row.metrics;
        out.push_str(&csv_line(&[
            row.key.clone(),
            m.opened.to_string(),
            m.resolved.to_string(),
            m.closed.to_string(),
            m.reopened.to_string(),
            m.backlog.to_string(),
            m.late.to_string(),
            real(m.late_share),
            number(m.first_response.median_minutes),
            number(m.first_response.p90_minutes),
            number(m.resolution.median_minutes),
            number(m.resolution.p90_minutes),
            m.time_spent_minutes.to_string(),
            m.vendor_minutes.to_string(),
            m.surveys.to_string(),
            real(m.satisfaction),
        ]));
    }
    out
}

pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html_table(out: &mut String, table: &[Vec<String>]) {
    out.push_str("<table>\n");
    for (index, row) in table.iter().enumerate() {
        let tag = if index == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<{tag}>{}</{tag}>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// One page with everything inline: styles, tables and the charts as SVG; no scripts,
/// no external files, so it can be mailed or published as it is.
pub fn html(report: &Report) -> anyhow::Result<String> {
    let title = escape(&title(report));
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }}\n\
         th:first-child, td:first-child {{ text-align: left; }}\n\
         figure {{ margin: 1em 0; }}\n\
         </style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    let totals: Vec<Vec<String>> = std::iter::once(vec!["figure".to_string(), "value".to_string()])
        .chain(COLUMNS.iter().map(|(name, cell)| vec![name.to_string(), cell(&report.total)]))
        .collect();
    html_table(&mut out, &totals);
    for chart in chart::Chart::ALL {
        let _ = write!(out, "<figure id=\"{}\">\n{}\n</figure>\n", chart.name(), chart::svg(report, chart)?);
    }
    if !report.rows.is_empty() {
        let _ = writeln!(out, "<h2>By {}</h2>", escape(key_heading(report)));
        let mut table = vec![std::iter::once(key_heading(report).to_string()).chain(COLUMNS.iter().map(|(name, _)| name.to_string())).collect()];
        for row in &report.rows {
            table.push(std::iter::once(key_text(&row.key).to_string()).chain(COLUMNS.iter().map(|(_, cell)| cell(&row.metrics))).collect());
        }
        html_table(&mut out, &table);
    }
    if !report.categories.is_empty() {
        out.push_str("<h2>By category</h2>\n");
        let mut table = vec![vec!["category".to_string(), "opened".into(), "resolved".into()]];
        for node in &report.categories {
            let name = node.path.rsplit(" / ").next().unwrap_or(&node.path);
            table.push(vec![format!("{}{name}", "\u{a0}\u{a0}\u{a0}".repeat(node.depth)), node.opened.to_string(), node.resolved.to_string()]);
        }
        html_table(&mut out, &table);
    }
    if !report.hosts.is_empty() {
        out.push_str("<h2>By host</h2>\n");
        let mut table = vec![vec!["host".to_string(), "failures".into(), "MTTR".into(), "MTBF".into()]];
        for host in &report.hosts {
            table.push(vec![host.host.clone(), host.failures.to_string(), optional_hours(host.mttr_hours), optional_hours(host.mtbf_hours)]);
        }
        html_table(&mut out, &table);
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}
