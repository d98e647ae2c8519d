//! OAuth2 against real servers: a private provider (tests/it/harness/idp.rs: device
//! grant, refresh, introspection) and Dovecot with its `oauth2` passdb asking it, plus
//! Postfix taking SMTP AUTH through Dovecot. Access tokens live seconds, so refresh,
//! expiry and revocation all happen within a test. No token may reach a log or an
//! error message.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::dovecot::{wait_until, Dovecot};
use crate::harness::idp::Idp;
use crate::harness::postfix::{Postfix, PostfixSetup};
use crate::harness::{request, Desk, Run};

/// `[oauth.desk]` of `idp` plus an IMAP account on `dovecot` logging in as `user` with `auth`.
fn desk_for(idp: &Idp, dovecot: &Dovecot, user: &str, auth: &str, extra: &str) -> Desk {
    Desk::with_config(&format!(
        "{extra}\n{}[[inbound.imap]]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nca_file = \"{}\"\nusername = \"{user}\"\nauth = \"{auth}\"\noauth = \"desk\"\n",
        idp.oauth_config("desk"),
        dovecot.imap_port,
        dovecot.ca_file().display()
    ))
}

/// `reqmail oauth login desk`, checked: it says where to go and what to enter.
fn login(desk: &Desk) -> Run {
    let run = desk.run(&["oauth", "login", "desk"]).ok();
    assert!(run.stdout.contains("WDJB-MJHT") && run.stdout.contains("http://127.0.0.1/approve"), "{}", run.stdout);
    run
}

/// No token the provider issued appears in `text`.
fn assert_no_secret(idp: &Idp, text: &str) {
    let issued = idp.issued();
    assert!(!issued.is_empty());
    for token in issued {
        assert!(!text.contains(&token), "a token leaked:\n{text}");
    }
}

fn tickets(desk: &Desk) -> i64 {
    desk.count("SELECT COUNT(*) FROM tickets")
}

#[test]
fn imap_fetch_with_xoauth2_and_oauthbearer_after_a_device_login() {
    let idp = Idp::start("help", 600);
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp.url("/introspect"));
    for (index, auth) in ["xoauth2", "oauthbearer"].iter().enumerate() {
        let desk = desk_for(&idp, &dovecot, "help", auth, "");
        let before = desk.run(&["-vv", "fetch"]);
        assert_eq!(before.status, 1);
        assert!(before.stderr.contains("has not been approved yet") && before.stderr.contains("oauth login desk"), "{}", before.stderr);

        let run = login(&desk);
        assert!(run.stdout.contains(&format!("IMAP login to 127.0.0.1 works (help@127.0.0.1:{})", dovecot.imap_port)), "{}", run.stdout);
        let token_file = desk.path().join("oauth/desk.json");
        assert!(run.stdout.contains(&token_file.display().to_string()), "{}", run.stdout);
        assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);

        dovecot.deliver("help", "INBOX", &request(&format!("{auth}@customer.test"), "ann@customer.test", auth, "Please help."));
        let fetched = desk.run(&["-vv", "fetch"]).ok();
        assert_eq!(tickets(&desk), index as i64 + 1, "each desk reads the whole INBOX");
        assert_eq!(idp.refresh_grants(), 0, "the token from the login is still fresh");
        assert_no_secret(&idp, &format!("{}{}{}{}", before.stderr, run.stdout, run.stderr, fetched.stderr));
        let status = desk.run(&["fetch", "status"]).ok();
        assert!(status.stdout.contains("help@127.0.0.1") && status.stdout.contains("\"INBOX\": ok"), "{}", status.stdout);
        let oauth_status = desk.run(&["oauth", "status"]).ok();
        assert!(oauth_status.stdout.starts_with("desk: approved; access token valid for"), "{}", oauth_status.stdout);

        // Even the most detailed log shows neither a token nor the SASL message carrying it.
        let traced = desk.command(&["fetch"]).env("RUST_LOG", "trace").output().unwrap();
        let traced = String::from_utf8_lossy(&traced.stderr).into_owned();
        assert!(traced.contains("TRACE"), "{traced}");
        assert_no_secret(&idp, &traced);
        for token in idp.issued() {
            let token = reqmail::oauth::Secret::new(token);
            for mechanism in [reqmail::oauth::Mechanism::Xoauth2, reqmail::oauth::Mechanism::Oauthbearer] {
                let sasl = mechanism.initial_response_base64("help", "127.0.0.1", dovecot.imap_port, &token);
                assert!(!traced.contains(sasl.expose()), "the SASL message leaked:\n{traced}");
            }
        }
    }
    assert!(idp.introspections() >= 2, "Dovecot asked the provider");
}

