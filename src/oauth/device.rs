//! `reqmail oauth login NAME`: the device authorization grant (RFC 8628). reqmail asks
//! the provider for a code, prints where a person enters it, polls the token endpoint
//! at the interval the provider asks for until the person approved (or declined, or the
//! code expired), and keeps the refresh token in the token file.

use std::io::Write;

use oauth2::{RequestTokenError, Scope};

use super::tokens::{self, describe};
use super::Approval;
use crate::config::OAuthConfig;

/// Runs the grant for `config`, telling the person on `out` what to do. Returns the
/// token file written.
pub fn login(config: &OAuthConfig, out: &mut dyn Write) -> anyhow::Result<std::path::PathBuf> {
    let name = &config.name;
    let (client, endpoints) = tokens::client(config)?;
    let Approval::Device { url } = &endpoints.approval else { anyhow::bail!("oauth.{name}: this provider approves in a browser") };
    let client = client.set_device_authorization_url(
        oauth2::DeviceAuthorizationUrl::new(url.clone()).map_err(|error| anyhow::anyhow!("oauth.{name}: device_authorization_url: {error}"))?,
    );
    let http = tokens::http_client(config, &endpoints)?;
    let details: oauth2::StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scopes(endpoints.scopes.iter().cloned().map(Scope::new))
        .request(&http)
        .map_err(|error| anyhow::anyhow!("oauth.{name}: the provider refused to start the approval: {}", describe(&error)))?;
    writeln!(out, "To let reqmail use the mailbox, open")?;
    writeln!(out, "  {}", details.verification_uri().as_str())?;
    writeln!(out, "and enter the code")?;
    writeln!(out, "  {}", details.user_code().secret())?;
    if let Some(complete) = details.verification_uri_complete() {
        writeln!(out, "(or open {} directly)", complete.secret())?;
    }
    writeln!(out, "Sign in as the account that reads the mailbox. Waiting up to {} minutes…", details.expires_in().as_secs().div_ceil(60))?;
    out.flush()?;

    let response = client.exchange_device_access_token(&details).request(&http, std::thread::sleep, None).map_err(|error| {
        let reason = match &error {
            RequestTokenError::ServerResponse(response) => match response.error() {
                oauth2::DeviceCodeErrorResponseType::AccessDenied => "the approval was declined".to_string(),
                oauth2::DeviceCodeErrorResponseType::ExpiredToken => "the code expired before it was entered; run the command again".to_string(),
                _ => describe(&error),
            },
            _ => describe(&error),
        };
        anyhow::anyhow!("oauth.{name}: no approval: {reason}")
    })?;
    tokens::keep_approval(config, &response)
}
