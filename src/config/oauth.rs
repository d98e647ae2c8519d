//! The OAuth2 settings that the configuration checks and the network edges use: the
//! SASL mechanisms, the provider presets and their endpoints, and [`Secret`], a value
//! that no log line or error message can print. Kept with the configuration so that
//! loading one needs nothing from [`crate::oauth`], which builds on it.

use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

use super::{OAuthConfig, OAuthProvider};

/// A value that must never be printed: tokens and client secrets.
#[derive(Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(…)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("…")
    }
}

/// A SASL mechanism that carries an OAuth2 bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Google's and Microsoft's mechanism, older than RFC 7628 and still the one both
    /// document first.
    Xoauth2,
    /// RFC 7628.
    Oauthbearer,
}

impl Mechanism {
    /// The name in AUTHENTICATE / AUTH.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::Oauthbearer => "OAUTHBEARER",
        }
    }

    /// The client's first message: `user` is whose mailbox is opened (a shared mailbox's
    /// address for a delegated login), `host` and `port` the server's (OAUTHBEARER only).
    pub fn initial_response(self, user: &str, host: &str, port: u16, token: &Secret) -> Vec<u8> {
        let token = token.expose();
        match self {
            Mechanism::Xoauth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes(),
            // RFC 7628 §3.1: a GS2 header with the authorization identity, whose ',' and
            // '=' are escaped as in RFC 5801 §4.
            Mechanism::Oauthbearer => {
                let user = user.replace('=', "=3D").replace(',', "=2C");
                format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01").into_bytes()
            }
        }
    }

    /// What the client answers to the server's error challenge (a JSON status), so that
    /// the server finishes with a plain failure: an empty line for XOAUTH2, `%x01` for
    /// OAUTHBEARER (RFC 7628 §3.2.3).
    pub fn error_acknowledgement(self) -> &'static [u8] {
        match self {
            Mechanism::Xoauth2 => b"",
            Mechanism::Oauthbearer => b"\x01",
        }
    }

    /// `initial_response` in base64, as SMTP's AUTH line carries it (RFC 4954).
    pub fn initial_response_base64(self, user: &str, host: &str, port: u16, token: &Secret) -> Secret {
        Secret(base64::engine::general_purpose::STANDARD.encode(self.initial_response(user, host, port, token)))
    }
}

/// How a person approves reqmail's access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// The device authorization grant (RFC 8628): a code entered on any device.
    Device { url: String },
    /// The authorization code grant with PKCE (RFC 7636) and a loopback redirect
    /// (RFC 8252 §7.3), for providers whose device grant does not cover mail (Google).
    Browser { authorization_url: String },
}

/// The endpoints and scopes an OAuth2 client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub approval: Approval,
    pub token_url: String,
    pub scopes: Vec<String>,
}

impl Endpoints {
    fn urls(&self) -> [&str; 2] {
        match &self.approval {
            Approval::Device { url } | Approval::Browser { authorization_url: url } => [url, &self.token_url],
        }
    }

    /// Any endpoint over TLS (only then are CA roots needed).
    pub fn uses_tls(&self) -> bool {
        self.urls().iter().any(|url| url.starts_with("https://"))
    }
}

/// The provider's endpoints and scopes, with the configuration's overrides applied.
///
/// Microsoft 365: the v2.0 endpoints of the tenant, the device grant, the Exchange
/// Online IMAP and SMTP scopes and `offline_access` (without it no refresh token is
/// issued). Google: its device grant does not allow the mail scope, so approval goes
/// through the browser (a "Desktop app" client), with `access_type=offline` for a
/// refresh token.
pub fn endpoints(config: &OAuthConfig) -> Result<Endpoints, String> {
    let (preset_approval, preset_token, preset_scopes): (Option<Approval>, Option<String>, Option<Vec<String>>) = match config.provider {
        OAuthProvider::Microsoft => {
            let tenant = config.tenant.as_deref().unwrap_or("organizations");
            (
                Some(Approval::Device { url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode") }),
                Some(format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")),
                Some(
                    ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"]
                        .map(String::from)
                        .to_vec(),
                ),
            )
        }
        OAuthProvider::Google => (
            Some(Approval::Browser { authorization_url: "https://accounts.google.com/o/oauth2/v2/auth".into() }),
            Some("https://oauth2.googleapis.com/token".into()),
            Some(vec!["https://mail.google.com/".into()]),
        ),
        OAuthProvider::Generic => (None, None, None),
    };
    if config.tenant.is_some() && config.provider != OAuthProvider::Microsoft {
        return Err("tenant is only used with provider = \"microsoft\"".into());
    }
    let checked = |url: String, key: &str| -> Result<String, String> {
        if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost")) {
            return Err(format!("{key} = {url:?} must be an https:// address (plain http only on this machine)"));
        }
        Ok(url)
    };
    let approval = match (&config.device_authorization_url, &config.authorization_url, preset_approval) {
        (Some(_), Some(_), _) => return Err("give device_authorization_url or authorization_url, not both".into()),
        (Some(url), None, _) => Approval::Device { url: checked(url.clone(), "device_authorization_url")? },
        (None, Some(url), _) => Approval::Browser { authorization_url: checked(url.clone(), "authorization_url")? },
        (None, None, Some(preset)) => preset,
        (None, None, None) => return Err("device_authorization_url (or authorization_url) is needed with provider = \"generic\"".into()),
    };
    let token_url = config.token_url.clone().or(preset_token).ok_or("token_url is needed with provider = \"generic\"")?;
    let token_url = checked(token_url, "token_url")?;
    let scopes = config.scopes.clone().or(preset_scopes).ok_or("scopes are needed with provider = \"generic\"")?;
    if config.client_id.trim().is_empty() {
        return Err("client_id must not be empty".into());
    }
    Ok(Endpoints { approval, token_url, scopes })
}

