//! `reqmail doctor` against real servers: a private Dovecot (IMAP with STARTTLS) and
//! Postfix (SMTP with implicit TLS and AUTH through Dovecot), Postfix settings read by
//! `postconf` from the files in deploy/, and a TLS server whose certificate is about
//! to expire.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::dovecot::{certificates, free_port, Dovecot};
use crate::harness::postfix::{deploy_file, Postfix, PostfixSetup};
use crate::harness::{Desk, Run};

/// A Postfix configuration folder as INSTALL.md builds it, for `postconf -c`, with the
/// pipe pointing at `config` and the transport table as `texthash` (no postmap needed).
fn postfix_settings(dir: &Path, config: &Path, main_extra: &str) {
    let main = deploy_file("postfix/main.cf").replace("hash:/etc/postfix/transport", &format!("texthash:{}/transport", dir.display()));
    std::fs::write(dir.join("main.cf"), format!("{main}{main_extra}\n")).unwrap();
    std::fs::write(dir.join("master.cf"), deploy_file("postfix/master.cf").replace("/etc/reqmail/reqmail.toml", &config.display().to_string())).unwrap();
    std::fs::write(dir.join("transport"), deploy_file("postfix/transport")).unwrap();
}

fn doctor(desk: &Desk, postfix_dir: &Path) -> Run {
    desk.run(&["doctor", "--postfix-config", &postfix_dir.display().to_string()])
}

fn problems(run: &Run) -> Vec<&str> {
    run.stdout.lines().filter(|line| line.starts_with("PROBLEM")).collect()
}

fn servers() -> (Dovecot, Postfix) {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    dovecot.create_mailbox("help", "Processed");
    let postfix = Postfix::start(&PostfixSetup { sasl_socket: Some(dovecot.auth_socket()), ..PostfixSetup::default() });
    (dovecot, postfix)
}

fn desk_for(dovecot: &Dovecot, postfix: &Postfix, imap_password: &str, smtp_password: &str) -> Desk {
    let ca = dovecot.ca_file().display().to_string();
    let desk = Desk::with_config(&format!(
        "{imap}[outbound]\ntransport = \"smtp\"\n[outbound.smtp]\nhost = \"localhost\"\nport = {port}\nsecurity = \"tls\"\nca_file = \"{ca}\"\n\
         username = \"help\"\npassword = \"{smtp_password}\"\ntimeout_seconds = 10\n",
        imap = dovecot.imap_config("help", imap_password, "move_to = \"Processed\"\ntimeout_seconds = 10"),
        port = postfix.tls_port,
    ));
    desk.run(&["tick"]).ok();
    desk
}

#[test]
fn a_healthy_installation_passes_with_every_check_named() {
    let (dovecot, postfix) = servers();
    let desk = desk_for(&dovecot, &postfix, "pw", "pw");
    let settings = tempfile::tempdir().unwrap();
    postfix_settings(settings.path(), &desk.config_path(), "");

    let run = doctor(&desk, settings.path());
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    for expected in [
        "schema",
        "inbound.maildir",
        "templates:",
        "rules:",
        "logged in, mailboxes present",
        "reachable, login accepted",
        "TLS certificate valid for 21 days",
        "recipient_delimiter \"+\" passes help+123@example.com",
        "transport_maps send help@example.com to reqmail:",
        "last fetch that stored mail: never",
    ] {
        assert!(run.stdout.contains(expected), "{expected:?} missing:\n{}", run.stdout);
    }
    // After a fetch the mailbox's last fetch is known.
    dovecot.deliver("help", "INBOX", &crate::harness::request("d1@customer.test", "c@customer.test", "Fetched", "x"));
    desk.run(&["fetch"]).ok();
    let run = doctor(&desk, settings.path());
    assert!(run.stdout.contains("minutes ago"), "{}", run.stdout);
}

#[test]
fn wrong_passwords_missing_folders_and_postfix_mismatches_are_each_one_problem_line_with_a_fix() {
    let (dovecot, postfix) = servers();
    let desk = desk_for(&dovecot, &postfix, "wrong", "also-wrong");
    std::fs::remove_dir_all(desk.path().join("mail/inbox/cur")).unwrap();
    let settings = tempfile::tempdir().unwrap();
    // A site that forgot the delimiter and routes its help address elsewhere.
    postfix_settings(settings.path(), &desk.config_path(), "recipient_delimiter =");
    std::fs::write(settings.path().join("transport"), "help@example.com smtp:[relay.example.com]\n").unwrap();

    let run = doctor(&desk, settings.path());
    assert_eq!(run.status, 1, "{}{}", run.stdout, run.stderr);
    let problems = problems(&run);
    for (expected, fix) in [
        ("refused the login of \"help\"", "check host, port, security, username and password in [[inbound.imap]]"),
        ("refused the login of \"help\"", "[outbound.smtp]"),
        ("inbound.maildir", "mkdir -p"),
        ("recipient_delimiter is \"\"", "recipient_delimiter = +"),
        ("not to reqmail:", "postmap"),
    ] {
        assert!(
            problems.iter().any(|line| line.contains(expected) && line.contains(fix)),
            "no problem line with {expected:?} and {fix:?}:\n{}",
            run.stdout
        );
    }
    assert_eq!(problems.len(), 5, "{}", run.stdout);
    assert!(run.stderr.contains("5 problems found"), "{}", run.stderr);
}

/// `openssl s_server` with a certificate that expires in `days`, signed by the test CA.
struct ShortLivedTls {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ShortLivedTls {
    fn start(days: u32) -> ShortLivedTls {
        let dir = tempfile::tempdir().unwrap();
        let certificates = certificates();
        let run = |args: &[&str]| {
            let output = Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        run(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost"]);
        std::fs::write(dir.path().join("ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
        let ca_key = certificates.ca.with_file_name("ca.key");
        run(&[
            "x509", "-req", "-in", "server.csr", "-CA", &certificates.ca.display().to_string(), "-CAkey", &ca_key.display().to_string(),
            "-CAcreateserial", "-CAserial", "serial", "-out", "cert.pem", "-days", &days.to_string(), "-extfile", "ext",
        ]);
        // Should another program take the port before s_server binds it, s_server exits
        // without "ACCEPT", and another port is tried.
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new("openssl")
                .args(["s_server", "-accept", &port.to_string(), "-cert", "cert.pem", "-key", "key.pem"])
                .current_dir(dir.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut output = std::io::BufReader::new(child.stdout.take().unwrap());
            let listening = std::io::BufRead::lines(&mut output).map_while(Result::ok).any(|line| line == "ACCEPT");
            if listening {
                std::thread::spawn(move || std::io::copy(&mut output, &mut std::io::sink()));
                return ShortLivedTls { child, port, _dir: dir };
            }
            let _ = child.wait();
        }
        panic!("openssl s_server could not listen on any of five free ports");
    }
}

impl Drop for ShortLivedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_certificate_that_expires_within_three_weeks_is_a_problem() {
    let server = ShortLivedTls::start(5);
    let desk = Desk::with_config(&format!(
        "[outbound]\ntransport = \"smtp\"\n[outbound.smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"tls\"\nca_file = \"{}\"\ntimeout_seconds = 3\n",
        server.port,
        certificates().ca.display()
    ));
    let run = desk.run(&["doctor"]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(
        problems(&run).iter().any(|line| line.contains("TLS certificate expires within 21 days") && line.contains("renew")),
        "{}",
        run.stdout
    );
}
