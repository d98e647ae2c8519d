//! `reqmail person`: add, change and list people and their addresses without editing
//! the configuration.

use crate::cli::{Failure, Setup};
use crate::store;
use crate::ticket::Role;

/// People and their roles, without editing the configuration.
#[derive(Debug, clap::Subcommand)]
pub enum PersonCommand {
    /// Add a person, or give a known address a new role and name.
    Add {
        address: String,
        #[arg(long, default_value = "customer")]
        role: Role,
        #[arg(long)]
        name: Option<String>,
    },
    /// Everyone known, with roles and addresses.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a person found by any of their addresses; they keep one identity.
    Set {
        address: String,
        #[arg(long)]
        role: Option<Role>,
        #[arg(long)]
        name: Option<String>,
        /// Another address of the same person.
        #[arg(long, value_name = "ADDRESS")]
        add_address: Vec<String>,
        #[arg(long, value_name = "ADDRESS")]
        remove_address: Vec<String>,
        /// The address shown for the person and used for their mail.
        #[arg(long, value_name = "ADDRESS")]
        primary: Option<String>,
        /// brief (the change only) or full (with the ticket's state).
        #[arg(long, value_parser = ["brief", "full"])]
        format: Option<String>,
        /// Language of the mail they get (en, de).
        #[arg(long)]
        language: Option<String>,
        /// Also mail them about their own actions.
        #[arg(long)]
        notify_own_actions: Option<bool>,
        #[arg(long)]
        organisation: Option<String>,
    },
    /// Remove one address; a person with tickets keeps at least one.
    Remove { address: String },
    /// Erase a person (GDPR): their addresses, name, the raw bytes and text of their
    /// mail and their mentions in history are removed or anonymised; their tickets stay.
    /// Recorded without the address.
    Forget { address: String },
    /// Add and update people from a CSV file with a header line: address, name, role,
    /// organisation, addresses (other addresses, separated by spaces or semicolons).
    /// Malformed rows are reported with their line and skipped; tickets are not touched.
    Import { file: std::path::PathBuf },
    /// Sync people from the directory of [directory.ldap] now: add and update the people
    /// it lists, retire those it no longer lists (they keep their tickets and act as
    /// customers). `tick` and `serve` do this every interval_minutes.
    Sync,
}


