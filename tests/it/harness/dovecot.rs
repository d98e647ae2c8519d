//! A private Dovecot (IMAP) started by a test: its own configuration, certificate,
//! users and Maildirs in a temporary folder, listening on 127.0.0.1 only, stopped in
//! `Drop`. A test that needs it fails when it cannot start; the log is printed when the
//! test fails.

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{chown, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The uid Dovecot's mail processes run as (Dovecot refuses root for mail access).
pub const MAIL_UID: u32 = 65534;

/// A test CA and a server certificate for `localhost` and 127.0.0.1, made with Debian's
/// `openssl` (already needed by the servers; no crate) once into Cargo's target tmp
/// folder and reused by later runs.
pub struct Certificates {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn certificates() -> &'static Certificates {
    static CERTIFICATES: OnceLock<Certificates> = OnceLock::new();
    CERTIFICATES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reqmail-test-certs");
        if !dir.join("cert.pem").exists() {
            // Made aside and renamed into place, so that concurrent test binaries never
            // see half a set; the loser of a race uses the winner's.
            let fresh = tempfile::Builder::new().prefix("certs-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
            make_certificates(fresh.path());
            let _ = std::fs::rename(fresh.keep(), &dir);
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Certificates { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") }
    })
}

fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl must be installed (.ci/run installs it)");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=reqmail test CA"]].concat());
    run(&[&["req"][..], &ec, &["-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(dir.join("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    run(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "3650", "-extfile", "ext"]);
}

/// A free port on 127.0.0.1 for a test server, from below the range the kernel hands to
/// `bind(0)` and to outgoing connections, one after the other: a port the kernel gave one
/// test could be given again to another test's server before the first had bound it. A
/// port some other program holds is skipped (and the caller retries should one take it
/// before the server binds it).
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let kernel_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (low, span) = (kernel_from.saturating_sub(12_000).max(1024), 11_000);
    // Runs at the same time (the SQLite and PostgreSQL passes of two checkouts) start apart.
    let offset = std::process::id() % 50 * 200;
    for _ in 0..span {
        let port = (low + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {low} and {}", low + span);
}

/// Sends signal `name` (TERM, HUP…) to `pid` with the shell's `kill` builtin, which
/// every Debian has (the `kill` program is in procps, which a slim image may lack).
pub fn signal(pid: u32, name: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("kill -{name} {pid}")).status().map(|status| status.success()).unwrap_or(false)
}

/// Stops a test server's process (SIGTERM, then SIGKILL), waiting until it is gone.
pub fn stop_child(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        signal(child.id(), "TERM");
        if !wait_until(Duration::from_secs(10), || matches!(child.try_wait(), Ok(Some(_)))) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Tries `launch` for up to 20 seconds (the old process may still hold its port); the
/// last error when it never worked.
pub fn relaunch(mut launch: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let mut last_error = String::new();
    let started = wait_until(Duration::from_secs(20), || match launch() {
        Ok(()) => true,
        Err(error) => {
            last_error = error;
            false
        }
    });
    if started { Ok(()) } else { Err(last_error) }
}

/// Waits until `condition` holds, up to `timeout`; false if it never did.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Plain IMAP with STARTTLS offered.
    pub imap_port: u16,
    /// Implicit TLS.
    pub imaps_port: u16,
    users: Vec<String>,
    /// With an `oauth2` passdb for XOAUTH2 and OAUTHBEARER asking this introspection
    /// endpoint (RFC 7662); PLAIN and LOGIN stay on the password file.
    oauth2_introspection: Option<String>,
    /// More settings, appended to the configuration.
    settings: String,
}

impl Dovecot {
    /// Starts Dovecot with `users` (name, password), each with an empty INBOX.
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        Dovecot::start_with(users, None, "")
    }

    /// Like `start`, with `settings` added to the configuration (e.g. `imap_capability`).
    pub fn start_with_settings(users: &[(&str, &str)], settings: &str) -> Dovecot {
        Dovecot::start_with(users, None, settings)
    }

    /// Like `start`, and also taking OAuth2 bearer tokens that `introspection_url` vouches for.
    pub fn start_with_oauth2(users: &[(&str, &str)], introspection_url: &str) -> Dovecot {
        Dovecot::start_with(users, Some(introspection_url.to_string()), "")
    }

    fn start_with(users: &[(&str, &str)], oauth2_introspection: Option<String>, settings: &str) -> Dovecot {
        let dir = tempfile::Builder::new().prefix("reqmail-dovecot-").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let passwd: String = users.iter().map(|(user, password)| format!("{user}:{{PLAIN}}{password}\n")).collect();
        std::fs::write(dir.path().join("passwd"), passwd).unwrap();
        let mut dovecot = Dovecot { dir, child: None, imap_port: 0, imaps_port: 0, users: users.iter().map(|(user, _)| user.to_string()).collect(), oauth2_introspection, settings: settings.to_string() };
        for user in dovecot.users.clone() {
            dovecot.create_mailbox(&user, "INBOX");
        }
        let mut last_error = String::new();
        for _attempt in 0..5 {
            dovecot.imap_port = free_port();
            dovecot.imaps_port = free_port();
            match dovecot.launch() {
                Ok(()) => return dovecot,
                Err(error) => last_error = error,
            }
        }
        panic!("cannot start Dovecot: {last_error}\n--- dovecot.log ---\n{}", dovecot.log());
    }

    fn config(&self) -> String {
        let dir = self.dir.path().display();
        let certificates = certificates();
        let (mechanisms, oauth2_passdb) = match &self.oauth2_introspection {
            None => ("plain login", String::new()),
            Some(url) => {
                let settings = self.dir.path().join("oauth2.conf.ext");
                std::fs::write(
                    &settings,
                    format!("introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n"),
                )
                .unwrap();
                (
                    "plain login xoauth2 oauthbearer",
                    format!("passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}\n}}\n", settings.display()),
                )
            }
        };
        format!(
            "base_dir = {dir}/run\nstate_dir = {dir}/state\nlog_path = {dir}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\n\
             ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\ndisable_plaintext_auth = no\nauth_mechanisms = {mechanisms}\n\
             passdb {{\n  driver = passwd-file\n  mechanisms = plain login\n  args = scheme=PLAIN username_format=%u {dir}/passwd\n}}\n{oauth2_passdb}\
             userdb {{\n  driver = static\n  args = uid={MAIL_UID} gid={MAIL_UID} home={dir}/home/%u\n}}\n\
             mail_location = maildir:~/Maildir\nfirst_valid_uid = 1\n\
             service auth {{\n  unix_listener auth-smtp {{\n    mode = 0666\n  }}\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n{settings}",
            cert = certificates.cert.display(),
            key = certificates.key.display(),
            imap = self.imap_port,
            imaps = self.imaps_port,
            settings = self.settings,
        )
    }

    fn launch(&mut self) -> Result<(), String> {
        let config = self.dir.path().join("dovecot.conf");
        std::fs::write(&config, self.config()).unwrap();
        let mut child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("dovecot.stderr")).unwrap())
            .spawn()
            .map_err(|error| format!("cannot run dovecot (.ci/run installs dovecot-imapd): {error}"))?;
        let port = self.imap_port;
        let ready = wait_until(Duration::from_secs(20), || {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            // Ready when the greeting says so (before that it asks to wait for auth).
            let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|read| read > 0).unwrap_or(false) {
                if line.contains("ready") {
                    return true;
                }
                line.clear();
            }
            false
        });
        if let Ok(Some(status)) = child.try_wait() {
            let stderr = std::fs::read_to_string(self.dir.path().join("dovecot.stderr")).unwrap_or_default();
            return Err(format!("dovecot exited with {status}: {stderr}"));
        }
        if !ready {
            let _ = child.kill();
            return Err("dovecot did not greet within 20 seconds".into());
        }
        self.child = Some(child);
        Ok(())
    }

    /// Stops the server (SIGTERM, then SIGKILL), waiting until it is gone.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// Stops and starts again on the same ports.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(error) = relaunch(|| self.launch()) {
            panic!("cannot restart Dovecot: {error}\n{}", self.log());
        }
    }

    /// Ends every IMAP session of `user` (`doveadm kick`), as a provider's server ends
    /// the sessions of an expired token; stopping the master would leave them running.
    pub fn kick(&self, user: &str) {
        let output = Command::new("doveadm").arg("-c").arg(self.dir.path().join("dovecot.conf")).args(["kick", user]).output().expect("doveadm");
        assert!(output.status.success(), "doveadm kick {user}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// The folder holding each user's home (`USER/Maildir`), for a delivery agent.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Dovecot's authentication socket for Postfix SMTP AUTH.
    pub fn auth_socket(&self) -> PathBuf {
        self.dir.path().join("run/auth-smtp")
    }

    /// Every message in `mailbox` of `user`, read over IMAP (STARTTLS, LOGIN) as a mail
    /// client would, oldest first.
    pub fn read_over_imap(&self, user: &str, password: &str, mailbox: &str) -> Vec<Vec<u8>> {
        use futures_util::TryStreamExt as _;
        let config: reqmail::config::ImapConfig = toml::from_str(&format!(
            "host = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nca_file = \"{}\"\nusername = \"{user}\"\npassword = \"{password}\"\n",
            self.imap_port,
            self.ca_file().display()
        ))
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut connection = reqmail::source::imap::connect(&config).await.unwrap();
            let selected = connection.session.select(mailbox).await.unwrap();
            if selected.exists == 0 {
                return Vec::new();
            }
            let fetches: Vec<_> = connection.session.uid_fetch("1:*", "(UID BODY.PEEK[])").await.unwrap().try_collect().await.unwrap();
            let mut messages: Vec<(u32, Vec<u8>)> =
                fetches.iter().filter_map(|fetch| Some((fetch.uid?, fetch.body()?.to_vec()))).collect();
            messages.sort();
            connection.logout().await;
            messages.into_iter().map(|(_, raw)| raw).collect()
        })
    }

    pub fn ca_file(&self) -> &Path {
        &certificates().ca
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// The Maildir folder of `mailbox` (Maildir++: INBOX is the root, others `.Name`).
    pub fn maildir(&self, user: &str, mailbox: &str) -> PathBuf {
        let root = self.dir.path().join("home").join(user).join("Maildir");
        if mailbox == "INBOX" { root } else { root.join(format!(".{mailbox}")) }
    }

    /// Creates a mailbox (folders owned by the mail uid).
    pub fn create_mailbox(&self, user: &str, mailbox: &str) {
        let root = self.maildir(user, mailbox);
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let mut path = root.clone();
        while path.starts_with(self.dir.path().join("home")) {
            chown(&path, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
            for sub in ["tmp", "new", "cur"] {
                if path.join(sub).exists() {
                    chown(path.join(sub), Some(MAIL_UID), Some(MAIL_UID)).unwrap();
                }
            }
            path.pop();
        }
    }

    /// Delivers `raw` into `mailbox` as a local delivery agent would (tmp/ then new/).
    pub fn deliver(&self, user: &str, mailbox: &str, raw: &[u8]) {
        self.deliver_flagged(user, mailbox, raw, None);
    }

    /// Puts `raw` into `mailbox` with Maildir `flags` (e.g. "T" for \\Deleted), as if
    /// another client had seen it; `None` delivers it as new.
    pub fn deliver_flagged(&self, user: &str, mailbox: &str, raw: &[u8], flags: Option<&str>) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = self.maildir(user, mailbox);
        let name = format!("{}.R{}P{}.test", 1_700_000_000 + COUNTER.fetch_add(1, Ordering::Relaxed), std::process::id(), COUNTER.load(Ordering::Relaxed));
        let tmp = root.join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        chown(&tmp, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
        let target = match flags {
            Some(flags) => root.join("cur").join(format!("{name}:2,{flags}")),
            None => root.join("new").join(&name),
        };
        std::fs::rename(&tmp, target).unwrap();
    }

    /// The flags of every message in `mailbox` (Maildir info after `:2,`), in name order.
    pub fn flags(&self, user: &str, mailbox: &str) -> Vec<String> {
        let root = self.maildir(user, mailbox);
        let mut names: Vec<String> = ["new", "cur"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(root.join(sub)).into_iter().flatten())
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.iter().map(|name| name.split_once(":2,").map(|(_, flags)| flags.to_string()).unwrap_or_default()).collect()
    }

    /// Forgets every UID, so that the mailbox gets a new UIDVALIDITY at the next start.
    pub fn reset_uids(&self, user: &str, mailbox: &str) {
        let root = self.maildir(user, mailbox);
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("dovecot") {
                if path.is_dir() { std::fs::remove_dir_all(&path).unwrap() } else { std::fs::remove_file(&path).unwrap() }
            }
        }
    }

    /// The reqmail `[[inbound.imap]]` table for `user`, plus `extra` keys.
    pub fn imap_config(&self, user: &str, password: &str, extra: &str) -> String {
        format!(
            "[[inbound.imap]]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nca_file = \"{}\"\nusername = \"{user}\"\npassword = \"{password}\"\n{extra}\n",
            self.imap_port,
            self.ca_file().display()
        )
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- dovecot.log ({}) ---\n{}", self.dir.path().display(), self.log());
        }
        if std::env::var_os("REQMAIL_TEST_KEEP").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("kept Dovecot folder {}", kept.keep().display());
        }
    }
}