#[test]
fn an_expired_token_is_refreshed_before_use_and_a_refused_one_once() {
    let idp = Idp::start("help", 2);
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp.url("/introspect"));
    let desk = desk_for(&idp, &dovecot, "help", "xoauth2", "");
    login(&desk);
    std::thread::sleep(Duration::from_secs(3));
    dovecot.deliver("help", "INBOX", &request("late@customer.test", "ann@customer.test", "Late", "x"));
    // Counted from here: on a slow machine the login's own check may already refresh.
    let grants = idp.refresh_grants();
    desk.run(&["fetch"]).ok();
    assert_eq!((tickets(&desk), idp.refresh_grants() - grants), (1, 1), "refreshed before use");

    // The stored token looks valid for a while, but the provider ended it early: the
    // server refuses it, reqmail refreshes once and is let in.
    let idp_long = Idp::start("help", 600);
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp_long.url("/introspect"));
    let desk = desk_for(&idp_long, &dovecot, "help", "oauthbearer", "");
    login(&desk);
    idp_long.expire_access_tokens();
    dovecot.deliver("help", "INBOX", &request("early@customer.test", "ann@customer.test", "Early", "x"));
    let run = desk.run(&["-v", "fetch"]).ok();
    assert_eq!((tickets(&desk), idp_long.refresh_grants()), (1, 1), "{}", run.stderr);
    assert!(run.stderr.contains("refreshing it once"), "{}", run.stderr);
    assert_no_secret(&idp_long, &run.stderr);
}

const SERVE: &str = "[serve]\nreconnect_initial_seconds = 1\nreconnect_max_seconds = 2\ntick_seconds = 1\n";

#[test]
fn a_token_that_expires_while_serve_idles_is_refreshed_and_nothing_is_lost_or_doubled() {
    let idp = Idp::start("help", 3);
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp.url("/introspect"));
    let desk = desk_for(&idp, &dovecot, "help", "xoauth2", SERVE);
    login(&desk);
    dovecot.deliver("help", "INBOX", &request("a@customer.test", "ann@customer.test", "Before", "x"));
    let daemon = Daemon::start(&desk);
    assert!(wait_until(Duration::from_secs(20), || tickets(&desk) == 1 && daemon.log().contains("idle=true")), "{}", daemon.log());
    let grants = idp.refresh_grants();

    // The token runs out while the session idles; the open session goes on.
    std::thread::sleep(Duration::from_secs(4));
    dovecot.deliver("help", "INBOX", &request("b@customer.test", "bob@customer.test", "During", "x"));
    assert!(wait_until(Duration::from_secs(20), || tickets(&desk) == 2), "{}", daemon.log());
    assert_eq!(idp.refresh_grants(), grants, "an open session needs no token");

    // The server ends the session (as a provider's server does when the token expires),
    // mail arrives meanwhile, and serve logs in again with a refreshed token.
    dovecot.kick("help");
    dovecot.deliver("help", "INBOX", &request("c@customer.test", "cy@customer.test", "While away", "x"));
    assert!(wait_until(Duration::from_secs(30), || tickets(&desk) == 3), "{}", daemon.log());
    assert!(idp.refresh_grants() > grants);
    assert_eq!(desk.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"), 3, "nothing doubled");
    assert_eq!(dovecot.flags("help", "INBOX"), ["S", "S", "S"]);
    assert_eq!(daemon.terminate(), 0);
    assert_no_secret(&idp, &daemon_log(&desk));
}

fn daemon_log(desk: &Desk) -> String {
    std::fs::read_to_string(desk.path().join("serve.log")).unwrap()
}

