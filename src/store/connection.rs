//! One connection to the store, to a SQLite file or to a PostgreSQL database, with the
//! part of rusqlite's interface that the queries use: statements prepared once, rows
//! read by column, transactions and savepoints. Values cross it as SQLite's five kinds
//! (`ToSql`, `FromSql`), so every query and conversion is written once; on PostgreSQL
//! the SQL is translated once per statement (`postgres::dialect`) and the values are
//! converted to and from the column types the server reports (`postgres::values`).

use std::ops::Deref;

pub use rusqlite::types::{FromSql, ToSql, Value, ValueRef};
pub use rusqlite::TransactionBehavior;

pub use super::error::{Error, OptionalExtension, Result};
pub use super::postgres::values::ColumnIndex;
use super::postgres::session::{Session, SessionStatement};

/// The parameters of a statement: the same forms as rusqlite takes (`params![…]`, a
/// tuple, an array, `[]`, [`params_from_iter`]).
pub trait Params {
    fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R;
}

impl Params for [&(dyn ToSql + Send + Sync); 0] {
    fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        work(&[])
    }
}

impl Params for &[&dyn ToSql] {
    fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        work(self)
    }
}

impl Params for () {
    fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        work(&[])
    }
}

macro_rules! tuple_params {
    ($(($($field:tt $type:ident),+))+) => {$(
        impl<$($type: ToSql),+> Params for ($($type,)+) {
            fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
                work(&[$(&self.$field as &dyn ToSql),+])
            }
        }
    )+};
}

tuple_params! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
}

macro_rules! array_params {
    ($($count:literal)+) => {$(
        impl<T: ToSql + ?Sized> Params for &[&T; $count] {
            fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
                let values: [&dyn ToSql; $count] = std::array::from_fn(|index| &self[index] as &dyn ToSql);
                work(&values)
            }
        }
        impl<T: ToSql> Params for [T; $count] {
            fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
                let values: [&dyn ToSql; $count] = std::array::from_fn(|index| &self[index] as &dyn ToSql);
                work(&values)
            }
        }
    )+};
}

array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);

/// Parameters from an iterator, for SQL made with as many placeholders as values.
pub struct ParamsFromIter<I>(I);

pub fn params_from_iter<I>(values: I) -> ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(values)
}

impl<I> Params for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    fn with_values<R>(self, work: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        let owned: Vec<I::Item> = self.0.into_iter().collect();
        let values: Vec<&dyn ToSql> = owned.iter().map(|value| value as &dyn ToSql).collect();
        work(&values)
    }
}

/// `params![a, b]`: rusqlite's, which makes the `&[&dyn ToSql]` that [`Params`] takes.
pub use rusqlite::params;

/// The database behind a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An open connection to the store's database.
// A process holds one or two, never a collection: boxing the larger would only add a
// pointer to every statement.
#[allow(clippy::large_enum_variant)]
pub enum Connection {
    Sqlite(rusqlite::Connection),
    Postgres(Session),
}

impl Connection {
    /// A SQLite file as it is, without the store's settings and schema (see `Store::open`).
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Connection> {
        Ok(Connection::Sqlite(rusqlite::Connection::open(path)?))
    }

