//! `reqmail oauth login|status`: approving reqmail's access to a cloud mailbox, and what is stored.

use crate::cli::{Cli, Failure};
use crate::config::Config;

/// OAuth2 for cloud mailboxes (`[oauth.NAME]` in the configuration).
#[derive(Debug, clap::Subcommand)]
pub enum OAuthCommand {
    /// Approve reqmail's access to a mailbox: prints an address and a code for a person
    /// to enter (RFC 8628; for Google, an address to open in a browser), waits for the
    /// approval and keeps the refresh token (mode 0600). Run it again when the consent
    /// expired or was revoked.
    Login {
        /// The NAME of an [oauth.NAME] table.
        name: String,
    },
    /// Whether each OAuth client is approved and when its access token expires.
    Status,
}

impl OAuthCommand {
    pub fn execute(&self, cli: &Cli) -> Result<(), Failure> {
        let config = Config::load(cli.config.as_deref()).map_err(|error| Failure::Config(error.into()))?;
        match self {
            OAuthCommand::Login { name } => {
                let Some(oauth) = config.oauth.get(name) else {
                    let known: Vec<&str> = config.oauth.keys().map(String::as_str).collect();
                    return Err(Failure::Usage(anyhow::anyhow!("no [oauth.{name}] in {} (known: {known:?})", config.origin_text())));
                };
                let endpoints = crate::oauth::endpoints(oauth).map_err(|problem| Failure::Config(anyhow::anyhow!("oauth.{name}: {problem}")))?;
                let path = match endpoints.approval {
                    crate::oauth::Approval::Device { .. } => crate::oauth::device::login(oauth, &mut std::io::stdout())?,
                    crate::oauth::Approval::Browser { .. } => crate::oauth::browser::login(oauth, std::io::stdin(), &mut std::io::stdout())?,
                };
                println!("Approved; the refresh token is kept in {}", path.display());
                // SAFETY: geteuid has no preconditions.
                if unsafe { libc::geteuid() } == 0 {
                    println!("(written by root: give the file to the account that runs reqmail, or it cannot read it)");
                }
                check_logins(&config, name);
                Ok(())
            }
            OAuthCommand::Status => {
                let now = crate::oauth::tokens::unix_now();
                for (name, oauth) in &config.oauth {
                    let path = crate::oauth::tokens::token_file(oauth);
                    let state = match crate::oauth::tokens::load(&path)? {
                        None => format!("not approved: run `{}`", crate::oauth::login_command(name, config.origin.as_deref())),
                        Some(stored) => {
                            let access = match stored.expires_at {
                                Some(at) if at > now => format!("access token valid for {} more seconds", at - now),
                                _ => "access token expired (refreshed when next used)".to_string(),
                            };
                            format!("approved; {access}")
                        }
                    };
                    println!("{name}: {state} ({})", path.display());
                }
                Ok(())
            }
        }
    }
}

/// Tries the IMAP login of every account that uses client `name`, so that a consent that
/// does not open the mailbox shows now rather than in the first failed fetch.
fn check_logins(config: &Config, name: &str) {
    let accounts: Vec<_> = config.inbound.imap.iter().filter(|account| account.oauth.as_deref() == Some(name)).collect();
    if accounts.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    for account in accounts {
        match runtime.block_on(crate::source::imap::connect(account)) {
            Ok(connection) => {
                runtime.block_on(connection.logout());
                println!("IMAP login to {} works ({})", account.host, account.account());
            }
            Err(error) => println!("IMAP login to {} failed: {error:#}", account.host),
        }
    }
}
