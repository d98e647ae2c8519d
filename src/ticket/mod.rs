//! The domain: tickets, their numbers, status and levels.
//!
//! Pure types with their text forms; no IO. The text forms are the ones stored in the
//! database and printed by `ticket show --json` (DESIGN §5).

use std::fmt;
use std::str::FromStr;

pub mod sla;
pub mod transitions;

use chrono::{DateTime, Utc};

/// A ticket number, as people write it after `#`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(pub i64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A person's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonId(pub i64);

/// An inbound message's row id in the spool (the `messages` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpoolId(pub i64);

impl fmt::Display for SpoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                let wanted = text.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| {
                        let known: Vec<&str> = $name::ALL.iter().map(|value| value.as_str()).collect();
                        format!("{wanted:?} is not one of {}", known.join(", "))
                    })
            }
        }
    };
}

text_enum! {
    /// Where a ticket is in its life cycle (DESIGN §3).
    Status { New = "new", Open = "open", Hold = "hold", Resolved = "resolved", Closed = "closed", Merged = "merged", Rejected = "rejected" }
}

text_enum! {
    /// The four levels of both the customer's importance and the support priority.
    Level { Urgent = "urgent", High = "high", Medium = "medium", Low = "low" }
}

text_enum! {
    /// What a person may do (DESIGN §4).
    Role { Customer = "customer", Agent = "agent", Vendor = "vendor", Admin = "admin" }
}

impl Status {
    /// Closed, merged and rejected tickets take no more work.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Merged | Status::Rejected)
    }
}

/// A ticket as stored, with people already resolved to their primary addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub number: TicketId,
    pub subject: String,
    pub status: Status,
    pub queue: String,
    pub importance: Level,
    pub priority: Level,
    pub owner: Option<String>,
    pub requester: String,
    pub cc: Vec<String>,
    pub category: Option<String>,
    pub host: Option<String>,
    pub due: Option<DateTime<Utc>>,
    pub requested_due: Option<DateTime<Utc>>,
    pub committed_due: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub time_spent_minutes: i64,
    /// Ticked checklist items, 1-based.
    pub checks: Vec<u32>,
    /// When the current hold began (the SLA clock is stopped since then).
    pub hold_started: Option<DateTime<Utc>>,
    /// Working time spent on earlier holds, which extends the SLA.
    pub held_minutes: i64,
    pub merged_into: Option<TicketId>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Who decides the resolution now, while resolved.
    pub approval_stage: Option<ApprovalStage>,
    pub follow_up_of: Option<TicketId>,
    /// The next action to take (`Next:`), as an agent or vendor wrote it.
    pub next_action: Option<String>,
    /// The configured vendor working on it (`Vendor:`), by name.
    pub vendor: Option<String>,
    /// The vendor's own number for it.
    pub vendor_ticket: Option<String>,
    /// When the vendor's answer is due; `None` while we do not wait for them.
    pub vendor_due: Option<DateTime<Utc>>,
    /// The peer site the ticket was transferred to or from.
    pub peer: Option<PeerTicket>,
}

/// A ticket's counterpart at a peer site (`[[sites]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTicket {
    pub site: String,
    /// The peer's number for it; `None` until they answer a transfer.
    pub number: Option<i64>,
    /// The peer owns it now (we transferred it to them); mail that still reaches us
    /// about it goes on to them.
    pub theirs: bool,
}

/// Who is asked to approve a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStage {
    Supervisor,
    Customer,
}

impl ApprovalStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStage::Supervisor => "supervisor",
            ApprovalStage::Customer => "customer",
        }
    }
}

/// How long until `due` as a person reads it at a glance: "3d 4h", "2h 05m", "12m",
/// or "over 1d 2h" once it has passed.
pub fn time_left(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (due - now).num_minutes();
    let magnitude = minutes.unsigned_abs();
    let (days, hours, rest) = (magnitude / (24 * 60), magnitude / 60 % 24, magnitude % 60);
    let span = if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {rest:02}m")
    } else {
        format!("{rest}m")
    };
    if due < now { format!("over {span}") } else { span }
}

/// One entry of a ticket's append-only history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// The entry's number, unique across all tickets (`ticket split N ENTRY` names it).
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

#[cfg(test)]
mod time_left_tests {
    use crate::ticket::time_left;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn reads_at_a_glance() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(time_left(now + Duration::minutes(12), now), "12m");
        assert_eq!(time_left(now + Duration::minutes(125), now), "2h 05m");
        assert_eq!(time_left(now + Duration::hours(76), now), "3d 4h");
        assert_eq!(time_left(now - Duration::hours(26), now), "over 1d 2h");
        assert_eq!(time_left(now, now), "0m");
    }
}
