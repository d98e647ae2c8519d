//! The one place that knows the current time.
//!
//! Every command reads the time once, here, and passes it down: no other module calls
//! `Utc::now()`. `REQMAIL_NOW` (RFC 3339) overrides the system clock so that tests
//! and replays can move through days.

use chrono::{DateTime, SecondsFormat, Utc};

/// The environment variable that fixes "now" for every command.
pub const NOW_VARIABLE: &str = "REQMAIL_NOW";

/// Where the current time comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// `REQMAIL_NOW` when set, else the system clock.
    pub fn from_env() -> anyhow::Result<Clock> {
        match std::env::var(NOW_VARIABLE) {
            Ok(text) if !text.trim().is_empty() => {
                let fixed = DateTime::parse_from_rfc3339(text.trim()).map_err(|error| {
                    anyhow::anyhow!("{NOW_VARIABLE}={text:?} is not an RFC 3339 time ({error}); use e.g. 2026-11-21T09:00:00Z")
                })?;
                Ok(Clock::Fixed(fixed.with_timezone(&Utc)))
            }
            _ => Ok(Clock::System),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => *at,
        }
    }
}

/// The single text form of a time in the database and in JSON: UTC, whole seconds.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads a time written by [`format_time`] (or any RFC 3339 time).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|at| at.with_timezone(&Utc))
}
