//! Tickets, their Cc lists and their history.

use std::ops::ControlFlow;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use crate::store::{params, Connection, OptionalExtension, Row};

use crate::clock::{format_time, parse_time};
use crate::ticket::{ApprovalStage, HistoryEvent, Level, PeerTicket, PersonId, SpoolId, Status, Ticket, TicketId};

/// What a new ticket starts with.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub subject: String,
    pub queue: String,
    pub importance: Level,
    pub priority: Level,
    pub requester: PersonId,
    /// `store.first_ticket_number`: no ticket gets a lower number.
    pub first_number: i64,
}

/// Takes the next ticket number; numbers are never reused, even after a rollback
/// of a later transaction, because the counter moves in the same transaction.
fn allocate_number(conn: &Connection, first_number: i64) -> crate::store::Result<TicketId> {
    // The highest of: the counter, the configured first number, and (for a restored or
    // imported database that already holds higher numbers) one above the highest ticket.
    let number: i64 = conn
        .prepare_cached(
            "SELECT MAX(?1, COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE name = 'next_ticket_number'), ?1),
                        (SELECT COALESCE(MAX(number), 0) + 1 FROM tickets))",
        )?
        .query_row([first_number], |row| row.get(0))?;
    crate::store::set_setting(conn, "next_ticket_number", &(number + 1).to_string())?;
    Ok(TicketId(number))
}

pub fn create(conn: &Connection, new: &NewTicket, now: DateTime<Utc>) -> crate::store::Result<TicketId> {
    let number = allocate_number(conn, new.first_number)?;
    let now = format_time(now);
    conn.prepare_cached(
        "INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated)
         VALUES (?1, ?2, 'new', ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        number.0,
        new.subject,
        new.queue,
        new.importance.as_str(),
        new.priority.as_str(),
        new.requester.0,
        now
    ])?;
    created(conn, number, &new.subject, &now)?;
    Ok(number)
}

/// What follows once ticket `number` was inserted, new with `subject` at `at`: its first
/// status change for the reports, and its subject in the search index and by sound.
///
/// As the statements that change a ticket (see [`status_moved`]), the insert writes this
/// itself, not a trigger on `tickets` (migration 0032).
pub fn created(conn: &Connection, number: TicketId, subject: &str, at: &str) -> crate::store::Result<()> {
    record_status_change(conn, number, at, None, "new")?;
    crate::store::search::index_subject(conn, number.0, subject)
}

/// A status change for the reports: its row, and its day's count (migration 0034).
fn record_status_change(conn: &Connection, ticket: TicketId, at: &str, from: Option<&str>, to: &str) -> crate::store::Result<()> {
    let backlog = |status: &str| i64::from(matches!(status, "new" | "open" | "hold"));
    let moved = backlog(to) - from.map_or(0, backlog);
    let reopened = matches!(from, Some("resolved" | "closed")) && backlog(to) == 1;
    conn.prepare_cached("INSERT INTO status_changes (ticket, at, from_status, to_status, backlog) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![ticket.0, at, from, to, moved])?;
    conn.prepare_cached(
        "INSERT INTO status_days (day, to_status, reopened, changes, backlog) VALUES (?1, ?2, ?3, 1, ?4)
         ON CONFLICT (day, to_status, reopened) DO UPDATE SET changes = status_days.changes + 1, backlog = status_days.backlog + excluded.backlog",
    )?
    .execute(params![at.get(..10).unwrap_or(at), to, reopened, moved])?;
    Ok(())
}

/// `ticket`, or the ticket it was merged into (followed to the end); `None` if there is no such ticket.
pub fn resolve_merged(conn: &Connection, ticket: TicketId) -> crate::store::Result<Option<TicketId>> {
    let mut current = ticket;
    // A merge chain is short; the bound protects against a cycle written by hand.
    for _ in 0..32 {
        let merged_into: Option<Option<i64>> = conn
            .prepare_cached("SELECT merged_into FROM tickets WHERE number = ?1")?
            .query_row([current.0], |row| row.get(0))
            .optional()?;
        match merged_into {
            None => return Ok(None),
            Some(None) => return Ok(Some(current)),
            Some(Some(next)) => current = TicketId(next),
        }
    }
    Ok(Some(current))
}

pub fn touch(conn: &Connection, ticket: TicketId, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET updated = ?1, scheduler_at = '' WHERE number = ?2")?.execute(params![format_time(now), ticket.0])?;
    Ok(())
}


pub fn add_history(
    conn: &Connection,
    ticket: TicketId,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    detail: &str,
    message: Option<SpoolId>,
) -> crate::store::Result<()> {
    insert_history(conn, HistoryEntry { ticket, at: &format_time(at), actor, action, detail, message, internal: false })
}

/// A history entry as [`insert_history`] takes it.
pub struct HistoryEntry<'a> {
    pub ticket: TicketId,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub detail: &'a str,
    pub message: Option<SpoolId>,
    /// Only agents and admins see it.
    pub internal: bool,
}

