//! The people directory: `reqmail person import FILE.csv`.

use crate::harness::{request, Desk};

#[test]
fn person_import_adds_and_updates_people_and_reports_bad_rows_by_line() {
    let desk = Desk::new();
    desk.ingest(&request("d1@example.org", "bob@example.org", "Before the import", "x")).ok();
    let csv = "\u{feff}Address,Name,Role,Organisation,Addresses\n\
               ann@example.com,Ann Agent,agent,Help Desk,ann.agent@example.com; a@example.net\n\
               bob@example.org,\"Bob, the customer\",,Example Org,\n\
               not-an-address,Nobody,customer,,\n\
               cy@example.com,Cy,boss,,\n\
               \n\
               \"dee@example.com\",\"Dee\nSecond line\",vendor,,ann@example.com\n\
               eve@example.com,Eve,Admin,,\n";
    std::fs::write(desk.path().join("people.csv"), csv).unwrap();
    let run = desk.run(&["person", "import", "people.csv"]).ok();
    assert_eq!(run.stdout.trim(), "person import: 2 added, 1 updated, 3 rows skipped", "{}", run.stderr);
    for expected in [
        "people.csv line 4: \"not-an-address\" is not an address",
        "people.csv line 5: role \"boss\" is not one of customer, agent, vendor, admin",
        "people.csv line 7: ann@example.com belongs to another person than dee@example.com",
    ] {
        assert!(run.stderr.contains(expected), "{expected} in {}", run.stderr);
    }
    let people = desk.run(&["person", "list", "--json"]).ok().json();
    let find = |address: &str| {
        people.as_array().unwrap().iter().find(|person| person["addresses"].as_array().unwrap().iter().any(|known| known == address)).cloned()
    };
    let ann = find("a@example.net").expect("ann by another address");
    assert_eq!((ann["role"].as_str(), ann["name"].as_str()), (Some("agent"), Some("Ann Agent")));
    let bob = find("bob@example.org").unwrap();
    assert_eq!((bob["role"].as_str(), bob["name"].as_str()), (Some("customer"), Some("Bob, the customer")));
    assert_eq!(find("eve@example.com").unwrap()["role"], "admin");
    assert!(find("cy@example.com").is_none() && find("dee@example.com").is_none());
    assert_eq!(desk.tickets().len(), 1, "tickets untouched");
    assert_eq!(desk.ticket(1)["requester"], "bob@example.org");
    assert_eq!(desk.count("SELECT COUNT(*) FROM people WHERE organisation = 'Example Org'"), 1);
}

#[test]
fn person_import_refuses_a_file_without_an_address_column_or_with_an_unknown_one() {
    let desk = Desk::new();
    std::fs::write(desk.path().join("a.csv"), "name,role\nAnn,agent\n").unwrap();
    let run = desk.run(&["person", "import", "a.csv"]);
    assert_eq!(run.status, 64);
    assert!(run.stderr.contains("a.csv") && run.stderr.contains("no address column"), "{}", run.stderr);
    std::fs::write(desk.path().join("b.csv"), "address,phone\nann@example.com,123\n").unwrap();
    let run = desk.run(&["person", "import", "b.csv"]);
    assert!(run.status == 64 && run.stderr.contains("unknown column \"phone\""), "{}", run.stderr);
    let run = desk.run(&["person", "import", "missing.csv"]);
    assert!(run.status == 64 && run.stderr.contains("cannot read missing.csv"), "{}", run.stderr);
}

