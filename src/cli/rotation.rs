//! `reqmail rotation`: who is on duty in each rotation.

use crate::cli::{Failure, Setup};

/// Duty rotations.
#[derive(Debug, clap::Subcommand)]
pub enum RotationCommand {
    /// Who is on duty now (or at --at), and the week ahead.
    Show {
        /// Only this rotation.
        name: Option<String>,
        /// A time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
}

impl RotationCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let RotationCommand::Show { name, at } = self;
        let rules = &setup.site.rules;
        let at = match at {
            Some(text) => crate::clock::parse_time(text)
                .ok_or_else(|| Failure::Usage(anyhow::anyhow!("--at {text:?} is not an RFC 3339 time like 2026-11-23T09:00:00Z")))?,
            None => setup.clock.now(),
        };
        let rotations: Vec<_> = match name {
            Some(name) => vec![rules.rotation(name).ok_or_else(|| anyhow::anyhow!("there is no rotation {name:?}"))?],
            None => rules.rotations(),
        };
        if rotations.is_empty() {
            println!("no rotations are configured");
        }
        for rotation in rotations {
            let on_duty = rotation.on_duty(at, &rules.calendar);
            let now_text = if on_duty.is_empty() {
                format!("nobody (fallback: {})", rotation.fallback.as_deref().unwrap_or("the queue's fallback owner"))
            } else {
                on_duty.join(", ")
            };
            println!("{}: {now_text}", rotation.name);
            for (date, members) in rotation.week_from(at, &rules.calendar) {
                println!("    {date}  {}", if members.is_empty() { "-".to_string() } else { members.join(", ") });
            }
        }
        Ok(())
    }
}
