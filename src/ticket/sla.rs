//! Working-time arithmetic for SLA clocks: business hours, holidays, time zones.
//!
//! A `Calendar` says when the clock runs. `add` moves a time forward by an amount of
//! working time; `between` measures the working time between two instants. Local
//! times are converted through the IANA zone, so DST changes are handled: a day that
//! is 23 or 25 hours long still has its business hours at the same wall-clock times.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Opening and closing time per weekday, Monday first; `None` for days off.
type Week = [Option<(NaiveTime, NaiveTime)>; 7];

/// When working time runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub zone: Tz,
    /// `None`: every hour counts.
    hours: Option<Week>,
    holidays: BTreeSet<NaiveDate>,
}

/// Bound on days walked, so that a calendar without working days cannot loop forever.
const MAX_DAYS_WALKED: i64 = 3 * 366;

impl Calendar {
    /// Compiles `timezone`, `business_hours` ("always" or e.g. "Mon-Fri 08:00-18:00, Sat 09:00-12:00")
    /// and `holidays` (YYYY-MM-DD).
    pub fn parse(timezone: &str, business_hours: &str, holidays: &[String]) -> Result<Calendar, String> {
        let zone: Tz = timezone.parse().map_err(|_| format!("{timezone:?} is not an IANA time zone like \"Europe/Berlin\""))?;
        let hours = parse_hours(business_hours)?;
        let holidays = holidays
            .iter()
            .map(|day| NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| format!("holiday {day:?} is not YYYY-MM-DD")))
            .collect::<Result<_, _>>()?;
        Ok(Calendar { zone, hours, holidays })
    }

    /// Every hour of every day counts.
    pub fn always() -> Calendar {
        Calendar { zone: Tz::UTC, hours: None, holidays: BTreeSet::new() }
    }

    /// The longest working day, for targets written in days.
    pub fn day_length(&self) -> Duration {
        match &self.hours {
            None => Duration::hours(24),
            Some(week) => week.iter().flatten().map(|(open, close)| *close - *open).max().unwrap_or(Duration::hours(24)),
        }
    }

    /// The working interval of `date`, in UTC.
    fn working_interval(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return None;
        }
        let (open, close) = match &self.hours {
            None => (NaiveTime::MIN, None),
            Some(week) => {
                let (open, close) = week[date.weekday().num_days_from_monday() as usize]?;
                (open, Some(close))
            }
        };
        let start = self.to_utc(date.and_time(open));
        let end = match close {
            Some(close) => self.to_utc(date.and_time(close)),
            None => self.to_utc(date.succ_opt()?.and_time(NaiveTime::MIN)),
        };
        (end > start).then_some((start, end))
    }

    /// A local wall-clock time as UTC; a time skipped by a DST change moves forward an hour.
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.zone.from_local_datetime(&local).earliest() {
            Some(at) => at.with_timezone(&Utc),
            None => self
                .zone
                .from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
                .map(|at| at.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&local)),
        }
    }

    /// `at` as people at the site read it: local date, time and zone, "2026-12-07 17:00 CET".
    pub fn local_text(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }

    /// `start` moved forward by `amount` of working time.
    pub fn add(&self, start: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if self.hours.is_none() && self.holidays.is_empty() {
            return start + amount;
        }
        let mut remaining = amount;
        let mut date = self.local_date(start) - Duration::days(1);
        for _ in 0..MAX_DAYS_WALKED {
            let Some(next) = date.succ_opt() else { break };
            date = next;
            let Some((open, close)) = self.working_interval(date) else { continue };
            let from = open.max(start);
            if from >= close {
                continue;
            }
            let available = close - from;
            if remaining <= available {
                return from + remaining;
            }
            remaining -= available;
        }
        start + amount
    }

    /// Working time between `from` and `to` (zero when `to` is not later).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        if self.hours.is_none() && self.holidays.is_empty() {
            return to - from;
        }
        let mut total = Duration::zero();
        let mut date = self.local_date(from) - Duration::days(1);
        let last = self.local_date(to);
        for _ in 0..MAX_DAYS_WALKED {
            let Some(next) = date.succ_opt() else { break };
            date = next;
            if date > last {
                break;
            }
            if let Some((open, close)) = self.working_interval(date) {
                let start = open.max(from);
                let end = close.min(to);
                if end > start {
                    total += end - start;
                }
            }
        }
        total
    }
}