impl PersonCommand {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let mut store = setup.open_store()?;
        match self {
            PersonCommand::Forget { address } => crate::cli::retention::forget(setup, &mut store, address)?,
            PersonCommand::Import { file } => import(setup, &mut store, file)?,
            PersonCommand::Sync => {
                let ldap = setup.site.config.directory.ldap.as_ref().ok_or_else(|| {
                    Failure::Config(anyhow::anyhow!("no directory is configured: add [directory.ldap] (see deploy/reqmail.example.toml)"))
                })?;
                let synced = crate::ops::ldap::sync_blocking(ldap, &mut store, || setup.clock.now())?;
                for problem in &synced.skipped {
                    eprintln!("{problem}");
                }
                crate::cli::print_line(&format!("person sync: {}", synced.summary()));
            }
            PersonCommand::Add { address, role, name } => {
                let address = crate::parse::bare_address(address)
                    .ok_or_else(|| Failure::Usage(anyhow::anyhow!("{address:?} is not an address like ann@example.com")))?;
                let tx = store.write()?;
                match store::people::find_by_address(&tx, &address)? {
                    Some((person, _)) => store::people::set_role(&tx, person, *role, name.as_deref())?,
                    None => {
                        store::people::create(&tx, &address, name.as_deref(), *role, setup.clock.now())?;
                    }
                }
                tx.commit()?;
            }
            PersonCommand::Set {
                address,
                role,
                name,
                add_address,
                remove_address,
                primary,
                format,
                language,
                notify_own_actions,
                organisation,
            } => {
                let usage = |text: String| Failure::Usage(anyhow::anyhow!(text));
                let address = crate::parse::bare_address(address).ok_or_else(|| usage(format!("{address:?} is not an address")))?;
                if let Some(language) = language.as_deref().filter(|language| !crate::interpret::commands::LANGUAGES.contains(language)) {
                    return Err(usage(format!("--language {language}: templates exist for {}", crate::interpret::commands::LANGUAGES.join(", "))));
                }
                let tx = store.write()?;
                let (person, _) = store::people::find_by_address(&tx, &address)?
                    .ok_or_else(|| anyhow::anyhow!("nobody has the address {address}; add them with `reqmail person add`"))?;
                if role.is_some() || name.is_some() {
                    let current_role = store::people::profile(&tx, &address)?.map_or(Role::Customer, |profile| profile.role);
                    store::people::set_role(&tx, person, role.unwrap_or(current_role), name.as_deref())?;
                }
                for extra in add_address {
                    let extra = crate::parse::bare_address(extra).ok_or_else(|| usage(format!("{extra:?} is not an address")))?;
                    if let Some((other, _)) = store::people::find_by_address(&tx, &extra)? {
                        if other != person {
                            return Err(anyhow::anyhow!("{extra} belongs to another person already").into());
                        }
                        continue;
                    }
                    store::people::add_address(&tx, person, &extra)?;
                }
                for gone in remove_address {
                    remove_address_keeping_identity(&tx, &gone.to_lowercase())?;
                }
                if let Some(primary) = primary {
                    let primary = crate::parse::bare_address(primary).ok_or_else(|| usage(format!("{primary:?} is not an address")))?;
                    if store::people::find_by_address(&tx, &primary)?.map(|(owner, _)| owner) != Some(person) {
                        return Err(anyhow::anyhow!("{primary} is not one of this person's addresses; add it first").into());
                    }
                    store::people::set_primary(&tx, person, &primary)?;
                }
                store::people::set_preferences(&tx, person, format.as_deref().map(|format| format == "brief"), language.as_deref(), *notify_own_actions)?;
                if let Some(organisation) = organisation {
                    store::people::set_organisation(&tx, person, Some(organisation))?;
                }
                tx.commit()?;
            }
            PersonCommand::Remove { address } => {
                let tx = store.write()?;
                remove_address_keeping_identity(&tx, &address.to_lowercase())?;
                tx.commit()?;
            }
            PersonCommand::List { json } => {
                let mut people = store::people::list(&store.conn)?;
                let blocked = store::undeliverable::all(&store.conn, setup.clock.now())?;
                for person in &mut people {
                    for (address, until, reason) in blocked.iter().filter(|(address, _, _)| person.addresses.contains(address)) {
                        person.undeliverable.push(format!("{address} until {until} ({reason})"));
                    }
                }
                if *json {
                    crate::cli::print_line(&serde_json::to_string_pretty(&people).expect("people serialise"));
                } else {
                    for person in &people {
                        crate::cli::print_line(&format!("{:<9} {:<24} {}", person.role, person.name.as_deref().unwrap_or("-"), person.addresses.join(", ")));
                        if let Some(retired) = &person.retired {
                            crate::cli::print_line(&format!("          retired {retired}: left the directory, acts as a customer"));
                        }
                        for blocked in &person.undeliverable {
                            crate::cli::print_line(&format!("          undeliverable: {blocked}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Removes `address`, refusing to leave a person who has tickets without any address.
fn remove_address_keeping_identity(conn: &crate::store::Connection, address: &str) -> Result<(), Failure> {
    let (person, _) = store::people::find_by_address(conn, address)?
        .ok_or_else(|| anyhow::anyhow!("nobody has the address {address}"))?;
    let (addresses, tickets) = store::people::addresses_and_tickets(conn, person)?;
    if addresses == 1 && tickets > 0 {
        return Err(anyhow::anyhow!("{address} is the only address of a person with {tickets} tickets; add another address first").into());
    }
    let was_primary = store::people::is_primary(conn, address)?;
    store::people::remove_address(conn, address)?;
    if was_primary {
        store::people::promote_first_address(conn, person)?;
    }
    Ok(())
}

fn import(setup: &Setup, store: &mut store::Store, file: &std::path::Path) -> Result<(), Failure> {
    let tx = store.write()?;
    let imported = crate::ops::directory::import_people(&tx, file, setup.clock.now()).map_err(Failure::Usage)?;
    tx.commit()?;
    print_imported(&imported, "person import");
    Ok(())
}

/// The rows skipped on stderr, then one summary line: "WHAT: 2 added, 1 updated, 0 rows skipped".
pub fn print_imported(imported: &crate::ops::directory::Imported, what: &str) {
    for problem in &imported.skipped {
        eprintln!("{problem}");
    }
    crate::cli::print_line(&format!("{what}: {} added, {} updated, {} rows skipped", imported.added, imported.updated, imported.skipped.len()));
}