/// Adds `entry` and what follows from it: a note in the search index, a staff member's
/// first comment as the ticket's first response, time spent for the reports.
///
/// As for a ticket (see [`status_moved`]), this is written here, not by triggers on
/// `history` (migration 0033): a trigger made SQLite journal the pages of each insert, and
/// the note it indexed had to be decompressed again.
pub fn insert_history(conn: &Connection, entry: HistoryEntry<'_>) -> crate::store::Result<()> {
    let HistoryEntry { ticket, at, actor, action, detail, message, internal } = entry;
    let compressed = match detail.len() >= SHORTEST_COMPRESSED_NOTE && super::is_note_action(action) {
        true => super::compression::compress_note(conn, next_history_id(conn)?, detail)?,
        false => None,
    };
    let text = if compressed.is_some() { "" } else { detail };
    conn.prepare_cached(
        "INSERT INTO history (ticket, at, actor, action, detail, detail_zstd, message, internal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![ticket.0, at, actor, action, text, compressed, message.map(|id| id.0), internal])?;
    if matches!(action, "comment" | "internal-note" | "automatic-comment") {
        // Before any other insert: the index reads the new entry's id from the connection.
        let note = detail.find(" (matched by ").map_or(detail, |end| &detail[..end]);
        crate::store::search::index_note_just_added(conn, ticket.0, note, message.map(|id| id.0))?;
    }
    match action {
        "comment" => {
            conn.prepare_cached(
                "INSERT INTO first_responses (ticket, at)
                 SELECT ?1, ?2 FROM addresses JOIN people ON people.id = addresses.person
                  WHERE addresses.address = lower(?3) AND people.role IN ('agent', 'admin')
                    AND NOT EXISTS (SELECT 1 FROM tickets WHERE number = ?1 AND requester = people.id)
                    AND NOT EXISTS (SELECT 1 FROM first_responses WHERE ticket = ?1)",
            )?
            .execute(params![ticket.0, at, actor])?;
        }
        "time" => {
            if let Some(minutes) = minutes_added(detail) {
                conn.prepare_cached(
                    "INSERT INTO time_entries (ticket, at, minutes, vendor)
                     VALUES (?1, ?2, ?3, CASE WHEN EXISTS (SELECT 1 FROM addresses JOIN people ON people.id = addresses.person
                                                          WHERE addresses.address = lower(?4) AND people.role = 'vendor') THEN 1 ELSE 0 END)",
                )?
                .execute(params![ticket.0, at, minutes, actor])?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The minutes a time entry's detail adds (`time: 10m → 25m (+15m)`): the digits after
/// `(+`, none when there is no `(+`.
fn minutes_added(detail: &str) -> Option<i64> {
    let after = &detail[detail.find("(+")? + 2..];
    let digits = &after[..after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len())];
    Some(if digits.is_empty() { 0 } else { digits.parse().unwrap_or(i64::MAX) })
}

/// Compresses the notes kept as text from before notes were compressed, a few thousand
/// at a time (for `store compact`, once the store has a note dictionary); returns how many.
pub fn compress_old_notes(conn: &Connection) -> crate::store::Result<usize> {
    const CHUNK: i64 = 5_000;
    // The store's size decides whether a dictionary is due, as for a new note.
    let next_id = next_history_id(conn)?;
    let mut done = 0;
    let mut after = 0;
    loop {
        let old: Vec<(i64, String)> = conn
            .prepare_cached(concat!(
                "SELECT id, detail FROM history WHERE id > ?1 AND detail_zstd IS NULL AND length(CAST(detail AS BLOB)) >= ?2 AND action IN (",
                super::note_actions!(),
                ") ORDER BY id LIMIT ?3"
            ))?
            .query_map(params![after, SHORTEST_COMPRESSED_NOTE, CHUNK], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<crate::store::Result<_>>()?;
        let Some((last, _)) = old.last() else { return Ok(done) };
        after = *last;
        for (id, detail) in &old {
            if let Some(compressed) = super::compression::compress_note(conn, next_id, detail)? {
                conn.prepare_cached("UPDATE history SET detail = '', detail_zstd = ?2 WHERE id = ?1")?.execute(params![id, compressed])?;
                done += 1;
            }
        }
    }
}

fn next_history_id(conn: &Connection) -> crate::store::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM history")?.query_row([], |row| row.get(0))
}

/// Notes shorter than this stay text: a frame's header and its dictionary's id take
/// about as much as compressing such a note saves.
const SHORTEST_COMPRESSED_NOTE: usize = 64;

/// A history entry's text in SQL (`store::compression::register`).
const DETAIL: &str = "reqmail_note(detail, detail_zstd)";

/// The sender and note of inbound `message` on `ticket` while its note is held back.
pub fn held_note(conn: &Connection, ticket: TicketId, message: SpoolId) -> crate::store::Result<Option<(String, String)>> {
    conn.prepare_cached(
        "SELECT m.from_address, reqmail_note(h.detail, h.detail_zstd) FROM history h JOIN messages m ON m.id = h.message
         WHERE h.ticket = ?1 AND h.message = ?2 AND h.action = 'held-note' AND h.internal = 1",
    )?
    .query_row(params![ticket.0, message.0], |row| Ok((row.get::<_, Option<String>>(0)?.unwrap_or_default(), row.get::<_, Option<String>>(1)?.unwrap_or_default())))
    .optional()
}

/// Makes the held-back note of `message` on `ticket` visible to everyone on the ticket.
pub fn publish_held_note(conn: &Connection, ticket: TicketId, message: SpoolId) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE history SET internal = 0 WHERE ticket = ?1 AND message = ?2 AND action = 'held-note'")?
        .execute(params![ticket.0, message.0])?;
    Ok(())
}

const TICKET_COLUMNS: &str = "t.number, t.subject, t.status, t.queue, t.importance, t.priority,
    (SELECT address FROM addresses WHERE person = t.owner ORDER BY is_primary DESC, address LIMIT 1),
    (SELECT address FROM addresses WHERE person = t.requester ORDER BY is_primary DESC, address LIMIT 1),
    t.category, t.host, t.due, t.requested_due, t.committed_due, t.created, t.updated, t.time_spent_minutes,
    t.hold_started, t.held_minutes, t.merged_into, t.resolved_at, t.closed_at, t.approval_stage, t.follow_up_of, t.next_action,
    t.vendor, t.vendor_ticket, t.vendor_due, t.peer_site, t.peer_ticket, t.peer_owns,
    (SELECT group_concat(c.person || ' ' || (SELECT address FROM addresses WHERE person = c.person ORDER BY is_primary DESC, address LIMIT 1), char(10))
     FROM ticket_cc c WHERE c.ticket = t.number)";
const TICKET_COLUMN_COUNT: usize = 31;

fn ticket_from_row(row: &Row<'_>) -> crate::store::Result<Ticket> {
    let time = |index: usize| -> crate::store::Result<Option<DateTime<Utc>>> {
        Ok(row.get::<_, Option<String>>(index)?.as_deref().and_then(parse_time))
    };
    let status: String = row.get(2)?;
    let importance: String = row.get(4)?;
    let priority: String = row.get(5)?;
    Ok(Ticket {
        number: TicketId(row.get(0)?),
        subject: row.get(1)?,
        status: status.parse().unwrap_or(Status::Open),
        queue: row.get(3)?,
        importance: importance.parse().unwrap_or(Level::Medium),
        priority: priority.parse().unwrap_or(Level::Medium),
        owner: row.get(6)?,
        requester: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
        cc: cc_of_column(row.get(TICKET_COLUMN_COUNT - 1)?),
        category: row.get(8)?,
        host: row.get(9)?,
        due: time(10)?,
        requested_due: time(11)?,
        committed_due: time(12)?,
        created: time(13)?.unwrap_or_default(),
        updated: time(14)?.unwrap_or_default(),
        time_spent_minutes: row.get(15)?,
        checks: Vec::new(),
        hold_started: time(16)?,
        held_minutes: row.get(17)?,
        merged_into: row.get::<_, Option<i64>>(18)?.map(TicketId),
        resolved_at: time(19)?,
        closed_at: time(20)?,
        approval_stage: match row.get::<_, Option<String>>(21)?.as_deref() {
            Some("supervisor") => Some(ApprovalStage::Supervisor),
            Some("customer") => Some(ApprovalStage::Customer),
            _ => None,
        },
        follow_up_of: row.get::<_, Option<i64>>(22)?.map(TicketId),
        next_action: row.get(23)?,
        vendor: row.get(24)?,
        vendor_ticket: row.get(25)?,
        vendor_due: time(26)?,
        peer: match row.get::<_, Option<String>>(27)? {
            Some(site) => Some(PeerTicket { site, number: row.get(28)?, theirs: row.get(29)? }),
            None => None,
        },
    })
}

/// The CC list from its column in [`TICKET_COLUMNS`]: "person address" lines, in any
/// order, put in the order of the people; read with the ticket, so that a listing makes
/// no round trip per ticket for it.
fn cc_of_column(column: Option<String>) -> Vec<String> {
    let mut people: Vec<(i64, String)> = column
        .iter()
        .flat_map(|lines| lines.lines())
        .filter_map(|line| {
            let (person, address) = line.split_once(' ')?;
            Some((person.parse().ok()?, address.to_string()))
        })
        .collect();
    people.sort();
    people.into_iter().map(|(_, address)| address).collect()
}

pub fn get(conn: &Connection, ticket: TicketId) -> crate::store::Result<Option<Ticket>> {
    let found = conn
        .prepare_cached(&format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.number = ?1"))?
        .query_row([ticket.0], ticket_from_row)
        .optional()?;
    match found {
        Some(mut found) => {
            found.checks = checks(conn, ticket)?;
            Ok(Some(found))
        }
        None => Ok(None),
    }
}

/// Which tickets `list` returns, and in which order. Each filter given adds one
/// condition on an indexed column; filters not given add nothing.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<Status>,
    /// Only tickets that still take work: new, open, hold (ignored when `status` is given).
    pub active: bool,
    pub queue: Option<String>,
    pub requester: Option<String>,
    pub owner: Option<String>,
    pub host: Option<String>,
    /// A category path as stored; matches it and everything below it.
    pub category: Option<String>,
    /// Only new and open tickets whose SLA due date is before this time.
    pub late_at: Option<DateTime<Utc>>,
    pub order: TicketOrder,
    /// Keeps the first tickets in `order`.
    pub limit: Option<i64>,
}

/// How `list` orders tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TicketOrder {
    /// By number, oldest first (exports, scripts).
    #[default]
    Number,
    /// By SLA due date, the latest-overdue first; tickets without a due date last.
    Due,
    /// Most urgent priority first, then by due date.
    Priority,
    /// Newest first.
    Created,
    /// Most recently changed first.
    Updated,
}

impl TicketOrder {
    /// The sort keys ahead of the ticket number, whether they (and the number) run from
    /// the highest, and the index led by status that holds tickets in this order (0021).
    fn keys(self) -> (&'static [&'static str], bool, &'static str) {
        match self {
            TicketOrder::Number => (&[], false, "tickets_status"),
            TicketOrder::Due => (&["t.due IS NULL", "t.due"], false, "tickets_status_due"),
            TicketOrder::Priority => (
                &["CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END", "t.due IS NULL", "t.due"],
                false,
                "tickets_status_priority",
            ),
            TicketOrder::Created => (&["t.created"], true, "tickets_status_created"),
            TicketOrder::Updated => (&["t.updated"], true, "tickets_status_updated"),
        }
    }
}

pub fn list(conn: &Connection, filter: &TicketFilter) -> crate::store::Result<Vec<Ticket>> {
    let mut tickets = Vec::new();
    each(conn, filter, |ticket| -> crate::store::Result<_> {
        tickets.push(ticket);
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(tickets)
}

/// The tickets of `list`, handed to `visit` one at a time as they are read, so that a
/// listing of any length takes the memory of one ticket; `visit` may stop early.
pub fn each<E: From<crate::store::Error>>(
    conn: &Connection,
    filter: &TicketFilter,
    mut visit: impl FnMut(Ticket) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    walk(conn, filter, "", |row| visit(ticket_from_row(row)?))
}

/// [`each`] with the tickets each one is linked with (as [`links`] gives them), read in
/// the same query: a listing makes no round trip per ticket for them.
pub fn each_linked<E: From<crate::store::Error>>(
    conn: &Connection,
    filter: &TicketFilter,
    mut visit: impl FnMut(Ticket, Vec<TicketId>) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    static LINKED: LazyLock<String> = LazyLock::new(|| format!(", (SELECT group_concat(linked, ' ') FROM ({}))", linking_to("t.number")));
    walk(conn, filter, &LINKED, |row| {
        let ticket = ticket_from_row(row)?;
        let mut linked: Vec<TicketId> = ticket.follow_up_of.into_iter().chain(ticket.merged_into).collect();
        let others: Option<String> = row.get(TICKET_COLUMN_COUNT)?;
        linked.extend(others.iter().flat_map(|others| others.split(' ')).filter_map(|number| number.parse().ok()).map(TicketId));
        linked.sort();
        linked.dedup();
        visit(ticket, linked)
    })
}

/// Reads the rows of a listing, [`TICKET_COLUMNS`] and then `extra_columns`.
fn walk<E: From<crate::store::Error>>(
    conn: &Connection,
    filter: &TicketFilter,
    extra_columns: &str,
    mut visit: impl FnMut(&Row<'_>) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    // On PostgreSQL the rows come a portion at a time only inside a transaction.
    let _snapshot = if conn.backend() == crate::store::Backend::Postgres && !conn.in_transaction() { Some(conn.read_snapshot()?) } else { None };
    let (sql, values) = list_query(conn, filter, extra_columns)?;
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(crate::store::params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        if visit(&row)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// Up to this many tickets matching a listing's owner, requester, queue or host are
/// collected by that filter's index and sorted; from this many on, the listing walks the
/// index of its order and keeps the matches instead. Sorting n tickets reads n; walking
/// reads about limit × all / n: at 1,000,000 tickets and a page of 50 the two meet near
/// 7,000, and both stay within a few thousand rows either side of it.
const SORTED_AT_MOST: i64 = 5_000;

/// The SELECT of a listing and its parameters, in one of two shapes chosen by a count
/// that stops at [`SORTED_AT_MOST`]:
///
/// - few matches of an indexed filter: those tickets, sorted;
/// - otherwise, for each status the listing admits, that status's tickets in the order's
///   index (0021), filtered as they are read, merged in order, to the limit. No ticket is
///   sorted, so a page costs about the same at any store size, and a listing without a
///   limit streams.
///
/// Only the filters given become terms: `(?1 IS NULL OR status = ?1)` would keep SQLite
/// from using an index.
fn list_query(conn: &Connection, filter: &TicketFilter, extra_columns: &str) -> crate::store::Result<(String, Vec<Value>)> {
    let statuses: &[Status] = match filter.status {
        Some(ref status) => std::slice::from_ref(status),
        None if filter.late_at.is_some() => &[Status::New, Status::Open],
        None if filter.active => &[Status::New, Status::Open, Status::Hold],
        None => Status::ALL,
    };
    let mut terms: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    // The index of the filter given that usually matches the fewest tickets (a desk has
    // more customers than hosts, more hosts than agents, more agents than queues: each
    // filter below overrides the one before). Named,
    // because without statistics SQLite rates one equal column as good as another, and
    // may read an order's index by status where the filter's finds a handful.
    let mut narrowest: Option<&str> = None;
    fn bind(values: &mut Vec<Value>, value: Value) -> String {
        values.push(value);
        format!("?{}", values.len())
    }
    if let Some(queue) = &filter.queue {
        let queue = bind(&mut values, Value::Text(queue.clone()));
        terms.push(format!("t.queue = {queue}"));
        narrowest = Some("tickets_queue_status");
    }
    if let Some(owner) = &filter.owner {
        let owner = bind(&mut values, Value::Text(owner.to_lowercase()));
        terms.push(format!("t.owner = (SELECT person FROM addresses WHERE address = {owner})"));
        narrowest = Some("tickets_owner_status");
    }
    if let Some(host) = &filter.host {
        let host = bind(&mut values, Value::Text(host.clone()));
        terms.push(format!("t.host = {host}"));
        narrowest = Some("tickets_host");
    }
    if let Some(requester) = &filter.requester {
        let requester = bind(&mut values, Value::Text(requester.to_lowercase()));
        terms.push(format!("t.requester = (SELECT person FROM addresses WHERE address = {requester})"));
        narrowest = Some("tickets_requester_status");
    }
    if let Some(category) = &filter.category {
        // The subtree as a range: every path below "a / b" starts with "a / b / ", and
        // ' 0' sorts right after ' /'.
        let exact = bind(&mut values, Value::Text(category.clone()));
        let below = bind(&mut values, Value::Text(format!("{category} / ")));
        let beyond = bind(&mut values, Value::Text(format!("{category} 0")));
        terms.push(format!("(t.category = {exact} OR (t.category >= {below} AND t.category < {beyond}))"));
    }
    if let Some(late_at) = filter.late_at {
        let late_at = bind(&mut values, Value::Text(format_time(late_at)));
        terms.push(format!("t.due < {late_at}"));
    }
    let (keys, descending, index) = filter.order.keys();
    let direction = if descending { " DESC" } else { "" };
    let key_columns: String = keys.iter().enumerate().map(|(position, key)| format!(", {key} AS order_{position}")).collect();
    let order_by: String = (0..keys.len()).map(|position| format!("order_{position}{direction}, ")).collect::<String>() + "1" + direction;
    let limit = filter.limit.unwrap_or(-1);

    let status_term = match statuses {
        [status] => Some(format!("t.status = '{}'", status.as_str())),
        _ if statuses.len() == Status::ALL.len() => None,
        _ => Some(format!("t.status IN ({})", statuses.iter().map(|status| format!("'{}'", status.as_str())).collect::<Vec<_>>().join(", "))),
    };
    let matching = status_term.iter().chain(&terms).cloned().collect::<Vec<_>>();
    let few = match narrowest {
        Some(narrowest) => {
            let count = format!("SELECT COUNT(*) FROM (SELECT 1 FROM tickets t INDEXED BY {narrowest} WHERE {} LIMIT {SORTED_AT_MOST})", matching.join(" AND "));
            let count: i64 = conn.prepare(&count)?.query_row(crate::store::params_from_iter(&values), |row| row.get(0))?;
            (count < SORTED_AT_MOST).then_some(narrowest)
        }
        None => None,
    };
    let key_order: String = keys.iter().map(|key| format!("{key}{direction}, ")).collect();
    let inner_order = format!("{key_order}t.number{direction}");
    let sql = if let Some(narrowest) = few {
        // Few match: read by the narrowest index, then sorted. `+ 0` keeps PostgreSQL (which
        // ignores INDEXED BY) from walking the primary key in order instead, past every
        // ticket that does not match.
        let sorted_order = format!("{key_order}t.number + 0{direction}");
        format!(
            "SELECT {TICKET_COLUMNS}{extra_columns}{key_columns} FROM tickets t WHERE t.number IN
             (SELECT t.number FROM tickets t INDEXED BY {narrowest} WHERE {} ORDER BY {sorted_order} LIMIT {limit})
             ORDER BY {order_by}",
            matching.join(" AND ")
        )
    } else {
        let arms: Vec<String> = statuses
            .iter()
            .map(|status| {
                let conditions: String = terms.iter().map(|term| format!(" AND {term}")).collect();
                let arm = format!("SELECT {TICKET_COLUMNS}{extra_columns}{key_columns} FROM tickets t INDEXED BY {index} WHERE t.status = '{}'{conditions}", status.as_str());
                if conn.backend() == crate::store::Backend::Postgres {
                    // PostgreSQL appends the arms whole and sorts them all; ordered and
                    // limited each, every arm reads its index only to the limit.
                    format!("SELECT * FROM ({arm} ORDER BY {inner_order} LIMIT {limit}) AS {}_arm", status.as_str())
                } else {
                    arm
                }
            })
            .collect();
        format!("{} ORDER BY {order_by} LIMIT {limit}", arms.join(" UNION ALL "))
    };
    Ok((sql, values))
}

/// Links two tickets (a split); linking them again changes nothing.
/// The open ticket `vendor` works on under their number `vendor_ticket` (the newest, if
/// they reused a number), following merges.
pub fn with_vendor_ticket(conn: &Connection, vendor: &str, vendor_ticket: &str) -> crate::store::Result<Option<TicketId>> {
    let found: Option<i64> = conn
        .prepare_cached(
            "SELECT number FROM tickets WHERE vendor = ?1 AND vendor_ticket = ?2 COLLATE NOCASE
             ORDER BY status IN ('closed', 'merged', 'rejected'), number DESC LIMIT 1",
        )?
        .query_row(params![vendor, vendor_ticket], |row| row.get(0))
        .optional()?;
    match found {
        Some(number) => resolve_merged(conn, TicketId(number)),
        None => Ok(None),
    }
}

/// Ties `ticket` to its counterpart at a peer site.
pub fn set_peer(conn: &Connection, ticket: TicketId, peer: &PeerTicket) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET peer_site = ?2, peer_ticket = ?3, peer_owns = ?4 WHERE number = ?1")?
        .execute(params![ticket.0, peer.site, peer.number, peer.theirs])?;
    Ok(())
}

/// Our ticket whose counterpart at `site` is their number `peer_ticket`, following merges.
pub fn with_peer_ticket(conn: &Connection, site: &str, peer_ticket: i64) -> crate::store::Result<Option<TicketId>> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT number FROM tickets WHERE peer_site = ?1 AND peer_ticket = ?2 ORDER BY number DESC LIMIT 1")?
        .query_row(params![site, peer_ticket], |row| row.get(0))
        .optional()?;
    match found {
        Some(number) => resolve_merged(conn, TicketId(number)),
        None => Ok(None),
    }
}

pub fn link(conn: &Connection, one: TicketId, other: TicketId) -> crate::store::Result<()> {
    // The cast types the parameters: PostgreSQL's least() of two untyped ones is text.
    conn.prepare_cached("INSERT OR IGNORE INTO ticket_links (low, high) VALUES (MIN(CAST(?1 AS INTEGER), ?2), MAX(CAST(?1 AS INTEGER), ?2))")?.execute(params![one.0, other.0])?;
    Ok(())
}

/// One history entry: its ticket, the entry, and the message it came with.
pub fn history_entry(conn: &Connection, id: i64) -> crate::store::Result<Option<(TicketId, HistoryEvent, Option<SpoolId>)>> {
    conn.prepare_cached(&format!("SELECT id, at, actor, action, {DETAIL}, ticket, message FROM history WHERE id = ?1"))?
        .query_row([id], |row| Ok((TicketId(row.get(5)?), history_from_row(row)?, row.get::<_, Option<i64>>(6)?.map(SpoolId))))
        .optional()
}

/// The tickets that point at ticket `number` (SQL): those that follow it up or were
/// merged into it, and those split from or into it, as the column `linked`.
fn linking_to(number: &str) -> String {
    format!(
        "SELECT number AS linked FROM tickets WHERE follow_up_of = {number}
         UNION ALL SELECT number FROM tickets WHERE merged_into = {number}
         UNION ALL SELECT high FROM ticket_links WHERE low = {number}
         UNION ALL SELECT low FROM ticket_links WHERE high = {number}"
    )
}

static LINKS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT follow_up_of FROM tickets WHERE number = ?1 AND follow_up_of IS NOT NULL
         UNION ALL SELECT merged_into FROM tickets WHERE number = ?1 AND merged_into IS NOT NULL
         UNION ALL {}",
        linking_to("?1")
    )
});

/// The tickets this one is linked with: the one it follows up or was merged into, and
/// those [`linking_to`] it; by number.
pub fn links(conn: &Connection, ticket: TicketId) -> crate::store::Result<Vec<TicketId>> {
    let mut linked: Vec<TicketId> = conn
        .prepare_cached(&LINKS)?
        .query_map([ticket.0], |row| row.get(0).map(TicketId))?
        .collect::<crate::store::Result<_>>()?;
    linked.sort();
    linked.dedup();
    Ok(linked)
}

/// A `history` row selected as `id, at, actor, action, ` [`DETAIL`].
fn history_from_row(row: &Row<'_>) -> crate::store::Result<HistoryEvent> {
    Ok(HistoryEvent {
        id: row.get(0)?,
        at: row.get::<_, String>(1).map(|text| parse_time(&text).unwrap_or_default())?,
        actor: row.get(2)?,
        action: row.get(3)?,
        detail: row.get(4)?,
    })
}

pub fn history(conn: &Connection, ticket: TicketId) -> crate::store::Result<Vec<HistoryEvent>> {
    conn.prepare_cached(&format!("SELECT id, at, actor, action, {DETAIL} FROM history WHERE ticket = ?1 ORDER BY id"))?
        .query_map([ticket.0], history_from_row)?
        .collect()
}

/// What the requester first wrote: the note of the ticket's first inbound message.
pub fn first_request(conn: &Connection, ticket: TicketId) -> crate::store::Result<Option<String>> {
    conn.prepare_cached(&format!("SELECT {} FROM messages m WHERE m.ticket = ?1 AND m.direction = 'in' ORDER BY m.id LIMIT 1", crate::store::messages::NOTE_OF_M))?
        .query_row([ticket.0], |row| row.get::<_, Option<String>>(0))
        .optional()
        .map(Option::flatten)
}

/// The latest `count` comments and notes (internal ones too), oldest first.
pub fn latest_comments(conn: &Connection, ticket: TicketId, count: i64) -> crate::store::Result<Vec<HistoryEvent>> {
    // The count is written into the statement and the ticket cast: SQLite plans with the
    // value of a bound LIMIT, and (built with STAT4) with that of a parameter compared
    // directly with a sampled column, so binding another ticket would prepare the
    // statement anew on every call.
    let mut comments: Vec<HistoryEvent> = conn
        .prepare_cached(&format!(
            "SELECT id, at, actor, action, {DETAIL} FROM history
             WHERE ticket = CAST(?1 AS INTEGER) AND action IN ('comment', 'internal-note') ORDER BY id DESC LIMIT {count}"
        ))?
        .query_map(params![ticket.0], history_from_row)?
        .collect::<crate::store::Result<_>>()?;
    comments.reverse();
    Ok(comments)
}

/// The Message-IDs for References of mail about a ticket: the thread's first message
/// and the latest ones, oldest first (RFC 5322 §3.6.4 lets a long list be shortened so).
pub fn thread_references(conn: &Connection, ticket: TicketId) -> crate::store::Result<Vec<String>> {
    let mut references: Vec<String> = conn
        .prepare_cached(
            "SELECT message_id FROM (SELECT id, message_id FROM messages WHERE ticket = ?1 AND message_id IS NOT NULL
             ORDER BY id DESC LIMIT 10) ORDER BY id",
        )?
        .query_map(params![ticket.0], |row| row.get(0))?
        .collect::<crate::store::Result<_>>()?;
    let first: Option<String> = conn
        .prepare_cached("SELECT message_id FROM messages WHERE ticket = ?1 AND message_id IS NOT NULL ORDER BY id LIMIT 1")?
        .query_row(params![ticket.0], |row| row.get(0))
        .optional()?;
    if let Some(first) = first.filter(|first| !references.contains(first)) {
        references.insert(0, first);
    }
    Ok(references)
}

