//! The store's layout: where its bytes are (`store usage`), and an older store with small
//! pages found by `doctor` and rewritten by `store compact`, its tickets intact.

use crate::harness::{letter, Desk};

fn page_size(desk: &Desk) -> i64 {
    let conn = rusqlite::Connection::open(desk.path().join("reqmail.db")).unwrap();
    conn.query_row("PRAGMA page_size", [], |row| row.get(0)).unwrap()
}

fn compact_note(desk: &Desk) -> Option<String> {
    desk.run(&["doctor"]).stdout.lines().find(|line| line.contains("store compact")).map(str::to_string)
}

#[test]
fn an_older_store_with_small_pages_is_found_by_doctor_and_compacted_with_its_tickets_intact() {
    if crate::harness::sqlite_only("page size and `store compact`") {
        return;
    }
    let desk = Desk::new();
    {
        // As a reqmail before the larger pages made it.
        let conn = rusqlite::Connection::open(desk.path().join("reqmail.db")).unwrap();
        conn.execute_batch("PRAGMA page_size = 4096;").unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).unwrap();
    }
    for index in 0..20 {
        let body = format!("The printer on floor {index} is jammed.\n\n{}", "Paper everywhere. ".repeat(index * 10));
        desk.ingest(&letter("carol@example.org", "help@example.com", &format!("Printer {index}"), &body, &format!("p{index}"))).ok();
    }
    assert_eq!(page_size(&desk), 4096, "an existing store keeps its pages");
    let note = compact_note(&desk).expect("doctor suggests compacting");
    assert!(note.starts_with("note") && note.contains("4096 bytes"), "{note}");

    // Not while another process has the store open: try again later (75), nothing changed.
    let holder = rusqlite::Connection::open(desk.path().join("reqmail.db")).unwrap();
    holder.query_row("SELECT COUNT(*) FROM tickets", [], |row| row.get::<_, i64>(0)).unwrap();
    let refused = desk.run(&["store", "compact"]);
    assert_eq!(refused.status, 75, "{}", refused.stderr);
    assert!(refused.stderr.contains("stop `reqmail serve`"), "{}", refused.stderr);
    drop(holder);
    assert_eq!(page_size(&desk), 4096);

    let compacted = desk.run(&["store", "compact"]).ok();
    assert!(compacted.stdout.contains("after ") && compacted.stdout.contains("pages of 8192 bytes (0 free)"), "{}", compacted.stdout);
    assert_eq!(page_size(&desk), 8192);
    assert_eq!(compact_note(&desk), None, "nothing left to suggest");
    let ticket = desk.run(&["ticket", "show", "20", "--json"]).ok().json();
    assert_eq!(ticket["subject"], "Printer 19");
    assert!(desk.last_note().contains("Paper everywhere."));
    desk.ingest(&letter("dave@example.org", "help@example.com", "After compacting", "Still works.", "d1")).ok();
    assert_eq!(desk.run(&["ticket", "show", "21", "--json"]).ok().json()["subject"], "After compacting");
}

#[test]
fn usage_names_the_tables_and_sets_the_store_against_the_mail_it_holds() {
    if crate::harness::sqlite_only("`store usage` (the file's pages)") {
        return;
    }
    let desk = Desk::new();
    desk.ingest(&letter("carol@example.org", "help@example.com", "Printer jammed", "Paper stuck in tray 2.", "c1")).ok();
    let usage = desk.run(&["store", "usage", "--json"]).ok().json();
    assert_eq!(usage["file"]["page_size"], 8192, "a new store has the larger pages");
    let tables = usage["tables"].as_array().unwrap();
    let raw = tables.iter().find(|table| table["name"] == "message_raw").expect("the raw messages' table is listed");
    assert!(raw["payload"].as_i64().unwrap() > 0, "{raw}");
    let pages: i64 = tables.iter().map(|table| table["pages"].as_i64().unwrap()).sum();
    assert_eq!(pages + usage["file"]["free_pages"].as_i64().unwrap(), usage["file"]["pages"].as_i64().unwrap(), "every page counted once");
    assert!(usage["inbound_bytes"].as_i64().unwrap() > 100);
    let text = desk.run(&["store", "usage"]).ok().stdout;
    assert!(text.contains("message_raw") && text.contains("store per byte of inbound mail: "), "{text}");
}
