//! `reqmail report`: metrics computed from tickets driven by mail through a week, in
//! every output format; the HTML page checked in a real headless Chromium.

use serde_json::Value;

use crate::harness::{letter, Desk};

const SITE: &str = r#"
categories = ["Hardware / Printer / Toner", "E-Mail / MTA Problem"]

[identify]
trust_from_header = true

[calendar]
timezone = "Europe/Berlin"

[queues.general]
resolution = { urgent = "4h", high = "1d", medium = "3d", low = "5d" }

[queues.hardware]
resolution = { urgent = "2h", high = "8h", medium = "16h", low = "40h" }
business_hours = "Mon-Fri 09:00-17:00"

[[organisations]]
name = "Acme"
domains = ["acme.example"]

[[people]]
addresses = ["bob@example.com"]
role = "agent"

[[people]]
addresses = ["vince@vendor.example"]
role = "vendor"
"#;

fn at(desk: &mut Desk, now: &str, from: &str, to: &str, subject: &str, body: &str, id: &str) {
    desk.now = Some(now.into());
    desk.ingest(&letter(from, to, subject, body, id)).ok();
}

/// Week of Monday 2026-11-23 (Berlin is UTC+1; hardware works Mon-Fri 09:00-17:00):
/// - #1 Carol (Acme), hardware, host pr1: opened Mon 09:00, answered 10:00, on hold Mon
///   16:00 to Tue 10:00, resolved Tue 13:00 with 1h30m worked (and 20m by the vendor):
///   10 working hours to resolve, 1 to answer; due after 16h + 2h on hold: on time.
/// - #2 Dave, hardware, host mx1: opened Tue 09:00, answered and resolved Fri 16:00:
///   31 working hours, late. Reopened Monday 2026-11-30.
/// - #3 Erin (Acme), general: opened Wed, still open.
fn week_of_tickets() -> Desk {
    week_of_tickets_with("")
}

fn week_of_tickets_with(extra: &str) -> Desk {
    let mut desk = Desk::with_config(&format!("{SITE}\n{extra}"));
    let help = "help@example.com";
    at(&mut desk, "2026-11-23T08:00:00Z", "carol@acme.example", help, "Printer jammed", "Queue: hardware\nHost: pr1\n\nIt jams.", "c1");
    let reply = "help+1@example.com";
    at(&mut desk, "2026-11-23T09:00:00Z", "bob@example.com", reply, "Re: [REQ #1]", "Owner: me\nCategory: Hardware / Printer / Toner\n\nLooking at it.", "b1");
    at(&mut desk, "2026-11-23T15:00:00Z", "bob@example.com", reply, "Re: [REQ #1]", "Status: hold\n\nParts ordered.", "b2");
    at(&mut desk, "2026-11-24T09:00:00Z", "bob@example.com", reply, "Re: [REQ #1]", "Status: open\n\nParts here.", "b3");
    at(&mut desk, "2026-11-24T10:00:00Z", "vince@vendor.example", reply, "Re: [REQ #1]", "Time: 20m\n\nDelivered the roller.", "v1");
    at(&mut desk, "2026-11-24T12:00:00Z", "bob@example.com", reply, "Re: [REQ #1]", "Status: resolved\nTime: 1h30m\n\nReplaced the roller.", "b4");
    at(&mut desk, "2026-11-24T08:00:00Z", "dave@other.example", help, "Mail server down", "Queue: hardware\nHost: mx1\n\nNo mail.", "d1");
    let reply = "help+2@example.com";
    at(&mut desk, "2026-11-27T15:00:00Z", "bob@example.com", reply, "Re: [REQ #2]", "Category: E-Mail / MTA Problem\nStatus: resolved\n\nRestarted.", "b5");
    at(&mut desk, "2026-11-25T10:00:00Z", "erin@acme.example", help, "Need a new account", "Please.", "e1");
    at(&mut desk, "2026-11-30T10:00:00Z", "bob@example.com", reply, "Re: [REQ #2]", "Status: open\n\nIt is down again.", "b6");
    assert_eq!(desk.ticket(1)["status"], "resolved");
    assert_eq!(desk.ticket(2)["status"], "open");
    desk
}

