//! A private Postfix started by a test: its own `config_directory`, `queue_directory`
//! and `data_directory` in a temporary folder, smtpd on 127.0.0.1 only (plain with
//! STARTTLS, and implicit TLS), log in the folder (`maillog_file`), stopped in `Drop`.
//!
//! Routing, as a site sets it up: the pipe transport and the main.cf lines are read from
//! `deploy/postfix/` (the files INSTALL.md tells an admin to install):
//! - the help domain `example.com` goes to a `pipe` transport running `reqmail ingest
//!   --recipient ${recipient}` as `nobody` (pipe refuses root);
//! - the customer domain `customer.test` is delivered by Postfix's `virtual` agent into
//!   the Maildirs of a test Dovecot, where a mail client can read it over IMAP;
//! - recipients listed in `rejected` are refused with 554, those in `deferred` with 450.

use std::os::unix::fs::{chown, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::dovecot::{certificates, free_port, wait_until, MAIL_UID};

/// What the test wants of its Postfix.
#[derive(Default)]
pub struct PostfixSetup<'a> {
    /// `reqmail --config FILE ingest` is piped the help domain's mail.
    pub reqmail_config: Option<&'a Path>,
    /// Where `customer.test` mailboxes live: (Dovecot home folder, users).
    pub mailboxes: Option<(PathBuf, Vec<String>)>,
    pub rejected: Vec<&'a str>,
    pub deferred: Vec<&'a str>,
    /// Dovecot's auth socket for SMTP AUTH (`smtpd_sasl_type = dovecot`).
    pub sasl_socket: Option<PathBuf>,
}

pub struct Postfix {
    dir: tempfile::TempDir,
    running: bool,
    /// Plain SMTP, STARTTLS offered.
    pub port: u16,
    /// Implicit TLS (`smtpd_tls_wrappermode`).
    pub tls_port: u16,
}

