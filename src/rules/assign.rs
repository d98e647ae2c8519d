//! Who takes a ticket a rotation is asked for: the on-duty member with the fewest active
//! tickets. Assignment only reads: it answers with an address, and `apply` makes a
//! person of it when it is new.

use chrono::{DateTime, Utc};
use crate::store::Connection;

use super::rotation::Rotation;
use super::Rules;
use crate::store;

/// The on-duty member of `rotation` with the fewest active tickets; ties go to whoever
/// least recently got a ticket, then to rotation order. Nobody on duty: the rotation's
/// fallback, else the queue's (`None` when neither is configured).
pub fn on_duty_member(conn: &Connection, rules: &Rules, rotation: &Rotation, queue: Option<&str>, now: DateTime<Utc>) -> crate::store::Result<Option<String>> {
    let calendar = queue.map_or(&rules.calendar, |queue| rules.calendar_of(queue));
    let mut best: Option<((i64, String), String)> = None;
    for member in rotation.on_duty(now, calendar) {
        // Someone who left the directory is no longer an agent.
        if store::directory::is_retired(conn, &member)? {
            continue;
        }
        // Someone not yet in the database owns nothing.
        let load = match store::people::find_by_address(conn, &member)? {
            Some((person, _)) => store::tickets::load_of(conn, person)?,
            None => (0, String::new()),
        };
        if best.as_ref().is_none_or(|(best_load, _)| load < *best_load) {
            best = Some((load, member));
        }
    }
    if let Some((_, address)) = best {
        return Ok(Some(address));
    }
    Ok(rotation.fallback.clone().or_else(|| queue.and_then(|queue| rules.queue(queue)).and_then(|queue| queue.fallback_owner.clone())))
}
