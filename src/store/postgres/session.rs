//! A PostgreSQL connection behind [`crate::store::Connection`]: statements translated
//! and prepared once per connection, values converted per the server's types, and
//! write transactions that take the gateways' one write lock, so that several
//! gateways on one database take turns as processes on one SQLite file do.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use postgres::error::SqlState;
use postgres::Client;

use super::dialect;
use super::values::Bound;
use rusqlite::types::ToSql;

use crate::store::error::{Error, Result};

/// The advisory lock every write transaction holds until it ends (any fixed number: ours).
pub const WRITE_LOCK: i64 = 0x7265_716d_6169_6c01;

pub struct Session {
    /// Always `Some` but while the session is dropped.
    client: RefCell<Option<Client>>,
    /// Statements by their SQLite text, translated and prepared.
    prepared: RefCell<HashMap<String, postgres::Statement>>,
    /// Whether a transaction is open: a statement that fails inside one aborts it.
    in_transaction: Cell<bool>,
    /// Whether that transaction is a read-only snapshot, whose queries stream.
    reading: Cell<bool>,
    /// Whether a query streams through a cursor now: the look-ups made for each of its
    /// rows are read whole, with their prepared plans, not through cursors of their own.
    streaming: Cell<bool>,
}

/// How statements that may leave a parameter untyped (by their SQLite text) were
/// prepared before in this process: without types (`true`), or only with the types of
/// their values (`false`), so that a statement is tried the way that fails at most once
/// per process.
static UNTYPED: LazyLock<Mutex<HashMap<String, bool>>> = LazyLock::new(Default::default);

impl Session {
    pub fn new(client: Client) -> Session {
        Session { client: RefCell::new(Some(client)), prepared: RefCell::new(HashMap::new()), in_transaction: Cell::new(false), reading: Cell::new(false), streaming: Cell::new(false) }
    }

    pub fn client(&self) -> std::cell::RefMut<'_, Client> {
        std::cell::RefMut::map(self.client.borrow_mut(), |client| client.as_mut().expect("a session has its client until dropped"))
    }

    pub(crate) fn statement(&self, sql: &str, keep: bool) -> SessionStatement<'_> {
        let prepared = self.prepared.borrow().get(sql).cloned();
        SessionStatement { session: self, sql: sql.to_string(), keep, prepared }
    }

    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        let translated = dialect::translate(sql);
        let result = self.client().batch_execute(&translated).map_err(|error| with_sql(error, &translated));
        if matches!(sql, "COMMIT" | "ROLLBACK") {
            self.in_transaction.set(false);
            self.reading.set(false);
        }
        result
    }

    pub(crate) fn begin(&self) -> Result<()> {
        let mut client = self.client();
        if let Err(error) = client.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")) {
            // The lock not had in time leaves the transaction aborted, and no Transaction
            // to roll it back when dropped.
            let _ = client.batch_execute("ROLLBACK");
            return Err(error.into());
        }
        self.in_transaction.set(true);
        Ok(())
    }

    /// A read-only snapshot that takes no lock: gateways keep writing meanwhile.
    pub(crate) fn begin_read(&self) -> Result<()> {
        self.client().batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        self.in_transaction.set(true);
        self.reading.set(true);
        Ok(())
    }

    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction.get()
    }

    pub(crate) fn last_insert_id(&self) -> Result<i64> {
        match self.client().query_one("SELECT lastval()", &[]) {
            Ok(row) => Ok(row.get(0)),
            // No sequence used yet on this connection: SQLite says 0.
            Err(error) if error.code() == Some(&SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE) => Ok(0),
            Err(error) => Err(error.into()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The client closes by blocking on a runtime of its own, which panics on a thread
        // of another runtime (serve's tasks drop their stores there): it closes on a
        // thread of its own then.
        if let Some(client) = self.client.get_mut().take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(client));
            }
        }
    }
}

