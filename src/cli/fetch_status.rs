//! `reqmail fetch status`: the last success and error of each IMAP mailbox.

use crate::cli::{Failure, Setup};
use crate::store::fetch_health;

/// What `reqmail fetch` does besides a pass.
#[derive(Debug, clap::Subcommand)]
pub enum FetchWhat {
    /// The last success and the last error of every IMAP mailbox, and what to do about
    /// one that fails; changes nothing.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

impl FetchWhat {
    pub fn execute(&self, setup: &Setup) -> Result<(), Failure> {
        let FetchWhat::Status { json } = self;
        let store = setup.open_store()?;
        let mut rows = fetch_health::list(&store.conn)?;
        // Configured mailboxes never tried yet are shown too, so that none is missed.
        for account in &setup.site.config.inbound.imap {
            for mailbox in &account.mailboxes {
                if !rows.iter().any(|row| row.account == account.account() && row.mailbox == mailbox.name) {
                    rows.push(fetch_health::Health {
                        account: account.account(),
                        mailbox: mailbox.name.clone(),
                        last_success: None,
                        last_error_at: None,
                        last_error: None,
                        failing_since: None,
                        remedy: None,
                        alerted: false,
                    });
                }
            }
        }
        if *json {
            println!("{}", serde_json::to_string_pretty(&rows).expect("health rows serialise"));
            return Ok(());
        }
        let time = |at: Option<chrono::DateTime<chrono::Utc>>| at.map_or("never".to_string(), crate::clock::format_time);
        for row in &rows {
            let state = match row.failing_since {
                Some(since) => format!("FAILING since {}", crate::clock::format_time(since)),
                None if row.last_success.is_some() => "ok".to_string(),
                None => "not fetched yet".to_string(),
            };
            println!("{} {:?}: {state}; last success {}", row.account, row.mailbox, time(row.last_success));
            if let Some(error) = &row.last_error {
                println!("    last error {}: {error}", time(row.last_error_at));
            }
            if let Some(remedy) = row.remedy.as_deref().filter(|_| row.failing_since.is_some()) {
                println!("    what to do: {}", remedy.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
        Ok(())
    }
}
