//! `reqmail report`: metrics for a period as text, CSV, JSON, a chart or an HTML page;
//! `reqmail report surveys`: the satisfaction survey's answers.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::{Failure, Setup};
use crate::report::chart::{self, Chart};
use crate::report::{self, render, Filter, Grouping, Period, Request};

/// Reports over tickets: opened, resolved, closed, reopened, backlog, late, response and
/// resolution times (working time, hold excluded), time spent, satisfaction; the
/// category tree; failures, MTTR and MTBF per host.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Report {
    #[command(subcommand)]
    pub command: Option<ReportCommand>,
    #[command(flatten)]
    pub options: ReportOptions,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Answers to the satisfaction survey: count, average, and how often each rating was given.
    Surveys {
        #[arg(long)]
        json: bool,
    },
}

/// Which tickets: every option given must match (current values of the ticket).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    #[arg(long)]
    pub queue: Option<String>,
    /// A category path; its subcategories are included.
    #[arg(long)]
    pub category: Option<String>,
    /// The owner's address.
    #[arg(long)]
    pub owner: Option<String>,
    /// The requester's organisation.
    #[arg(long)]
    pub organisation: Option<String>,
    #[arg(long)]
    pub host: Option<String>,
}

impl FilterArgs {
    pub fn filter(&self, setup: &Setup) -> Filter {
        let rules = &setup.site.rules;
        Filter {
            queue: self.queue.clone(),
            category: self.category.as_deref().map(|text| rules.category(text).unwrap_or_else(|| text.trim().to_string())),
            owner: self.owner.as_deref().map(str::to_lowercase),
            organisation: self.organisation.clone(),
            host: self.host.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
    Svg,
    Png,
    Html,
}

#[derive(Debug, clap::Args)]
pub struct ReportOptions {
    /// First day (YYYY-MM-DD, UTC); default four weeks before --to.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day, included (YYYY-MM-DD, UTC); default today.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// One row per week, month, queue, category, owner or host; default one total.
    #[arg(long, value_enum, default_value = "total")]
    pub by: Grouping,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The chart that --format svg or png draws (html has them all).
    #[arg(long, value_enum, default_value = "trend")]
    pub chart: Chart,
    /// Write here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl Report {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        match &self.command {
            Some(ReportCommand::Surveys { json }) => surveys(setup, *json),
            None => self.options.execute(setup),
        }
    }
}

impl ReportOptions {
    fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let period = Period::parse(self.from.as_deref(), self.to.as_deref(), setup.clock.now()).map_err(Failure::Usage)?;
        let filter = self.filter.filter(setup);
        let store = setup.open_store()?;
        let charts = matches!(self.format, Format::Svg | Format::Png | Format::Html);
        let request = Request { period, filter, grouping: self.by, with_weekly: charts };
        let report = report::build(&store.conn, &setup.site.rules, &setup.site.config.categories, &request)?;
        let bytes = match self.format {
            Format::Text => render::text(&report).into_bytes(),
            Format::Csv => render::csv(&report).into_bytes(),
            Format::Json => (render::json(&report) + "\n").into_bytes(),
            Format::Svg => chart::svg(&report, self.chart)?.into_bytes(),
            Format::Png => chart::png(&report, self.chart)?,
            Format::Html => render::html(&report)?.into_bytes(),
        };
        match &self.output {
            Some(path) => std::fs::write(path, &bytes).with_context(|| format!("cannot write the report to {}", path.display()))?,
            None => std::io::stdout().lock().write_all(&bytes).context("cannot write the report to standard output")?,
        }
        Ok(())
    }
}

fn surveys(setup: &Setup, json: bool) -> Result<(), Failure> {
    let store = setup.open_store()?;
    let mut counts = [0i64; 5];
    for (rating, count) in crate::store::report::survey_ratings(&store.conn)? {
        if let Some(slot) = usize::try_from(rating - 1).ok().and_then(|index| counts.get_mut(index)) {
            *slot = count;
        }
    }
    let answers: i64 = counts.iter().sum();
    let average = if answers == 0 {
        None
    } else {
        Some(counts.iter().enumerate().map(|(index, count)| (index as i64 + 1) * count).sum::<i64>() as f64 / answers as f64)
    };
    if json {
        crate::cli::print_line(&serde_json::json!({ "answers": answers, "average": average, "by_rating": counts }).to_string());
    } else {
        crate::cli::print_line(&format!("{answers} answers, average {}", average.map_or("-".to_string(), |average| format!("{average:.2}"))));
        for (index, count) in counts.iter().enumerate() {
            crate::cli::print_line(&format!("  {}: {count}", index + 1));
        }
    }
    Ok(())
}