fn report(desk: &Desk, args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    desk.run(&all).ok().json()
}

#[test]
fn metrics_of_a_week_count_working_time_without_hold() {
    let desk = week_of_tickets();
    let report = report(&desk, &["--from", "2026-11-23", "--to", "2026-11-29"]);
    let total = &report["total"];
    assert_eq!(total["opened"], 3);
    assert_eq!(total["resolved"], 2);
    assert_eq!(total["reopened"], 0);
    assert_eq!(total["backlog"], 1, "only #3 is unfinished at the end of the week");
    assert_eq!(total["late"], 1);
    assert_eq!(total["late_share"], 0.5);
    assert_eq!(total["first_response"]["median_minutes"], 60);
    assert_eq!(total["first_response"]["p90_minutes"], 31 * 60);
    assert_eq!(total["resolution"]["median_minutes"], 10 * 60, "Monday 8h + Tuesday 4h less 2h on hold");
    assert_eq!(total["resolution"]["p90_minutes"], 31 * 60);
    assert_eq!(total["time_spent_minutes"], 110);
    assert_eq!(total["vendor_minutes"], 20);
}

#[test]
fn weekly_rows_carry_the_backlog_and_reopenings_forward() {
    let desk = week_of_tickets();
    let report = report(&desk, &["--from", "2026-11-23", "--to", "2026-12-06", "--by", "week"]);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["key"], "2026-11-23");
    assert_eq!(rows[0]["metrics"]["backlog"], 1);
    assert_eq!(rows[1]["key"], "2026-11-30");
    assert_eq!(rows[1]["metrics"]["reopened"], 1);
    assert_eq!(rows[1]["metrics"]["backlog"], 2);
    assert_eq!(report["total"]["backlog"], 2);
}

