//! The SQL behind reports: counts grouped by a time bucket or a ticket attribute, over
//! the facts kept since migration 0006 (`status_changes`, `first_responses`,
//! `time_entries`: written by `store::tickets` with the statement that changes a ticket or
//! adds to its history since 0031–0033, by triggers before) and the tickets themselves.
//!
//! Filters and dimensions use each ticket's current queue, category, owner, host and
//! requester's organisation. Time buckets are UTC weeks (starting Monday) and months.

use rusqlite::types::Value;
use crate::store::{params_from_iter, Backend, Connection};

/// Which tickets a report covers; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub queue: Option<String>,
    /// A category path; its subcategories match too.
    pub category: Option<String>,
    /// The owner's address.
    pub owner: Option<String>,
    /// The requester's organisation.
    pub organisation: Option<String>,
    pub host: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// `AND …` conditions on the ticket `t`, with their values appended to `values`.
    pub(crate) fn sql(&self, values: &mut Vec<Value>) -> String {
        let mut sql = String::new();
        if let Some(queue) = &self.queue {
            sql.push_str(" AND t.queue = ?");
            values.push(Value::Text(queue.clone()));
        }
        if let Some(category) = &self.category {
            sql.push_str(" AND (t.category = ? OR t.category LIKE ? ESCAPE '\\')");
            values.push(Value::Text(category.clone()));
            let escaped = category.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            values.push(Value::Text(format!("{escaped} / %")));
        }
        if let Some(owner) = &self.owner {
            sql.push_str(" AND t.owner = (SELECT person FROM addresses WHERE address = lower(?))");
            values.push(Value::Text(owner.clone()));
        }
        if let Some(organisation) = &self.organisation {
            sql.push_str(" AND t.requester IN (SELECT id FROM people WHERE organisation = ?)");
            values.push(Value::Text(organisation.clone()));
        }
        if let Some(host) = &self.host {
            sql.push_str(" AND t.host = ?");
            values.push(Value::Text(host.clone()));
        }
        sql
    }
}

/// What rows of a report are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// One row for the whole period.
    #[default]
    Total,
    Week,
    Month,
    Queue,
    Category,
    Owner,
    Host,
}

impl Grouping {
    pub fn is_time(self) -> bool {
        matches!(self, Grouping::Week | Grouping::Month)
    }

    /// Whether rows need the ticket `t`: a ticket attribute or a filter. Facts joined
    /// with tickets cost a lookup each; a year's facts alone are an index scan.
    fn needs_ticket(self, filter: &Filter) -> bool {
        !filter.is_empty() || !(self.is_time() || self == Grouping::Total)
    }

    /// `JOIN tickets t` on the facts `alias`, when rows need it.
    fn join(self, filter: &Filter, alias: &str) -> String {
        if self.needs_ticket(filter) {
            format!(" JOIN tickets t ON t.number = {alias}.ticket")
        } else {
            String::new()
        }
    }

    /// The row key of a ticket `t` whose event happened at `time` (an SQL expression).
    fn key(self, backend: Backend, time: &str) -> String {
        match self {
            Grouping::Total => "''".to_string(),
            // The Monday that starts the week.
            Grouping::Week => match backend {
                Backend::Sqlite => format!("date({time}, 'weekday 0', '-6 days')"),
                Backend::Postgres => format!("to_char(date_trunc('week', CAST({time} AS timestamp)), 'YYYY-MM-DD')"),
            },
            Grouping::Month => format!("substr({time}, 1, 7)"),
            Grouping::Queue => "t.queue".to_string(),
            Grouping::Category => "COALESCE(t.category, '')".to_string(),
            Grouping::Owner => {
                "COALESCE((SELECT address FROM addresses WHERE person = t.owner ORDER BY is_primary DESC, address LIMIT 1), '')"
                    .to_string()
            }
            Grouping::Host => "COALESCE(t.host, '')".to_string(),
        }
    }
}

