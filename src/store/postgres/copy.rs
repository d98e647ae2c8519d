//! `reqmail store copy`: a whole store from SQLite into PostgreSQL, or back into a new
//! SQLite file, in one transaction on the target, then verified.
//!
//! Every table of the SQLite schema is copied row by row as it is stored, the derived
//! ones too (reports' facts, knowledge words: they hold history that cannot be derived
//! again, or need the application's functions), with the target's triggers off meanwhile
//! and foreign keys checked at commit. The exceptions are the search index and the
//! subjects' sound keys, which each store keeps in its own form (FTS5 on SQLite;
//! tsvectors and a row per ticket and key on PostgreSQL): they are rebuilt on the
//! target. Rows are streamed, never held a table at a time. The verification sums each
//! table on both sides in the same way: its row count and a SHA-256 over its rows in
//! primary-key order (text in byte order on both), each value in one canonical encoding;
//! the target's sums are read back after the commit.

use std::path::Path;

use anyhow::Context as _;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::types::{ToSql, Type};
use postgres::IsolationLevel;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};
use sha2::{Digest as _, Sha256};

use super::{migrate_in, schema_version, Url, MIGRATIONS};
use crate::config::StoreConfig;
use crate::store::Store;

/// How a column's values are stored: SQLite's INTEGER, TEXT and BLOB, PostgreSQL's
/// BIGINT, TEXT and BYTEA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Text,
    Blob,
}

impl Kind {
    fn of_sqlite(declared: &str) -> Option<Kind> {
        match declared.to_ascii_uppercase().as_str() {
            "INTEGER" => Some(Kind::Integer),
            "TEXT" => Some(Kind::Text),
            "BLOB" => Some(Kind::Blob),
            _ => None,
        }
    }

