//! Duty rotations: who is on duty at a time, from a weekly turn through the members or
//! from explicit slots, less those who are away. Pure; the choice of the least loaded
//! member happens where the ticket counts are (`store::tickets::active_counts`).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::config::RotationConfig;
use crate::ticket::sla::Calendar;

/// A compiled rotation.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub name: String,
    members: Vec<String>,
    per_week: usize,
    start: NaiveDate,
    slots: Vec<(DateTime<Utc>, DateTime<Utc>, Vec<String>)>,
    absences: Vec<(String, NaiveDate, NaiveDate)>,
    pub fallback: Option<String>,
}

impl Rotation {
    pub fn compile(name: &str, config: &RotationConfig, calendar: &Calendar) -> Result<Rotation, String> {
        let key = format!("rotations.{name}");
        let address = |text: &str, what: &str| {
            crate::parse::bare_address(text).ok_or_else(|| format!("{key}.{what}: {text:?} is not an address"))
        };
        let members = config.members.iter().map(|member| address(member, "members")).collect::<Result<Vec<_>, _>>()?;
        let day = |text: &str, what: &str| {
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| format!("{key}.{what}: {text:?} is not YYYY-MM-DD"))
        };
        let start = match &config.start {
            Some(start) => day(start, "start")?,
            None => NaiveDate::from_ymd_opt(2024, 1, 1).expect("a Monday"),
        };
        let mut slots = Vec::new();
        for slot in &config.slots {
            let time = |text: &str| {
                NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M")
                    .map(|local| calendar.to_utc(local))
                    .map_err(|_| format!("{key}.slots: {text:?} is not \"YYYY-MM-DD HH:MM\""))
            };
            let (from, to) = (time(&slot.from)?, time(&slot.to)?);
            if to <= from {
                return Err(format!("{key}.slots: {} to {} ends before it starts", slot.from, slot.to));
            }
            let slot_members = slot.members.iter().map(|member| address(member, "slots.members")).collect::<Result<_, _>>()?;
            slots.push((from, to, slot_members));
        }
        let absences = config
            .absences
            .iter()
            .map(|absence| Ok((address(&absence.who, "absences.who")?, day(&absence.from, "absences.from")?, day(&absence.to, "absences.to")?)))
            .collect::<Result<_, String>>()?;
        if members.is_empty() && slots.is_empty() {
            return Err(format!("{key} has neither members nor slots"));
        }
        let fallback = config.fallback.as_deref().map(|fallback| address(fallback, "fallback")).transpose()?;
        Ok(Rotation { name: name.to_string(), members, per_week: config.per_week.max(1), start, slots, absences, fallback })
    }

    /// The members on duty at `at`, in rotation order, without those away that day.
    pub fn on_duty(&self, at: DateTime<Utc>, calendar: &Calendar) -> Vec<String> {
        let today = calendar.local_date(at);
        let scheduled: Vec<String> = if self.slots.is_empty() {
            let weeks = (today - self.start).num_days().div_euclid(7);
            let count = self.members.len();
            let first = (weeks.rem_euclid(count as i64) as usize * self.per_week) % count;
            (0..self.per_week.min(count)).map(|offset| self.members[(first + offset) % count].clone()).collect()
        } else {
            self.slots
                .iter()
                .filter(|(from, to, _)| *from <= at && at < *to)
                .flat_map(|(_, _, members)| members.iter().cloned())
                .collect()
        };
        let mut on_duty: Vec<String> = Vec::new();
        for member in scheduled {
            let away = self.absences.iter().any(|(who, from, to)| *who == member && *from <= today && today <= *to);
            if !away && !on_duty.contains(&member) {
                on_duty.push(member);
            }
        }
        on_duty
    }

    /// The whole week's duty, day by day, for `rotation show`.
    pub fn week_from(&self, at: DateTime<Utc>, calendar: &Calendar) -> Vec<(NaiveDate, Vec<String>)> {
        (0..7).map(|offset| {
            let when = at + Duration::days(offset);
            (calendar.local_date(when), self.on_duty(when, calendar))
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AbsenceConfig, SlotConfig};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weekly_turns_change_on_local_monday() {
        let calendar = Calendar::parse("Europe/Berlin", "always", &[]).unwrap();
        let config = RotationConfig {
            members: vec!["a@x.org".into(), "b@x.org".into(), "c@x.org".into()],
            per_week: 2,
            start: Some("2026-11-02".into()),
            absences: vec![AbsenceConfig { who: "b@x.org".into(), from: "2026-11-25".into(), to: "2026-11-26".into() }],
            ..RotationConfig::default()
        };
        let rotation = Rotation::compile("duty", &config, &calendar).unwrap();
        // Week 0: a, b; week 1: c, a; week 2: b, c; week 3: a, b.
        assert_eq!(rotation.on_duty(at("2026-11-03T10:00:00Z"), &calendar), ["a@x.org", "b@x.org"]);
        assert_eq!(rotation.on_duty(at("2026-11-10T10:00:00Z"), &calendar), ["c@x.org", "a@x.org"]);
        // Sunday 23:00 UTC is already Monday 23 Nov in Berlin: week 3; a minute earlier is week 2.
        assert_eq!(rotation.on_duty(at("2026-11-22T23:00:00Z"), &calendar), ["a@x.org", "b@x.org"]);
        assert_eq!(rotation.on_duty(at("2026-11-22T22:59:00Z"), &calendar), ["b@x.org", "c@x.org"]);
        assert_eq!(rotation.on_duty(at("2026-11-22T12:00:00Z"), &calendar), ["b@x.org", "c@x.org"]);
        // b is away on Wednesday.
        assert_eq!(rotation.on_duty(at("2026-11-25T10:00:00Z"), &calendar), ["a@x.org"]);
    }

    #[test]
    fn explicit_slots() {
        let calendar = Calendar::parse("America/New_York", "always", &[]).unwrap();
        let config = RotationConfig {
            slots: vec![SlotConfig { members: vec!["n@x.org".into()], from: "2026-11-23 18:00".into(), to: "2026-11-24 08:00".into() }],
            fallback: Some("boss@x.org".into()),
            ..RotationConfig::default()
        };
        let rotation = Rotation::compile("night", &config, &calendar).unwrap();
        assert_eq!(rotation.on_duty(at("2026-11-23T23:30:00Z"), &calendar), ["n@x.org"]);
        assert!(rotation.on_duty(at("2026-11-24T13:30:00Z"), &calendar).is_empty());
        assert_eq!(rotation.fallback.as_deref(), Some("boss@x.org"));
    }
}
