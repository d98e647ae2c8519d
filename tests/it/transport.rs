//! Outgoing transports other than the default Maildir.

use std::os::unix::fs::PermissionsExt as _;

use crate::harness::{request, Desk};

/// A stand-in for /usr/sbin/sendmail that records its arguments and input, as the
/// sendmail command-line contract (`-i -f SENDER -- RECIPIENT`) is what is tested here.
fn recording_sendmail(desk: &Desk) -> std::path::PathBuf {
    let script = desk.path().join("sendmail");
    let log = desk.path().join("sendmail.log");
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> {log}\necho --- >> {log}\ncat >> {log}.mail\n", log = log.display()))
        .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn sendmail_gets_the_envelope_after_double_dash() {
    let desk = Desk::new();
    let script = recording_sendmail(&desk);
    let config = format!("[mail]\naddress = \"help@example.com\"\n[outbound]\ntransport = \"sendmail\"\n[outbound.sendmail]\ncommand = \"{}\"\n", script.display());
    desk.write_config(&config);
    desk.ingest(&request("s1@example.org", "ann@example.org", "Via sendmail", "x")).ok();
    let args = std::fs::read_to_string(desk.path().join("sendmail.log")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args, ["-i", "-f", "help@example.com", "--", "ann@example.org", "---"]);
    let mail = std::fs::read_to_string(desk.path().join("sendmail.log.mail")).unwrap();
    assert!(mail.contains("Subject: [REQ #1] Via sendmail"), "{mail}");
    assert_eq!(desk.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"), 1);
}

#[test]
fn address_beginning_with_dash_never_reaches_an_option() {
    let desk = Desk::new();
    let script = recording_sendmail(&desk);
    let config = format!("[mail]\naddress = \"help@example.com\"\n[outbound]\ntransport = \"sendmail\"\n[outbound.sendmail]\ncommand = \"{}\"\n", script.display());
    desk.write_config(&config);
    desk.ingest(&request("s2@example.org", "-oQ/tmp/x@example.org", "Dash", "x")).ok();
    let args = std::fs::read_to_string(desk.path().join("sendmail.log")).unwrap_or_default();
    let before_separator: Vec<&str> = args.lines().take_while(|line| *line != "--").collect();
    assert!(!before_separator.iter().any(|arg| arg.contains("-oQ")), "{args}");
}

#[test]
fn failing_sendmail_keeps_mail_queued() {
    let desk = Desk::new();
    let script = desk.path().join("sendmail");
    std::fs::write(&script, "#!/bin/sh\ncat > /dev/null\nexit 75\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!("[mail]\naddress = \"help@example.com\"\n[outbound]\ntransport = \"sendmail\"\n[outbound.sendmail]\ncommand = \"{}\"\n", script.display());
    desk.write_config(&config);
    desk.ingest(&request("s3@example.org", "ann@example.org", "Deferred", "x")).ok();
    let rows = desk.sql("SELECT status, attempts, last_error FROM outbox");
    assert_eq!(rows[0][0], "queued");
    assert_eq!(rows[0][1], 1);
    assert!(rows[0][2].as_str().unwrap().contains("sendmail"), "{rows:?}");
}