    /// A private in-memory SQLite database, empty.
    pub fn open_in_memory() -> Result<Connection> {
        Ok(Connection::Sqlite(rusqlite::Connection::open_in_memory()?))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Connection::Sqlite(_) => Backend::Sqlite,
            Connection::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, functions, the file's
    /// pages); on PostgreSQL an error naming `what`.
    pub fn sqlite(&self, what: &str) -> Result<&rusqlite::Connection> {
        match self {
            Connection::Sqlite(conn) => Ok(conn),
            Connection::Postgres(_) => Err(Error::Unsupported(format!("{what} is for a SQLite store; this store is on PostgreSQL"))),
        }
    }

    /// The SQLite connection, when the store is a SQLite file.
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Connection::Sqlite(conn) => Some(conn),
            Connection::Postgres(_) => None,
        }
    }

    /// A statement kept prepared for the connection's life.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement(match self {
            Connection::Sqlite(conn) => Prepared::SqliteCached(conn.prepare_cached(sql)?),
            Connection::Postgres(session) => Prepared::Postgres(session.statement(sql, true)),
        }))
    }

    /// A statement prepared for this use only (SQL made at run time).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement(match self {
            Connection::Sqlite(conn) => Prepared::Sqlite(conn.prepare(sql)?),
            Connection::Postgres(session) => Prepared::Postgres(session.statement(sql, false)),
        }))
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare(sql)?.execute(params)
    }

    pub fn query_row<T, P: Params>(&self, sql: &str, params: P, read: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.prepare(sql)?.query_row(params, read)
    }

    /// Runs SQL without parameters or results, several statements separated by `;`.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Connection::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Connection::Postgres(session) => session.execute_batch(sql),
        }
    }

    /// The id the last INSERT gave its row.
    pub fn last_insert_rowid(&self) -> Result<i64> {
        match self {
            Connection::Sqlite(conn) => Ok(conn.last_insert_rowid()),
            Connection::Postgres(session) => session.last_insert_id(),
        }
    }

    /// A transaction that reads from the moment it starts and takes the write lock when
    /// it first writes (on PostgreSQL: the gateways' one write lock at once).
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self, TransactionBehavior::Deferred)
    }

    pub fn transaction_with_behavior(&mut self, behavior: TransactionBehavior) -> Result<Transaction<'_>> {
        Transaction::begin(self, behavior)
    }

    /// A transaction on a shared connection; the caller knows none is open on it.
    pub fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        Transaction::begin(self, TransactionBehavior::Deferred)
    }

    /// A snapshot to read from, taking no lock (PostgreSQL: repeatable read, read only).
    pub fn read_snapshot(&self) -> Result<Transaction<'_>> {
        match self {
            Connection::Sqlite(_) => Transaction::begin(self, TransactionBehavior::Deferred),
            Connection::Postgres(session) => {
                session.begin_read()?;
                Ok(Transaction { conn: self, open: true })
            }
        }
    }

    /// Whether a transaction is open on this connection.
    pub fn in_transaction(&self) -> bool {
        match self {
            Connection::Sqlite(conn) => !conn.is_autocommit(),
            Connection::Postgres(session) => session.in_transaction(),
        }
    }

    /// A write transaction on a shared connection; the caller knows none is open on it.
    pub fn unchecked_write(&self) -> Result<Transaction<'_>> {
        Transaction::begin(self, TransactionBehavior::Immediate)
    }
}

/// A prepared statement.
pub struct Statement<'c>(Prepared<'c>);

enum Prepared<'c> {
    SqliteCached(rusqlite::CachedStatement<'c>),
    Sqlite(rusqlite::Statement<'c>),
    Postgres(SessionStatement<'c>),
}

impl<'c> Statement<'c> {
    fn sqlite(&mut self) -> Option<&mut rusqlite::Statement<'c>> {
        match &mut self.0 {
            Prepared::SqliteCached(statement) => Some(statement),
            Prepared::Sqlite(statement) => Some(statement),
            Prepared::Postgres(_) => None,
        }
    }

    /// Runs the statement; the number of rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        match &mut self.0 {
            Prepared::Postgres(statement) => params.with_values(|values| statement.execute(values)),
            _ => {
                let statement = self.sqlite().expect("a SQLite statement");
                params.with_values(|values| Ok(statement.execute(values)?))
            }
        }
    }

    /// Runs an INSERT that makes one row; that row's id.
    pub fn insert<P: Params>(&mut self, params: P) -> Result<i64> {
        match &mut self.0 {
            Prepared::Postgres(statement) => params.with_values(|values| statement.insert(values)),
            _ => {
                let statement = self.sqlite().expect("a SQLite statement");
                params.with_values(|values| Ok(statement.insert(values)?))
            }
        }
    }

    /// Whether the query gives at least one row.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        let mut rows = self.query(params)?;
        Ok(rows.next()?.is_some())
    }

    /// The first row read by `read`; [`Error::NoRows`] when there is none.
    pub fn query_row<T, P: Params>(&mut self, params: P, read: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => read(&row),
            None => Err(Error::NoRows),
        }
    }

    /// Every row, read by `read` as the iterator reaches it.
    pub fn query_map<T, P: Params, F: FnMut(&Row<'_>) -> Result<T>>(&mut self, params: P, read: F) -> Result<MappedRows<'_, F>> {
        Ok(MappedRows { rows: self.query(params)?, read })
    }

    /// The rows, one by one: streamed from SQLite; from PostgreSQL in portions
    /// of a few hundred rows.
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        match &mut self.0 {
            Prepared::Postgres(statement) => Ok(Rows(RowsInner::Postgres(params.with_values(|values| statement.query(values))?))),
            _ => {
                let statement = self.sqlite().expect("a SQLite statement");
                Ok(Rows(RowsInner::Sqlite(params.with_values(|values| statement.query(values))?)))
            }
        }
    }

    pub fn column_count(&mut self) -> Result<usize> {
        match &mut self.0 {
            Prepared::Postgres(statement) => statement.column_count(),
            _ => Ok(self.sqlite().expect("a SQLite statement").column_count()),
        }
    }
}

