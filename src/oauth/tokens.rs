//! The tokens of one OAuth2 client between runs: a JSON file (mode 0600, in a folder of
//! mode 0700) holding the refresh token and the current access token with its expiry.
//! An access token is used while it has more than `refresh_before_seconds` to live,
//! else it is refreshed first; a server that refuses a token gets one forced refresh.
//!
//! Token lifetimes are the provider's wall-clock time, so this module reads the system
//! clock (not the `Clock` of the core, which `REQMAIL_NOW` may move).
//!
//! A refresh may rotate the refresh token: two refreshes at once (two mailbox tasks of
//! `serve`, or `serve` and a `fetch`) could leave the file with a token the provider has
//! already replaced. A lock (a process-wide mutex plus `flock` on a lock file) makes the
//! second one read what the first stored.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{EndpointNotSet, EndpointSet, RequestTokenError, TokenResponse as _};
use serde::{Deserialize, Serialize};

use super::{endpoints, Endpoints, Secret};
use crate::config::OAuthConfig;

/// What is kept in the token file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTokens {
    pub refresh_token: Secret,
    pub access_token: Option<Secret>,
    /// Unix seconds at which `access_token` expires.
    pub expires_at: Option<i64>,
    /// Unix seconds of the approval (`reqmail oauth login`).
    pub approved_at: i64,
    /// Unix seconds of the last refresh.
    pub refreshed_at: Option<i64>,
}

/// Why no access token could be had. The messages name the client and say what to do;
/// none carries a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("OAuth client {name:?} has not been approved yet (no token file {}): run `{command}`", file.display())]
    NotApproved { name: String, file: PathBuf, command: String },
    #[error("OAuth client {name:?}: the provider no longer accepts the stored consent ({detail}): run `{command}` and approve again")]
    ConsentNeeded { name: String, detail: String, command: String },
    #[error("OAuth client {name:?}: cannot reach the token endpoint {url}: {detail}")]
    Unreachable { name: String, url: String, detail: String },
    #[error("OAuth client {name:?}: {detail}")]
    Other { name: String, detail: String },
}

impl TokenError {
    /// Only a person can fix it: the consent must be given (again).
    pub fn needs_approval(&self) -> bool {
        matches!(self, TokenError::NotApproved { .. } | TokenError::ConsentNeeded { .. })
    }
}

/// The token file of `config` (filled in when the configuration was loaded).
pub fn token_file(config: &OAuthConfig) -> PathBuf {
    config.token_file.clone().unwrap_or_else(|| PathBuf::from(format!("oauth/{}.json", config.name)))
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Reads the token file; `None` when there is none.
pub fn load(path: &Path) -> anyhow::Result<Option<StoredTokens>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|error| {
            // serde's message names a position, never the content.
            anyhow::anyhow!("token file {} is damaged ({error}); approve again with `reqmail oauth login`", path.display())
        })?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(anyhow::anyhow!("cannot read token file {}: {error}", path.display())),
    }
}

/// Writes the token file atomically: a new file of mode 0600 beside it, flushed, then
/// renamed over the old one; the folder is made with mode 0700.
pub fn save(path: &Path, tokens: &StoredTokens) -> anyhow::Result<()> {
    let folder = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !folder.exists() {
        std::fs::create_dir_all(folder).map_err(|error| anyhow::anyhow!("cannot create folder {}: {error}", folder.display()))?;
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))?;
    }
    let fresh = path.with_extension("json.new");
    let _ = std::fs::remove_file(&fresh);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&fresh)
        .map_err(|error| anyhow::anyhow!("cannot write token file {}: {error}", fresh.display()))?;
    file.write_all(&serde_json::to_vec_pretty(tokens)?)?;
    file.sync_all()?;
    std::fs::rename(&fresh, path).map_err(|error| anyhow::anyhow!("cannot replace token file {}: {error}", path.display()))?;
    Ok(())
}

