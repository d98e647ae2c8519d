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
}