pub fn checks(conn: &Connection, ticket: TicketId) -> crate::store::Result<Vec<u32>> {
    conn.prepare_cached("SELECT item FROM ticket_checks WHERE ticket = ?1 ORDER BY item")?
        .query_map([ticket.0], |row| row.get(0))?
        .collect()
}

pub fn add_checks(conn: &Connection, ticket: TicketId, items: &[u32]) -> crate::store::Result<()> {
    let mut statement = conn.prepare_cached("INSERT OR IGNORE INTO ticket_checks (ticket, item) VALUES (?1, ?2)")?;
    for item in items {
        statement.execute(params![ticket.0, item])?;
    }
    Ok(())
}

/// A column of `tickets` that holds text set by a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextColumn {
    Queue,
    Importance,
    Priority,
    Status,
    Host,
    Category,
    RequestedDue,
    CommittedDue,
    HoldStarted,
    ResolvedAt,
    ClosedAt,
    ApprovalStage,
    NextAction,
    Vendor,
    VendorTicket,
    VendorDue,
}

impl TextColumn {
    fn sql(self) -> &'static str {
        match self {
            TextColumn::Queue => "UPDATE tickets SET queue = ?2, scheduler_at = '' WHERE number = ?1",
            TextColumn::Importance => "UPDATE tickets SET importance = ?2 WHERE number = ?1",
            TextColumn::Priority => "UPDATE tickets SET priority = ?2 WHERE number = ?1",
            TextColumn::Status => "UPDATE tickets SET status = ?2, scheduler_at = '' WHERE number = ?1",
            TextColumn::Host => "UPDATE tickets SET host = ?2 WHERE number = ?1",
            TextColumn::Category => "UPDATE tickets SET category = ?2 WHERE number = ?1",
            TextColumn::RequestedDue => "UPDATE tickets SET requested_due = ?2 WHERE number = ?1",
            TextColumn::CommittedDue => "UPDATE tickets SET committed_due = ?2 WHERE number = ?1",
            TextColumn::HoldStarted => "UPDATE tickets SET hold_started = ?2, scheduler_at = '' WHERE number = ?1",
            TextColumn::ResolvedAt => "UPDATE tickets SET resolved_at = ?2, scheduler_at = '' WHERE number = ?1",
            TextColumn::ClosedAt => "UPDATE tickets SET closed_at = ?2, scheduler_at = '' WHERE number = ?1",
            TextColumn::ApprovalStage => "UPDATE tickets SET approval_stage = ?2, scheduler_at = '' WHERE number = ?1",
            TextColumn::NextAction => "UPDATE tickets SET next_action = ?2 WHERE number = ?1",
            TextColumn::Vendor => "UPDATE tickets SET vendor = ?2 WHERE number = ?1",
            TextColumn::VendorTicket => "UPDATE tickets SET vendor_ticket = ?2 WHERE number = ?1",
            TextColumn::VendorDue => "UPDATE tickets SET vendor_due = ?2, scheduler_at = '' WHERE number = ?1",
        }
    }
}