/// Whether a parameter of `sql` may have no type the server can tell: one tested for
/// NULL only, selected as it is, or coalesced with another parameter.
fn may_be_untyped(sql: &str) -> bool {
    static UNTYPED_PLACES: LazyLock<regex_lite::Regex> = LazyLock::new(|| {
        regex_lite::Regex::new(r"(?i)\$\d+\s+IS\s+(NOT\s+)?NULL\b|\bSELECT\s+\$\d+|\bCOALESCE\s*\(\s*\$\d+\s*,\s*\$\d+").expect("a valid pattern")
    });
    UNTYPED_PLACES.is_match(sql)
}

/// The statement's text in a PostgreSQL error, where SQLite's errors name it too.
fn with_sql(error: postgres::Error, sql: &str) -> Error {
    match error.as_db_error() {
        Some(_) => Error::PostgresStatement { sql: sql.to_string(), error },
        None => Error::Postgres(error),
    }
}

/// A statement of a [`Session`], prepared at its first execution (when the values tell
/// the types the SQL leaves open).
pub struct SessionStatement<'c> {
    session: &'c Session,
    sql: String,
    keep: bool,
    prepared: Option<postgres::Statement>,
}

impl<'c> SessionStatement<'c> {
    fn prepared(&mut self, bound: &Bound<'_>) -> Result<postgres::Statement> {
        if let Some(statement) = &self.prepared {
            return Ok(statement.clone());
        }
        let translated = dialect::translate(&self.sql);
        let mut client = self.session.client();
        // A parameter the SQL gives no type (`?2 IS NULL`) takes its value's. Trying without
        // types first fails then, and inside a transaction that failure would abort it:
        // there the first try of SQL that may leave one untyped is made in a savepoint
        // (two round trips more, for some 40 statements of an `ingest` if every one had it).
        let suspect = may_be_untyped(&translated);
        let untyped = if suspect { UNTYPED.lock().expect("not poisoned").get(&self.sql).copied() } else { Some(true) };
        let guarded = untyped.is_none() && self.session.in_transaction.get();
        let first_try = if untyped == Some(false) {
            None
        } else {
            if guarded {
                client.batch_execute("SAVEPOINT reqmail_prepare")?;
            }
            match client.prepare(&translated) {
                Ok(statement) => {
                    if guarded {
                        client.batch_execute("RELEASE reqmail_prepare")?;
                    }
                    Some(statement)
                }
                Err(error) if error.code() == Some(&SqlState::INDETERMINATE_DATATYPE) => {
                    if guarded {
                        client.batch_execute("ROLLBACK TO reqmail_prepare; RELEASE reqmail_prepare")?;
                    }
                    None
                }
                Err(error) => return Err(with_sql(error, &translated)),
            }
        };
        if suspect {
            UNTYPED.lock().expect("not poisoned").insert(self.sql.clone(), first_try.is_some());
        }
        let statement = match first_try {
            Some(statement) => statement,
            None => client.prepare_typed(&translated, &bound.types()).map_err(|error| with_sql(error, &translated))?,
        };
        if self.keep {
            self.session.prepared.borrow_mut().insert(self.sql.clone(), statement.clone());
        }
        self.prepared = Some(statement.clone());
        Ok(statement)
    }

    pub(crate) fn execute(&mut self, values: &[&dyn ToSql]) -> Result<usize> {
        let bound = Bound::new(values)?;
        let statement = self.prepared(&bound)?;
        let params = bound.params();
        let params: Vec<_> = params.iter().map(|param| param.as_sql()).collect();
        let changed = self.session.client().execute(&statement, &params).map_err(|error| with_sql(error, &self.sql))?;
        Ok(changed as usize)
    }

    pub(crate) fn insert(&mut self, values: &[&dyn ToSql]) -> Result<i64> {
        self.execute(values)?;
        self.session.last_insert_id()
    }

