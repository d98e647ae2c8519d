//! A store on PostgreSQL reached by the server's Unix socket with peer authentication
//! (`postgresql://USER@/DATABASE?host=/SOCKET/FOLDER`): the operating-system user is the
//! login, no password, no TLS (there is none on a socket).

use crate::harness::postgres::{os_user, Postgres, STRANGER};
use crate::harness::{letter, Desk};

const SITE: &str = r#"
[identify]
trust_from_header = true
"#;

fn desk_on(url: &str) -> Desk {
    Desk::with_config(&format!("[store]\nurl = \"{url}\"\n{SITE}"))
}

#[test]
fn a_store_by_the_unix_socket_takes_mail_with_peer_authentication_and_no_password() {
    let postgres = Postgres::start();
    let url = postgres.peer_database("by_socket");
    assert!(url.starts_with(&format!("postgresql://{}@/by_socket?host=/", os_user())), "a role, no password, the socket's folder: {url}");
    let desk = desk_on(&url);

    desk.ingest(&letter("carol@example.org", "help@example.com", "Printer jammed", "It jams on thick paper.", "c1")).ok();
    let doctor = desk.run(&["doctor"]);
    let store_line = doctor.stdout.lines().find(|line| line.contains("store postgresql://")).unwrap_or_else(|| panic!("{}", doctor.stdout));
    assert!(store_line.starts_with("ok") && store_line.contains("writable, schema") && store_line.ends_with("is current"), "{store_line}");
    let ticket = desk.run(&["ticket", "show", "1", "--json"]).ok().json();
    assert_eq!((ticket["subject"].as_str(), ticket["status"].as_str()), (Some("Printer jammed"), Some("new")), "{ticket}");

    // The ticket is in that database, written by the peer's role.
    let mut client = postgres.client("by_socket");
    let (subject, owner): (String, String) = client
        .query_one("SELECT subject, pg_get_userbyid(c.relowner)::text FROM tickets, pg_class c WHERE c.relname = 'tickets'", &[])
        .map(|row| (row.get(0), row.get(1)))
        .unwrap();
    assert_eq!((subject.as_str(), owner), ("Printer jammed", os_user()));
}

#[test]
fn a_role_the_operating_system_user_is_not_is_refused_with_what_to_do() {
    let postgres = Postgres::start();
    postgres.peer_database("by_socket");
    let url = postgres.socket_url(STRANGER, "by_socket");
    let desk = desk_on(&url);

    // As any store that cannot be opened: the MTA keeps the message and tries again.
    let ingest = desk.ingest(&letter("carol@example.org", "help@example.com", "Printer jammed", "It jams.", "c1"));
    assert_eq!(ingest.status, 75, "{}", ingest.stderr);
    for said in [
        format!("cannot connect to {url}").as_str(),
        &format!("Peer authentication failed for user \"{STRANGER}\""),
        "peer authentication",
        &format!("reqmail runs as {}", os_user()),
        &format!("name the role {} in the URL", os_user()),
    ] {
        assert!(ingest.stderr.contains(said), "{said:?} in: {}", ingest.stderr);
    }

    let doctor = desk.run(&["doctor"]);
    assert_eq!(doctor.status, 1, "{}", doctor.stdout);
    let store_line = doctor.stdout.lines().find(|line| line.contains(&format!("store {url}"))).unwrap_or_else(|| panic!("{}", doctor.stdout));
    assert!(store_line.contains("Peer authentication failed"), "{store_line}");
    let listing = desk.run(&["ticket", "list"]);
    assert_ne!(listing.status, 0);
    assert!(listing.stderr.contains("Peer authentication failed"), "{}", listing.stderr);
}