    /// The type's name in PostgreSQL's `information_schema.columns.data_type`.
    pub fn postgres_name(self) -> &'static str {
        match self {
            Kind::Integer => "bigint",
            Kind::Text => "text",
            Kind::Blob => "bytea",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

/// A table both stores have, with the order its rows are summed in.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Indexes into `columns`: the primary key, else every column (in the order of an
    /// index that covers them all, so that neither store sorts).
    order: Vec<usize>,
}

/// The tables of a SQLite store, as `store copy` sees them.
pub struct Schema {
    pub tables: Vec<Table>,
    /// Tables only SQLite has: its FTS5 search index and the tables SQLite keeps for it.
    pub sqlite_only: Vec<String>,
}

impl Schema {
    pub fn read(conn: &Connection) -> anyhow::Result<Schema> {
        let mut listed = conn.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")?;
        let all: Vec<(String, String)> = listed.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
        let virtual_tables: Vec<&str> =
            all.iter().filter(|(_, sql)| sql.starts_with("CREATE VIRTUAL TABLE")).map(|(name, _)| name.as_str()).collect();
        let mut schema = Schema { tables: Vec::new(), sqlite_only: Vec::new() };
        for (name, _) in &all {
            if virtual_tables.iter().any(|virtual_table| name == virtual_table || name.starts_with(&format!("{virtual_table}_"))) {
                schema.sqlite_only.push(name.clone());
            } else {
                schema.tables.push(read_table(conn, name)?);
            }
        }
        parents_first(conn, &mut schema.tables)?;
        Ok(schema)
    }
}

/// Orders the tables so that a table comes after those its foreign keys refer to. The
/// checks wait for the commit anyway, but SQLite looks for the children of every parent
/// row inserted while a check is pending, and most such columns have no index: copied
/// children first, that was a scan per parent row.
fn parents_first(conn: &Connection, tables: &mut [Table]) -> anyhow::Result<()> {
    let mut parents = std::collections::HashMap::new();
    for table in tables.iter() {
        let mut listed = conn.prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")?;
        let referred: Vec<String> = listed.query_map([&table.name], |row| row.get(0))?.collect::<Result<_, _>>()?;
        parents.insert(table.name.clone(), referred.into_iter().filter(|parent| *parent != table.name).collect::<Vec<_>>());
    }
    fn depth(name: &str, parents: &std::collections::HashMap<String, Vec<String>>, seen: &mut Vec<String>) -> usize {
        if seen.iter().any(|visited| visited == name) {
            return 0;
        }
        seen.push(name.to_string());
        let deepest = parents.get(name).map_or(0, |referred| referred.iter().map(|parent| depth(parent, parents, seen) + 1).max().unwrap_or(0));
        seen.pop();
        deepest
    }
    tables.sort_by_cached_key(|table| (depth(&table.name, &parents, &mut Vec::new()), table.name.clone()));
    Ok(())
}

fn read_table(conn: &Connection, name: &str) -> anyhow::Result<Table> {
    let mut info = conn.prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid")?;
    let described: Vec<(String, String, i64)> = info.query_map([name], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?.collect::<Result<_, _>>()?;
    let mut columns = Vec::new();
    let mut key = Vec::new();
    for (index, (column, declared, key_position)) in described.into_iter().enumerate() {
        let kind = Kind::of_sqlite(&declared).with_context(|| format!("table {name}, column {column}: type {declared:?} cannot be copied"))?;
        columns.push(Column { name: column, kind });
        if key_position > 0 {
            key.push((key_position, index));
        }
    }
    key.sort();
    let order = if key.is_empty() { covering_index_order(conn, name, &columns)? } else { key.into_iter().map(|(_, index)| index).collect() };
    Ok(Table { name: name.to_string(), columns, order })
}

/// Every column of a table without a primary key, in the order of an index holding them
/// all when there is one.
fn covering_index_order(conn: &Connection, table: &str, columns: &[Column]) -> anyhow::Result<Vec<usize>> {
    let position = |name: &str| columns.iter().position(|column| column.name == name);
    let mut indexes = conn.prepare("SELECT name FROM pragma_index_list(?1)")?;
    let names: Vec<String> = indexes.query_map([table], |row| row.get(0))?.collect::<Result<_, _>>()?;
    for index in names {
        let mut info = conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
        let indexed: Vec<Option<String>> = info.query_map([&index], |row| row.get(0))?.collect::<Result<_, _>>()?;
        let order: Option<Vec<usize>> = indexed.iter().map(|name| name.as_deref().and_then(position)).collect();
        if let Some(order) = order.filter(|order| order.len() == columns.len()) {
            return Ok(order);
        }
    }
    Ok((0..columns.len()).collect())
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Table {
    fn column_list(&self) -> String {
        self.columns.iter().map(|column| quoted(&column.name)).collect::<Vec<_>>().join(", ")
    }

    /// The rows in summing order, with text in byte order (SQLite's BINARY, PostgreSQL's
    /// "C") and NULL first, as SQLite puts it.
    fn select(&self, postgres: bool) -> String {
        let order: Vec<String> = self
            .order
            .iter()
            .map(|&index| {
                let column = &self.columns[index];
                match (column.kind, postgres) {
                    (Kind::Text, false) => format!("{} COLLATE BINARY", quoted(&column.name)),
                    (Kind::Text, true) => format!("{} COLLATE \"C\" NULLS FIRST", quoted(&column.name)),
                    (_, false) => quoted(&column.name),
                    (_, true) => format!("{} NULLS FIRST", quoted(&column.name)),
                }
            })
            .collect();
        format!("SELECT {} FROM {} ORDER BY {}", self.column_list(), quoted(&self.name), order.join(", "))
    }
}

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn from_sqlite(value: ValueRef<'_>, table: &Table, column: usize) -> anyhow::Result<Cell> {
        let name = || format!("table {}, column {}", table.name, table.columns[column].name);
        Ok(match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(integer) => Cell::Integer(integer),
            ValueRef::Text(bytes) => Cell::Text(
                String::from_utf8(bytes.to_vec()).map_err(|_| anyhow::anyhow!("{}: text that is not UTF-8, which PostgreSQL cannot store", name()))?,
            ),
            ValueRef::Blob(bytes) => Cell::Blob(bytes.to_vec()),
            ValueRef::Real(_) => anyhow::bail!("{}: a REAL value, which no reqmail column holds", name()),
        })
    }

    fn from_postgres(row: &postgres::Row, table: &Table, column: usize) -> anyhow::Result<Cell> {
        let read = || -> Result<Cell, postgres::Error> {
            Ok(match table.columns[column].kind {
                Kind::Integer => row.try_get::<_, Option<i64>>(column)?.map_or(Cell::Null, Cell::Integer),
                Kind::Text => row.try_get::<_, Option<String>>(column)?.map_or(Cell::Null, Cell::Text),
                Kind::Blob => row.try_get::<_, Option<Vec<u8>>>(column)?.map_or(Cell::Null, Cell::Blob),
            })
        };
        read().with_context(|| format!("table {}, column {}", table.name, table.columns[column].name))
    }

    fn for_postgres(&self, kind: Kind) -> &(dyn ToSql + Sync) {
        match (self, kind) {
            (Cell::Integer(integer), _) => integer,
            (Cell::Text(text), _) => text,
            (Cell::Blob(bytes), _) => bytes,
            (Cell::Null, Kind::Integer) => &None::<i64>,
            (Cell::Null, Kind::Text) => &None::<String>,
            (Cell::Null, Kind::Blob) => &None::<Vec<u8>>,
        }
    }

    /// The canonical encoding the sums are taken over: a tag, then the value (integers
    /// as 8 bytes little-endian, text and bytes after their length).
    fn feed(&self, hasher: &mut Sha256) {
        match self {
            Cell::Null => hasher.update([0]),
            Cell::Integer(integer) => {
                hasher.update([1]);
                hasher.update(integer.to_le_bytes());
            }
            Cell::Text(text) => {
                hasher.update([2]);
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
            Cell::Blob(bytes) => {
                hasher.update([3]);
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
        }
    }
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Integer(integer) => ValueRef::Integer(*integer),
            Cell::Text(text) => ValueRef::Text(text.as_bytes()),
            Cell::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// A table's row count and the SHA-256 over its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum {
    pub rows: u64,
    pub sha256: [u8; 32],
}

#[derive(Default)]
struct Summing {
    rows: u64,
    hasher: Sha256,
}

impl Summing {
    fn add(&mut self, row: &[Cell]) {
        self.rows += 1;
        for cell in row {
            cell.feed(&mut self.hasher);
        }
    }

    fn finish(self) -> Sum {
        Sum { rows: self.rows, sha256: self.hasher.finalize().into() }
    }
}

/// Both sides of one table.
#[derive(Debug, Clone)]
pub struct TableCheck {
    pub table: String,
    pub source: Sum,
    pub target: Sum,
}

impl TableCheck {
    pub fn matches(&self) -> bool {
        self.source == self.target
    }
}

/// What a copy or a verification found, table by table.
#[derive(Debug, Clone)]
pub struct Report {
    pub tables: Vec<TableCheck>,
}

impl Report {
    fn of(schema: &Schema, source: Vec<Sum>, target: Vec<Sum>) -> Report {
        let tables = schema
            .tables
            .iter()
            .zip(source.into_iter().zip(target))
            .map(|(table, (source, target))| TableCheck { table: table.name.clone(), source, target })
            .collect();
        Report { tables }
    }

    /// The first table whose count or rows differ.
    pub fn first_difference(&self) -> Option<&TableCheck> {
        self.tables.iter().find(|check| !check.matches())
    }
}

/// How far a copy is: rows of `table` copied so far, of `total`.
pub struct Progress<'a> {
    pub table: &'a str,
    pub rows: u64,
    pub total: u64,
}

/// SQLite's page cache while a copy reads the store, in KiB (SQLite's default). A copy
/// into SQLite keeps the store's batch cache: with 2 MiB, 40,000 tickets took 20 % more
/// CPU to write (the indexes not in key order).
const STREAMING_CACHE_KIB: i64 = 2000;

/// Asked every this many rows, and at the end of each table.
const PROGRESS_EVERY: u64 = 10_000;

/// The target PostgreSQL database already holds a store (refused without `--replace`).
#[derive(Debug, thiserror::Error)]
#[error("{url} is not empty: table {table} has rows (copy into an empty database, or add --replace to overwrite it)")]
pub struct NotEmpty {
    pub url: String,
    pub table: String,
}

/// Copies the store behind `sqlite` into the PostgreSQL database at `url`, migrated to
/// the current schema first; all in one transaction there. `replace` empties a target
/// that holds a store already.
pub fn to_postgres(sqlite: &Connection, url: &Url, replace: bool, progress: &mut dyn FnMut(Progress<'_>)) -> anyhow::Result<Report> {
    // A copy reads each page once: the batch cache of the store's connection (64 MiB)
    // would only grow the process with the store.
    sqlite.pragma_update(None, "cache_size", -STREAMING_CACHE_KIB)?;
    // One snapshot of the source for the whole copy, while writers carry on.
    let snapshot = sqlite.unchecked_transaction()?;
    let schema = Schema::read(&snapshot)?;
    let mut client = url.connect()?;
    let mut transaction = client.transaction()?;
    migrate_in(&mut transaction)?;
    check_columns(&mut transaction, &schema)?;
    for table in &schema.tables {
        let has_rows: bool = transaction.query_one(&format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(&table.name)), &[])?.get(0);
        if has_rows && !replace {
            return Err(NotEmpty { url: url.shown.clone(), table: table.name.clone() }.into());
        }
    }
    let every_table: Vec<String> = schema.tables.iter().map(|table| quoted(&table.name)).chain(REBUILT_ON_POSTGRES.map(quoted)).collect();
    if replace {
        transaction.batch_execute(&format!("TRUNCATE {} RESTART IDENTITY", every_table.join(", ")))?;
    }
    // The rows come as they are, derived ones included: no trigger may add to them.
    for table in &every_table {
        transaction.batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))?;
    }
    transaction.batch_execute("SET CONSTRAINTS ALL DEFERRED")?;
    let mut source = Vec::new();
    for table in &schema.tables {
        let total: i64 = snapshot.query_row(&format!("SELECT COUNT(*) FROM {}", quoted(&table.name)), [], |row| row.get(0))?;
        let types: Vec<Type> = transaction
            .prepare(&format!("SELECT {} FROM {}", table.column_list(), quoted(&table.name)))?
            .columns()
            .iter()
            .map(|column| column.type_().clone())
            .collect();
        let copy_in = transaction.copy_in(&format!("COPY {} ({}) FROM STDIN (FORMAT binary)", quoted(&table.name), table.column_list()))?;
        let mut writer = BinaryCopyInWriter::new(copy_in, &types);
        let mut rows = 0;
        let sum = stream_sqlite(&snapshot, table, &mut |cells| {
            let values: Vec<&(dyn ToSql + Sync)> = cells.iter().zip(&table.columns).map(|(cell, column)| cell.for_postgres(column.kind)).collect();
            writer.write(&values).with_context(|| format!("cannot copy a row of {}", table.name))?;
            rows += 1;
            if rows % PROGRESS_EVERY == 0 {
                progress(Progress { table: &table.name, rows, total: total as u64 });
            }
            Ok(())
        })?;
        writer.finish().with_context(|| format!("cannot copy {}", table.name))?;
        progress(Progress { table: &table.name, rows: sum.rows, total: total as u64 });
        source.push(sum);
    }
    transaction.batch_execute(REBUILD_SEARCH)?;
    rebuild_subject_sounds(&snapshot, &mut transaction)?;
    advance_identities(&mut transaction)?;
    // The foreign keys are checked now: PostgreSQL alters no table with checks pending.
    transaction.batch_execute("SET CONSTRAINTS ALL IMMEDIATE").context("the copied rows refer to rows that do not exist")?;
    for table in &every_table {
        transaction.batch_execute(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))?;
    }
    transaction.commit().with_context(|| format!("cannot commit the copy into {}", url.shown))?;
    drop(snapshot);
    let target = postgres_sums(&mut client, url, &schema)?;
    Ok(Report::of(&schema, source, target))
}