pub fn set_text(conn: &Connection, ticket: TicketId, column: TextColumn, value: Option<&str>) -> crate::store::Result<()> {
    let before = if column == TextColumn::Status { status_before(conn, ticket)? } else { None };
    conn.prepare_cached(column.sql())?.execute(params![ticket.0, value])?;
    status_moved(conn, ticket, before, value.unwrap_or_default())
}

/// The status and `updated` of `ticket` before its status is set.
fn status_before(conn: &Connection, ticket: TicketId) -> crate::store::Result<Option<(String, String)>> {
    conn.prepare_cached("SELECT status, updated FROM tickets WHERE number = ?1")?
        .query_row([ticket.0], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

/// What follows once `ticket` went from `before` (its status and `updated`, read before
/// the change) to `to`: the status change for the reports, and the words of a ticket
/// solved (learned) or no longer solved (forgotten) for the receipts' suggestions.
///
/// The statements that change a ticket write this, and `scheduler_at = ''` where a
/// column the scheduler's jobs read changes (migration 0031): with a trigger on
/// `tickets`, SQLite first copied every page a statement changed into a statement
/// journal, and a status change rewrites some ten index entries.
fn status_moved(conn: &Connection, ticket: TicketId, before: Option<(String, String)>, to: &str) -> crate::store::Result<()> {
    let Some((from, at)) = before.filter(|(from, _)| from != to) else { return Ok(()) };
    record_status_change(conn, ticket, &at, Some(&from), to)?;
    let solved = |status: &str| matches!(status, "resolved" | "closed");
    match (solved(&from), solved(to)) {
        (false, true) => crate::store::knowledge::learn(conn, ticket.0),
        (true, false) => crate::store::knowledge::forget(conn, ticket.0),
        _ => Ok(()),
    }
}

/// What a status change writes besides the status, as [`set_status`] takes it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusColumns<'a> {
    /// Minutes to add to `held_minutes`, clearing `hold_started`: the ticket leaves hold.
    pub held_minutes: Option<i64>,
    /// The ticket enters hold at this time.
    pub hold_started: Option<&'a str>,
    /// `resolved_at` set to this (`Some(None)` clears it); `None` leaves it.
    pub resolved_at: Option<Option<&'a str>>,
    /// `closed_at` likewise.
    pub closed_at: Option<Option<&'a str>>,
    pub approval_stage: Option<&'a str>,
}

/// Sets `status` with the columns that move with it, in one `UPDATE`: each statement on
/// `tickets` redoes its index upkeep, and a scheduler pass changes thousands of statuses.
pub fn set_status(conn: &Connection, ticket: TicketId, status: &str, columns: &StatusColumns<'_>) -> crate::store::Result<()> {
    let before = status_before(conn, ticket)?;
    // The statement's text follows from which columns move (a handful of shapes, each
    // prepared once); the values are all parameters.
    let mut sql = String::from("UPDATE tickets SET status = ?2, approval_stage = ?3, scheduler_at = ''");
    let mut values: Vec<Value> = vec![ticket.0.into(), status.to_string().into(), columns.approval_stage.map(str::to_string).into()];
    if let Some(minutes) = columns.held_minutes {
        values.push(minutes.into());
        sql.push_str(&format!(", held_minutes = held_minutes + ?{}, hold_started = NULL", values.len()));
    }
    let mut set = |sql: &mut String, column: &str, value: Value| {
        values.push(value);
        sql.push_str(&format!(", {column} = ?{}", values.len()));
    };
    if let Some(started) = columns.hold_started {
        set(&mut sql, "hold_started", started.to_string().into());
    }
    if let Some(resolved_at) = columns.resolved_at {
        set(&mut sql, "resolved_at", resolved_at.map(str::to_string).into());
    }
    if let Some(closed_at) = columns.closed_at {
        set(&mut sql, "closed_at", closed_at.map(str::to_string).into());
    }
    sql.push_str(" WHERE number = ?1");
    conn.prepare_cached(&sql)?.execute(crate::store::params_from_iter(values))?;
    status_moved(conn, ticket, before, status)
}

/// When the first response and the resolution are due.
pub fn set_sla_due(conn: &Connection, ticket: TicketId, response: Option<&str>, resolution: Option<&str>) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET response_due = ?2, due = ?3, scheduler_at = '' WHERE number = ?1")?.execute(params![ticket.0, response, resolution])?;
    Ok(())
}

