//! `backup`, `export` and `restore`: the store copied while it works, written out as
//! files a person can read, and rebuilt from either.
//!
//! A backup is one SQLite file (the online backup API: one consistent snapshot while
//! `serve` and `ingest` keep writing). An export is a folder: every ticket as plain text
//! next to its raw messages as `.eml` files, and `store.sql`, the whole store as SQL text.
//! Files are written under a temporary name and renamed into place, so a crash never
//! leaves something that looks complete but is not.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::clock::format_time;
use crate::ticket::{time_left, HistoryEvent, Status, Ticket, TicketId};
use crate::config::{Config, StoreConfig};
use crate::store::dump::{self, Contents};
use crate::store::Store;

/// The name of the SQL text in an export folder.
pub const EXPORT_SQL: &str = "store.sql";

/// Copies the store into `file` (refusing to replace an existing file unless `force`).
pub fn backup(config: &StoreConfig, file: &Path, force: bool) -> anyhow::Result<Contents> {
    if file.exists() && !force {
        anyhow::bail!("{} exists; choose another name or add --force to replace it", file.display());
    }
    let store = open_existing(config)?;
    let partial = partial_name(file);
    let _ = std::fs::remove_file(&partial);
    dump::backup_to(store.conn.sqlite("reqmail backup")?, &partial).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    let contents = dump::contents(&dump::open_read_only(&partial)?)?;
    sync_file(&partial)?;
    std::fs::rename(&partial, file).with_context(|| format!("cannot rename {} to {}", partial.display(), file.display()))?;
    sync_parent(file);
    Ok(contents)
}

/// The store, which must exist: copying a store that is not there would create one.
fn open_existing(config: &StoreConfig) -> anyhow::Result<Store> {
    sqlite_only(config)?;
    anyhow::ensure!(config.path.exists(), "there is no store at {} (check [store] path, or --config)", config.path.display());
    Store::open(config)
}

/// Backups, exports and restores are of the SQLite file; a PostgreSQL store is the
/// server's to back up.
fn sqlite_only(config: &StoreConfig) -> anyhow::Result<()> {
    match &config.url {
        Some(url) => anyhow::bail!(
            "backup, export and restore are of a SQLite store; this store is on PostgreSQL ({}): use pg_dump and pg_restore, or `reqmail store copy` between PostgreSQL and a SQLite file",
            crate::store::postgres::without_password(url)
        ),
        None => Ok(()),
    }
}

/// `NAME.partial` next to `path`.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path).and_then(|file| file.sync_all()).with_context(|| format!("cannot flush {} to disk", path.display()))
}

fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        let _ = std::fs::File::open(parent).and_then(|folder| folder.sync_all());
    }
}