#[test]
fn host_import_puts_location_and_owner_beside_the_tickets_host() {
    let desk = Desk::new();
    let csv = "host,location,owner,description\n\
               web01,Room 2.14,ann@example.com,Web server\n\
               web 02,Room 3,,\n\
               ,Nowhere,,\n\
               DB02,Basement,bob@example.com,\n";
    std::fs::write(desk.path().join("hosts.csv"), csv).unwrap();
    let run = desk.run(&["host", "import", "hosts.csv"]).ok();
    assert_eq!(run.stdout.trim(), "host import: 2 added, 0 updated, 2 rows skipped", "{}", run.stderr);
    assert!(run.stderr.contains("hosts.csv line 3: host \"web 02\" has a space") && run.stderr.contains("hosts.csv line 4: no host name"), "{}", run.stderr);
    // A second import updates; host names match in any case.
    std::fs::write(desk.path().join("hosts.csv"), "host,location\ndb02,Basement B\n").unwrap();
    assert_eq!(desk.run(&["host", "import", "hosts.csv"]).ok().stdout.trim(), "host import: 0 added, 1 updated, 0 rows skipped");

    desk.ingest(&request("h1@example.org", "cy@example.org", "Slow pages", "Host: web01\n\nPages are slow.")).ok();
    desk.ingest(&request("h2@example.org", "cy@example.org", "Full disk", "Host: db02\n\nDisk full.")).ok();
    desk.ingest(&request("h3@example.org", "cy@example.org", "Unknown", "Host: mystery\n\nx")).ok();
    let web = desk.ticket(1);
    assert_eq!(web["host"], "web01");
    assert_eq!(web["host_details"]["location"], "Room 2.14");
    assert_eq!(web["host_details"]["owner"], "ann@example.com");
    assert_eq!(desk.ticket(2)["host_details"]["location"], "Basement B");
    assert!(desk.ticket(2)["host_details"]["owner"].is_null(), "the second import replaced the row");
    assert!(desk.ticket(3)["host_details"].is_null());
    let text = desk.run(&["ticket", "show", "1"]).ok().stdout;
    assert!(text.contains("Host        web01 (at Room 2.14; owner ann@example.com; Web server)"), "{text}");
    assert_eq!(text.matches("  Host ").count(), 1, "shown once: {text}");
}

/// The LDAP directory of the site: roles from businessCategory, commands believed from
/// the From header so that a role shows in what a message may do.
fn ldap_desk(slapd: &crate::harness::slapd::Slapd, extra: &str) -> Desk {
    let config = format!(
        "[identify]\ntrust_from_header = true\n\n{}",
        slapd.config(&format!("interval_minutes = 60\n{extra}\n[directory.ldap.attributes]\nrole = \"businessCategory\"\n\n[directory.ldap.roles]\nhelpdesk = \"agent\"\n"))
    );
    let mut desk = Desk::with_config(&config);
    desk.now = Some("2026-11-23T09:00:00Z".into());
    desk
}

fn person(desk: &Desk, address: &str) -> serde_json::Value {
    let people = desk.run(&["person", "list", "--json"]).ok().json();
    people.as_array().unwrap().iter().find(|person| person["addresses"].as_array().unwrap().iter().any(|known| known == address)).cloned().unwrap_or_else(|| panic!("nobody has {address}: {people:#}"))
}

