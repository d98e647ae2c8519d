//! A private OAuth2 provider started by a test, on 127.0.0.1 with an OS-chosen port:
//! the device authorization endpoint and the token endpoint (device grant of RFC 8628
//! and refresh, with short-lived access tokens and rotated refresh tokens), and the
//! introspection endpoint (RFC 7662) Dovecot's `oauth2` passdb asks. Every device code
//! is approved, as `subject`, at its second poll, so a login also exercises polling.
//! Stopped in `Drop`.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    /// Who approves device codes.
    subject: String,
    access_seconds: u64,
    /// authorization code -> (PKCE challenge, redirect address).
    codes: HashMap<String, (String, String)>,
    /// device code -> polls so far.
    device_codes: HashMap<String, u32>,
    /// access token -> (subject, expiry).
    access: HashMap<String, (String, Instant)>,
    /// refresh token -> subject.
    refresh: HashMap<String, String>,
    /// The mailbox a subject's token opens, when not its own (a delegation).
    mailbox_of: HashMap<String, String>,
    refresh_grants: u32,
    /// Refresh requests, granted or not.
    refresh_attempts: u32,
    introspections: u32,
    /// Every token handed out, so that tests can look for them in logs.
    issued: Vec<String>,
}

pub struct Idp {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn fresh(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

impl Idp {
    /// A provider whose device codes `subject` approves and whose access tokens live
    /// `access_seconds`.
    pub fn start(subject: &str, access_seconds: u64) -> Idp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State { subject: subject.into(), access_seconds, ..State::default() }));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stopping) = (state.clone(), stopping.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        Idp { port, state, stopping, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `[oauth.NAME]` for this provider.
    pub fn oauth_config(&self, name: &str) -> String {
        format!(
            "[oauth.{name}]\nprovider = \"generic\"\nclient_id = \"reqmail-test\"\ndevice_authorization_url = \"{}\"\ntoken_url = \"{}\"\nscopes = [\"mail\", \"offline_access\"]\nrefresh_before_seconds = 1\ntimeout_seconds = 5\n",
            self.url("/device"),
            self.url("/token")
        )
    }

    /// `[oauth.NAME]` for this provider's browser approval (authorization code grant).
    pub fn oauth_config_browser(&self, name: &str) -> String {
        format!(
            "[oauth.{name}]\nprovider = \"generic\"\nclient_id = \"reqmail-test\"\nauthorization_url = \"{}\"\ntoken_url = \"{}\"\nscopes = [\"mail\"]\n",
            self.url("/authorize"),
            self.url("/token")
        )
    }

    /// What a browser does with the address `reqmail oauth login` printed: the person
    /// (`subject`) approves, and the provider sends the browser on; returns where to.
    pub fn approve_in_browser(&self, address: &str) -> String {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let response = agent.get(address).call().unwrap();
        assert_eq!(response.status(), 302, "{}", response.into_string().unwrap_or_default());
        response.header("location").unwrap().to_string()
    }

    /// Tokens of `subject` open `mailbox`'s mailbox (a delegation, as to a shared mailbox).
    pub fn delegate(&self, subject: &str, mailbox: &str) {
        self.state.lock().unwrap().mailbox_of.insert(subject.into(), mailbox.into());
    }

    /// Withdraws every consent: refresh tokens are refused, access tokens inactive.
    pub fn revoke_all(&self) {
        let mut state = self.state.lock().unwrap();
        state.refresh.clear();
        state.access.clear();
    }

    /// Ends every access token now (refresh tokens stay good).
    pub fn expire_access_tokens(&self) {
        let mut state = self.state.lock().unwrap();
        for (_, expiry) in state.access.values_mut() {
            *expiry = Instant::now();
        }
    }

    /// Access tokens issued from now on live `seconds`.
    pub fn set_access_seconds(&self, seconds: u64) {
        self.state.lock().unwrap().access_seconds = seconds;
    }

    pub fn refresh_grants(&self) -> u32 {
        self.state.lock().unwrap().refresh_grants
    }

    pub fn refresh_attempts(&self) -> u32 {
        self.state.lock().unwrap().refresh_attempts
    }

    pub fn introspections(&self) -> u32 {
        self.state.lock().unwrap().introspections
    }

    /// Every access and refresh token handed out so far.
    pub fn issued(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[index + 1..index + 3], 16).unwrap_or(b'?'));
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&').filter_map(|pair| pair.split_once('=')).map(|(key, value)| (decode(key), decode(value))).collect()
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut fields = form(query);
    fields.extend(form(&String::from_utf8_lossy(&body)));
    let (status, json) = answer(path, &fields, state);
    let location = json.get("location").and_then(|location| location.as_str()).map(|location| format!("Location: {location}\r\n")).unwrap_or_default();
    let text = json.to_string();
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{location}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn error(code: &str) -> (&'static str, serde_json::Value) {
    ("400 Bad Request", serde_json::json!({ "error": code }))
}

fn issue(state: &mut State, subject: &str) -> serde_json::Value {
    let access = fresh("access");
    let refresh = fresh("refresh");
    let lifetime = state.access_seconds;
    state.access.insert(access.clone(), (subject.to_string(), Instant::now() + Duration::from_secs(lifetime)));
    state.refresh.insert(refresh.clone(), subject.to_string());
    state.issued.extend([access.clone(), refresh.clone()]);
    serde_json::json!({ "access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": lifetime })
}

fn answer(path: &str, form: &HashMap<String, String>, state: &Mutex<State>) -> (&'static str, serde_json::Value) {
    let mut state = state.lock().unwrap();
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    match path {
        "/device" => {
            if field("client_id") != "reqmail-test" {
                return error("invalid_client");
            }
            let device_code = fresh("device");
            state.device_codes.insert(device_code.clone(), 0);
            let body = serde_json::json!({
                "device_code": device_code, "user_code": "WDJB-MJHT", "verification_uri": "http://127.0.0.1/approve",
                "expires_in": 60, "interval": 1
            });
            ("200 OK", body)
        }
        "/authorize" => {
            let complete = ["redirect_uri", "state", "code_challenge"].iter().all(|name| !field(name).is_empty());
            if field("client_id") != "reqmail-test" || field("response_type") != "code" || field("code_challenge_method") != "S256" || !complete {
                return error("invalid_request");
            }
            let code = fresh("code");
            state.codes.insert(code.clone(), (field("code_challenge"), field("redirect_uri")));
            let location = format!("{}?code={code}&state={}", field("redirect_uri"), field("state"));
            ("302 Found", serde_json::json!({ "location": location }))
        }
        "/token" => match field("grant_type").as_str() {
            "authorization_code" => {
                let Some((challenge, redirect)) = state.codes.remove(&field("code")) else { return error("invalid_grant") };
                use base64::Engine as _;
                use sha2::Digest as _;
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
                if computed != challenge || redirect != field("redirect_uri") {
                    return error("invalid_grant");
                }
                let subject = state.subject.clone();
                ("200 OK", issue(&mut state, &subject))
            }
            "urn:ietf:params:oauth:grant-type:device_code" => {
                let Some(polls) = state.device_codes.get_mut(&field("device_code")) else { return error("invalid_grant") };
                *polls += 1;
                if *polls < 2 {
                    return error("authorization_pending");
                }
                state.device_codes.remove(&field("device_code"));
                let subject = state.subject.clone();
                ("200 OK", issue(&mut state, &subject))
            }
            "refresh_token" => {
                state.refresh_attempts += 1;
                // Rotation: the old refresh token is used up.
                let Some(subject) = state.refresh.remove(&field("refresh_token")) else { return error("invalid_grant") };
                state.refresh_grants += 1;
                ("200 OK", issue(&mut state, &subject))
            }
            _ => error("unsupported_grant_type"),
        },
        "/introspect" => {
            state.introspections += 1;
            match state.access.get(&field("token")) {
                Some((subject, expiry)) if *expiry > Instant::now() => {
                    let username = state.mailbox_of.get(subject).unwrap_or(subject).clone();
                    ("200 OK", serde_json::json!({ "active": true, "username": username }))
                }
                _ => ("200 OK", serde_json::json!({ "active": false })),
            }
        }
        _ => ("404 Not Found", serde_json::json!({ "error": "not_found" })),
    }
}