/// PostgreSQL's tables that SQLite keeps in FTS5, rebuilt rather than copied.
const REBUILT_ON_POSTGRES: [&str; 2] = ["search_text", "subject_sounds"];

/// Each ticket's subject keys, as `store::sounds::index_subject` writes them.
fn rebuild_subject_sounds(sqlite: &Connection, transaction: &mut postgres::Transaction<'_>) -> anyhow::Result<()> {
    let copy_in = transaction.copy_in("COPY subject_sounds (key, ticket) FROM STDIN (FORMAT binary)")?;
    let mut writer = BinaryCopyInWriter::new(copy_in, &[Type::TEXT, Type::INT8]);
    let mut tickets = sqlite.prepare("SELECT number, subject FROM tickets")?;
    let mut rows = tickets.query([])?;
    while let Some(row) = rows.next()? {
        let (number, subject): (i64, Option<String>) = (row.get(0)?, row.get(1)?);
        for key in crate::store::sounds::sound_keys(subject.as_deref().unwrap_or_default()) {
            writer.write(&[&key, &number]).context("cannot copy the subjects' sound keys")?;
        }
    }
    writer.finish().context("cannot copy the subjects' sound keys")?;
    Ok(())
}

/// The search index rebuilt from what it indexes, as its triggers (0008, in NFC since
/// 0027) would have.
const REBUILD_SEARCH: &str = "
    INSERT INTO search_text (id, ticket, words) SELECT number * 4, number, to_tsvector('english', reqmail_search_nfc(subject)) FROM tickets;
    INSERT INTO search_text (id, ticket, message, words)
    SELECT id * 4 + 1, ticket, message, to_tsvector('english', reqmail_search_nfc(reqmail_search_note(detail)))
      FROM history WHERE action IN ('comment', 'internal-note', 'automatic-comment');
    INSERT INTO search_text (id, message, words)
    SELECT attachments.id * 4 + 2, attachments.message, to_tsvector('english', reqmail_search_nfc(reqmail_search_bytes(blobs.content)))
      FROM attachments JOIN blobs ON blobs.sha256 = attachments.blob
     WHERE attachments.content_type LIKE 'text/%' AND blobs.size <= 1000000;";

