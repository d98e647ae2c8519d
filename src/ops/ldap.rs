//! People from the site's LDAP directory (`[directory.ldap]`): `tick` and `serve` sync
//! every `interval_minutes`, `reqmail person sync` at once. A sync reads every entry
//! the filter finds (paged), then in one transaction adds and updates the people it
//! lists and retires those it no longer lists; their tickets are not touched. A
//! directory that cannot be read (down, refused bind, an incomplete answer) changes
//! nothing: the last known people stay, and the failure is logged and kept for `doctor`.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use crate::store::Connection;

use crate::config::integrations::LdapConfig;
use crate::ops::directory::{read_addresses, store_person_as, Person};
use crate::store::{self, Store};
use crate::ticket::Role;

/// The name under which the syncs are recorded.
pub const DIRECTORY: &str = "ldap";

/// Entries asked for per page: below the usual server limits (OpenLDAP 500, Active
/// Directory 1000), so that no limit cuts the listing short.
const PAGE_SIZE: i32 = 400;

/// The people the directory lists, and the entries it could not use.
#[derive(Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// The keys of every entry read, usable or not: a person whose entry is there but
    /// broken is not retired.
    pub keys: HashSet<String>,
    pub skipped: Vec<String>,
}

/// One person as the directory lists them.
pub struct Entry {
    pub dn: String,
    pub key: String,
    pub person: Person,
}

/// What a sync did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub listed: usize,
    pub added: usize,
    pub updated: usize,
    pub retired: usize,
    /// One message per entry left out, naming its DN.
    pub skipped: Vec<String>,
}

impl Synced {
    /// "3 listed, 1 added, 1 updated, 1 retired, 0 entries skipped".
    pub fn summary(&self) -> String {
        format!(
            "{} listed, {} added, {} updated, {} retired, {} entries skipped",
            self.listed,
            self.added,
            self.updated,
            self.retired,
            self.skipped.len()
        )
    }
}

/// Whether a sync is due at `now`: never tried, or tried `interval_minutes` ago.
pub fn is_due(conn: &Connection, ldap: &LdapConfig, now: DateTime<Utc>) -> crate::store::Result<bool> {
    let interval = i64::try_from(ldap.interval_minutes).ok().and_then(chrono::Duration::try_minutes);
    Ok(store::directory::sync_state(conn, DIRECTORY)?.is_none_or(|state| {
        interval.and_then(|interval| state.last_attempt.checked_add_signed(interval)).is_some_and(|next| now >= next)
    }))
}

/// One sync from a synchronous command, on a runtime of its own; `now` is read after
/// the directory answered.
pub fn sync_blocking(ldap: &LdapConfig, store: &mut Store, now: impl FnOnce() -> DateTime<Utc>) -> anyhow::Result<Synced> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")?;
    let listing = runtime.block_on(read(ldap));
    record(store, ldap, listing, now())
}

/// Applies what [`read`] gave: the listing in one transaction, or the failure noted.
pub fn record(store: &mut Store, ldap: &LdapConfig, listing: anyhow::Result<Listing>, now: DateTime<Utc>) -> anyhow::Result<Synced> {
    let outcome = listing.and_then(|listing| {
        let tx = store.write()?;
        let synced = apply(&tx, &listing, now)?;
        store::directory::record_success(&tx, DIRECTORY, synced.listed, now)?;
        tx.commit()?;
        Ok(synced)
    });
    match outcome {
        Ok(synced) => {
            for problem in &synced.skipped {
                tracing::warn!("directory: {problem}");
            }
            tracing::info!("directory {}: {}", ldap.url, synced.summary());
            Ok(synced)
        }
        Err(error) => {
            let text = format!("{error:#}");
            store::directory::record_failure(&store.conn, DIRECTORY, &text, now)?;
            let kept = store::directory::active_managed(&store.conn)?.len();
            tracing::warn!("directory {}: {text}; keeping the {kept} people it listed before", ldap.url);
            Err(error.context(format!("directory {}: nothing changed, the {kept} people it listed before are kept", ldap.url)))
        }
    }
}

