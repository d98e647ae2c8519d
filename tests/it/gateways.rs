//! Several gateways on one PostgreSQL database, each a folder of its own (configuration,
//! Maildirs, serve's socket and intake) like a machine of its own, all with the same
//! `[store] url`: the real binary's `ingest`, `tick` and `serve` at once, killed with
//! SIGKILL at random points, and still one ticket number each, one effect per message,
//! one hand-over per letter, one firing per scheduled job and one fetcher per mailbox.

use std::io::Write as _;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::harness::daemon::Daemon;
use crate::harness::dovecot::{wait_until, Dovecot};
use crate::harness::postgres::Postgres;
use crate::harness::{letter, request, Desk};

/// A PostgreSQL server with one database and `count` gateways on it, each with `extra`
/// in its configuration. The configuration is written here, whatever store the harness
/// gives a desk: these desks share this server's database.
fn gateways(count: usize, extra: &str) -> (Postgres, Vec<Desk>) {
    let postgres = Postgres::start();
    let url = postgres.create_database("desk");
    let desks: Vec<Desk> = (0..count).map(|_| Desk::with_config(extra)).collect();
    for desk in &desks {
        std::fs::write(desk.config_path(), format!("{extra}\n[store]\nurl = \"{url}\"\n")).unwrap();
    }
    (postgres, desks)
}

fn number(client: &mut postgres::Client, query: &str) -> i64 {
    client.query_one(query, &[]).unwrap_or_else(|error| panic!("{query}: {error}")).get(0)
}

fn numbers(client: &mut postgres::Client, query: &str) -> Vec<i64> {
    client.query(query, &[]).unwrap_or_else(|error| panic!("{query}: {error}")).iter().map(|row| row.get(0)).collect()
}

/// A small random number generator for kill times (xorshift); the seed is printed, so a
/// failure can be replayed with REQMAIL_TEST_SEED.
struct Random(u64);