pub fn set_owner(conn: &Connection, ticket: TicketId, owner: Option<PersonId>) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET owner = ?2 WHERE number = ?1")?.execute(params![ticket.0, owner.map(|person| person.0)])?;
    Ok(())
}

pub fn add_time(conn: &Connection, ticket: TicketId, minutes: i64) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET time_spent_minutes = time_spent_minutes + ?2 WHERE number = ?1")?
        .execute(params![ticket.0, minutes])?;
    Ok(())
}

pub fn add_held_minutes(conn: &Connection, ticket: TicketId, minutes: i64) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET held_minutes = held_minutes + ?2, hold_started = NULL, scheduler_at = '' WHERE number = ?1")?
        .execute(params![ticket.0, minutes])?;
    Ok(())
}

pub fn add_cc(conn: &Connection, ticket: TicketId, person: PersonId) -> crate::store::Result<bool> {
    Ok(conn.prepare_cached("INSERT OR IGNORE INTO ticket_cc (ticket, person) VALUES (?1, ?2)")?.execute(params![ticket.0, person.0])? == 1)
}

pub fn remove_cc(conn: &Connection, ticket: TicketId, address: &str) -> crate::store::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM ticket_cc WHERE ticket = ?1 AND person = (SELECT person FROM addresses WHERE address = ?2)")?
        .execute(params![ticket.0, address])?
        == 1)
}