/// Each identity column's sequence moved past the ids copied, so that the next row
/// gets the number SQLite would have given it.
fn advance_identities(transaction: &mut postgres::Transaction<'_>) -> anyhow::Result<()> {
    let identities = transaction.query(
        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'",
        &[],
    )?;
    for identity in identities {
        let (table, column): (String, String) = (identity.get(0), identity.get(1));
        transaction.execute(
            &format!("SELECT setval(pg_get_serial_sequence($1, $2), MAX({column})) FROM {table} HAVING MAX({column}) IS NOT NULL", column = quoted(&column), table = quoted(&table)),
            &[&quoted(&table), &column],
        )?;
    }
    Ok(())
}

/// Refuses a PostgreSQL schema whose tables lack a column of SQLite's, or store it
/// otherwise.
fn check_columns(transaction: &mut postgres::Transaction<'_>, schema: &Schema) -> anyhow::Result<()> {
    for table in &schema.tables {
        let rows = transaction.query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table.name],
        )?;
        let found: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        for column in &table.columns {
            let matching = found.iter().find(|(name, _)| *name == column.name);
            anyhow::ensure!(
                matching.is_some_and(|(_, data_type)| data_type == column.kind.postgres_name()),
                "the PostgreSQL schema has no column {}.{} of type {} (found {:?})",
                table.name,
                column.name,
                column.kind.postgres_name(),
                matching.map(|(_, data_type)| data_type)
            );
        }
    }
    Ok(())
}