#[test]
fn ldap_sync_adds_updates_and_retires_people_without_touching_their_tickets() {
    let slapd = crate::harness::slapd::Slapd::start();
    let desk = ldap_desk(&slapd, "");
    desk.ingest(&request("l1@example.org", "cleo@example.org", "Printer jams", "It jams.")).ok();

    // First sync: Ann and Bert are agents by group, Vince a vendor by a role name, Cleo
    // (known from her ticket) is adopted; the printer's entry is outside the base.
    let run = desk.run(&["person", "sync"]).ok();
    assert_eq!(run.stdout.trim(), "person sync: 4 listed, 3 added, 1 updated, 0 retired, 0 entries skipped", "{}", run.stderr);
    let ann = person(&desk, "ann.agent@example.com");
    assert_eq!((ann["role"].as_str(), ann["name"].as_str()), (Some("agent"), Some("Ann Agent")));
    assert_eq!(ann["addresses"][0], "ann@example.com");
    assert_eq!(person(&desk, "bert@example.com")["role"], "agent");
    assert_eq!(person(&desk, "vince@vendor.example")["role"], "vendor");
    let cleo = person(&desk, "cleo@example.org");
    assert_eq!((cleo["role"].as_str(), cleo["name"].as_str()), (Some("customer"), Some("Cleo Customer")));
    assert_eq!(desk.count("SELECT COUNT(*) FROM people WHERE organisation = 'Help Desk'"), 1);
    assert_eq!(desk.run(&["person", "sync"]).ok().stdout.trim(), "person sync: 4 listed, 0 added, 0 updated, 0 retired, 0 entries skipped");

    // Bert works the ticket as the agent he is.
    desk.ingest(&crate::harness::letter("bert@example.com", "help@example.com", "Re: [REQ #1] Printer jams", "Owner: bert@example.com\nStatus: hold\n\nWaiting for toner.", "l2")).ok();
    assert_eq!((desk.ticket(1)["status"].as_str(), desk.ticket(1)["owner"].as_str()), (Some("hold"), Some("bert@example.com")));

    // The directory changes: Ann is renamed, Vince has a new address, Bert leaves.
    slapd.ldap("ldapmodify", "dn: uid=ann,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: cn\ncn: Ann Lead\n\n\
                              dn: uid=vince,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: mail\nmail: vincent@vendor.example\nmail: vince@vendor.example\n");
    slapd.ldap("ldapdelete", "uid=bert,ou=people,dc=example,dc=com\n");
    let run = desk.run(&["person", "sync"]).ok();
    assert_eq!(run.stdout.trim(), "person sync: 3 listed, 0 added, 2 updated, 1 retired, 0 entries skipped", "{}", run.stderr);
    assert_eq!(person(&desk, "ann@example.com")["name"], "Ann Lead");
    assert_eq!(person(&desk, "vince@vendor.example")["addresses"][0], "vincent@vendor.example", "the directory's first address is the primary one");
    let bert = person(&desk, "bert@example.com");
    assert_eq!((bert["role"].as_str(), bert["retired"].as_str()), (Some("agent"), Some("2026-11-23T09:00:00Z")), "the role is kept for the record");
    assert!(desk.run(&["person", "list"]).ok().stdout.contains("retired 2026-11-23T09:00:00Z: left the directory, acts as a customer"));

    // His ticket and its history are as they were; his mail now counts as a customer's.
    let ticket = desk.ticket(1);
    assert_eq!((ticket["status"].as_str(), ticket["owner"].as_str(), ticket["requester"].as_str()), (Some("hold"), Some("bert@example.com"), Some("cleo@example.org")));
    let history_before = ticket["history"].as_array().unwrap().len();
    desk.ingest(&crate::harness::letter("bert@example.com", "help@example.com", "Re: [REQ #1] Printer jams", "Priority: urgent\n\nStill here.", "l3")).ok();
    let ticket = desk.ticket(1);
    assert_eq!(ticket["priority"], "medium", "a retired agent's command is refused");
    assert_eq!(ticket["owner"], "bert@example.com");
    assert!(ticket["history"].as_array().unwrap().len() > history_before, "his words are kept as a note");

    // Bert comes back with a new entry (a new entryUUID): the same person again.
    slapd.ldap("ldapadd", "dn: uid=bert,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: bert\ncn: Bert Builder\nsn: Builder\nmail: bert@example.com\nbusinessCategory: helpdesk\n");
    let run = desk.run(&["person", "sync"]).ok();
    assert_eq!(run.stdout.trim(), "person sync: 4 listed, 0 added, 1 updated, 0 retired, 0 entries skipped", "{}", run.stderr);
    let bert = person(&desk, "bert@example.com");
    assert!(bert["retired"].is_null() && bert["role"] == "agent", "{bert}");
    assert_eq!(desk.count("SELECT COUNT(*) FROM people"), 4);
}

