//! The report's charts, drawn with plotters: as SVG text for pages, as PNG for mail.
//!
//! Text in charts is measured (SVG) and drawn (PNG) with DejaVu Sans, which the binary
//! carries (`assets/fonts/`, Bitstream Vera licence), so a PNG looks the same on every
//! host, with or without fonts installed.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::{Report, Row};

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (800, 400);

/// The charts a report draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Chart {
    /// Opened, resolved and backlog per week.
    Trend,
    /// Tickets opened per top-level category.
    Categories,
    /// Share of tickets resolved within their SLA, per week.
    Sla,
}

impl Chart {
    pub const ALL: [Chart; 3] = [Chart::Trend, Chart::Categories, Chart::Sla];

    pub fn name(self) -> &'static str {
        match self {
            Chart::Trend => "trend",
            Chart::Categories => "categories",
            Chart::Sla => "sla",
        }
    }

    pub fn caption(self) -> &'static str {
        match self {
            Chart::Trend => "Opened, resolved and backlog per week",
            Chart::Categories => "Opened per category",
            Chart::Sla => "Resolved within SLA per week (%)",
        }
    }
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is part of the binary and known to parse; a failure would only mean
        // charts without text.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

fn failed<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {error:?}")
}

/// `chart` as an SVG document.
pub fn svg(report: &Report, chart: Chart) -> anyhow::Result<String> {
    register_font();
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&area, report, chart)?;
        area.present().map_err(failed)?;
    }
    Ok(out)
}

/// `chart` as a PNG image.
pub fn png(report: &Report, chart: Chart) -> anyhow::Result<Vec<u8>> {
    register_font();
    let (width, height) = SIZE;
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
        draw(&area, report, chart)?;
        area.present().map_err(failed)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, report: &Report, chart: Chart) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(failed)?;
    match chart {
        Chart::Trend => trend(area, &report.weekly),
        Chart::Categories => {
            let bars: Vec<(String, i64)> =
                report.categories.iter().filter(|node| node.depth == 0).map(|node| (node.path.clone(), node.opened)).collect();
            bar_chart(area, chart.caption(), &bars, "tickets")
        }
        Chart::Sla => {
            let bars: Vec<(String, i64)> = report
                .weekly
                .iter()
                .map(|row| (week_label(row), row.metrics.late_share.map_or(0, |late| ((1.0 - late) * 100.0).round() as i64)))
                .collect();
            bar_chart(area, chart.caption(), &bars, "%")
        }
    }
}

/// "11-23" for the week of 2026-11-23.
fn week_label(row: &Row) -> String {
    row.key.get(5..).unwrap_or(&row.key).to_string()
}

/// A line of the trend chart: name, colour, value of a week.
type Series = (&'static str, RGBColor, fn(&Row) -> i64);

fn trend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, weekly: &[Row]) -> anyhow::Result<()> {
    let top = weekly.iter().map(|row| row.metrics.opened.max(row.metrics.resolved).max(row.metrics.backlog)).max().unwrap_or(0);
    let last = weekly.len().saturating_sub(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(Chart::Trend.caption(), (FAMILY, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0..last, 0..(top + top / 10 + 1))
        .map_err(failed)?;
    let label = |index: &usize| weekly.get(*index).map(week_label).unwrap_or_default();
    chart
        .configure_mesh()
        .x_labels(weekly.len().clamp(2, 12))
        .x_label_formatter(&label)
        .x_desc("week of")
        .y_desc("tickets")
        .label_style((FAMILY, 12))
        .draw()
        .map_err(failed)?;
    let lines: [Series; 3] = [
        ("opened", RGBColor(31, 119, 180), |row| row.metrics.opened),
        ("resolved", RGBColor(44, 160, 44), |row| row.metrics.resolved),
        ("backlog", RGBColor(214, 39, 40), |row| row.metrics.backlog),
    ];
    for (name, color, value) in lines {
        chart
            .draw_series(LineSeries::new(weekly.iter().enumerate().map(|(index, row)| (index, value(row))), color.stroke_width(3)))
            .map_err(failed)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(failed)?;
    Ok(())
}

fn bar_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, caption: &str, bars: &[(String, i64)], unit: &str) -> anyhow::Result<()> {
    let top = bars.iter().map(|(_, value)| *value).max().unwrap_or(0);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d((0..bars.len().max(1) - 1).into_segmented(), 0..(top + top / 10 + 1))
        .map_err(failed)?;
    let label = |value: &SegmentValue<usize>| match value {
        SegmentValue::CenterOf(index) => bars.get(*index).map(|(name, _)| name.chars().take(16).collect()).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len().max(1))
        .x_label_formatter(&label)
        .y_desc(unit)
        .label_style((FAMILY, 12))
        .draw()
        .map_err(failed)?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(RGBColor(31, 119, 180).filled())
                .margin(8)
                .data(bars.iter().enumerate().map(|(index, (_, value))| (index, *value))),
        )
        .map_err(failed)?;
    Ok(())
}