impl Postfix {
    pub fn start(setup: &PostfixSetup<'_>) -> Postfix {
        let dir = tempfile::Builder::new().prefix("reqmail-postfix-").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let postfix_user = Command::new("id").args(["-u", "postfix"]).output().expect("id");
        let postfix_uid: u32 = String::from_utf8_lossy(&postfix_user.stdout).trim().parse().expect("the postfix user exists (.ci/run installs postfix)");
        chown(dir.path().join("data"), Some(postfix_uid), None).unwrap();
        let mut postfix = Postfix { dir, running: false, port: 0, tls_port: 0 };
        let mut last_error = String::new();
        for _attempt in 0..5 {
            postfix.port = free_port();
            postfix.tls_port = free_port();
            postfix.write_config(setup);
            match postfix.postfix("start") {
                Ok(()) if postfix.wait_listening() => {
                    postfix.running = true;
                    return postfix;
                }
                Ok(()) => {
                    last_error = "smtpd did not listen".into();
                    let _ = postfix.postfix("stop");
                }
                Err(error) => last_error = error,
            }
        }
        panic!("cannot start Postfix: {last_error}\n--- maillog ---\n{}", postfix.log());
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    fn write_config(&self, setup: &PostfixSetup<'_>) {
        let dir = self.dir.path().display();
        let certificates = certificates();
        let mut main = format!(
            "compatibility_level = 3.6\nqueue_directory = {dir}/queue\ndata_directory = {dir}/data\nmail_owner = postfix\nsetgid_group = postdrop\n\
             myhostname = mx.test\nmydomain = test\nmyorigin = mx.test\nmydestination =\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n\
             mynetworks = 127.0.0.0/8\nmaillog_file_prefixes = {dir}\nmaillog_file = {dir}/maillog\nalias_maps =\nalias_database =\nbiff = no\n\
             smtputf8_enable = no\nrelay_domains = example.com\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             smtpd_recipient_restrictions = check_recipient_access texthash:{dir}/conf/access, permit_mynetworks, reject\n\
             smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\nsmtpd_tls_security_level = may\n\
             reqmail_destination_concurrency_limit = 1\n\
             queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n{site}",
            // The lines a site adds to its main.cf, as INSTALL.md gives them.
            site = deploy_file("postfix/main.cf").replace("hash:/etc/postfix/transport", &format!("texthash:{dir}/conf/transport")),
            cert = certificates.cert.display(),
            key = certificates.key.display(),
        );
        let mut vmailbox = String::new();
        if let Some((home, users)) = &setup.mailboxes {
            main.push_str(&format!(
                "virtual_mailbox_domains = customer.test\nvirtual_mailbox_base = {}\nvirtual_mailbox_maps = texthash:{dir}/conf/vmailbox\n\
                 virtual_uid_maps = static:{MAIL_UID}\nvirtual_gid_maps = static:{MAIL_UID}\n",
                home.display()
            ));
            for user in users {
                vmailbox.push_str(&format!("{user}@customer.test {user}/Maildir/\n"));
            }
        }
        if let Some(socket) = &setup.sasl_socket {
            main.push_str(&format!("smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = {}\n", socket.display()));
        }
        let mut access = String::new();
        for address in &setup.rejected {
            access.push_str(&format!("{address} 554 5.1.1 no such mailbox here\n"));
        }
        for address in &setup.deferred {
            access.push_str(&format!("{address} 450 4.2.0 mailbox busy, try later\n"));
        }
        let mut master = format!(
            "127.0.0.1:{port} inet n - n - - smtpd\n127.0.0.1:{tls_port} inet n - n - - smtpd\n  -o smtpd_tls_wrappermode=yes\n",
            port = self.port,
            tls_port = self.tls_port
        );
        for line in [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "local unix - n n - - local",
            "virtual unix - n n - - virtual",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ] {
            master.push_str(line);
            master.push('\n');
        }
        let transport = match setup.reqmail_config {
            Some(config) => {
                // The site's pipe transport as INSTALL.md gives it; only the paths and the
                // user (the test's installation belongs to nobody) are the test's own.
                let pipe = deploy_file("postfix/master.cf")
                    .replace("/usr/bin/reqmail", super::BINARY)
                    .replace("/etc/reqmail/reqmail.toml", &config.display().to_string())
                    .replace("user=reqmail", "user=nobody");
                assert!(pipe.contains("user=nobody") && pipe.contains(super::BINARY), "deploy/postfix/master.cf changed shape:\n{pipe}");
                master.push_str(&pipe);
                "example.com reqmail:\n".to_string()
            }
            None => "example.com discard:\n".to_string(),
        };
        // Without test mailboxes, customer mail is accepted and thrown away (benchmarks).
        let transport = if setup.mailboxes.is_none() { format!("{transport}customer.test discard:\n") } else { transport };
        let conf = self.conf();
        std::fs::write(conf.join("main.cf"), main).unwrap();
        std::fs::write(conf.join("master.cf"), master).unwrap();
        std::fs::write(conf.join("transport"), transport).unwrap();
        std::fs::write(conf.join("vmailbox"), vmailbox).unwrap();
        std::fs::write(conf.join("access"), access).unwrap();
    }

    /// Runs `postfix -c CONF COMMAND`.
    fn postfix(&self, command: &str) -> Result<(), String> {
        let output = Command::new("postfix")
            .arg("-c")
            .arg(self.conf())
            .arg(command)
            .output()
            .map_err(|error| format!("cannot run postfix (.ci/run installs it): {error}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("postfix {command} failed: {}{}", String::from_utf8_lossy(&output.stderr), self.log()))
        }
    }

    fn wait_listening(&self) -> bool {
        let port = self.port;
        wait_until(Duration::from_secs(20), || {
            use std::io::BufRead as _;
            let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut line = String::new();
            std::io::BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("220")
        })
    }

    /// Retries every deferred message now (`postfix flush`), as an admin does after a fix,
    /// rather than waiting for the queue manager's next run on a busy machine.
    pub fn flush(&self) {
        self.postfix("flush").unwrap_or_else(|error| panic!("{error}"));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Hands `raw` to this Postfix over SMTP, as a customer's mail program would.
    pub fn submit(&self, from: &str, to: &str, raw: &[u8]) {
        use lettre::Transport as _;
        let envelope = lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        let transport = lettre::SmtpTransport::builder_dangerous("127.0.0.1").port(self.port).build();
        transport.send_raw(&envelope, raw).unwrap_or_else(|error| panic!("Postfix refused the submission: {error}\n{}", self.log()));
    }
}

/// A file from `deploy/`, as shipped.
pub fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if self.running {
            let _ = self.postfix("stop");
        }
        if std::thread::panicking() {
            eprintln!("--- Postfix maillog ({}) ---\n{}", self.dir.path().display(), self.log());
        }
        if std::env::var_os("REQMAIL_TEST_KEEP").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!("kept Postfix folder {}", kept.keep().display());
        }
    }
}