/// Reads every entry under `base` that `filter` finds.
pub async fn read(ldap: &LdapConfig) -> anyhow::Result<Listing> {
    let timeout = Duration::from_secs(ldap.timeout_seconds);
    let mut settings = LdapConnSettings::new().set_conn_timeout(timeout).set_starttls(ldap.starttls);
    if ldap.starttls || ldap.url.to_ascii_lowercase().starts_with("ldaps:") {
        settings = settings.set_config(crate::tls::client_config(ldap.ca_file.as_deref(), "directory.ldap.ca_file")?);
    }
    let (connection, mut session) =
        LdapConnAsync::with_settings(settings, &ldap.url).await.map_err(|error| anyhow::anyhow!("cannot connect: {error}"))?;
    ldap3::drive!(connection);
    // ldap3's timeout holds for the next operation only: one for the bind, one for
    // each answer of the search.
    if let (Some(bind_dn), Some(password)) = (&ldap.bind_dn, &ldap.password) {
        session
            .with_timeout(timeout)
            .simple_bind(bind_dn, password.expose())
            .await
            .and_then(|result| result.success())
            .map_err(|error| anyhow::anyhow!("cannot bind as {bind_dn}: {error}"))?;
    }
    let attributes = &ldap.attributes;
    let wanted: Vec<&str> = [Some(&attributes.id), Some(&attributes.address), Some(&attributes.name)]
        .into_iter()
        .chain([&attributes.role, &attributes.organisation, &attributes.other_addresses].map(Option::as_ref))
        .flatten()
        .map(String::as_str)
        .collect();
    let search_failed = |error: ldap3::LdapError| anyhow::anyhow!("search under {:?} with {} failed: {error}", ldap.base, ldap.filter);
    let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> = vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
    let mut stream = session.with_timeout(timeout).streaming_search_with(adapters, &ldap.base, Scope::Subtree, &ldap.filter, wanted).await.map_err(search_failed)?;
    let mut listing = Listing::default();
    while let Some(entry) = stream.next().await.map_err(search_failed)? {
        let entry = SearchEntry::construct(entry);
        match read_entry(ldap, &entry) {
            Ok(read) => {
                listing.keys.insert(read.key.clone());
                listing.entries.push(read);
            }
            Err((key, problem)) => {
                listing.keys.extend(key);
                listing.skipped.push(format!("{}: {problem}; entry skipped", entry.dn));
            }
        }
    }
    // An incomplete answer (a size or time limit, a referral) must not retire the
    // people it left out.
    stream.finish().await.success().map_err(search_failed)?;
    let _ = session.unbind().await;
    Ok(listing)
}

/// The values of `attribute` (any case), binary ones in hex.
fn values(entry: &SearchEntry, attribute: &str) -> Vec<String> {
    let text = entry.attrs.iter().filter(|(name, _)| name.eq_ignore_ascii_case(attribute)).flat_map(|(_, values)| values.iter().cloned());
    let binary = entry.bin_attrs.iter().filter(|(name, _)| name.eq_ignore_ascii_case(attribute)).flat_map(|(_, values)| values.iter().map(hex::encode));
    text.chain(binary).filter(|value| !value.trim().is_empty()).collect()
}

/// One entry as a person; on failure the entry's key (when it has one) and the problem.
fn read_entry(ldap: &LdapConfig, entry: &SearchEntry) -> Result<Entry, (Option<String>, String)> {
    let attributes = &ldap.attributes;
    let key = values(entry, &attributes.id).into_iter().next().ok_or_else(|| (None, format!("no {} attribute", attributes.id)))?;
    let fail = |problem: String| (Some(key.clone()), problem);
    let mut texts = values(entry, &attributes.address);
    if texts.is_empty() {
        return Err(fail(format!("no {} attribute", attributes.address)));
    }
    if let Some(other) = &attributes.other_addresses {
        texts.extend(values(entry, other).iter().filter_map(|value| mail_address_of(value)));
    }
    let addresses = read_addresses(texts.iter().map(String::as_str)).map_err(|error| fail(error.to_string()))?;
    let first = |attribute: &str| values(entry, attribute).into_iter().next();
    let role = attributes.role.as_deref().map(|attribute| role_of(ldap, &values(entry, attribute)));
    let person = Person { addresses, name: first(&attributes.name), role, organisation: attributes.organisation.as_deref().and_then(first) };
    Ok(Entry { dn: entry.dn.clone(), key, person })
}