#[test]
fn ldap_directory_that_is_down_keeps_the_last_known_people_and_says_so() {
    let mut slapd = crate::harness::slapd::Slapd::start();
    let mut desk = ldap_desk(&slapd, "");
    // The first tick syncs; the next one, within the interval, does not ask again.
    let run = desk.run(&["tick"]).ok();
    assert!(run.stdout.contains("; directory: 4 listed, 4 added, 0 updated, 0 retired, 0 entries skipped"), "{}", run.stdout);
    assert!(!desk.run(&["tick"]).ok().stdout.contains("directory"));
    let doctor = desk.run(&["doctor"]).stdout;
    assert!(doctor.contains(&format!("ok       directory {}: 4 people listed", slapd.url())), "{doctor}");
    assert!(doctor.contains("last sync 2026-11-23T09:00:00Z, 4 people"), "{doctor}");

    slapd.stop();
    let run = desk.run(&["person", "sync"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot connect") && run.stderr.contains("the 4 people it listed before are kept"), "{}", run.stderr);
    // A tick after the interval tries, says so, and does its other work.
    desk.now = Some("2026-11-23T10:01:00Z".into());
    let run = desk.run(&["tick"]).ok();
    assert!(run.stdout.contains("; directory: not synced (directory ldap://127.0.0.1:"), "{}", run.stdout);
    assert!(run.stderr.contains("keeping the 4 people it listed before"), "logged: {}", run.stderr);
    assert_eq!(desk.count("SELECT COUNT(*) FROM people WHERE retired IS NULL AND directory_key IS NOT NULL"), 4);
    assert_eq!(person(&desk, "ann@example.com")["role"], "agent");
    let doctor = desk.run(&["doctor"]).stdout;
    assert!(doctor.contains(&format!("PROBLEM  directory {}: cannot connect", slapd.url())), "{doctor}");
    assert!(doctor.contains("the last sync (2026-11-23T10:01:00Z) failed") && doctor.contains("the 4 people of the sync at 2026-11-23T09:00:00Z are kept"), "{doctor}");

    // Back again: the next due tick syncs and doctor is content.
    slapd.restart();
    desk.now = Some("2026-11-23T11:02:00Z".into());
    assert!(desk.run(&["tick"]).ok().stdout.contains("; directory: 4 listed, 0 added"));
    assert!(!desk.run(&["doctor"]).stdout.contains("PROBLEM  directory"));
}

#[test]
fn ldap_refusals_change_nobody_a_wrong_password_or_a_filter_that_finds_nobody() {
    let slapd = crate::harness::slapd::Slapd::start();
    let desk = ldap_desk(&slapd, "");
    desk.run(&["person", "sync"]).ok();
    for (wrong, says) in [
        (format!("password = \"{}\"", crate::harness::slapd::ADMIN_PASSWORD), "password = \"not-the-password\""),
        ("filter = \"(objectClass=inetOrgPerson)\"".to_string(), "filter = \"(uid=nobody-at-all)\""),
    ] {
        let config = std::fs::read_to_string(desk.config_path()).unwrap().replace(&wrong, says);
        desk.write_config(&config);
        let run = desk.run(&["person", "sync"]);
        let expected = if says.starts_with("password") { "cannot bind as cn=admin,dc=example,dc=com" } else { "the directory lists nobody; check base and filter" };
        assert!(run.status == 1 && run.stderr.contains(expected), "{expected}: {}", run.stderr);
        assert_eq!(desk.count("SELECT COUNT(*) FROM people WHERE retired IS NULL"), 4, "nobody retired");
        desk.write_config(&std::fs::read_to_string(desk.config_path()).unwrap().replace(says, &wrong));
    }
    // An entry without an address is reported, and its person is not retired.
    slapd.ldap("ldapmodify", "dn: uid=cleo,ou=people,dc=example,dc=com\nchangetype: modify\ndelete: mail\n");
    let run = desk.run(&["person", "sync"]).ok();
    assert_eq!(run.stdout.trim(), "person sync: 3 listed, 0 added, 0 updated, 0 retired, 1 entries skipped");
    assert!(run.stderr.contains("uid=cleo,ou=people,dc=example,dc=com: no mail attribute; entry skipped"), "{}", run.stderr);
    assert!(person(&desk, "cleo@example.org")["retired"].is_null());
}

#[test]
fn ldap_settings_are_checked_when_the_configuration_is_read() {
    let desk = Desk::with_config("[directory.ldap]\nurl = \"http://ldap.example.com\"\nbase = \"\"\nbind_dn = \"cn=reqmail\"\n[directory.ldap.roles]\nhelpdesk = \"agent\"\n");
    let run = desk.run(&["rules", "check"]);
    assert_eq!(run.status, 78, "{}", run.stderr);
    for problem in ["url = \"http://ldap.example.com\" is not an ldap:// or ldaps:// URL", "bind_dn and password go together", "base must name where the people are", "roles needs attributes.role"] {
        assert!(run.stderr.contains(problem), "{problem}: {}", run.stderr);
    }
    let desk = Desk::new();
    let run = desk.run(&["person", "sync"]);
    assert!(run.status == 78 && run.stderr.contains("no directory is configured: add [directory.ldap]"), "{}", run.stderr);
}

#[test]
fn ldap_retired_agent_gets_no_more_tickets_from_a_rotation() {
    let slapd = crate::harness::slapd::Slapd::start();
    let mut desk = ldap_desk(&slapd, "");
    let rotation = "\n[rotations.desk]\nmembers = [\"bert@example.com\", \"ann@example.com\"]\nper_week = 2\nstart = \"2026-11-02\"\n";
    let config = std::fs::read_to_string(desk.config_path()).unwrap();
    desk.write_config(&format!("{config}{rotation}"));
    desk.now = Some("2026-11-24T09:00:00Z".into());
    desk.run(&["person", "sync"]).ok();
    let reply = |id: &str, number: i64, body: &str| {
        desk.ingest(&crate::harness::letter("ann@example.com", "help@example.com", &format!("Re: [REQ #{number}] x"), body, id)).ok();
    };
    desk.ingest(&request("r1@example.org", "cleo@example.org", "First", "x")).ok();
    reply("r2", 1, "Owner: ann@example.com\n\nMine.");
    slapd.ldap("ldapdelete", "uid=bert,ou=people,dc=example,dc=com\n");
    desk.run(&["person", "sync"]).ok();
    // Bert has no tickets and Ann one, yet Ann is the only one left on duty.
    desk.ingest(&request("r3@example.org", "cleo@example.org", "Second", "x")).ok();
    reply("r4", 2, "Owner: desk\n\nFor the desk.");
    assert_eq!(desk.ticket(2)["owner"], "ann@example.com");
}

#[test]
fn serve_syncs_the_directory_in_a_task_of_its_own() {
    let slapd = crate::harness::slapd::Slapd::start();
    let desk = ldap_desk(&slapd, "");
    let daemon = crate::harness::daemon::Daemon::start(&desk);
    let synced = crate::harness::dovecot::wait_until(std::time::Duration::from_secs(30), || {
        desk.store_exists() && desk.count("SELECT COUNT(*) FROM people WHERE directory_key IS NOT NULL") == 4
    });
    assert!(synced, "{}", daemon.log());
    assert_eq!(daemon.terminate(), 0);
}

#[test]
fn ldap_over_starttls_checks_the_servers_certificate() {
    let slapd = crate::harness::slapd::Slapd::start_with_tls();
    let desk = ldap_desk(&slapd, &format!("starttls = true\nca_file = \"{}\"", slapd.ca_file().display()));
    let run = desk.run(&["person", "sync"]).ok();
    assert!(run.stdout.starts_with("person sync: 4 listed, 4 added"), "{}", run.stderr);
    // Without the site's CA the certificate is not trusted, and nobody changes.
    let desk = ldap_desk(&slapd, "starttls = true");
    let run = desk.run(&["person", "sync"]);
    assert!(run.status == 1 && run.stderr.contains("cannot connect") && run.stderr.to_lowercase().contains("certificate"), "{}", run.stderr);
}

#[test]
fn ldap_directory_that_never_answers_times_out_instead_of_holding_up_tick() {
    // Connections are accepted by the kernel and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let desk = Desk::with_config(&format!(
        "[directory.ldap]\nurl = \"{url}\"\nbind_dn = \"cn=admin,dc=example,dc=com\"\npassword = \"x\"\nbase = \"dc=example,dc=com\"\ntimeout_seconds = 1\n"
    ));
    let started = std::time::Instant::now();
    let run = desk.run(&["tick"]).ok();
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(run.stdout.contains("; directory: not synced") && run.stdout.contains("cannot bind as cn=admin,dc=example,dc=com"), "{}", run.stdout);
}