/// The client with its token endpoint; the approvals add theirs.
pub(crate) type Client = BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub(crate) fn client(config: &OAuthConfig) -> Result<(Client, Endpoints), TokenError> {
    let other = |detail: String| TokenError::Other { name: config.name.clone(), detail };
    let endpoints = endpoints(config).map_err(other)?;
    let mut client = BasicClient::new(oauth2::ClientId::new(config.client_id.clone()))
        // Microsoft and Google both take the client id in the body; public clients have
        // no secret for HTTP Basic to carry.
        .set_auth_type(oauth2::AuthType::RequestBody)
        .set_token_uri(oauth2::TokenUrl::new(endpoints.token_url.clone()).map_err(|error| other(format!("token_url: {error}")))?);
    if let Some(secret) = &config.client_secret {
        client = client.set_client_secret(oauth2::ClientSecret::new(secret.expose().to_string()));
    }
    Ok((client, endpoints))
}

/// Keeps the tokens of a fresh approval; returns the token file.
pub(crate) fn keep_approval(config: &OAuthConfig, response: &oauth2::basic::BasicTokenResponse) -> anyhow::Result<PathBuf> {
    let Some(refresh_token) = response.refresh_token() else {
        anyhow::bail!(
            "oauth.{}: the provider gave no refresh token, so access would end within the hour \
             (Microsoft: include \"offline_access\" in scopes)",
            config.name
        );
    };
    let now = unix_now();
    let stored = StoredTokens {
        refresh_token: Secret::new(refresh_token.secret().clone()),
        access_token: Some(Secret::new(response.access_token().secret().clone())),
        expires_at: Some(now + response.expires_in().map_or(3600, |lifetime| lifetime.as_secs() as i64)),
        approved_at: now,
        refreshed_at: None,
    };
    let path = token_file(config);
    save(&path, &stored)?;
    Ok(path)
}

/// A transport failure: the endpoint could not be asked. Answers with any status are
/// responses (the OAuth2 errors come as 400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// A synchronous HTTP client for oauth2 on ureq: no redirects (a token request must not
/// be sent elsewhere), the configured timeout, rustls with the system's roots.
pub(crate) fn http_client(config: &OAuthConfig, endpoints: &Endpoints) -> Result<impl Fn(oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError>, TokenError> {
    let mut builder = ureq::AgentBuilder::new().timeout(Duration::from_secs(config.timeout_seconds)).redirects(0);
    if endpoints.uses_tls() {
        let tls = crate::tls::client_config(None, &format!("oauth.{}", config.name))
            .map_err(|error| TokenError::Other { name: config.name.clone(), detail: format!("{error:#}") })?;
        builder = builder.tls_config(tls);
    }
    let agent = builder.build();
    Ok(move |request: oauth2::HttpRequest| -> Result<oauth2::HttpResponse, HttpError> {
        let url = request.uri().to_string();
        let mut call = if request.method() == http::Method::POST { agent.post(&url) } else { agent.get(&url) };
        for (name, value) in request.headers() {
            call = call.set(name.as_str(), value.to_str().map_err(|_| HttpError(format!("header {name} is not text")))?);
        }
        let result = if request.method() == http::Method::POST { call.send_bytes(request.body()) } else { call.call() };
        let response = match result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            // ureq names the address and the cause; the body it sent is not in it.
            Err(error) => return Err(HttpError(error.to_string())),
        };
        let mut builder = http::Response::builder().status(response.status());
        if let Some(content_type) = response.header("content-type") {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).map_err(|error| HttpError(format!("reading the answer: {error}")))?;
        builder.body(body).map_err(|error| HttpError(error.to_string()))
    })
}

/// Describes a failed token request without its body (which may hold a token).
pub(crate) fn describe<T: oauth2::ErrorResponse + std::fmt::Display>(error: &RequestTokenError<HttpError, T>) -> String {
    match error {
        RequestTokenError::ServerResponse(response) => response.to_string(),
        RequestTokenError::Request(error) => error.to_string(),
        RequestTokenError::Parse(error, _body) => format!("unreadable answer ({})", error.inner()),
        RequestTokenError::Other(text) => text.clone(),
    }
}

static REFRESHING: Mutex<()> = Mutex::new(());

/// Holds the process-wide refresh lock and an exclusive `flock` on `NAME.json.lock`.
struct RefreshLock {
    _guard: std::sync::MutexGuard<'static, ()>,
    _file: std::fs::File,
}