#[test]
fn a_revoked_consent_mails_the_admins_once_without_a_crash_loop_and_once_more_on_recovery() {
    let idp = Idp::start("help", 600);
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp.url("/introspect"));
    let extra = format!("[inbound]\nalert_after_failing_seconds = 2\n{SERVE}[[people]]\naddresses = [\"boss@example.com\"]\nrole = \"admin\"\n");
    let desk = desk_for(&idp, &dovecot, "help", "oauthbearer", &extra);
    login(&desk);
    let daemon = Daemon::start(&desk);
    assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("IMAP connected")), "{}", daemon.log());

    idp.revoke_all();
    dovecot.kick("help");
    let alerts = |subject: &str| desk.outbox().into_iter().filter(|mail| mail.to().contains("boss@example.com") && mail.subject().contains(subject)).collect::<Vec<_>>();
    assert!(wait_until(Duration::from_secs(30), || !alerts("cannot be fetched").is_empty()), "{}", daemon.log());
    let alert = &alerts("cannot be fetched")[0];
    let command = format!("reqmail --config {} oauth login desk", desk.config_path().display());
    assert!(alert.body().contains(&command), "{}", alert.body());
    assert!(alert.body().contains("no longer accepts the stored consent"), "{}", alert.body());

    let attempts = idp.refresh_attempts();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(alerts("cannot be fetched").len(), 1, "told once");
    assert!(idp.refresh_attempts() - attempts <= 5, "retries back off: {} in 5 s", idp.refresh_attempts() - attempts);
    let status = desk.run(&["fetch", "status"]).ok();
    assert!(status.stdout.contains("FAILING since") && status.stdout.contains(&command), "{}", status.stdout);
    let doctor = desk.run(&["doctor"]);
    assert!(doctor.stdout.contains("fetching fails since") && doctor.stdout.contains(&command), "doctor reads what serve saw: {}", doctor.stdout);

    // The admin approves again; serve picks the new consent up by itself.
    login(&desk);
    dovecot.deliver("help", "INBOX", &request("back@customer.test", "ann@customer.test", "Back", "x"));
    assert!(wait_until(Duration::from_secs(30), || tickets(&desk) == 1 && !alerts("fetched again").is_empty()), "{}", daemon.log());
    assert_eq!(alerts("fetched again").len(), 1);
    let log = daemon.log();
    assert!(log.contains("admins told") && !log.contains("ended unexpectedly"), "{log}");
    assert_eq!(daemon.terminate(), 0);
    let mail: String = desk.outbox().iter().map(|mail| mail.body()).collect();
    assert_no_secret(&idp, &format!("{log}{mail}"));
}

#[test]
fn smtp_submission_with_xoauth2_and_oauthbearer_through_postfix_and_dovecot_sasl() {
    let idp = Idp::start("help", 600);
    let dovecot = Dovecot::start_with_oauth2(&[("alice", "alice-pw"), ("help", "pw")], &idp.url("/introspect"));
    let postfix = Postfix::start(&PostfixSetup {
        mailboxes: Some((dovecot.home(), vec!["alice".into()])),
        sasl_socket: Some(dovecot.auth_socket()),
        ..PostfixSetup::default()
    });
    for (index, mechanism) in ["xoauth2", "oauthbearer"].iter().enumerate() {
        let desk = Desk::with_config(&format!(
            "{}[outbound]\ntransport = \"smtp\"\n[outbound.smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"tls\"\nca_file = \"{}\"\ntimeout_seconds = 10\n\
             username = \"help\"\nauth = \"{mechanism}\"\noauth = \"desk\"\n",
            idp.oauth_config("desk"),
            postfix.tls_port,
            dovecot.ca_file().display()
        ));
        login(&desk);
        if index == 1 {
            // Refused first, refreshed once, then accepted.
            idp.expire_access_tokens();
        }
        let run = desk.ingest(&request(&format!("{mechanism}@customer.test"), "alice@customer.test", mechanism, "x")).ok();
        assert_no_secret(&idp, &run.stderr);
        assert!(wait_until(Duration::from_secs(30), || dovecot.flags("alice", "INBOX").len() == index + 1), "{}", postfix.log());
        assert_eq!(desk.sql("SELECT status FROM outbox"), [[serde_json::json!("sent")]]);
        let method = format!("sasl_method={}, sasl_username=help", mechanism.to_uppercase());
        assert!(wait_until(Duration::from_secs(10), || postfix.log().contains(&method)), "{}", postfix.log());
    }
    assert_eq!(idp.refresh_grants(), 1);
}

#[test]
fn a_delegate_reads_a_shared_mailbox_as_its_owner() {
    let idp = Idp::start("agent", 600);
    idp.delegate("agent", "help");
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp.url("/introspect"));
    let desk = desk_for(&idp, &dovecot, "agent", "xoauth2", "");
    let config = std::fs::read_to_string(desk.config_path()).unwrap().replace("oauth = \"desk\"\n", "oauth = \"desk\"\nmailbox_owner = \"help\"\n");
    desk.write_config(&config);
    login(&desk);
    dovecot.deliver("help", "INBOX", &request("shared@customer.test", "ann@customer.test", "Shared", "x"));
    desk.run(&["fetch"]).ok();
    assert_eq!(tickets(&desk), 1);
    let status = desk.run(&["fetch", "status"]).ok();
    assert!(status.stdout.contains("help@127.0.0.1"), "the account is the mailbox read: {}", status.stdout);
    // The test server's users are bare names; a cloud provider's would be addresses.
    let check = desk.run(&["rules", "check"]).ok();
    assert!(check.stdout.contains("warning: inbound.imap[0] (127.0.0.1): username \"agent\" is not an address"), "{}", check.stdout);
}