/// Moves every message, Cc and history entry of `from` to `into` and marks `from` merged.
pub fn merge(conn: &Connection, from: TicketId, into: TicketId) -> crate::store::Result<()> {
    conn.execute("UPDATE messages SET ticket = ?2 WHERE ticket = ?1", params![from.0, into.0])?;
    conn.execute("UPDATE history SET ticket = ?2 WHERE ticket = ?1", params![from.0, into.0])?;
    conn.execute("INSERT OR IGNORE INTO ticket_cc (ticket, person) SELECT ?2, person FROM ticket_cc WHERE ticket = ?1", params![from.0, into.0])?;
    conn.execute("DELETE FROM ticket_cc WHERE ticket = ?1", params![from.0])?;
    conn.execute("UPDATE outbox SET ticket = ?2 WHERE ticket = ?1", params![from.0, into.0])?;
    let before = status_before(conn, from)?;
    conn.execute("UPDATE tickets SET status = 'merged', merged_into = ?2, scheduler_at = '' WHERE number = ?1", params![from.0, into.0])?;
    status_moved(conn, from, before, "merged")
}

pub fn set_follow_up_of(conn: &Connection, ticket: TicketId, earlier: TicketId) -> crate::store::Result<()> {
    conn.execute("UPDATE tickets SET follow_up_of = ?2 WHERE number = ?1", params![ticket.0, earlier.0])?;
    Ok(())
}

/// Records that scheduler `job` ran for `ticket` at `key`; false when it already had.
pub fn mark_job_done(conn: &Connection, ticket: TicketId, job: &str, key: &str, now: DateTime<Utc>) -> crate::store::Result<bool> {
    Ok(conn
        .prepare_cached("INSERT OR IGNORE INTO scheduled_done (ticket, job, key, at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![ticket.0, job, key, format_time(now)])?
        == 1)
}

pub fn job_done(conn: &Connection, ticket: TicketId, job: &str) -> crate::store::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM scheduled_done WHERE ticket = ?1 AND job = ?2)")?
        .query_row(params![ticket.0, job], |row| row.get(0))
}

pub fn record_survey(conn: &Connection, ticket: TicketId, rating: u8, message: Option<SpoolId>, now: DateTime<Utc>) -> crate::store::Result<()> {
    conn.execute(
        "INSERT INTO surveys (ticket, rating, at, message) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (ticket) DO UPDATE SET rating = excluded.rating, at = excluded.at, message = excluded.message",
        params![ticket.0, rating, format_time(now), message.map(|id| id.0)],
    )?;
    Ok(())
}

/// Tickets whose `scheduler_at` has come by `now` (RFC 3339 text), for the scheduler;
/// ordered by number.
pub fn due_for_scheduler(conn: &Connection, now: &str) -> crate::store::Result<Vec<TicketId>> {
    let mut numbers: Vec<TicketId> = conn
        .prepare_cached("SELECT number FROM tickets WHERE scheduler_at <= ?1")?
        .query_map([now], |row| Ok(TicketId(row.get(0)?)))?
        .collect::<crate::store::Result<_>>()?;
    numbers.sort();
    Ok(numbers)
}

/// When the scheduler next looks at `ticket` (RFC 3339 text; `None`: only after a change).
pub fn set_scheduler_at(conn: &Connection, ticket: TicketId, at: Option<&str>) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET scheduler_at = ?2 WHERE number = ?1")?.execute(params![ticket.0, at])?;
    Ok(())
}

/// Has the scheduler look at every ticket that can have timed jobs at its next pass.
pub fn reschedule_all(conn: &Connection) -> crate::store::Result<()> {
    conn.execute("UPDATE tickets SET scheduler_at = '' WHERE status NOT IN ('merged', 'rejected') AND scheduler_at IS NOT ''", [])?;
    Ok(())
}

/// Active tickets (new, open, hold) owned by each of `people`, and when each last got a
/// new ticket: what "least loaded, ties broken fairly" reads.
pub fn load_of(conn: &Connection, person: PersonId) -> crate::store::Result<(i64, String)> {
    conn.prepare_cached(
        "SELECT COUNT(*) FILTER (WHERE status IN ('new', 'open', 'hold')), COALESCE(MAX(created), '') FROM tickets WHERE owner = ?1",
    )?
    .query_row([person.0], |row| Ok((row.get(0)?, row.get(1)?)))
}

/// Records that a machine opened `ticket`: its requester reads no letters.
pub fn mark_opened_by_machine(conn: &Connection, ticket: TicketId) -> crate::store::Result<()> {
    conn.prepare_cached("UPDATE tickets SET opened_by_machine = 1 WHERE number = ?1")?.execute([ticket.0])?;
    Ok(())
}