impl Random {
    fn new() -> Random {
        let seed = std::env::var("REQMAIL_TEST_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
        });
        eprintln!("REQMAIL_TEST_SEED={seed}");
        Random(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// `reqmail ingest` started with `raw` on its stdin, still running.
fn start_ingest(desk: &Desk, raw: &[u8]) -> Child {
    let mut child = desk.command(&["ingest"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(raw);
    child
}

/// Every inbound message applied once: one row per Message-ID, `applied`, and as many
/// tickets, receipts and `create` history entries as requests.
fn each_applied_once(client: &mut postgres::Client, requests: i64) {
    let ids = numbers(client, "SELECT count(*) FROM messages WHERE direction = 'in' GROUP BY message_id ORDER BY 1 DESC");
    assert_eq!(ids.len() as i64, requests, "one row per message");
    assert!(ids.iter().all(|&rows| rows == 1), "a message stored twice: {ids:?}");
    assert_eq!(number(client, "SELECT count(*) FROM messages WHERE direction = 'in' AND state = 'applied'"), requests);
    assert_eq!(number(client, "SELECT count(*) FROM tickets"), requests, "one ticket per request");
    assert_eq!(number(client, "SELECT count(*) FROM history WHERE action = 'create'"), requests);
    assert_eq!(number(client, "SELECT count(*) FROM outbox"), requests, "one receipt per request");
}

/// Ticket numbers 1, 2, … with none missing and none twice.
fn consecutive(client: &mut postgres::Client, count: i64) {
    assert_eq!(numbers(client, "SELECT number FROM tickets ORDER BY number"), (1..=count).collect::<Vec<_>>());
}

#[test]
fn concurrent_ingest_on_several_gateways_numbers_tickets_uniquely_and_consecutively() {
    let (postgres, desks) = gateways(3, "");
    // Some requests fail halfway (a panic while processing leaves them spooled), so that
    // rolled-back work sits between the numbers the others take.
    std::thread::scope(|scope| {
        for (index, desk) in desks.iter().enumerate() {
            scope.spawn(move || {
                for request_number in 0..8 {
                    let raw = request(&format!("g{index}-{request_number}@test"), &format!("ann{index}-{request_number}@customer.test"), &format!("Request {index}/{request_number}"), "Help");
                    if request_number % 4 == 3 {
                        let mut command = desk.command(&["ingest"]);
                        command.env("REQMAIL_FAULT", "processing-panics");
                        let run = desk.pipe_into(command, &raw);
                        assert_eq!(run.status, 0, "spooled is acknowledged: {}", run.stderr);
                    } else {
                        desk.ingest(&raw).ok();
                    }
                }
            });
        }
    });
    let mut client = postgres.client("desk");
    assert_eq!(number(&mut client, "SELECT count(*) FROM tickets"), 18);
    consecutive(&mut client, 18);
    // The spooled ones next, by two gateways' ticks at once: still no gap.
    std::thread::scope(|scope| {
        for desk in &desks[..2] {
            scope.spawn(move || desk.run(&["tick"]).ok());
        }
    });
    consecutive(&mut client, 24);
    each_applied_once(&mut client, 24);
}

#[test]
fn the_same_message_given_to_two_gateways_at_once_has_one_effect() {
    let (postgres, desks) = gateways(2, "");
    let messages: Vec<Vec<u8>> = (0..12).map(|index| request(&format!("same-{index}@test"), &format!("ann{index}@customer.test"), &format!("Twice {index}"), "Help")).collect();
    // Two `ingest` processes with the same message, started together.
    for raw in &messages[..6] {
        let both: Vec<Child> = desks.iter().map(|desk| start_ingest(desk, raw)).collect();
        for child in both {
            assert!(child.wait_with_output().unwrap().status.success());
        }
    }
    // Two `serve`s, each handed the same message by its own `ingest`.
    let daemons: Vec<Daemon> = desks.iter().map(Daemon::start).collect();
    for raw in &messages[6..] {
        let both: Vec<Child> = desks.iter().map(|desk| start_ingest(desk, raw)).collect();
        for child in both {
            assert!(child.wait_with_output().unwrap().status.success());
        }
    }
    let mut client = postgres.client("desk");
    let settled = wait_until(Duration::from_secs(30), || {
        number(&mut client, "SELECT count(*) FROM messages WHERE direction = 'in' AND state = 'spooled'") == 0
            && number(&mut client, "SELECT count(*) FROM tickets") >= 12
    });
    assert!(settled, "serve logs:\n{}\n{}", daemons[0].log(), daemons[1].log());
    for daemon in daemons {
        assert_eq!(daemon.terminate(), 0);
    }
    each_applied_once(&mut client, 12);
    consecutive(&mut client, 12);
}

#[test]
fn gateways_killed_at_random_points_apply_each_message_once() {
    let (postgres, desks) = gateways(2, "");
    let mut random = Random::new();
    let messages: Vec<Vec<u8>> = (0..16).map(|index| request(&format!("killed-{index}@test"), &format!("ann{index}@customer.test"), &format!("Killed {index}"), "Help")).collect();
    // Each message to both gateways at once; one of them is killed a random moment later
    // (before, while or after it stores and processes), and every fourth dies at a fixed
    // point: after the spool commit, or just before the processing commits.
    for (index, raw) in messages.iter().enumerate() {
        let victim = random.below(2) as usize;
        let mut command = desks[victim].command(&["ingest"]);
        match index % 4 {
            1 => command.env("REQMAIL_FAULT", "after-spool"),
            3 => command.env("REQMAIL_FAULT", "before-apply-commit"),
            _ => &mut command,
        };
        let mut killed = command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let _ = killed.stdin.take().unwrap().write_all(raw);
        let other = start_ingest(&desks[1 - victim], raw);
        std::thread::sleep(Duration::from_millis(random.below(400)));
        let _ = killed.kill();
        let killed_status = killed.wait().unwrap();
        let other_status = other.wait_with_output().unwrap().status;
        // What was not acknowledged, the MTA gives again; to the killed gateway's side.
        if !killed_status.success() || !other_status.success() {
            desks[victim].ingest(raw).ok();
        }
    }
    // Anything a killed gateway left spooled, the next tick of either takes.
    std::thread::scope(|scope| {
        for desk in &desks {
            scope.spawn(move || desk.run(&["tick"]).ok());
        }
    });
    let mut client = postgres.client("desk");
    each_applied_once(&mut client, 16);
    consecutive(&mut client, 16);
}

#[test]
fn serves_killed_at_random_points_and_restarted_apply_each_message_once() {
    let (postgres, desks) = gateways(2, "");
    let mut random = Random::new();
    let messages: Vec<Vec<u8>> = (0..24).map(|index| request(&format!("served-{index}@test"), &format!("cy{index}@customer.test"), &format!("Served {index}"), "Help")).collect();
    let mut daemons: Vec<Option<Daemon>> = desks.iter().map(|desk| Some(Daemon::start(desk))).collect();
    // Rounds of six messages handed to both serves at once; one serve is killed a random
    // moment later (before or after it acknowledged, stored or processed them) and started
    // again. What an `ingest` did not get acknowledged, the MTA gives again.
    for (round, chunk) in messages.chunks(6).enumerate() {
        let children: Vec<(usize, Child)> = chunk
            .iter()
            .enumerate()
            .map(|(index, raw)| (round * 6 + index, start_ingest(&desks[index % 2], raw)))
            .collect();
        std::thread::sleep(Duration::from_millis(random.below(300)));
        let victim = random.below(2) as usize;
        daemons[victim].take().unwrap().kill();
        for (index, child) in children {
            if !child.wait_with_output().unwrap().status.success() {
                desks[index % 2].ingest(&messages[index]).ok();
            }
        }
        daemons[victim] = Some(Daemon::start(&desks[victim]));
    }
    let mut client = postgres.client("desk");
    let settled = wait_until(Duration::from_secs(30), || {
        number(&mut client, "SELECT count(*) FROM messages WHERE direction = 'in' AND state = 'spooled'") == 0
            && number(&mut client, "SELECT count(*) FROM tickets") >= 24
    });
    let logs: Vec<String> = daemons.iter().flatten().map(Daemon::log).collect();
    assert!(settled, "serve logs:\n{}", logs.join("\n----\n"));
    for daemon in daemons.into_iter().flatten() {
        assert_eq!(daemon.terminate(), 0);
    }
    each_applied_once(&mut client, 24);
    consecutive(&mut client, 24);
}

/// A shared outbound Maildir for the gateways: letters are not delivered by `ingest`.
fn shared_outbox() -> (tempfile::TempDir, String) {
    let outbox = tempfile::Builder::new().prefix("reqmail-shared-outbox-").tempdir().unwrap();
    let config = format!("[outbound]\nmaildir = \"{}\"\ndeliver_immediately = false\n", outbox.path().display());
    (outbox, config)
}

/// The outbox row of each file in the shared Maildir's `new/`, as its name carries it.
fn delivered_rows(outbox: &std::path::Path) -> Vec<i64> {
    let mut rows: Vec<i64> = std::fs::read_dir(outbox.join("new"))
        .map(|entries| {
            entries
                .map(|entry| {
                    let name = entry.unwrap().file_name().into_string().unwrap();
                    let unique = name.split('.').nth(1).unwrap().to_string();
                    unique.rsplit_once('R').unwrap().1.parse().unwrap()
                })
                .collect()
        })
        .unwrap_or_default();
    rows.sort();
    rows
}

#[test]
fn each_letter_is_handed_over_by_exactly_one_of_several_gateways() {
    let (outbox, outbound) = shared_outbox();
    let (postgres, desks) = gateways(2, &outbound);
    for index in 0..40 {
        desks[index % 2].ingest(&request(&format!("letter-{index}@test"), &format!("ann{index}@customer.test"), &format!("Letter {index}"), "Help")).ok();
    }
    let mut client = postgres.client("desk");
    assert_eq!(number(&mut client, "SELECT count(*) FROM outbox WHERE status = 'queued'"), 40);
    // Four ticks at once, two per gateway.
    std::thread::scope(|scope| {
        for desk in desks.iter().chain(&desks) {
            scope.spawn(move || desk.run(&["tick"]).ok());
        }
    });
    assert_eq!(delivered_rows(outbox.path()), numbers(&mut client, "SELECT id FROM outbox ORDER BY id"), "every letter once");
    assert_eq!(number(&mut client, "SELECT count(*) FROM outbox WHERE status = 'sent' AND attempts = 1"), 40);

    // Then two serves, with mail coming in through both while both deliver.
    let daemons: Vec<Daemon> = desks.iter().map(Daemon::start).collect();
    std::thread::scope(|scope| {
        for (index, desk) in desks.iter().enumerate() {
            scope.spawn(move || {
                for request_number in 0..15 {
                    desk.ingest(&request(&format!("served-{index}-{request_number}@test"), &format!("bob{index}-{request_number}@customer.test"), "Served", "Help")).ok();
                }
            });
        }
    });
    // Each commit of a serve wakes its scheduler, which sends the letters
    // (`deliver_immediately` is off): well before its next pass a minute later.
    let all_sent = wait_until(Duration::from_secs(30), || number(&mut client, "SELECT count(*) FROM outbox WHERE status = 'sent'") == 70);
    assert!(all_sent, "serve logs:\n{}\n{}", daemons[0].log(), daemons[1].log());
    for daemon in daemons {
        assert_eq!(daemon.terminate(), 0);
    }
    assert_eq!(delivered_rows(outbox.path()), numbers(&mut client, "SELECT id FROM outbox ORDER BY id"), "every letter once");
    assert_eq!(number(&mut client, "SELECT count(*) FROM outbox WHERE attempts <> 1"), 0);
}

#[test]
fn a_dead_gateways_claims_lapse_and_another_takes_its_letters_over() {
    let (outbox, outbound) = shared_outbox();
    let (postgres, mut desks) = gateways(2, &outbound);
    for desk in &mut desks {
        desk.now = Some("2026-11-23T09:00:00Z".into());
    }
    for index in 0..5 {
        desks[0].ingest(&request(&format!("lapse-{index}@test"), &format!("ann{index}@customer.test"), &format!("Lapse {index}"), "Help")).ok();
    }
    // The first gateway dies right after handing its letters over, before recording it.
    let mut command = desks[0].command(&["tick"]);
    command.env("REQMAIL_FAULT", "after-send");
    let run = desks[0].pipe_into(command, b"");
    assert_ne!(run.status, 0);
    assert_eq!(delivered_rows(outbox.path()).len(), 5);
    let mut client = postgres.client("desk");
    let first = numbers(&mut client, "SELECT count(DISTINCT claimed_by) FROM outbox WHERE status = 'queued' AND claimed_by IS NOT NULL");
    assert_eq!(first, [1], "all five claimed by the dead gateway");

    // Its claims hold for their lease: the other gateway leaves the letters alone.
    desks[1].now = Some("2026-11-23T09:10:00Z".into());
    desks[1].run(&["tick"]).ok();
    assert_eq!(number(&mut client, "SELECT count(*) FROM outbox WHERE status = 'queued'"), 5);

    // Once it has lapsed, the other takes them over, sees they were handed over, and
    // records that without writing them again.
    desks[1].now = Some("2026-11-23T09:16:00Z".into());
    desks[1].run(&["tick"]).ok();
    assert_eq!(number(&mut client, "SELECT count(*) FROM outbox WHERE status = 'sent'"), 5);
    assert_eq!(delivered_rows(outbox.path()), numbers(&mut client, "SELECT id FROM outbox ORDER BY id"), "every letter once");
}

#[test]
fn a_scheduled_job_fires_once_across_gateways() {
    let site = "[identify]\ntrust_from_header = true\n\n[queues.general]\nresolution = { urgent = \"4h\", high = \"1d\", medium = \"3d\", low = \"5d\" }\n\n[[people]]\naddresses = [\"root@example.com\"]\nrole = \"admin\"\n";
    let (postgres, mut desks) = gateways(3, site);
    for desk in &mut desks {
        desk.now = Some("2026-11-23T08:00:00Z".into());
    }
    // Fewer than the admins' rate limit of automatic mail lets through.
    for index in 0..12 {
        desks[index % 3].ingest(&letter(&format!("carol{index}@customer.example.org"), "help@example.com", &format!("Down {index}"), "Importance: urgent\n\nDown.", &format!("down-{index}"))).ok();
    }
    // Past every due date: three gateways, two ticks each, at once.
    for desk in &mut desks {
        desk.now = Some("2026-11-23T12:30:00Z".into());
    }
    std::thread::scope(|scope| {
        for desk in desks.iter().chain(&desks) {
            scope.spawn(move || desk.run(&["tick"]).ok());
        }
    });
    let mut client = postgres.client("desk");
    let per_ticket = numbers(&mut client, "SELECT count(*) FROM outbox WHERE recipient = 'root@example.com' GROUP BY ticket");
    assert_eq!(per_ticket, vec![1; 12], "one escalation letter per ticket");
    assert_eq!(number(&mut client, "SELECT count(*) FROM scheduled_done WHERE job = 'escalation'"), 12);
}

#[test]
fn an_imap_mailbox_is_fetched_by_one_gateway_and_taken_over_when_it_dies() {
    let dovecot = Dovecot::start(&[("help", "pw")]);
    let (postgres, desks) = gateways(2, &dovecot.imap_config("help", "pw", "idle = false\npoll_seconds = 1"));
    let mut client = postgres.client("desk");
    let mut tickets_reach = |count: i64, daemons: &[&Daemon]| {
        let reached = wait_until(Duration::from_secs(30), || number(&mut client, "SELECT count(*) FROM tickets") >= count);
        let logs: Vec<String> = daemons.iter().map(|daemon| daemon.log()).collect();
        assert!(reached, "expected {count} tickets; serve logs:\n{}", logs.join("\n----\n"));
    };
    let deliver = |range: std::ops::Range<usize>| {
        for index in range {
            dovecot.deliver("help", "INBOX", &request(&format!("imap-{index}@test"), &format!("ann{index}@customer.test"), &format!("Mailbox {index}"), "Help"));
        }
    };
    deliver(0..5);
    let first = Daemon::start(&desks[0]);
    tickets_reach(5, &[&first]);
    let second = Daemon::start(&desks[1]);
    assert!(wait_until(Duration::from_secs(10), || second.log().contains("standing by")), "{}", second.log());
    deliver(5..10);
    tickets_reach(10, &[&first, &second]);
    assert!(!second.log().contains("IMAP connected"), "only one gateway fetches:\n{}", second.log());
    // A `fetch` on another gateway leaves the mailbox to the one that holds it.
    deliver(10..12);
    let fetch = desks[1].run(&["-v", "fetch"]).ok();
    assert!(fetch.stderr.contains("another gateway is fetching this mailbox"), "{}", fetch.stderr);
    tickets_reach(12, &[&first, &second]);

    // The fetcher dies, in the middle of a batch or between two; the other takes over.
    deliver(12..40);
    std::thread::sleep(Duration::from_millis(300));
    first.kill();
    deliver(40..45);
    tickets_reach(45, &[&second]);
    assert!(second.log().contains("taking over the mailbox"), "{}", second.log());
    assert_eq!(second.terminate(), 0);
    let mut client = postgres.client("desk");
    each_applied_once(&mut client, 45);
}

#[test]
fn claims_made_at_the_same_moment_by_many_connections_never_take_a_letter_twice() {
    let (postgres, desks) = gateways(1, "[outbound]\ndeliver_immediately = false\n");
    desks[0].ingest(&request("claims@test", "ann@customer.test", "Claims", "Help")).ok();
    let mut client = postgres.client("desk");
    client
        .batch_execute(
            "INSERT INTO outbox (message, ticket, sender, recipient, status, next_attempt)
             SELECT message, ticket, sender, recipient, status, next_attempt FROM outbox, generate_series(1, 399)",
        )
        .unwrap();
    let config = reqmail::config::StoreConfig { url: Some(postgres.url("desk")), ..Default::default() };
    let now = chrono::Utc::now();
    // Eight gateways' connections claiming small batches as fast as they can, each
    // statement on its own (as a pass claims outside a transaction).
    let start = std::sync::Barrier::new(8);
    let claimed: Vec<i64> = std::thread::scope(|scope| {
        let claimers: Vec<_> = (0..8)
            .map(|_| {
                let (config, start) = (config.clone(), &start);
                scope.spawn(move || {
                    let store = reqmail::store::Store::open(&config).unwrap();
                    start.wait();
                    let mut mine = Vec::new();
                    loop {
                        let batch = reqmail::store::outbox::claim_due(&store.conn, now, now + chrono::Duration::minutes(15), 3).unwrap();
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch.iter().map(|letter| letter.id));
                    }
                })
            })
            .collect();
        claimers.into_iter().flat_map(|claimer| claimer.join().unwrap()).collect()
    });
    let mut sorted = claimed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), claimed.len(), "a letter claimed twice");
    assert_eq!(sorted.len(), 400, "every letter claimed");
}