#[test]
fn filters_and_groupings_by_ticket_attributes() {
    let desk = week_of_tickets();
    let week = ["--from", "2026-11-23", "--to", "2026-11-29"];
    let acme = report(&desk, &[&week[..], &["--organisation", "Acme"]].concat());
    assert_eq!(acme["total"]["opened"], 2);
    assert_eq!(acme["total"]["resolved"], 1);
    let email = report(&desk, &[&week[..], &["--category", "E-Mail"]].concat());
    assert_eq!(email["total"]["opened"], 1, "a category includes its subcategories");
    let owned = report(&desk, &[&week[..], &["--owner", "Bob@Example.com"]].concat());
    assert_eq!(owned["total"]["opened"], 1);
    let by_queue = report(&desk, &[&week[..], &["--by", "queue"]].concat());
    let queues: Vec<(String, i64)> = by_queue["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["key"].as_str().unwrap().to_string(), row["metrics"]["opened"].as_i64().unwrap()))
        .collect();
    assert_eq!(queues, [("general".to_string(), 1), ("hardware".to_string(), 2)]);

    let tree: Vec<(String, i64, i64)> = by_queue["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| (node["path"].as_str().unwrap().to_string(), node["opened"].as_i64().unwrap(), node["children"].as_i64().unwrap()))
        .collect();
    assert!(tree.contains(&("Hardware".to_string(), 1, 1)), "{tree:?}");
    assert!(tree.contains(&("Hardware / Printer / Toner".to_string(), 1, 0)), "{tree:?}");
    assert!(tree.contains(&("(none)".to_string(), 1, 0)), "{tree:?}");

    let hosts = by_queue["hosts"].as_array().unwrap();
    let pr1 = hosts.iter().find(|host| host["host"] == "pr1").unwrap();
    assert_eq!(pr1["failures"], 1);
    assert_eq!(pr1["mttr_hours"], 28.0, "wall-clock Monday 08:00 to Tuesday 12:00");
    assert_eq!(pr1["mtbf_hours"], 7.0 * 24.0 - 28.0);
}

#[test]
fn text_and_csv_forms() {
    let desk = week_of_tickets();
    let text = desk.run(&["report", "--from", "2026-11-23", "--to", "2026-11-29", "--by", "host"]).ok().stdout;
    assert!(text.starts_with("Tickets 2026-11-23 to 2026-11-29"), "{text}");
    assert!(text.lines().any(|line| line.starts_with("resolution median:") && line.ends_with("10.0h")), "{text}");
    assert!(text.contains("By category") && text.contains("\n    Toner"), "{text}");
    let csv = desk.run(&["report", "--from", "2026-11-23", "--to", "2026-11-29", "--by", "host", "--format", "csv"]).ok().stdout;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("key,opened,resolved,"));
    assert!(lines.iter().any(|line| line.starts_with("pr1,1,1,0,0,0,0,0.0000,60,60,600,600,110,20,")), "{csv}");
    assert!(lines.last().unwrap().starts_with("total,3,2,"), "{csv}");
    let bad = desk.run(&["report", "--from", "23.11.2026"]);
    assert_eq!(bad.status, 64);
    assert!(bad.stderr.contains("--from") && bad.stderr.contains("2026-11-30"), "{}", bad.stderr);
}

/// Pixels of a PNG that are not (nearly) white, inside the rectangle `area` (x, y, w, h).
fn ink(png_bytes: &[u8], area: Option<(u32, u32, u32, u32)>) -> (usize, (u32, u32)) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width, frame.height);
    let (x0, y0, w, h) = area.unwrap_or((0, 0, width, height));
    let mut count = 0;
    for y in y0..(y0 + h).min(height) {
        for x in x0..(x0 + w).min(width) {
            let offset = (y * width + x) as usize * channels;
            if pixels[offset..offset + 3].iter().any(|value| *value < 200) {
                count += 1;
            }
        }
    }
    (count, (width, height))
}

#[test]
fn charts_as_svg_and_png() {
    let desk = week_of_tickets();
    let range = ["report", "--from", "2026-11-23", "--to", "2026-12-06"];
    let svg = desk.run(&[&range[..], &["--format", "svg", "--chart", "trend"]].concat()).ok().stdout;
    assert!(svg.contains("<svg") && svg.contains("backlog") && svg.contains("<polyline"), "{svg}");
    for chart in ["trend", "categories", "sla"] {
        let path = desk.path().join(format!("{chart}.png"));
        desk.run(&[&range[..], &["--format", "png", "--chart", chart, "--output", path.to_str().unwrap()]].concat()).ok();
        let (inked, size) = ink(&std::fs::read(&path).unwrap(), None);
        assert_eq!(size, (800, 400));
        // Axes, labels and data: well over a few hundred pixels; a blank image has none.
        assert!(inked > 2000, "{chart}: {inked} inked pixels");
    }
}

/// The page in a real browser: it loads (the title is the report's), and a screenshot has
/// ink where the first chart stands.
#[test]
fn html_page_renders_in_headless_chromium() {
    let desk = week_of_tickets();
    let page = desk.path().join("report.html");
    desk.run(&["report", "--from", "2026-11-23", "--to", "2026-12-06", "--by", "week", "--format", "html", "--output", page.to_str().unwrap()])
        .ok();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "self-contained, no scripts");
    assert_eq!(html.matches("<svg").count(), 3);

    let profile = tempfile::tempdir().unwrap();
    let shot = desk.path().join("shot.png");
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| std::process::Command::new(name).arg("--version").output().is_ok_and(|output| output.status.success()))
        .expect("chromium is installed (.ci/run installs it)");
    let url = format!("file://{}", page.display());
    let run = |args: &[String]| {
        std::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .output()
            .unwrap()
    };
    let dom = run(&["--dump-dom".to_string(), url.clone()]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<title>Tickets 2026-11-23 to 2026-12-06</title>"), "the page loads: {dom}");
    assert!(dom.contains("id=\"trend\""), "{dom}");

    let output = run(&[format!("--screenshot={}", shot.display()), "--window-size=1000,1400".to_string(), url]);
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&output.stderr));
    let bytes = std::fs::read(&shot).unwrap();
    // The heading and the totals table come first (about 600 pixels), then the trend chart
    // (800 × 400). A band across the chart's middle must have the lines and labels in it.
    let (whole, _) = ink(&bytes, None);
    let (chart_band, _) = ink(&bytes, Some((40, 700, 800, 300)));
    assert!(whole > 5000, "{whole} inked pixels on the page");
    assert!(chart_band > 1500, "{chart_band} inked pixels where the chart stands");
}