/// The mail address in a value of the other-addresses attribute. Active Directory's
/// proxyAddresses are typed ("SMTP:ann@example.com", "smtp:…", "x500:…", "sip:…"):
/// only the SMTP ones are mail addresses.
fn mail_address_of(value: &str) -> Option<String> {
    match value.split_once(':') {
        Some((kind, address)) if kind.chars().all(|c| c.is_ascii_alphanumeric()) => kind.eq_ignore_ascii_case("smtp").then(|| address.to_string()),
        _ => Some(value.to_string()),
    }
}

/// The strongest role that one of `values` gives, else the default role.
fn role_of(ldap: &LdapConfig, values: &[String]) -> Role {
    let strength = |role: &Role| [Role::Customer, Role::Vendor, Role::Agent, Role::Admin].iter().position(|known| known == role);
    values
        .iter()
        .filter_map(|value| {
            let mapped = ldap.roles.iter().find(|(name, _)| name.eq_ignore_ascii_case(value)).map(|(_, role)| *role);
            mapped.or_else(|| value.parse().ok())
        })
        .max_by_key(strength)
        .unwrap_or(ldap.default_role)
}

/// Brings the people in `listing` into the store and retires the directory's people
/// it does not list. A listing with nobody in it while the directory had people is
/// refused: that is a wrong base or filter far more often than an empty organisation.
pub fn apply(conn: &Connection, listing: &Listing, now: DateTime<Utc>) -> anyhow::Result<Synced> {
    let managed = store::directory::active_managed(conn)?;
    if listing.keys.is_empty() && !managed.is_empty() {
        anyhow::bail!("the directory lists nobody; check base and filter in [directory.ldap]");
    }
    let mut synced = Synced { listed: listing.entries.len(), skipped: listing.skipped.clone(), ..Synced::default() };
    for entry in &listing.entries {
        match apply_entry(conn, entry, &listing.keys, now) {
            Ok(Change::Added) => synced.added += 1,
            Ok(Change::Updated) => synced.updated += 1,
            Ok(Change::Unchanged) => {}
            Err(problem) => synced.skipped.push(format!("{}: {problem:#}; entry skipped", entry.dn)),
        }
    }
    for (person, key) in managed {
        if !listing.keys.contains(&key) {
            store::directory::retire(conn, person, now)?;
            synced.retired += 1;
        }
    }
    Ok(synced)
}

enum Change {
    Added,
    Updated,
    Unchanged,
}