fn lock(path: &Path) -> anyhow::Result<RefreshLock> {
    let guard = REFRESHING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let lock_path = path.with_extension("json.lock");
    if let Some(folder) = lock_path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|error| anyhow::anyhow!("cannot create folder {}: {error}", folder.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|error| anyhow::anyhow!("cannot open {}: {error}", lock_path.display()))?;
    use std::os::fd::AsRawFd as _;
    // SAFETY: flock on a descriptor this function owns; it is released when `file` closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        anyhow::bail!("cannot lock {}: {}", lock_path.display(), std::io::Error::last_os_error());
    }
    Ok(RefreshLock { _guard: guard, _file: file })
}

/// [`access_token`] on tokio's blocking pool, for the async network edges (the refresh
/// may wait on the provider and on the lock file). The outer error: the task stopped.
pub async fn access_token_off_thread(config: &OAuthConfig, refused: Option<&Secret>) -> Result<Result<Secret, TokenError>, tokio::task::JoinError> {
    let (config, refused) = (config.clone(), refused.cloned());
    tokio::task::spawn_blocking(move || access_token(&config, refused.as_ref())).await
}

/// An access token for `config`: the stored one while it lives longer than
/// `refresh_before_seconds`, else a refreshed one (stored before it is returned).
/// `refused` is the token the server just turned down, if any: a stored token that is
/// still that one is refreshed whatever its expiry says.
///
/// Blocking (file and HTTP): async callers use `spawn_blocking`.
pub fn access_token(config: &OAuthConfig, refused: Option<&Secret>) -> Result<Secret, TokenError> {
    let name = config.name.clone();
    let path = token_file(config);
    let other = |detail: String| TokenError::Other { name: name.clone(), detail };
    let _lock = lock(&path).map_err(|error| other(format!("{error:#}")))?;
    let stored = load(&path).map_err(|error| other(format!("{error:#}")))?;
    let command = super::login_command(&name, config.config_file.as_deref());
    let Some(mut stored) = stored else {
        return Err(TokenError::NotApproved { name, file: path, command });
    };
    let now = unix_now();
    if let (Some(token), Some(expires_at)) = (&stored.access_token, stored.expires_at) {
        let fresh = expires_at - now > config.refresh_before_seconds as i64;
        if fresh && refused != Some(token) {
            return Ok(token.clone());
        }
    }

    let (client, endpoints) = client(config)?;
    let http = http_client(config, &endpoints)?;
    let refresh_token = oauth2::RefreshToken::new(stored.refresh_token.expose().to_string());
    let response = client.exchange_refresh_token(&refresh_token).request(&http).map_err(|error| match &error {
        RequestTokenError::ServerResponse(response)
            if matches!(response.error(), BasicErrorResponseType::InvalidGrant | BasicErrorResponseType::UnauthorizedClient) =>
        {
            TokenError::ConsentNeeded { name: name.clone(), detail: describe(&error), command: command.clone() }
        }
        RequestTokenError::Request(_) => TokenError::Unreachable { name: name.clone(), url: endpoints.token_url.clone(), detail: describe(&error) },
        _ => other(format!("refreshing the access token failed: {}", describe(&error))),
    })?;
    let access_token = Secret::new(response.access_token().secret().clone());
    stored.access_token = Some(access_token.clone());
    // Without `expires_in` the provider promises nothing: an hour is what both presets give.
    stored.expires_at = Some(now + response.expires_in().map_or(3600, |lifetime| lifetime.as_secs() as i64));
    if let Some(rotated) = response.refresh_token() {
        stored.refresh_token = Secret::new(rotated.secret().clone());
    }
    stored.refreshed_at = Some(now);
    save(&path, &stored).map_err(|error| other(format!("{error:#}")))?;
    tracing::info!(oauth = name, expires_in = stored.expires_at.unwrap_or(now) - now, "OAuth access token refreshed");
    Ok(access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauth/m365.json");
        let tokens = StoredTokens {
            refresh_token: Secret::new("r1".into()),
            access_token: None,
            expires_at: None,
            approved_at: 1,
            refreshed_at: None,
        };
        save(&path, &tokens).unwrap();
        save(&path, &StoredTokens { refresh_token: Secret::new("r2".into()), ..tokens }).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(load(&path).unwrap().unwrap().refresh_token.expose(), "r2");
        assert!(load(&dir.path().join("none.json")).unwrap().is_none());
    }
}
