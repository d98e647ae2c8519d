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
    desk.run(&["fetch"]).ok();
    assert_eq!((tickets(&desk), idp.refresh_grants()), (1, 1), "refreshed before use");

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
