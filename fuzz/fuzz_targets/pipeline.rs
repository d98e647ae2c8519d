//! Raw bytes → parse → classify → bounce → authentication → identify → plan → apply,
//! in an in-memory database. Any panic is a finding: `process` catches panics and
//! quarantines the message, so that quarantine reason is turned back into a panic.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use reqmail::classify::{bounce, classify};
use reqmail::config::{Config, LimitsConfig};
use reqmail::identify::authentication;
use reqmail::parse::parse;
use reqmail::pipeline::{self, Incoming, Outcome};
use reqmail::site::Site;
use reqmail::store::Store;

struct Desk {
    site: Site,
    store: Store,
    runs: u32,
}

fn new_desk() -> Desk {
    let config = Config::default();
    let store = Store::open_in_memory(&config.store).expect("in-memory store");
    Desk { site: Site::compile(config).expect("default site"), store, runs: 0 }
}

thread_local! {
    static DESK: RefCell<Desk> = RefCell::new(new_desk());
}

/// libfuzzer-sys aborts on every panic, even a caught one. mail-parser's own panics
/// are caught by `parse` (and kept as regression fixtures), so only those pass.
fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|location| location.file().contains("mail-parser")) {
                return;
            }
            previous(info);
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    install_hook();
    let limits = LimitsConfig::default();
    if let Ok(mail) = parse(data, &limits) {
        let _ = classify(&mail, "help", "example.com", &limits);
        let _ = bounce::read(&mail, "example.com");
        let _ = authentication::verdict(&mail, Some("mx.example.com"));
    }
    DESK.with(|cell| {
        let mut desk = cell.borrow_mut();
        desk.runs += 1;
        if desk.runs % 2000 == 0 {
            *desk = new_desk();
        }
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let Desk { site, store, .. } = &mut *desk;
        let spooled = pipeline::spool(store, &[Incoming { raw: data, source: "fuzz", recipient: None, queue: None }], now).expect("spool");
        let outcomes = pipeline::process(site, store, &pipeline::waiting(&spooled), now).expect("process");
        for (_, outcome) in outcomes {
            if let Outcome::Quarantined { reason } = outcome {
                assert!(!reason.contains("reqmail failed on this message"), "{reason}");
            }
        }
    });
});
