//! Dates people write in the Due field: ISO forms and a few natural ones, read in the
//! configured time zone. A date without a time means the end of that working day.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};

use crate::ticket::sla::Calendar;

/// Reads `text` relative to `now`; `None` when it is not a date we understand.
pub fn parse_due(text: &str, now: DateTime<Utc>, calendar: &Calendar) -> Option<DateTime<Utc>> {
    let original = text.trim();
    let text = original.to_lowercase();
    let today = calendar.local_date(now);
    let end_of_day = NaiveTime::from_hms_opt(17, 0, 0).expect("valid time");

    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(&original.to_uppercase(), format) {
            return Some(calendar.to_utc(local));
        }
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(&original.to_uppercase()) {
        return Some(at.with_timezone(&Utc));
    }
    if let Some(amount) = text.strip_prefix("in ") {
        let (number, unit) = amount.trim().split_once(' ')?;
        let number: i64 = number.parse().ok().filter(|number| (0..=3650).contains(number))?;
        let unit = unit.trim().trim_end_matches('s');
        let on = |date: NaiveDate| Some(calendar.to_utc(date.and_time(end_of_day)));
        return match unit {
            "minute" => Some(now + Duration::minutes(number)),
            "hour" => Some(now + Duration::hours(number)),
            "day" => on(today + Duration::days(number)),
            "week" => on(today + Duration::weeks(number)),
            _ => None,
        };
    }
    // A day, then optionally a time of day: "friday 17:00", "tomorrow noon", "Dec 7 9am".
    let (day_text, time) = match text.rsplit_once(' ').and_then(|(day, time)| Some((day, time_of_day(time)?))) {
        Some((day, time)) => (day.trim(), Some(time)),
        None => match time_of_day(&text) {
            Some(time) => ("today", Some(time)),
            None => (text.as_str(), None),
        },
    };
    let date = day(day_text, today)?;
    Some(calendar.to_utc(date.and_time(time.unwrap_or(end_of_day))))
}

/// "17:00", "9:30", "noon", "midnight", "9am", "5pm", "17h".
fn time_of_day(text: &str) -> Option<NaiveTime> {
    match text {
        "noon" | "mittag" => return NaiveTime::from_hms_opt(12, 0, 0),
        "midnight" => return NaiveTime::from_hms_opt(0, 0, 0),
        _ => {}
    }
    if let Ok(time) = NaiveTime::parse_from_str(text, "%H:%M") {
        return Some(time);
    }
    let (hour_text, afternoon) = match (text.strip_suffix("am"), text.strip_suffix("pm"), text.strip_suffix('h')) {
        (Some(hour), _, _) => (hour, false),
        (_, Some(hour), _) => (hour, true),
        (_, _, Some(hour)) => (hour, false),
        _ => return None,
    };
    let hour: u32 = hour_text.trim().parse().ok()?;
    let hour = match (afternoon, text.ends_with('h')) {
        (_, true) => hour,
        (false, false) if (1..=12).contains(&hour) => hour % 12,
        (true, false) if (1..=12).contains(&hour) => hour % 12 + 12,
        _ => return None,
    };
    NaiveTime::from_hms_opt(hour, 0, 0)
}

/// The day `text` names: today, tomorrow, a weekday (the coming one, `next` skips
/// today), an ISO date, or a month and day ("Dec 7", "7 December"; the next such day).
fn day(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    match text {
        "today" | "heute" => return Some(today),
        "tomorrow" | "morgen" => return today.succ_opt(),
        _ => {}
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date);
    }
    let weekday_text = text.strip_prefix("next ").unwrap_or(text);
    if let Ok(weekday) = weekday_text.parse::<Weekday>() {
        let ahead = (7 + weekday.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64) % 7;
        let ahead = if text.starts_with("next ") && ahead == 0 { 7 } else { ahead };
        return Some(today + Duration::days(ahead));
    }
    let cleaned = text.replace([',', '.'], " ");
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    for year in [today.year(), today.year() + 1] {
        for format in ["%b %d %Y", "%d %b %Y", "%B %d %Y", "%d %B %Y"] {
            if let Ok(date) = NaiveDate::parse_from_str(&format!("{cleaned} {year}"), format) {
                if date >= today {
                    return Some(date);
                }
            }
        }
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
        check("friday 17:00", "2026-11-27T16:00:00Z");
        check("Friday 9am", "2026-11-27T08:00:00Z");
        check("tomorrow noon", "2026-11-22T11:00:00Z");
        check("Dec 7", "2026-12-07T16:00:00Z");
        check("7 December", "2026-12-07T16:00:00Z");
        check("Dec 7 12:00", "2026-12-07T11:00:00Z");
        check("Nov 1", "2027-11-01T16:00:00Z");
        check("2026-12-07T12:00", "2026-12-07T11:00:00Z");
        check("2026-12-07T12:00:00Z", "2026-12-07T12:00:00Z");
        check("15:30", "2026-11-21T14:30:00Z");
        assert_eq!(parse_due("soonish", now, &calendar), None);
        assert_eq!(parse_due("friday 25:00", now, &calendar), None);
        assert_eq!(parse_due("Dec 32", now, &calendar), None);
        assert_eq!(parse_due("in 99999999999 days", now, &calendar), None);
    }
}