/// A half-open interval of RFC 3339 UTC times, `from <= at < to`.
#[derive(Debug, Clone)]
pub struct Span {
    pub from: String,
    pub to: String,
}

impl Span {
    /// The first and the day after the last day, when the span is whole UTC days.
    fn days(&self) -> Option<(String, String)> {
        let day = |at: &str| at.strip_suffix("T00:00:00Z").filter(|day| day.len() == 10).map(str::to_string);
        Some((day(&self.from)?, day(&self.to)?))
    }
}

/// Runs `sql` (with `?` for `values`) and maps each row.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    values: Vec<Value>,
    map: impl FnMut(&crate::store::Row<'_>) -> crate::store::Result<T>,
) -> crate::store::Result<Vec<T>> {
    let mut statement = conn.prepare(sql)?;
    let mapped = statement.query_map(params_from_iter(values), map)?;
    mapped.collect()
}

/// Tickets created in `span`, per row key.
pub fn opened(conn: &Connection, span: &Span, filter: &Filter, grouping: Grouping) -> crate::store::Result<Vec<(String, i64)>> {
    let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
    let sql = format!(
        "SELECT {key}, COUNT(*) FROM tickets t WHERE t.created >= ? AND t.created < ?{filter} GROUP BY 1",
        key = grouping.key(conn.backend(), "t.created"),
        filter = filter.sql(&mut values)
    );
    rows(conn, &sql, values, |row| Ok((row.get(0)?, row.get(1)?)))
}

/// Status changes in a span, per row key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transitions {
    pub resolved: i64,
    pub closed: i64,
    /// Resolved or closed tickets that were opened again.
    pub reopened: i64,
}

pub fn transitions(conn: &Connection, span: &Span, filter: &Filter, grouping: Grouping) -> crate::store::Result<Vec<(String, Transitions)>> {
    if let (false, Some((first, end))) = (grouping.needs_ticket(filter), span.days()) {
        let sql = format!(
            "SELECT {key}, SUM(CASE WHEN to_status = 'resolved' THEN changes ELSE 0 END),
                    SUM(CASE WHEN to_status = 'closed' THEN changes ELSE 0 END), SUM(CASE WHEN reopened THEN changes ELSE 0 END)
               FROM status_days WHERE day >= ? AND day < ? GROUP BY 1",
            key = grouping.key(conn.backend(), "day")
        );
        return rows(conn, &sql, vec![Value::Text(first), Value::Text(end)], |row| {
            Ok((row.get(0)?, Transitions { resolved: row.get(1)?, closed: row.get(2)?, reopened: row.get(3)? }))
        });
    }
    let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
    let sql = format!(
        "SELECT {key}, SUM(CASE WHEN s.to_status = 'resolved' THEN 1 ELSE 0 END), SUM(CASE WHEN s.to_status = 'closed' THEN 1 ELSE 0 END),
                SUM(CASE WHEN COALESCE(s.from_status, '') IN ('resolved', 'closed') AND s.to_status IN ('new', 'open', 'hold') THEN 1 ELSE 0 END)
           FROM status_changes s{join}
          WHERE s.at >= ? AND s.at < ?{filter} GROUP BY 1",
        key = grouping.key(conn.backend(), "s.at"),
        join = grouping.join(filter, "s"),
        filter = filter.sql(&mut values)
    );
    rows(conn, &sql, values, |row| Ok((row.get(0)?, Transitions { resolved: row.get(1)?, closed: row.get(2)?, reopened: row.get(3)? })))
}

/// Unfinished tickets (new, open, hold) now, per row key of a ticket attribute (for a
/// time grouping, one row with key "").
pub fn backlog_now(conn: &Connection, filter: &Filter, grouping: Grouping) -> crate::store::Result<Vec<(String, i64)>> {
    let key = if grouping.is_time() { Grouping::Total.key(conn.backend(), "") } else { grouping.key(conn.backend(), "") };
    let mut values = Vec::new();
    let sql = format!(
        "SELECT {key}, COUNT(*) FROM tickets t WHERE t.status IN ('new', 'open', 'hold'){filter} GROUP BY 1",
        filter = filter.sql(&mut values)
    );
    rows(conn, &sql, values, |row| Ok((row.get(0)?, row.get(1)?)))
}