/// The rows of a query.
pub struct Rows<'s>(RowsInner<'s>);

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres(super::postgres::session::SessionRows<'s>),
}

impl Rows<'_> {
    // As rusqlite's: each row borrows the rows, which `Iterator` cannot express.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.0 {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(Row::Sqlite)),
            RowsInner::Postgres(rows) => Ok(rows.next()?.map(Row::Postgres)),
        }
    }
}

/// The rows of a query, each read by a closure.
pub struct MappedRows<'s, F> {
    rows: Rows<'s>,
    read: F,
}

impl<T, F: FnMut(&Row<'_>) -> Result<T>> Iterator for MappedRows<'_, F> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.rows.next() {
            Ok(Some(row)) => Some((self.read)(&row)),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }
}

/// One row of a result.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl<'r> Row<'r> {
    pub fn get<I: ColumnIndex, T: FromSql>(&self, index: I) -> Result<T> {
        match self {
            Row::Sqlite(row) => Ok(row.get(index)?),
            Row::Postgres(row) => {
                let value = super::postgres::values::read(row, index)?;
                T::column_result(value).map_err(|error| Error::conversion(index, error))
            }
        }
    }

    /// The value as the row holds it, borrowed.
    pub fn get_ref(&self, index: usize) -> Result<ValueRef<'r>> {
        match self {
            Row::Sqlite(row) => Ok(row.get_ref(index)?),
            Row::Postgres(row) => super::postgres::values::read(row, index),
        }
    }
}

/// An open transaction: rolled back when dropped uncommitted.
pub struct Transaction<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> Transaction<'c> {
    fn begin(conn: &'c Connection, behavior: TransactionBehavior) -> Result<Transaction<'c>> {
        match conn {
            Connection::Sqlite(sqlite) => sqlite.execute_batch(match behavior {
                TransactionBehavior::Deferred => "BEGIN DEFERRED",
                TransactionBehavior::Immediate => "BEGIN IMMEDIATE",
                _ => "BEGIN EXCLUSIVE",
            })?,
            Connection::Postgres(session) => session.begin()?,
        }
        Ok(Transaction { conn, open: true })
    }

    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT")
    }

    pub fn rollback(mut self) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("ROLLBACK")
    }

    /// A savepoint inside the transaction.
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::begin(self.conn)
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Rolling back after a failure may fail too (the connection is gone); the
            // caller already has the first error.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// A savepoint: rolled back to (and released) when dropped unreleased.
pub struct Savepoint<'c> {
    conn: &'c Connection,
    name: String,
    open: bool,
}

impl<'c> Savepoint<'c> {
    fn begin(conn: &'c Connection) -> Result<Savepoint<'c>> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!("reqmail_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        conn.execute_batch(&format!("SAVEPOINT {name}"))?;
        Ok(Savepoint { conn, name, open: true })
    }

    /// Keeps what was done since the savepoint.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.execute_batch(&format!("RELEASE {}", self.name))
    }

    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::begin(self.conn)
    }
}

impl Deref for Savepoint<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch(&format!("ROLLBACK TO {0}; RELEASE {0}", self.name));
        }
    }
}
