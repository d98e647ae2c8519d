//! `reqmail oauth login NAME` for providers whose device grant does not cover mail
//! (Google): the authorization code grant with PKCE (RFC 7636) and a loopback redirect
//! (RFC 8252 §7.3). reqmail listens on 127.0.0.1 at a port the system picks and prints
//! the provider's address; the person approves in a browser, which is sent back to that
//! port. When the browser runs on another machine than reqmail (a server reached over
//! SSH), the page cannot load; the person pastes its address from the browser's address
//! bar instead, and reqmail reads the code from it.

use std::io::{BufRead as _, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oauth2::url::Url;
use oauth2::{AuthUrl, AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};

use super::tokens::{self, describe};
use super::Approval;
use crate::config::OAuthConfig;

/// How long a person has to approve.
const WAIT: Duration = Duration::from_secs(600);

/// Runs the grant for `config`, telling the person on `out` what to do and reading a
/// pasted address from `pasted` (lines). Returns the token file written.
pub fn login(config: &OAuthConfig, pasted: impl std::io::Read + Send + 'static, out: &mut dyn Write) -> anyhow::Result<std::path::PathBuf> {
    let name = &config.name;
    let (client, endpoints) = tokens::client(config)?;
    let Approval::Browser { authorization_url } = &endpoints.approval else { anyhow::bail!("oauth.{name}: this provider approves with a device code") };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|error| anyhow::anyhow!("cannot listen on 127.0.0.1 for the approval: {error}"))?;
    let redirect = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
    let client = client
        .set_auth_uri(AuthUrl::new(authorization_url.clone()).map_err(|error| anyhow::anyhow!("oauth.{name}: authorization_url: {error}"))?)
        .set_redirect_uri(RedirectUrl::new(redirect.clone()).map_err(|error| anyhow::anyhow!("redirect address: {error}"))?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (address, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(endpoints.scopes.iter().cloned().map(Scope::new))
        // Google issues a refresh token only for offline access, and again only when
        // the consent screen is shown.
        .add_extra_param("access_type", "offline")
        .add_extra_param("prompt", "consent")
        .set_pkce_challenge(challenge)
        .url();
    writeln!(out, "To let reqmail use the mailbox, open this address in a browser and approve:")?;
    writeln!(out, "  {address}")?;
    writeln!(out, "Sign in as the account that reads the mailbox. If the browser then cannot open {redirect}")?;
    writeln!(out, "(it runs on another machine), copy the address it shows and paste it here.")?;
    out.flush()?;

    let redirected = wait_for_redirect(&listener, pasted, &redirect)?;
    let query: std::collections::HashMap<String, String> = redirected.query_pairs().into_owned().collect();
    if let Some(error) = query.get("error") {
        anyhow::bail!("oauth.{name}: no approval: {error}{}", query.get("error_description").map(|text| format!(" ({text})")).unwrap_or_default());
    }
    if query.get("state").map(String::as_str) != Some(state.secret().as_str()) {
        anyhow::bail!("oauth.{name}: the address does not belong to this approval (state differs); run the command again");
    }
    let code = query.get("code").ok_or_else(|| anyhow::anyhow!("oauth.{name}: the address carries no code"))?;
    let http = tokens::http_client(config, &endpoints)?;
    let response = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request(&http)
        .map_err(|error| anyhow::anyhow!("oauth.{name}: the provider refused the approval code: {}", describe(&error)))?;
    tokens::keep_approval(config, &response)
}

/// The address the browser was sent back to: from a request on `listener`, or pasted.
fn wait_for_redirect(listener: &TcpListener, pasted: impl std::io::Read + Send + 'static, redirect: &str) -> anyhow::Result<Url> {
    let (sender, pasted_lines) = mpsc::channel();
    // Reading stops with the process; a reader blocked on a terminal cannot be woken.
    std::thread::spawn(move || {
        for line in BufReader::new(pasted).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut request_line = String::new();
            BufReader::new(&stream).read_line(&mut request_line)?;
            let target = request_line.split_whitespace().nth(1).unwrap_or("/");
            let Ok(url) = Url::parse(redirect).and_then(|base| base.join(target)) else { continue };
            if !url.query_pairs().any(|(key, _)| key == "code" || key == "error") {
                // A browser's second request (a favicon) or a stray one.
                continue;
            }
            let page = "reqmail has the answer; you can close this page.\n";
            let _ = write!(&stream, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}", page.len());
            return Ok(url);
        }
        match pasted_lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.trim().is_empty() => {}
            Ok(line) => match Url::parse(line.trim()) {
                Ok(url) if url.query_pairs().any(|(key, _)| key == "code" || key == "error") => return Ok(url),
                _ => eprintln!("That is not the address the browser was sent to (it starts with {redirect} and has code=…); paste it again."),
            },
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
        }
    }
    anyhow::bail!("no approval within {} minutes; run the command again", WAIT.as_secs() / 60)
}