/// One entry: the person it manages (found by its key, else by its first address unless
/// another listed entry manages that person: someone who left and came back has a new
/// entry), updated, or a new person.
fn apply_entry(conn: &Connection, entry: &Entry, listed: &HashSet<String>, now: DateTime<Utc>) -> anyhow::Result<Change> {
    let primary = &entry.person.addresses[0];
    let known = match store::directory::person_by_key(conn, &entry.key)? {
        Some(person) => Some(person),
        None => match store::people::find_by_address(conn, primary)? {
            Some((person, _)) => {
                if store::directory::key_of(conn, person)?.is_some_and(|other| listed.contains(&other)) {
                    anyhow::bail!("{primary} belongs to the person of another directory entry");
                }
                Some(person)
            }
            None => None,
        },
    };
    let before = known.map(|person| store::directory::fingerprint(conn, person)).transpose()?;
    let (person, added) = store_person_as(conn, &entry.person, known, now)?;
    store::directory::manage(conn, person, &entry.key)?;
    if !store::people::is_primary(conn, primary)? {
        store::people::set_primary(conn, person, primary)?;
    }
    Ok(if added {
        Change::Added
    } else if before != Some(store::directory::fingerprint(conn, person)?) {
        Change::Updated
    } else {
        Change::Unchanged
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Active Directory's way: a binary objectGUID, roles by group, proxyAddresses.
    const ACTIVE_DIRECTORY: &str = r#"
[directory.ldap]
url = "ldaps://dc1.example.com"
base = "dc=example,dc=com"
[directory.ldap.attributes]
id = "objectGUID"
name = "displayName"
role = "memberOf"
other_addresses = "proxyAddresses"
[directory.ldap.roles]
"CN=Help Desk,OU=Groups,DC=example,DC=com" = "agent"
"CN=IT Admins,OU=Groups,DC=example,DC=com" = "admin"
"#;

    fn ldap() -> LdapConfig {
        crate::config::Config::from_toml(ACTIVE_DIRECTORY).unwrap().directory.ldap.unwrap()
    }

    fn entry(attrs: &[(&str, &[&str])], guid: Option<&[u8]>) -> SearchEntry {
        SearchEntry {
            dn: "CN=Ann,OU=People,DC=example,DC=com".to_string(),
            attrs: attrs.iter().map(|(name, values)| (name.to_string(), values.iter().map(|value| value.to_string()).collect())).collect(),
            bin_attrs: guid.map(|guid| ("objectGUID".to_string(), vec![guid.to_vec()])).into_iter().collect(),
        }
    }

    #[test]
    fn an_active_directory_entry_becomes_a_person_with_the_strongest_role_its_groups_give() {
        let read = read_entry(
            &ldap(),
            &entry(
                &[
                    ("mail", &["Ann@Example.com"]),
                    ("displayName", &["Ann Agent"]),
                    ("memberOf", &["cn=help desk,ou=groups,dc=example,dc=com", "CN=IT Admins,OU=Groups,DC=example,DC=com", "CN=Staff,OU=Groups,DC=example,DC=com"]),
                    ("proxyAddresses", &["SMTP:ann@example.com", "smtp:a.agent@example.net", "x500:/o=Example/cn=ann", "sip:ann@example.com"]),
                ],
                Some(&[0xde, 0xad, 0xbe, 0xef]),
            ),
        )
        .ok()
        .unwrap();
        assert_eq!(read.key, "deadbeef");
        assert_eq!(read.person.addresses, ["ann@example.com", "a.agent@example.net"]);
        assert_eq!((read.person.name.as_deref(), read.person.role), (Some("Ann Agent"), Some(Role::Admin)));
    }

    #[test]
    fn roles_come_from_the_map_or_a_role_name_else_the_default_and_without_an_attribute_not_at_all() {
        let ldap = ldap();
        let values = |values: &[&str]| values.iter().map(|value| value.to_string()).collect::<Vec<_>>();
        assert_eq!(role_of(&ldap, &values(&["CN=Help Desk,OU=Groups,DC=example,DC=com"])), Role::Agent);
        assert_eq!(role_of(&ldap, &values(&["Vendor", "CN=Staff"])), Role::Vendor);
        assert_eq!(role_of(&ldap, &values(&["CN=Staff"])), Role::Customer);
        let mut plain = ldap.clone();
        plain.attributes.role = None;
        let read = read_entry(&plain, &entry(&[("mail", &["bo@example.com"]), ("memberOf", &["CN=IT Admins,OU=Groups,DC=example,DC=com"])], Some(&[1]))).ok().unwrap();
        assert_eq!(read.person.role, None, "a known person keeps the role given by hand");
        let missing = read_entry(&plain, &entry(&[("mail", &["bo@example.com"])], None)).err().unwrap();
        assert_eq!(missing, (None, "no objectGUID attribute".to_string()));
        let (key, problem) = read_entry(&plain, &entry(&[("mail", &["not an address"])], Some(&[2]))).err().unwrap();
        assert_eq!(key.as_deref(), Some("02"), "a broken entry's person is not retired");
        assert!(problem.contains("\"not an address\" is not an address"), "{problem}");
    }
}