/// Each table's sum as the PostgreSQL store at `url` holds it now, in one snapshot.
fn postgres_sums(client: &mut postgres::Client, url: &Url, schema: &Schema) -> anyhow::Result<Vec<Sum>> {
    let mut snapshot = read_snapshot(client, url)?;
    check_columns(&mut snapshot, schema)?;
    let sums = schema
        .tables
        .iter()
        .map(|table| stream_postgres(&mut snapshot, table, &mut |_| Ok(())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    snapshot.commit()?;
    Ok(sums)
}

/// Reads `table` from PostgreSQL in summing order, handing each row to `each`.
fn stream_postgres(
    transaction: &mut postgres::Transaction<'_>,
    table: &Table,
    each: &mut dyn FnMut(&[Cell]) -> anyhow::Result<()>,
) -> anyhow::Result<Sum> {
    let mut summing = Summing::default();
    let mut rows = transaction
        .query_raw(&table.select(true), std::iter::empty::<i64>())
        .with_context(|| format!("cannot read {} from PostgreSQL", table.name))?;
    while let Some(row) = rows.next()? {
        let cells = (0..table.columns.len()).map(|index| Cell::from_postgres(&row, table, index)).collect::<anyhow::Result<Vec<_>>>()?;
        summing.add(&cells);
        each(&cells)?;
    }
    Ok(summing.finish())
}

/// Reads `table` from SQLite in summing order, handing each row to `each`.
fn stream_sqlite(conn: &Connection, table: &Table, each: &mut dyn FnMut(&[Cell]) -> anyhow::Result<()>) -> anyhow::Result<Sum> {
    let mut summing = Summing::default();
    let mut select = conn.prepare(&table.select(false))?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let cells = (0..table.columns.len()).map(|index| Cell::from_sqlite(row.get_ref(index)?, table, index)).collect::<anyhow::Result<Vec<_>>>()?;
        summing.add(&cells);
        each(&cells)?;
    }
    Ok(summing.finish())
}

/// Each table's sum as SQLite holds it now, in one snapshot.
fn sqlite_sums(conn: &Connection, schema: &Schema) -> anyhow::Result<Vec<Sum>> {
    let snapshot = conn.unchecked_transaction()?;
    schema.tables.iter().map(|table| stream_sqlite(&snapshot, table, &mut |_| Ok(()))).collect()
}

/// Opens the PostgreSQL store at `url` to read one snapshot, checking that it is a
/// reqmail store at this reqmail's schema.
fn read_snapshot<'a>(client: &'a mut postgres::Client, url: &Url) -> anyhow::Result<postgres::Transaction<'a>> {
    let mut transaction = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
    let version = schema_version(&mut transaction)?;
    anyhow::ensure!(version != 0, "{} holds no reqmail store", url.shown);
    anyhow::ensure!(
        version == MIGRATIONS.len() as i64,
        "the store at {} has schema version {version}, this reqmail {}: run the same reqmail version on both",
        url.shown,
        MIGRATIONS.len()
    );
    Ok(transaction)
}