#[test]
fn a_browser_approval_comes_back_through_the_loopback_redirect_or_a_pasted_address() {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::process::Stdio;
    let idp = Idp::start("help", 600);
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp.url("/introspect"));
    for paste in [false, true] {
        let desk = Desk::with_config(&format!(
            "{}[[inbound.imap]]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nca_file = \"{}\"\nusername = \"help\"\nauth = \"xoauth2\"\noauth = \"desk\"\n",
            idp.oauth_config_browser("desk"),
            dovecot.imap_port,
            dovecot.ca_file().display()
        ));
        let mut login = desk.command(&["oauth", "login", "desk"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
        let address = lines.by_ref().map(Result::unwrap).find(|line| line.contains("/authorize?")).expect("the address to open");
        let back = idp.approve_in_browser(address.trim());
        if paste {
            writeln!(login.stdin.as_mut().unwrap(), "{back}").unwrap();
        } else {
            let page = ureq::get(&back).call().unwrap().into_string().unwrap();
            assert!(page.contains("you can close this page"), "{page}");
        }
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        let status = login.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut login.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{rest:?}\n{stderr}");
        assert!(rest.iter().any(|line| line.starts_with("Approved")), "{rest:?}");
        assert_no_secret(&idp, &format!("{rest:?}{stderr}"));

        dovecot.deliver("help", "INBOX", &request(&format!("browser-{paste}@customer.test"), "ann@customer.test", "Browser", "x"));
        desk.run(&["fetch"]).ok();
        assert_eq!(tickets(&desk), 1 + paste as i64);
    }
}

#[test]
fn a_wrong_password_is_reported_to_the_admins_by_fetch_and_its_repair_too() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    let setup = "[inbound]\nalert_after_failing_seconds = 0\n[[people]]\naddresses = [\"boss@example.com\"]\nrole = \"admin\"\n";
    let desk = Desk::with_config(&format!("{setup}{}", dovecot.imap_config("help", "Wr0ng-Secret", "")));
    for _ in 0..2 {
        assert_eq!(desk.run(&["fetch"]).status, 1);
    }
    let to_boss = |subject: &str| desk.outbox().into_iter().filter(|mail| mail.to().contains("boss@example.com") && mail.subject().contains(subject)).count();
    assert_eq!(to_boss("cannot be fetched"), 1, "told once, not per pass");
    let alert = desk.outbox().into_iter().find(|mail| mail.subject().contains("cannot be fetched")).unwrap();
    assert!(alert.body().contains("refused the login") && alert.body().contains("Check username and password"), "{}", alert.body());
    assert!(!alert.body().contains("Wr0ng-Secret"), "the password stays out of the mail: {}", alert.body());
    let status = desk.run(&["fetch", "status", "--json"]).ok().json();
    assert!(status[0]["failing_since"].is_string() && status[0]["last_success"].is_null(), "{status}");

    desk.write_config(&format!("{setup}{}", dovecot.imap_config("help", "pw", "")));
    desk.run(&["fetch"]).ok();
    assert_eq!(to_boss("fetched again"), 1);
    let status = desk.run(&["fetch", "status", "--json"]).ok().json();
    assert!(status[0]["failing_since"].is_null() && status[0]["last_success"].is_string(), "{status}");
}

#[test]
fn two_processes_refreshing_at_once_share_one_rotated_token() {
    let idp = Idp::start("help", 2);
    let dovecot = Dovecot::start_with_oauth2(&[("help", "pw")], &idp.url("/introspect"));
    let desk = desk_for(&idp, &dovecot, "help", "oauthbearer", "");
    login(&desk);
    std::thread::sleep(Duration::from_secs(3));
    // The refreshed token lives long enough for every process, however slow the machine.
    idp.set_access_seconds(600);
    let grants = idp.refresh_grants();
    // The provider uses a refresh token up when it rotates it: a second refresh with the
    // old one would be refused, so the second process must read what the first stored.
    let fetches: Vec<_> = (0..4).map(|_| desk.command(&["fetch"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap()).collect();
    for fetch in fetches {
        let output = fetch.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(idp.refresh_grants() - grants, 1);
}