fn parse_hours(text: &str) -> Result<Option<Week>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("always") || text.is_empty() {
        return Ok(None);
    }
    let mut week = [None; 7];
    for part in text.split(',') {
        let part = part.trim();
        let (days, times) = part
            .split_once(' ')
            .ok_or_else(|| format!("business hours {part:?} should look like \"Mon-Fri 08:00-18:00\""))?;
        let (open, close) = times
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("business hours {part:?}: times should look like 08:00-18:00"))?;
        let time = |text: &str| {
            NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| format!("business hours {part:?}: {text:?} is not HH:MM"))
        };
        let (open, close) = (time(open)?, time(close)?);
        if close <= open {
            return Err(format!("business hours {part:?}: closing time must be after opening time"));
        }
        let day = |text: &str| -> Result<usize, String> {
            text.trim()
                .parse::<Weekday>()
                .map(|day| day.num_days_from_monday() as usize)
                .map_err(|_| format!("business hours {part:?}: {text:?} is not a weekday like Mon"))
        };
        let (first, last) = match days.split_once('-') {
            Some((first, last)) => (day(first)?, day(last)?),
            None => (day(days)?, day(days)?),
        };
        let mut index = first;
        loop {
            week[index] = Some((open, close));
            if index == last {
                break;
            }
            index = (index + 1) % 7;
        }
    }
    Ok(Some(week))
}

/// Reads a duration like `45m`, `1h30m`, `2h`, `1.5h`, `3d`, `1w` (days are `day_length` long).
pub fn parse_duration(text: &str, day_length: Duration) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase().replace(' ', "");
    if text.is_empty() || text.len() > 32 {
        return None;
    }
    let mut total_seconds = 0f64;
    let mut number = String::new();
    let mut saw_unit = false;
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit_seconds = match c {
            'm' => 60.0,
            'h' => 3600.0,
            'd' => day_length.num_seconds() as f64,
            'w' => 5.0 * day_length.num_seconds() as f64,
            _ => return None,
        };
        total_seconds += value * unit_seconds;
        saw_unit = true;
    }
    if !number.is_empty() {
        // A bare number means minutes, as in "Time: 30".
        let value: f64 = number.parse().ok()?;
        total_seconds += value * 60.0;
        saw_unit = true;
    }
    (saw_unit && total_seconds.is_finite() && (0.0..1e10).contains(&total_seconds))
        .then(|| Duration::seconds(total_seconds.round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn durations() {
        let day = Duration::hours(8);
        assert_eq!(parse_duration("45m", day), Some(Duration::minutes(45)));
        assert_eq!(parse_duration("1h30m", day), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("1.5h", day), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("2d", day), Some(Duration::hours(16)));
        assert_eq!(parse_duration("30", day), Some(Duration::minutes(30)));
        assert_eq!(parse_duration("soon", day), None);
        assert_eq!(parse_duration("", day), None);
    }

    #[test]
    fn business_hours_skip_nights_weekends_and_holidays() {
        let calendar = Calendar::parse("Europe/Berlin", "Mon-Fri 09:00-17:00", &["2026-12-24".into()]).unwrap();
        // Friday 16:00 Berlin (15:00 UTC) + 2h working time = Monday 10:00 Berlin.
        assert_eq!(calendar.add(at("2026-11-20T15:00:00Z"), Duration::hours(2)), at("2026-11-23T09:00:00Z"));
        // Saturday start counts from Monday opening.
        assert_eq!(calendar.add(at("2026-11-21T10:00:00Z"), Duration::hours(1)), at("2026-11-23T09:00:00Z"));
        // Wednesday 23 Dec 16:00 + 2h skips the holiday on Thursday 24 Dec.
        assert_eq!(calendar.add(at("2026-12-23T15:00:00Z"), Duration::hours(2)), at("2026-12-25T09:00:00Z"));
        assert_eq!(calendar.between(at("2026-11-20T15:00:00Z"), at("2026-11-23T09:00:00Z")), Duration::hours(2));
        assert_eq!(calendar.day_length(), Duration::hours(8));
    }

    #[test]
    fn dst_changes_keep_wall_clock_hours() {
        let calendar = Calendar::parse("Europe/Berlin", "Mon-Fri 09:00-17:00", &[]).unwrap();
        // Friday 23 Oct 2026 16:00 CEST (14:00 UTC) + 2h: Monday 26 Oct 10:00 CET = 09:00 UTC (DST ended Sunday).
        assert_eq!(calendar.add(at("2026-10-23T14:00:00Z"), Duration::hours(2)), at("2026-10-26T09:00:00Z"));
        // Spring: Friday 27 Mar 2026 16:00 CET (15:00 UTC) + 2h: Monday 30 Mar 10:00 CEST = 08:00 UTC.
        assert_eq!(calendar.add(at("2026-03-27T15:00:00Z"), Duration::hours(2)), at("2026-03-30T08:00:00Z"));
        // Round the clock across the autumn change: the night has 25 hours.
        let always = Calendar::parse("Europe/Berlin", "always", &[]).unwrap();
        assert_eq!(always.between(at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z")), Duration::hours(25));
    }

    #[test]
    fn bad_calendars_are_named() {
        assert!(Calendar::parse("Mars/Olympus", "always", &[]).unwrap_err().contains("Mars/Olympus"));
        assert!(Calendar::parse("UTC", "Mon-Fri 18:00-08:00", &[]).is_err());
        assert!(Calendar::parse("UTC", "Funday 08:00-09:00", &[]).unwrap_err().contains("Funday"));
        assert!(Calendar::parse("UTC", "always", &["24.12.2026".into()]).unwrap_err().contains("24.12.2026"));
    }
}