/// Copies the PostgreSQL store at `url` into a new SQLite file `path` at the current
/// schema, in one transaction there. `replace` overwrites an existing file.
pub fn to_sqlite(url: &Url, path: &Path, replace: bool, progress: &mut dyn FnMut(Progress<'_>)) -> anyhow::Result<Report> {
    if path.exists() {
        anyhow::ensure!(replace, "{} exists: name a new file, or add --replace to overwrite it", path.display());
        remove_sqlite_files(path)?;
    }
    let mut client = url.connect()?;
    let source = read_snapshot(&mut client, url)?;
    let copied = copy_into_new_file(source, path, progress);
    if copied.is_err() {
        // A failed copy leaves no half-made store behind to be taken for a good one.
        let _ = remove_sqlite_files(path);
    }
    copied
}

/// A SQLite file with its write-ahead log and shared-memory index, where they exist.
fn remove_sqlite_files(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        match std::fs::remove_file(&file) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error).with_context(|| format!("cannot remove {file}")),
            _ => {}
        }
    }
    Ok(())
}

fn copy_into_new_file(mut source: postgres::Transaction<'_>, path: &Path, progress: &mut dyn FnMut(Progress<'_>)) -> anyhow::Result<Report> {
    let mut store = Store::open(&StoreConfig { path: path.to_path_buf(), ..StoreConfig::default() })?;
    let schema = Schema::read(store.conn.sqlite("reqmail store copy")?)?;
    check_columns(&mut source, &schema)?;
    let write = store.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write.execute_batch("PRAGMA defer_foreign_keys = ON")?;
    // SQLite cannot switch triggers off: they are dropped for the copy and made again.
    let triggers: Vec<(String, String)> = write
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, _) in &triggers {
        write.execute_batch(&format!("DROP TRIGGER {}", quoted(name)))?;
    }
    let mut copied = Vec::new();
    for table in &schema.tables {
        write.execute_batch(&format!("DELETE FROM {}", quoted(&table.name)))?;
        let total: i64 = source.query_one(&format!("SELECT COUNT(*) FROM {}", quoted(&table.name)), &[])?.get(0);
        let placeholders = (1..=table.columns.len()).map(|index| format!("?{index}")).collect::<Vec<_>>().join(", ");
        let mut insert = write.prepare(&format!("INSERT INTO {} ({}) VALUES ({placeholders})", quoted(&table.name), table.column_list()))?;
        let mut rows = 0;
        let sum = stream_postgres(&mut source, table, &mut |cells| {
            insert.execute(crate::store::params_from_iter(cells)).with_context(|| format!("cannot copy a row of {}", table.name))?;
            rows += 1;
            if rows % PROGRESS_EVERY == 0 {
                progress(Progress { table: &table.name, rows, total: total as u64 });
            }
            Ok(())
        })?;
        progress(Progress { table: &table.name, rows: sum.rows, total: total as u64 });
        copied.push(sum);
    }
    for (_, sql) in &triggers {
        write.execute_batch(sql)?;
    }
    crate::store::search::reindex(&write)?;
    write.commit().with_context(|| format!("cannot commit the copy into {}", path.display()))?;
    source.commit()?;
    let target = sqlite_sums(store.conn.sqlite("reqmail store copy")?, &schema)?;
    Ok(Report::of(&schema, copied, target))
}