/// How status changes since `span.from` moved the backlog, per row key; changes at or
/// after `span.to` have the key `None`. Unfinished tickets at a time T are those now
/// minus these changes at or after T.
pub fn backlog_changes(
    conn: &Connection,
    span: &Span,
    filter: &Filter,
    grouping: Grouping,
) -> crate::store::Result<Vec<(Option<String>, i64)>> {
    if let (false, Some((first, end))) = (grouping.needs_ticket(filter), span.days()) {
        let sql = format!(
            "SELECT CASE WHEN day >= ?1 THEN NULL ELSE {key} END, SUM(backlog) FROM status_days WHERE day >= ?2 GROUP BY 1",
            key = grouping.key(conn.backend(), "day")
        );
        return rows(conn, &sql, vec![Value::Text(end), Value::Text(first)], |row| Ok((row.get(0)?, row.get(1)?)));
    }
    let mut values = vec![Value::Text(span.to.clone()), Value::Text(span.from.clone())];
    let key = if grouping.is_time() {
        format!("CASE WHEN s.at >= ? THEN NULL ELSE {} END", grouping.key(conn.backend(), "s.at"))
    } else {
        format!("CASE WHEN s.at >= ? THEN NULL ELSE {} END", grouping.key(conn.backend(), ""))
    };
    let filter_sql = filter.sql(&mut values);
    let join = grouping.join(filter, "s");
    let sql = format!("SELECT {key}, SUM(s.backlog) FROM status_changes s{join} WHERE s.at >= ?{filter_sql} GROUP BY 1");
    rows(conn, &sql, values, |row| Ok((row.get(0)?, row.get(1)?)))
}

/// Which moment of a ticket [`Timed`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    FirstResponse,
    /// The first resolution in the span, when there were several.
    Resolution,
}

/// A ticket first answered, or resolved, in a span: what its timing needs.
#[derive(Debug, Clone)]
pub struct Timed {
    pub ticket: i64,
    pub key: String,
    pub queue: String,
    pub created: String,
    pub due: Option<String>,
    pub moment: Moment,
    pub at: String,
}

/// First responses and resolutions in `span`, each with the row key of its own time.
pub fn timed(conn: &Connection, span: &Span, filter: &Filter, grouping: Grouping) -> crate::store::Result<Vec<Timed>> {
    let sources = [
        (Moment::FirstResponse, "SELECT ticket, at FROM first_responses WHERE at >= ? AND at < ?"),
        (Moment::Resolution, "SELECT ticket, MIN(at) AS at FROM status_changes WHERE to_status = 'resolved' AND at >= ? AND at < ? GROUP BY ticket"),
    ];
    let mut all = Vec::new();
    for (moment, source) in sources {
        let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
        let sql = format!(
            "SELECT t.number, {key}, t.queue, t.created, t.due, m.at FROM ({source}) m JOIN tickets t ON t.number = m.ticket WHERE 1{filter}",
            key = grouping.key(conn.backend(), "m.at"),
            filter = filter.sql(&mut values)
        );
        all.extend(rows(conn, &sql, values, |row| {
            Ok(Timed { ticket: row.get(0)?, key: row.get(1)?, queue: row.get(2)?, created: row.get(3)?, due: row.get(4)?, moment, at: row.get(5)? })
        })?);
    }
    Ok(all)
}