/// Writes the store into the new folder `dir`: `tickets/NUMBER/ticket.txt` with the
/// ticket and its history, `tickets/NUMBER/messages/ID-in.eml` (and `-out`) with every
/// message verbatim, `unfiled/` for messages on no ticket (quarantined, ignored), and
/// `store.sql`.
pub fn export(config: &StoreConfig, dir: &Path) -> anyhow::Result<Contents> {
    sqlite_only(config)?;
    if dir.exists() && std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()).unwrap_or(true) {
        anyhow::bail!("{} exists and is not empty; export into a new folder", dir.display());
    }
    let partial = partial_name(dir);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).with_context(|| format!("cannot remove the unfinished export {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let store = open_existing(config)?;
    // The text dump first, from one snapshot; the readable files from a second one may
    // show a little more, never less.
    let sql_path = partial.join(EXPORT_SQL);
    let mut sql = std::io::BufWriter::new(std::fs::File::create(&sql_path).with_context(|| format!("cannot create {}", sql_path.display()))?);
    dump::write_sql(store.conn.sqlite("reqmail export")?, &mut sql).with_context(|| format!("cannot write {}", sql_path.display()))?;
    sql.into_inner().map_err(|error| error.into_error())?.sync_all()?;
    let contents = dump::contents(store.conn.sqlite("reqmail export")?)?;

    let tickets = crate::store::tickets::list(&store.conn, &crate::store::tickets::TicketFilter::default())?;
    for ticket in &tickets {
        let folder = partial.join("tickets").join(format!("{:06}", ticket.number.0));
        std::fs::create_dir_all(folder.join("messages"))?;
        let history = crate::store::tickets::history(&store.conn, ticket.number)?;
        let links = crate::store::tickets::links(&store.conn, ticket.number)?;
        let host = ticket.host.as_deref().map(|host| crate::store::hosts::get(&store.conn, host)).transpose()?.flatten();
        std::fs::write(folder.join("ticket.txt"), ticket_text(ticket, host.as_ref(), &history, &links, None))?;
    }
    dump::each_message(&store.conn, |id, direction, ticket, raw| {
        let folder = match ticket {
            Some(number) => partial.join("tickets").join(format!("{number:06}")).join("messages"),
            None => partial.join("unfiled"),
        };
        std::fs::create_dir_all(&folder)?;
        let path = folder.join(format!("{id:08}-{direction}.eml"));
        std::fs::write(&path, raw).with_context(|| format!("cannot write {}", path.display()))
    })?;
    let mut readme = std::fs::File::create(partial.join("README.txt"))?;
    write!(
        readme,
        "reqmail export: {} tickets, {} messages, schema version {}.\n\n\
         tickets/NUMBER/ticket.txt          the ticket and its history\n\
         tickets/NUMBER/messages/ID-in.eml  each message as received (-out: as sent)\n\
         unfiled/ID-in.eml                  messages on no ticket (quarantined, ignored)\n\
         {EXPORT_SQL}                          everything, as SQL text: `reqmail restore THIS-FOLDER`\n",
        contents.tickets, contents.messages, contents.schema_version
    )?;
    std::fs::rename(&partial, dir).with_context(|| format!("cannot rename {} to {}", partial.display(), dir.display()))?;
    sync_parent(dir);
    Ok(contents)
}

/// What `restore` did.
#[derive(Debug)]
pub struct Restored {
    pub contents: Contents,
    /// Where the store that was replaced now is (`--force` on a store with data).
    pub replaced: Option<PathBuf>,
}

/// Rebuilds the store from a backup file or an export folder. A store holding tickets or
/// messages is replaced only with `force`, and then kept under a new name.
pub fn restore(config: &Config, source: &Path, force: bool, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Restored> {
    sqlite_only(&config.store)?;
    let target = &config.store.path;
    if let Some(socket) = config.ingest_socket() {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            anyhow::bail!("reqmail serve is running on this store ({} answers); stop it first", socket.display());
        }
    }
    let occupied = target.exists() && dump::open_read_only(target).map(|conn| dump::holds_data(&conn)).unwrap_or(true);
    if occupied && !force {
        anyhow::bail!("the store {} already holds tickets or messages; add --force to replace it (it is kept as a copy)", target.display());
    }
    let building = partial_name(target);
    for leftover in [building.clone(), suffixed(&building, "-wal"), suffixed(&building, "-shm"), suffixed(&building, "-journal")] {
        let _ = std::fs::remove_file(leftover);
    }
    if let Some(parent) = target.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let built = build(source, &building);
    if let Err(error) = built {
        let _ = std::fs::remove_file(&building);
        return Err(error);
    }
    // An older copy is brought up to this reqmail's schema, as any start would.
    let contents = {
        let store = Store::open(&StoreConfig { path: building.clone(), ..config.store.clone() })?;
        // One file to move into place; the next open switches it back to WAL.
        crate::store::as_single_file(store.conn.sqlite("reqmail restore")?)?;
        dump::contents(store.conn.sqlite("reqmail export")?)?
    };
    for leftover in [suffixed(&building, "-wal"), suffixed(&building, "-shm")] {
        let _ = std::fs::remove_file(leftover);
    }
    sync_file(&building)?;
    let replaced = if occupied {
        // Everything of the old store into its main file before moving it aside.
        if let Ok(old) = Store::open(&config.store) {
            let _ = old.checkpoint_and_empty_wal();
        }
        let stamp = now.format("%Y%m%dT%H%M%SZ");
        let aside = suffixed(target, &format!(".replaced-{stamp}"));
        std::fs::rename(target, &aside).with_context(|| format!("cannot move {} aside", target.display()))?;
        Some(aside)
    } else {
        if target.exists() {
            std::fs::remove_file(target).with_context(|| format!("cannot remove the empty store {}", target.display()))?;
        }
        None
    };
    for stale in [suffixed(target, "-wal"), suffixed(target, "-shm")] {
        let _ = std::fs::remove_file(stale);
    }
    std::fs::rename(&building, target).with_context(|| format!("cannot rename {} to {}", building.display(), target.display()))?;
    sync_parent(target);
    Ok(Restored { contents, replaced })
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes a fresh database at `building` from a backup file or an export folder.
fn build(source: &Path, building: &Path) -> anyhow::Result<()> {
    if source.is_dir() {
        let sql_path = source.join(EXPORT_SQL);
        let sql = std::fs::read_to_string(&sql_path)
            .with_context(|| format!("cannot read {} (an export folder holds {EXPORT_SQL})", sql_path.display()))?;
        let conn = rusqlite::Connection::open(building)?;
        dump::load_sql(&conn, &sql).with_context(|| format!("{} does not load", sql_path.display()))?;
        return Ok(());
    }
    let mut header = Vec::with_capacity(16);
    use std::io::Read as _;
    std::fs::File::open(source)
        .and_then(|file| file.take(16).read_to_end(&mut header))
        .with_context(|| format!("cannot read {}", source.display()))?;
    anyhow::ensure!(header == b"SQLite format 3\0", "{} is neither a reqmail backup (SQLite file) nor an export folder", source.display());
    let copy = dump::open_read_only(source)?;
    dump::check(&copy).with_context(|| format!("the backup {} is damaged", source.display()))?;
    dump::backup_to(&copy, building)
}

/// A ticket and its history as plain text (`ticket show`, exports); `host` is what the
/// inventory knows of the ticket's host; with `now`, the due dates also say how much
/// time is left.
/// The peer site the ticket went to or came from, with its number there.
fn peer_text(ticket: &Ticket) -> String {
    let Some(peer) = &ticket.peer else { return "-".into() };
    let number = peer.number.map_or_else(|| "no number yet".to_string(), |number| format!("#{number}"));
    if peer.theirs {
        format!("transferred to {} ({number}), which owns it", peer.site)
    } else {
        format!("transferred from {} ({number})", peer.site)
    }
}

/// The vendor with their number and, while we wait for them, when their answer is due.
fn vendor_text(ticket: &Ticket, now: Option<DateTime<Utc>>) -> String {
    let Some(vendor) = &ticket.vendor else { return "-".into() };
    let mut text = vendor.clone();
    if let Some(number) = &ticket.vendor_ticket {
        text.push_str(&format!(" ({number})"));
    }
    if let Some(due) = ticket.vendor_due {
        text.push_str(&format!(", answer due {}", format_time(due)));
        if let Some(now) = now {
            text.push_str(&format!(" ({})", time_left(due, now)));
        }
    }
    text
}

pub fn ticket_text(
    ticket: &Ticket,
    host: Option<&crate::store::hosts::Host>,
    history: &[HistoryEvent],
    links: &[TicketId],
    now: Option<DateTime<Utc>>,
) -> String {
    let mut text = format!("Ticket #{}: {}\n", ticket.number, ticket.subject);
    let optional = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    let due = |due: Option<DateTime<Utc>>| match (due, now) {
        (None, _) => "-".to_string(),
        (Some(due), Some(now)) if !ticket.status.is_final() && ticket.status != Status::Resolved => {
            format!("{} ({})", format_time(due), time_left(due, now))
        }
        (Some(due), _) => format_time(due),
    };
    let time = |at: Option<DateTime<Utc>>| at.map_or_else(|| "-".to_string(), format_time);
    let links: Vec<String> = links.iter().map(|number| format!("#{number}")).collect();
    for (label, value) in [
        ("Status", ticket.status.to_string()),
        ("Queue", ticket.queue.clone()),
        ("Importance", ticket.importance.to_string()),
        ("Priority", ticket.priority.to_string()),
        ("Requester", ticket.requester.clone()),
        ("Owner", optional(&ticket.owner)),
        ("Next", optional(&ticket.next_action)),
        ("Vendor", vendor_text(ticket, now)),
        ("Site", peer_text(ticket)),
        ("Cc", if ticket.cc.is_empty() { "-".into() } else { ticket.cc.join(", ") }),
        ("Category", optional(&ticket.category)),
        ("Host", host_text(ticket, host)),
        ("Due (SLA)", due(ticket.due)),
        ("Requested", due(ticket.requested_due)),
        ("Committed", due(ticket.committed_due)),
        ("Time spent", format_minutes(ticket.time_spent_minutes)),
        ("Links", if links.is_empty() { "-".into() } else { links.join(", ") }),
        ("Created", format_time(ticket.created)),
        ("Updated", format_time(ticket.updated)),
        ("Resolved", time(ticket.resolved_at)),
        ("Closed", time(ticket.closed_at)),
    ] {
        text.push_str(&format!("  {label:<11} {value}\n"));
    }
    text.push_str("History:\n");
    for event in history {
        text.push_str(&format!("  [{}] {}  {}  {}\n", event.id, format_time(event.at), event.actor, event.action));
        for line in event.detail.lines() {
            text.push_str(&format!("      {line}\n"));
        }
    }
    text
}

/// Worked time as "1h 30m".
fn format_minutes(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, minutes) => format!("{minutes}m"),
        (hours, 0) => format!("{hours}h"),
        (hours, minutes) => format!("{hours}h {minutes}m"),
    }
}

/// The ticket's host with what the inventory says of it: "pc-42 (at Room 3; owner Ann)".
fn host_text(ticket: &Ticket, host: Option<&crate::store::hosts::Host>) -> String {
    let Some(name) = &ticket.host else { return "-".into() };
    let details: Vec<String> = host.map_or_else(Vec::new, |host| {
        [("at", &host.location), ("owner", &host.owner), ("", &host.description)]
            .iter()
            .filter_map(|(label, value)| value.as_ref().map(|value| if label.is_empty() { value.clone() } else { format!("{label} {value}") }))
            .collect()
    });
    if details.is_empty() { name.clone() } else { format!("{name} ({})", details.join("; ")) }
}