/// Compares the SQLite store behind `sqlite` with the PostgreSQL store at `url`, as
/// both are now, copying nothing.
pub fn verify(sqlite: &Connection, url: &Url) -> anyhow::Result<Report> {
    let schema = Schema::read(sqlite)?;
    let mine = sqlite_sums(sqlite, &schema)?;
    let theirs = postgres_sums(&mut url.connect()?, url, &schema)?;
    Ok(Report::of(&schema, mine, theirs))
}

#[cfg(test)]
mod tests {
    use super::{Cell, Schema, Summing};
    use crate::config::StoreConfig;
    use crate::store::Store;

    fn sum(rows: &[Vec<Cell>]) -> super::Sum {
        let mut summing = Summing::default();
        for row in rows {
            summing.add(row);
        }
        summing.finish()
    }

    #[test]
    fn the_sum_tells_values_apart_that_a_plain_concatenation_would_not() {
        let text = |value: &str| Cell::Text(value.into());
        assert_ne!(sum(&[vec![text("ab"), text("c")]]), sum(&[vec![text("a"), text("bc")]]));
        assert_ne!(sum(&[vec![Cell::Null]]), sum(&[vec![text("")]]));
        assert_ne!(sum(&[vec![Cell::Integer(1)]]), sum(&[vec![Cell::Blob(1i64.to_le_bytes().to_vec())]]));
        assert_ne!(sum(&[vec![text("x")], vec![text("y")]]), sum(&[vec![text("y")], vec![text("x")]]));
        assert_eq!(sum(&[vec![text("x"), Cell::Integer(7)]]), sum(&[vec![text("x"), Cell::Integer(7)]]));
    }

    #[test]
    fn every_table_of_the_schema_is_copied_but_the_indexes_of_fts5() {
        let store = Store::open_in_memory(&StoreConfig::default()).unwrap();
        let schema = Schema::read(store.conn.as_sqlite().unwrap()).unwrap();
        let names: Vec<&str> = schema.tables.iter().map(|table| table.name.as_str()).collect();
        for base in ["tickets", "history", "messages", "message_raw", "people", "addresses", "outbox", "scheduled_done", "status_changes"] {
            assert!(names.contains(&base), "{base} is copied");
        }
        assert!(schema.sqlite_only.iter().any(|name| name == "search_text") && schema.sqlite_only.iter().any(|name| name == "ticket_sounds"));
        assert!(
            schema.sqlite_only.iter().all(|name| name.starts_with("search_text") || name.starts_with("ticket_sounds")),
            "{:?}",
            schema.sqlite_only
        );
        // A table without a primary key is summed in the order of the index over all its columns.
        let status_changes = schema.tables.iter().find(|table| table.name == "status_changes").unwrap();
        let order: Vec<&str> = status_changes.order.iter().map(|&index| status_changes.columns[index].name.as_str()).collect();
        assert_eq!(order, ["at", "ticket", "to_status", "from_status", "backlog"]);
        let position = |name: &str| names.iter().position(|table| *table == name).unwrap();
        for (parent, child) in [("people", "tickets"), ("tickets", "messages"), ("messages", "history"), ("messages", "message_raw"), ("blobs", "attachments")] {
            assert!(position(parent) < position(child), "{parent} is copied before {child}: {names:?}");
        }
    }
}