/// The times at which `tickets` went on hold and came off it, in order per ticket:
/// `(ticket, at, on_hold_after)`.
pub fn hold_changes(conn: &Connection, tickets: &[i64]) -> crate::store::Result<Vec<(i64, String, bool)>> {
    let list = serde_json::to_string(tickets).unwrap_or_else(|_| "[]".into());
    let elements = match conn.backend() {
        Backend::Sqlite => "SELECT value FROM json_each(?1)",
        Backend::Postgres => "SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST(?1 AS json)) AS list(value)",
    };
    rows(
        conn,
        &format!(
            "SELECT s.ticket, s.at, s.to_status = 'hold' FROM status_changes s
              WHERE s.ticket IN ({elements})
                AND (s.to_status = 'hold' OR s.from_status = 'hold')
              ORDER BY s.ticket, s.at"
        ),
        vec![Value::Text(list)],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
}

/// Minutes worked in `span` per row key: (all, by vendors).
pub fn time_worked(conn: &Connection, span: &Span, filter: &Filter, grouping: Grouping) -> crate::store::Result<Vec<(String, i64, i64)>> {
    let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
    let sql = format!(
        "SELECT {key}, SUM(e.minutes), SUM(CASE WHEN e.vendor THEN e.minutes ELSE 0 END)
           FROM time_entries e{join}
          WHERE e.at >= ? AND e.at < ?{filter} GROUP BY 1",
        key = grouping.key(conn.backend(), "e.at"),
        join = grouping.join(filter, "e"),
        filter = filter.sql(&mut values)
    );
    rows(conn, &sql, values, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
}

/// Survey answers given in `span` per row key: (answers, sum of ratings).
pub fn satisfaction(conn: &Connection, span: &Span, filter: &Filter, grouping: Grouping) -> crate::store::Result<Vec<(String, i64, i64)>> {
    let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
    let sql = format!(
        "SELECT {key}, COUNT(*), SUM(v.rating) FROM surveys v{join}
          WHERE v.at >= ? AND v.at < ?{filter} GROUP BY 1",
        key = grouping.key(conn.backend(), "v.at"),
        join = grouping.join(filter, "v"),
        filter = filter.sql(&mut values)
    );
    rows(conn, &sql, values, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
}

/// Per category path (empty: none): tickets opened and resolved in `span`.
pub fn by_category(conn: &Connection, span: &Span, filter: &Filter) -> crate::store::Result<Vec<(String, i64, i64)>> {
    let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
    let opened_sql = format!(
        "SELECT COALESCE(t.category, ''), COUNT(*) FROM tickets t WHERE t.created >= ? AND t.created < ?{} GROUP BY 1",
        filter.sql(&mut values)
    );
    let opened: Vec<(String, i64)> = rows(conn, &opened_sql, values, |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
    let resolved_sql = format!(
        "SELECT COALESCE(t.category, ''), COUNT(DISTINCT s.ticket) FROM status_changes s JOIN tickets t ON t.number = s.ticket
          WHERE s.to_status = 'resolved' AND s.at >= ? AND s.at < ?{} GROUP BY 1",
        filter.sql(&mut values)
    );
    let resolved: Vec<(String, i64)> = rows(conn, &resolved_sql, values, |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut merged: std::collections::BTreeMap<String, (i64, i64)> = std::collections::BTreeMap::new();
    for (category, count) in opened {
        merged.entry(category).or_default().0 = count;
    }
    for (category, count) in resolved {
        merged.entry(category).or_default().1 = count;
    }
    Ok(merged.into_iter().map(|(category, (opened, resolved))| (category, opened, resolved)).collect())
}

/// A failure of a host: a ticket naming it, opened in the span, and when it was repaired
/// (resolved for the last time, else closed).
#[derive(Debug, Clone)]
pub struct Failure {
    pub host: String,
    pub created: String,
    pub resolved: Option<String>,
}

pub fn host_failures(conn: &Connection, span: &Span, filter: &Filter) -> crate::store::Result<Vec<Failure>> {
    let mut values = vec![Value::Text(span.from.clone()), Value::Text(span.to.clone())];
    let filter_sql = filter.sql(&mut values);
    let sql = format!(
        "SELECT t.host, t.created, COALESCE(t.resolved_at, t.closed_at)
           FROM tickets t
          WHERE t.host IS NOT NULL AND t.created >= ? AND t.created < ?{filter_sql}
          ORDER BY t.host, t.created"
    );
    rows(conn, &sql, values, |row| Ok(Failure { host: row.get(0)?, created: row.get(1)?, resolved: row.get(2)? }))
}

/// The report that the weekly job last sent (the Monday of its week), if any.
pub fn weekly_sent(conn: &Connection) -> crate::store::Result<Option<String>> {
    crate::store::setting(conn, "weekly_report_sent")
}

pub fn set_weekly_sent(conn: &Connection, week: &str) -> crate::store::Result<()> {
    crate::store::set_setting(conn, "weekly_report_sent", week)
}


/// The survey's answers: (rating 1–5, how many gave it).
pub fn survey_ratings(conn: &Connection) -> crate::store::Result<Vec<(i64, i64)>> {
    conn.prepare("SELECT rating, COUNT(*) FROM surveys GROUP BY rating")?.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
}

#[cfg(test)]
mod tests {

    use rusqlite_migration::Migrations;

    use crate::store::MIGRATIONS;

    /// A database from before migration 0006, with a ticket that was answered, worked on,
    /// given an attachment and resolved, comes out with its facts filled (and its search
    /// index: `store::search`'s tests).
    #[test]
    fn upgrade_fills_facts_and_index_from_what_existed() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::register_functions(&conn).unwrap();
        // The migrations before this one, wherever the list puts it.
        let before = MIGRATIONS.iter().position(|migration| format!("{migration:?}").contains("CREATE TABLE status_changes")).unwrap();
        Migrations::from_slice(&MIGRATIONS[..before]).to_latest(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO people (id, role, created) VALUES (1, 'customer', '2026-11-01T00:00:00Z'), (2, 'agent', '2026-11-01T00:00:00Z');
             INSERT INTO addresses (address, person, is_primary) VALUES ('carol@example.org', 1, 1), ('bob@example.com', 2, 1);
             INSERT INTO tickets (number, subject, status, queue, importance, priority, requester, created, updated, resolved_at)
             VALUES (1, 'Printer jammed', 'resolved', 'general', 'medium', 'medium', 1, '2026-11-02T09:00:00Z', '2026-11-03T09:00:00Z', '2026-11-03T09:00:00Z');
             INSERT INTO history (ticket, at, actor, action, detail) VALUES
               (1, '2026-11-02T10:00:00Z', 'bob@example.com', 'comment', 'Replacing the roller (matched by plus-address)'),
               (1, '2026-11-02T11:00:00Z', 'bob@example.com', 'time', 'time: 0m → 45m (+45m)');
             INSERT INTO messages (id, direction, state, ticket, source, received, size, raw) VALUES (1, 'in', 'applied', 1, 'pipe', '2026-11-02T09:00:00Z', 1, x'00');
             INSERT INTO blobs (sha256, size, content) VALUES ('h', 20, CAST('disk quota exceeded' AS BLOB));
             INSERT INTO attachments (message, blob, filename, content_type) VALUES (1, 'h', 'log.txt', 'text/plain');",
        )
        .unwrap();
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn).unwrap();
        let conn = crate::store::Connection::Sqlite(conn);
        let count = |sql: &str| conn.query_row(sql, [], |row| row.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM status_changes WHERE ticket = 1 AND to_status = 'resolved' AND backlog = -1"), 1);
        assert_eq!(count("SELECT SUM(changes) FROM status_days"), count("SELECT COUNT(*) FROM status_changes"));
        assert_eq!(count("SELECT changes FROM status_days WHERE day = '2026-11-03' AND to_status = 'resolved'"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM first_responses WHERE ticket = 1 AND at = '2026-11-02T10:00:00Z'"), 1);
        assert_eq!(count("SELECT SUM(minutes) FROM time_entries WHERE ticket = 1"), 45);
        // The search index is filled by `Store::open` after this migration (contentless).
        assert_eq!(crate::store::sounds::tickets_sounding(&conn, "J530"), [1], "jammed, by sound");
    }
}