/// Whether a machine opened `ticket`.
pub fn opened_by_machine(conn: &Connection, ticket: TicketId) -> crate::store::Result<bool> {
    conn.prepare_cached("SELECT opened_by_machine FROM tickets WHERE number = ?1")?.query_row([ticket.0], |row| row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solving_and_reopening_a_ticket_keeps_the_words_for_suggestions() {
        use crate::store::knowledge::{resolved, tickets_holding, tickets_with};
        let store = crate::store::Store::open_in_memory(&Default::default()).unwrap();
        let conn = &store.conn;
        conn.execute("INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z')", []).unwrap();
        let new = NewTicket {
            subject: "Printer jammed".into(),
            queue: "general".into(),
            importance: Level::Medium,
            priority: Level::Medium,
            requester: PersonId(1),
            first_number: 1,
        };
        let ticket = create(conn, &new, parse_time("2026-11-01T00:00:00Z").unwrap()).unwrap();
        set_text(conn, ticket, TextColumn::Status, Some("open")).unwrap();
        conn.execute_batch(
            "INSERT INTO history (ticket, at, actor, action, detail) VALUES
               (1, '2026-11-01T00:00:00Z', 'carol@example.org', 'comment', 'Tray 2 in room Zebra'),
               (1, '2026-11-02T00:00:00Z', 'bob@example.com', 'comment', 'Replaced the roller.');",
        )
        .unwrap();
        let holding = |word: &str| tickets_holding(conn, word).unwrap();
        assert_eq!((holding(""), holding("printer")), (0, 0), "open tickets are not known");
        let resolved_at = StatusColumns { resolved_at: Some(Some("2026-11-02T00:00:00Z")), ..Default::default() };
        set_status(conn, TicketId(1), "resolved", &resolved_at).unwrap();
        assert_eq!((holding(""), holding("printer"), holding("zebra"), holding("roller")), (1, 1, 1, 0), "subject and request");
        let mut with_tray = Vec::new();
        tickets_with(conn, "tray", 10, |ticket| with_tray.push(ticket)).unwrap();
        assert_eq!(with_tray, [1]);
        conn.execute_batch(
            "INSERT INTO history (ticket, at, actor, action, detail) VALUES
               (1, '2026-11-02T00:00:00Z', 'bob@example.com', 'status', 'status: open → resolved'),
               (1, '2026-11-02T00:00:00Z', 'carol@example.org', 'comment', 'Great, thank you!');",
        )
        .unwrap();
        let found = resolved(conn, 1).unwrap().unwrap();
        assert_eq!(found.resolution.as_deref(), Some("Replaced the roller."), "the answer, not the thanks after it");
        set_text(conn, TicketId(1), TextColumn::Status, Some("closed")).unwrap();
        assert_eq!(holding(""), 1, "resolved, then closed: one ticket");
        conn.execute("UPDATE history SET detail = '(forgotten)' WHERE id = 1", []).unwrap();
        assert_eq!((holding("zebra"), holding("forgotten"), holding("printer")), (0, 1, 1), "a rewritten request");
        set_scheduler_at(conn, TicketId(1), Some("2026-12-01T00:00:00Z")).unwrap();
        set_text(conn, TicketId(1), TextColumn::Status, Some("open")).unwrap();
        assert_eq!((holding(""), holding("printer")), (0, 0), "reopened");
        assert!(resolved(conn, 1).unwrap().is_none());
        let changes: String = conn
            .query_row("SELECT group_concat(COALESCE(from_status, '') || '>' || to_status || ' ' || backlog, ', ') FROM status_changes WHERE ticket = 1", [], |row| row.get(0))
            .unwrap();
        assert_eq!(changes, ">new 1, new>open 0, open>resolved -1, resolved>closed 0, closed>open 1", "each change once, for the reports");
        let days: (i64, i64, i64) = conn
            .query_row("SELECT SUM(changes), SUM(backlog), SUM(reopened * changes) FROM status_days", [], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap();
        assert_eq!(days, (5, 1, 1), "each change counted on its day, the reopening as one");
        assert_eq!(crate::store::sounds::tickets_sounding(&conn, "J530"), [1], "jammed, by sound");
        let scheduler_at: Option<String> = conn.query_row("SELECT scheduler_at FROM tickets WHERE number = 1", [], |row| row.get(0)).unwrap();
        assert_eq!(scheduler_at.as_deref(), Some(""), "the scheduler looks at the reopened ticket again");
    }

    #[test]
    fn a_time_entry_adds_the_digits_after_its_plus() {
        assert_eq!(minutes_added("time: 10m → 25m (+15m)"), Some(15));
        assert_eq!(minutes_added("time: 25m → 25m (+m)"), Some(0));
        assert_eq!(minutes_added("time: 99999999999999999999m (+99999999999999999999m)"), Some(i64::MAX));
        assert_eq!(minutes_added("time: 10m → 5m (-5m)"), None);
        assert_eq!(minutes_added("(+"), Some(0));
        assert_eq!(minutes_added("zeit: 0m → 5m (+５m) é"), Some(0), "only ASCII digits count");
        assert_eq!(minutes_added("\u{0}(+7\u{FFFD}(+9"), Some(7), "the first (+, up to the first other character");
    }

    fn store() -> crate::store::Store {
        crate::store::Store::open_in_memory(&Default::default()).unwrap()
    }

    /// The steps of the listing's query plan, without those of the address look-ups per
    /// row (a person's few addresses).
    fn listing_plan(conn: &Connection, filter: &TicketFilter) -> Vec<String> {
        let (sql, values) = list_query(conn, filter, "").unwrap();
        let steps: Vec<(i64, i64, String)> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(crate::store::params_from_iter(values), |row| Ok((row.get(0)?, row.get(1)?, row.get(3)?)))
            .unwrap()
            .collect::<crate::store::Result<_>>()
            .unwrap();
        let mut subqueries: Vec<i64> = Vec::new();
        let mut kept = Vec::new();
        for (id, parent, detail) in steps {
            if detail.contains("SCALAR SUBQUERY") || subqueries.contains(&parent) {
                subqueries.push(id);
            } else {
                kept.push(detail);
            }
        }
        kept
    }

    const QUEUES: [&str; 2] = ["general", "hardware"];
    const CATEGORIES: [&str; 4] = ["Area / Part", "Area / Part / Cause", "Area / Partly", "Other"];

    /// A store of `count` tickets spread by a fixed rule over every status, two queues and
    /// owners, ten requesters, hosts, categories, priorities and times, with ties in due and
    /// updated; and the time in the middle of its due dates.
    fn store_of(count: i64) -> (crate::store::Store, DateTime<Utc>) {
        let store = store();
        let start = parse_time("2026-01-01T00:00:00Z").unwrap();
        let tx = store.conn.unchecked_transaction().unwrap();
        for person in 1..=12 {
            tx.execute("INSERT INTO people (id, role, created) VALUES (?1, 'customer', '2026-01-01T00:00:00Z')", [person]).unwrap();
            tx.execute("INSERT INTO addresses (address, person, is_primary) VALUES (?1, ?2, 1)", params![format!("p{person}@example.org"), person]).unwrap();
        }
        let mut insert = tx
            .prepare(
                "INSERT INTO tickets (number, subject, status, queue, importance, priority, owner, requester, host, category, due, created, updated)
                 VALUES (?1, 's', ?2, ?3, 'medium', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .unwrap();
        for number in 1..=count {
            let spread = (number * 2_654_435_761) % 1_000_003;
            let hours = |n: i64| format_time(start + chrono::Duration::hours(n));
            insert
                .execute(params![
                    number,
                    Status::ALL[(spread % 7) as usize].as_str(),
                    QUEUES[(spread % 2) as usize],
                    Level::ALL[(spread / 7 % 4) as usize].as_str(),
                    (spread % 5 != 0).then_some(1 + spread / 3 % 2),
                    3 + spread / 11 % 10,
                    (spread % 4 != 0).then(|| format!("host{}", spread / 5 % 3)),
                    CATEGORIES[(spread / 13 % 4) as usize],
                    (spread % 6 != 0).then(|| hours(spread / 17 % 500)),
                    hours(number / 10),
                    hours(spread / 19 % 300),
                ])
                .unwrap();
        }
        drop(insert);
        tx.commit().unwrap();
        (store, start + chrono::Duration::hours(250))
    }

    /// Every listing the store's filters and orders give: each status set, alone and with
    /// each other filter.
    fn every_listing(middle: DateTime<Utc>) -> Vec<TicketFilter> {
        let some = |text: &str| Some(text.to_string());
        let statuses = [
            TicketFilter { status: Some(Status::Open), ..TicketFilter::default() },
            TicketFilter { status: Some(Status::Closed), ..TicketFilter::default() },
            TicketFilter { active: true, ..TicketFilter::default() },
            TicketFilter { late_at: Some(middle), ..TicketFilter::default() },
            TicketFilter::default(),
        ];
        let others = [
            TicketFilter::default(),
            TicketFilter { queue: some("hardware"), ..TicketFilter::default() },
            TicketFilter { owner: some("P2@example.org"), ..TicketFilter::default() },
            TicketFilter { requester: some("p7@example.org"), ..TicketFilter::default() },
            TicketFilter { host: some("host1"), ..TicketFilter::default() },
            TicketFilter { category: some("Area / Part"), ..TicketFilter::default() },
            TicketFilter { queue: some("general"), owner: some("p1@example.org"), ..TicketFilter::default() },
        ];
        let mut listings = Vec::new();
        for status in &statuses {
            for other in &others {
                for order in [TicketOrder::Number, TicketOrder::Due, TicketOrder::Priority, TicketOrder::Created, TicketOrder::Updated] {
                    listings.push(TicketFilter { order, limit: Some(7), ..TicketFilter { status: status.status, active: status.active, late_at: status.late_at, ..other.clone() } });
                }
            }
        }
        listings
    }

    type Row = (i64, String, String, Option<String>, Option<String>, Option<String>, String, String, Option<String>, String, String);

    /// Every ticket with the columns a listing filters and sorts by.
    fn every_ticket(conn: &Connection) -> Vec<Row> {
        conn
            .prepare(
                "SELECT number, status, queue, (SELECT address FROM addresses WHERE person = owner),
                        (SELECT address FROM addresses WHERE person = requester), host, category, priority, due, created, updated FROM tickets",
            )
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?)))
            .unwrap()
            .collect::<crate::store::Result<_>>()
            .unwrap()
    }

    /// What a listing must return, by filtering and sorting every ticket in Rust.
    fn expected(every_ticket: &[Row], filter: &TicketFilter) -> Vec<i64> {
        let late_at = filter.late_at.map(format_time);
        let mut kept: Vec<&Row> = every_ticket
            .iter()
            .filter(|(_, status, queue, owner, requester, host, category, _, due, _, _)| {
                let status: Status = status.parse().unwrap();
                let status_matches = match (filter.status, &late_at) {
                    (Some(wanted), _) => status == wanted,
                    (None, Some(late_at)) => matches!(status, Status::New | Status::Open) && due.as_ref().is_some_and(|due| due < late_at),
                    (None, None) => !filter.active || matches!(status, Status::New | Status::Open | Status::Hold),
                };
                let lowered = |wanted: &Option<String>| wanted.as_ref().map(|address| address.to_lowercase());
                status_matches
                    && filter.queue.as_ref().is_none_or(|wanted| wanted == queue)
                    && lowered(&filter.owner).is_none_or(|wanted| owner.as_ref() == Some(&wanted))
                    && lowered(&filter.requester).is_none_or(|wanted| requester.as_ref() == Some(&wanted))
                    && filter.host.as_ref().is_none_or(|wanted| host.as_ref() == Some(wanted))
                    && filter.category.as_ref().is_none_or(|wanted| category == wanted || category.starts_with(&format!("{wanted} / ")))
            })
            .collect();
        let rank = |priority: &str| Level::ALL.iter().position(|level| level.as_str() == priority).unwrap();
        match filter.order {
            TicketOrder::Number => kept.sort_by_key(|row| row.0),
            TicketOrder::Due => kept.sort_by(|a, b| (a.8.is_none(), &a.8, a.0).cmp(&(b.8.is_none(), &b.8, b.0))),
            TicketOrder::Priority => kept.sort_by(|a, b| (rank(&a.7), a.8.is_none(), &a.8, a.0).cmp(&(rank(&b.7), b.8.is_none(), &b.8, b.0))),
            TicketOrder::Created => kept.sort_by(|a, b| (&b.9, b.0).cmp(&(&a.9, a.0))),
            TicketOrder::Updated => kept.sort_by(|a, b| (&b.10, b.0).cmp(&(&a.10, a.0))),
        }
        kept.into_iter().map(|row| row.0).take(filter.limit.map_or(usize::MAX, |limit| limit as usize)).collect()
    }

    /// Whether the plan collects the matches of a filter to sort them (its page is then
    /// read by number) rather than merging the statuses' order indexes.
    fn sorts_few(plan: &[String]) -> bool {
        plan.iter().any(|step| step.starts_with("SEARCH t USING INTEGER PRIMARY KEY"))
    }

    /// Each listing returns what filtering and sorting every ticket gives, and reads its
    /// page one of two ways: the matches of a filter, few enough to sort; or each
    /// admitted status's tickets in the index of the order, nothing sorted. None reads
    /// every ticket.
    #[test]
    fn every_filter_and_order_lists_the_right_tickets_without_sorting_many() {
        // Enough tickets that some filters match more than SORTED_AT_MOST and some fewer.
        let (store, middle) = store_of(12_000);
        let every_ticket = every_ticket(&store.conn);
        let mut plans = [0, 0];
        for filter in every_listing(middle) {
            let listed: Vec<i64> = list(&store.conn, &filter).unwrap().iter().map(|ticket| ticket.number.0).collect();
            assert_eq!(listed, expected(&every_ticket, &filter), "{filter:?}");
            let plan = listing_plan(&store.conn, &filter);
            assert!(!plan.iter().any(|step| step.starts_with("SCAN t")), "{filter:?} reads every ticket: {plan:?}");
            if sorts_few(&plan) {
                let matches = expected(&every_ticket, &TicketFilter { limit: None, ..filter.clone() }).len() as i64;
                assert!(matches < SORTED_AT_MOST, "{filter:?} sorts {matches} tickets: {plan:?}");
                assert!(!plan.iter().any(|step| step.contains("tickets_status")), "{filter:?}: a sort of few reads them by their filter: {plan:?}");
                plans[1] += 1;
            } else {
                let (_, _, index) = filter.order.keys();
                let searches: Vec<&String> = plan.iter().filter(|step| step.starts_with("SEARCH t")).collect();
                assert!(!searches.is_empty() && searches.iter().all(|step| step.starts_with(&format!("SEARCH t USING INDEX {index} (status=?)"))), "{filter:?}: {plan:?}");
                assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{filter:?} sorts: {plan:?}");
                plans[0] += 1;
            }
        }
        assert!(plans[0] > 0 && plans[1] > 0, "both plans taken (merged, sorted): {plans:?}");
        let whole = TicketFilter { order: TicketOrder::Updated, ..TicketFilter::default() };
        assert_eq!(list(&store.conn, &whole).unwrap().len(), 12_000, "without a limit, every ticket");
    }

    #[test]
    fn a_tickets_links_are_found_by_index() {
        let store = store();
        let plan = crate::store::query_plan(&store.conn, &LINKS, [1]);
        assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "{plan:?}");
    }

    #[test]
    fn a_changed_ticket_is_due_for_the_scheduler_again() {
        let store = store();
        let conn = &store.conn;
        conn.execute("INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-01-01T00:00:00Z')", []).unwrap();
        let new = NewTicket { subject: "s".into(), queue: "general".into(), importance: Level::Medium, priority: Level::Medium, requester: PersonId(1), first_number: 1 };
        let now = parse_time("2026-01-02T00:00:00Z").unwrap();
        let ticket = create(conn, &new, now).unwrap();
        assert_eq!(due_for_scheduler(conn, "2026-01-02T00:00:00Z").unwrap(), [ticket], "a new ticket is looked at");
        set_scheduler_at(conn, ticket, Some("2026-01-05T00:00:00Z")).unwrap();
        assert!(due_for_scheduler(conn, "2026-01-04T23:59:59Z").unwrap().is_empty());
        assert_eq!(due_for_scheduler(conn, "2026-01-05T00:00:00Z").unwrap(), [ticket]);
        set_scheduler_at(conn, ticket, None).unwrap();
        assert!(due_for_scheduler(conn, "2099-01-01T00:00:00Z").unwrap().is_empty(), "no job can fire");
        touch(conn, ticket, now).unwrap();
        assert_eq!(due_for_scheduler(conn, "2026-01-02T00:00:00Z").unwrap(), [ticket], "a change is looked at");
        let plan: String = conn.query_row("EXPLAIN QUERY PLAN SELECT number FROM tickets WHERE scheduler_at <= '2026'", [], |row| row.get(3)).unwrap();
        assert!(plan.contains("tickets_scheduler_at"), "{plan}");
    }

    /// How often SQLite prepared anew each statement the connection holds, by its SQL.
    fn reprepared(conn: &Connection) -> Vec<(String, i32)> {
        let conn = conn.as_sqlite().expect("a SQLite store");
        let mut counts = Vec::new();
        // SAFETY: the handle outlives the loop; SQLite lists the connection's own
        // statements, and nothing else uses the connection meanwhile.
        unsafe {
            let db = conn.handle();
            let mut statement = rusqlite::ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
            while !statement.is_null() {
                let sql = std::ffi::CStr::from_ptr(rusqlite::ffi::sqlite3_sql(statement)).to_string_lossy().into_owned();
                counts.push((sql, rusqlite::ffi::sqlite3_stmt_status(statement, rusqlite::ffi::SQLITE_STMTSTATUS_REPREPARE, 0)));
                statement = rusqlite::ffi::sqlite3_next_stmt(db, statement);
            }
        }
        counts
    }

    /// Every process that opens an analyzed store would load STAT4's samples first.
    #[test]
    fn sqlite_is_built_without_stat4() {
        let store = store();
        let used: i64 = store.conn.query_row("SELECT sqlite_compileoption_used('ENABLE_STAT4')", [], |row| row.get(0)).unwrap();
        assert_eq!(used, 0, "LIBSQLITE3_FLAGS in .cargo/config.toml leaves STAT4 out");
    }

    /// Each letter reads its readers by address and its ticket with owner, requester and
    /// latest comments: in an analyzed store none of those statements is prepared anew
    /// for the next address or ticket it binds, and reading a ticket sorts nothing.
    #[test]
    fn what_every_letter_reads_is_prepared_once_and_sorts_nothing() {
        let store = store();
        let conn = &store.conn;
        let now = parse_time("2026-01-02T00:00:00Z").unwrap();
        let mut tickets = Vec::new();
        for index in 0..40 {
            let person = crate::store::people::create(conn, &format!("p{index}@example.org"), None, crate::ticket::Role::Customer, now).unwrap();
            conn.execute("INSERT INTO addresses (address, person, is_primary) VALUES (?1, ?2, 0)", params![format!("other{index}@example.org"), person.0]).unwrap();
            let new = NewTicket { subject: format!("s{index}"), queue: "general".into(), importance: Level::Medium, priority: Level::Medium, requester: person, first_number: 1 };
            let ticket = create(conn, &new, now).unwrap();
            add_history(conn, ticket, now, &format!("p{index}@example.org"), "comment", "Help.", None).unwrap();
            tickets.push(ticket);
        }
        conn.execute_batch("ANALYZE").unwrap();
        for (index, &ticket) in tickets.iter().enumerate() {
            let address = format!("p{index}@example.org");
            assert!(crate::store::people::find_by_address(conn, &address).unwrap().is_some());
            assert_eq!(crate::store::people::profile(conn, &address).unwrap().map(|profile| profile.language), Some("en".to_string()));
            assert!(!crate::store::directory::is_retired(conn, &address).unwrap());
            assert_eq!(latest_comments(conn, ticket, 3).unwrap().len(), 1);
            assert_eq!(get(conn, ticket).unwrap().unwrap().requester, address, "the primary address names the requester");
        }
        // FTS5 prepares its own statements on its shadow tables (`'main'.'…'`) as it needs them.
        let again: Vec<(String, i32)> =
            reprepared(conn).into_iter().filter(|(sql, count)| *count > 0 && !sql.contains("'main'.'")).collect();
        assert!(again.is_empty(), "prepared anew: {again:?}");
        let plan = crate::store::query_plan(conn, &format!("SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.number = 1"), []);
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:?}");
    }
}