#[test]
fn ldap_reminders_for_a_retired_agents_ticket_go_to_the_watchers() {
    let slapd = crate::harness::slapd::Slapd::start();
    let mut desk = ldap_desk(&slapd, "");
    let queue = "\n[mail]\ndefault_queue = \"ops\"\n\n[queues.ops]\nwatchers = [\"lead@example.com\"]\nresolution = { urgent = \"4h\", high = \"8h\", medium = \"3d\", low = \"5d\" }\n";
    let config = std::fs::read_to_string(desk.config_path()).unwrap();
    desk.write_config(&format!("{queue}{config}"));
    desk.run(&["person", "sync"]).ok();
    desk.ingest(&request("w1@example.org", "cleo@example.org", "Server down", "Importance: high\n\nDown.")).ok();
    desk.ingest(&crate::harness::letter("bert@example.com", "help@example.com", "Re: [REQ #1] Server down", "Owner: me\n\nOn it.", "w2")).ok();
    assert_eq!(desk.ticket(1)["owner"], "bert@example.com");
    slapd.ldap("ldapdelete", "uid=bert,ou=people,dc=example,dc=com\n");
    desk.run(&["person", "sync"]).ok();
    desk.clear_outbox();
    // 75% of the 8 hours have passed: the reminder is due.
    desk.now = Some("2026-11-23T15:00:00Z".into());
    desk.run(&["tick"]).ok();
    let reminders: Vec<String> = desk.outbox().iter().filter(|mail| mail.body().starts_with("Reminder")).map(|mail| mail.to()).collect();
    assert_eq!(reminders, ["lead@example.com"]);
    assert_eq!(desk.ticket(1)["owner"], "bert@example.com", "the ticket is not touched");
}