    pub(crate) fn query(&mut self, values: &[&dyn ToSql]) -> Result<SessionRows<'c>> {
        let bound = Bound::new(values)?;
        let statement = self.prepared(&bound)?;
        let params = bound.params();
        let params: Vec<_> = params.iter().map(|param| param.as_sql()).collect();
        if self.session.reading.get() && !self.session.streaming.get() {
            // In a read snapshot the rows come through a cursor, a portion at a time, so
            // that a long listing takes the memory of one portion; other statements may
            // run between portions.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let cursor = format!("reqmail_rows_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            let declare = format!("DECLARE {cursor} NO SCROLL CURSOR FOR {}", dialect::translate(&self.sql));
            let mut client = self.session.client();
            client.execute(&declare, &params).map_err(|error| with_sql(error, &declare))?;
            let first = client.query(&format!("FETCH {FIRST_PORTION} FROM {cursor}"), &[])?;
            self.session.streaming.set(true);
            let more = first.len() == FIRST_PORTION;
            return Ok(SessionRows { rows: first.into_iter(), current: None, cursor: Some((self.session, cursor)), portion: FIRST_PORTION, more });
        }
        // Outside one, all rows at once: a caller may run other statements on the
        // connection while it goes through them.
        let rows = self.session.client().query(&statement, &params).map_err(|error| with_sql(error, &self.sql))?;
        Ok(SessionRows { rows: rows.into_iter(), current: None, cursor: None, portion: 0, more: false })
    }

    pub(crate) fn column_count(&mut self) -> Result<usize> {
        let statement = self.prepared(&Bound::new(&[])?)?;
        Ok(statement.columns().len())
    }
}

/// The rows a cursor gives first: a page of a listing comes in one round trip.
const FIRST_PORTION: usize = 256;
/// Each later portion is twice the one before, up to this: a long listing makes few round
/// trips, and its memory stays that of one portion.
const LARGEST_PORTION: usize = 4096;

/// The rows of a query.
pub struct SessionRows<'s> {
    rows: std::vec::IntoIter<postgres::Row>,
    current: Option<postgres::Row>,
    /// The cursor the rows come through, closed when they are dropped: a snapshot that
    /// lists again must not keep every earlier cursor until it ends.
    cursor: Option<(&'s Session, String)>,
    /// The rows the last portion asked for.
    portion: usize,
    /// Whether the cursor has rows not fetched yet.
    more: bool,
}

impl SessionRows<'_> {
    pub(crate) fn next(&mut self) -> Result<Option<&postgres::Row>> {
        self.current = self.rows.next();
        if self.current.is_none() && self.more {
            if let Some((session, cursor)) = &self.cursor {
                self.portion = (self.portion * 2).min(LARGEST_PORTION);
                let portion = session.client().query(&format!("FETCH {} FROM {cursor}", self.portion), &[])?;
                self.more = portion.len() == self.portion;
                self.rows = portion.into_iter();
                self.current = self.rows.next();
            }
        }
        Ok(self.current.as_ref())
    }
}

impl Drop for SessionRows<'_> {
    fn drop(&mut self) {
        if let Some((session, cursor)) = self.cursor.take() {
            session.streaming.set(false);
            // Fails only in a transaction already aborted, whose end closes it anyway.
            if let Ok(mut client) = session.client.try_borrow_mut() {
                if let Some(client) = client.as_mut() {
                    let _ = client.batch_execute(&format!("CLOSE {cursor}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::may_be_untyped;

    #[test]
    fn parameters_that_may_have_no_type_are_told_from_typed_ones() {
        assert!(may_be_untyped("SELECT COUNT(*) FROM auto_mail WHERE address = $1 AND $2 IS NULL"));
        assert!(may_be_untyped("SELECT a FROM t WHERE $3 is not null"));
        assert!(may_be_untyped("SELECT $1, a FROM t"));
        assert!(may_be_untyped("UPDATE t SET a = COALESCE($1, $2)"));
        assert!(!may_be_untyped("SELECT a FROM t WHERE b = $1 AND c IS NULL"));
        assert!(!may_be_untyped("UPDATE t SET a = COALESCE($1, a) WHERE id = $2"));
    }
}