#[test]
fn weekly_report_goes_out_once_a_week_with_charts_inline_and_attached() {
    use mail_parser::MimeHeaders as _;
    let mut desk = week_of_tickets_with("[reports]\nweekly_to = [\"lead@example.com\", \"chief@example.com\"]\n");
    let weekly = |desk: &Desk| -> Vec<crate::harness::Mail> {
        desk.outbox().into_iter().filter(|mail| mail.subject().starts_with("Weekly report")).collect()
    };
    desk.clear_outbox();
    desk.now = Some("2026-11-30T07:00:00Z".into());
    desk.run(&["tick"]).ok();
    let letters = weekly(&desk);
    assert_eq!(letters.len(), 2, "one per recipient");
    let letter = letters.iter().find(|mail| mail.to().contains("lead@example.com")).unwrap();
    assert_eq!(letter.subject(), "Weekly report: Tickets 2026-11-23 to 2026-11-29");
    assert_eq!(letter.header("Auto-Submitted").as_deref(), Some("auto-generated"));

    let message = mail_parser::MessageParser::default().parse(&letter.raw).unwrap();
    let raw = String::from_utf8_lossy(&letter.raw);
    assert!(raw.contains("multipart/mixed") && raw.contains("multipart/alternative") && raw.contains("multipart/related"), "{raw}");
    let text = message.body_text(0).unwrap();
    assert!(text.lines().any(|line| line.starts_with("opened:") && line.ends_with(" 3")), "numbers as text: {text}");
    let html = message.body_html(0).unwrap();
    for chart in ["trend", "categories", "sla"] {
        assert!(html.contains(&format!("src=\"cid:{chart}\"")), "{html}");
        assert!(raw.contains(&format!("Content-ID: <{chart}>")), "inline image {chart}");
        assert!(raw.contains(&format!("filename=\"{chart}.png\"")), "attached {chart}.png");
    }
    let pngs: Vec<&[u8]> = message
        .parts
        .iter()
        .filter(|part| part.is_content_type("image", "png"))
        .map(|part| part.contents())
        .collect();
    assert_eq!(pngs.len(), 6, "three inline, three attached");
    assert!(ink(pngs[0], None).0 > 2000, "the trend chart is drawn");

    // The same week never again; the next one on its Monday.
    desk.clear_outbox();
    desk.now = Some("2026-11-30T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    desk.now = Some("2026-12-02T09:00:00Z".into());
    desk.run(&["tick"]).ok();
    assert!(weekly(&desk).is_empty());
    desk.now = Some("2026-12-07T00:30:00Z".into());
    desk.run(&["tick"]).ok();
    let next = weekly(&desk);
    assert_eq!(next.len(), 2);
    assert_eq!(next[0].subject(), "Weekly report: Tickets 2026-11-30 to 2026-12-06");
}

#[test]
fn weekly_recipients_must_be_addresses() {
    let desk = Desk::with_config("[reports]\nweekly_to = [\"the boss\"]\n");
    let run = desk.run(&["tick"]);
    assert_eq!(run.status, 78);
    assert!(run.stderr.contains("reports.weekly_to[0]"), "{}", run.stderr);
}
