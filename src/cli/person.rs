use crate::cli::{Failure, Session};
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
}


impl PersonCommand {
    pub fn execute(&self, session: &Session) -> Result<(), Failure> {
        let mut store = session.open_store()?;
        match self {
            PersonCommand::Add { address, role, name } => {
                let address = crate::parse::bare_address(address)
                    .ok_or_else(|| anyhow::anyhow!("{address:?} is not an address like ann@example.com"))?;
                let tx = store.write()?;
                match store::people::find_by_address(&tx, &address)? {
                    Some((person, _)) => store::people::set_role(&tx, person, *role, name.as_deref())?,
                    None => {
                        store::people::create(&tx, &address, name.as_deref(), *role, session.clock.now())?;
                    }
                }
                tx.commit()?;
            }
            PersonCommand::List { json } => {
                let mut people = store::people::list(&store.conn)?;
                let blocked = store::undeliverable::all(&store.conn, session.clock.now())?;
                for person in &mut people {
                    for (address, until, reason) in blocked.iter().filter(|(address, _, _)| person.addresses.contains(address)) {
                        person.undeliverable.push(format!("{address} until {until} ({reason})"));
                    }
                }
                if *json {
                    println!("{}", serde_json::to_string_pretty(&people).expect("people serialise"));
                } else {
                    for person in &people {
                        println!("{:<9} {:<24} {}", person.role, person.name.as_deref().unwrap_or("-"), person.addresses.join(", "));
                        for blocked in &person.undeliverable {
                            println!("          undeliverable: {blocked}");
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
