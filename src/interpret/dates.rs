//! Dates people write in the Due field: ISO forms and a few natural ones, read in the
//! configured time zone. A date without a time means the end of that working day.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};

use crate::ticket::sla::Calendar;

/// Reads `text` relative to `now`; `None` when it is not a date we understand.
pub fn parse_due(text: &str, now: DateTime<Utc>, calendar: &Calendar) -> Option<DateTime<Utc>> {
    let text = text.trim().to_lowercase();
    let today = calendar.local_date(now);
    let end_of_day = NaiveTime::from_hms_opt(17, 0, 0).expect("valid time");
    let on = |date: NaiveDate| Some(calendar.to_utc(date.and_time(end_of_day)));

    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(&text, format) {
            return Some(calendar.to_utc(local));
        }
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(&text.to_uppercase()) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return on(date);
    }
    match text.as_str() {
        "today" | "heute" => return on(today),
        "tomorrow" | "morgen" => return on(today.succ_opt()?),
        _ => {}
    }
    if let Some(amount) = text.strip_prefix("in ") {
        let (number, unit) = amount.trim().split_once(' ')?;
        let number: i64 = number.parse().ok().filter(|number| (0..=3650).contains(number))?;
        let unit = unit.trim().trim_end_matches('s');
        return match unit {
            "minute" => Some(now + Duration::minutes(number)),
            "hour" => Some(now + Duration::hours(number)),
            "day" => on(today + Duration::days(number)),
            "week" => on(today + Duration::weeks(number)),
            _ => None,
        };
    }
    let weekday_text = text.strip_prefix("next ").unwrap_or(&text);
    if let Ok(weekday) = weekday_text.parse::<Weekday>() {
        let ahead = (7 + weekday.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64) % 7;
        let ahead = if text.starts_with("next ") && ahead == 0 { 7 } else { ahead };
        return on(today + Duration::days(ahead));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let calendar = Calendar::parse("Europe/Berlin", "always", &[]).unwrap();
        // Saturday 21 Nov 2026, 10:00 Berlin.
        let now = DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z").unwrap().with_timezone(&Utc);
        let check = |text: &str, expected: &str| {
            let got = parse_due(text, now, &calendar).map(crate::clock::format_time);
            assert_eq!(got.as_deref(), Some(expected), "{text}");
        };
        check("2026-12-01 17:00", "2026-12-01T16:00:00Z");
        check("2026-12-01", "2026-12-01T16:00:00Z");
        check("tomorrow", "2026-11-22T16:00:00Z");
        check("Friday", "2026-11-27T16:00:00Z");
        check("saturday", "2026-11-21T16:00:00Z");
        check("next saturday", "2026-11-28T16:00:00Z");
        check("in 3 days", "2026-11-24T16:00:00Z");
        check("in 2 hours", "2026-11-21T11:00:00Z");
        check("2026-07-01 09:00", "2026-07-01T07:00:00Z");
        assert_eq!(parse_due("soonish", now, &calendar), None);
        assert_eq!(parse_due("in 99999999999 days", now, &calendar), None);
    }
}
