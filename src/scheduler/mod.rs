//! `tick`: the jobs that run by themselves, through the same `plan`/`apply` path as mail.
//!
//! Auto-close after the grace period, reminders before the SLA due date, escalation
//! after it, the vendor clock (a reminder to the vendor when their answer is due, an
//! escalation to the owner when they are late by another response time), hold timeouts, nag mail for untouched tickets, the satisfaction survey,
//! and messages left spooled by an earlier run. Each job records itself in
//! `scheduled_done` (ticket, job, key) in the same transaction as its effect, so it
//! fires once per ticket and threshold, survives restarts, and two ticks at once do
//! it once: the write lock orders them and the second finds the row.

pub mod retention;
pub mod tutorial;

use chrono::{DateTime, Duration, Utc};
use crate::store::Connection;

use crate::clock::format_time;
use crate::identify::sender::{Sender, Trust};
use crate::pipeline;
use crate::site::Site;
use crate::plan::{self, Change, Notice};
use crate::rules::Rules;
use crate::store::{self, Store};
use crate::ticket::{ApprovalStage, Role, Status, Ticket};
use crate::transport::{self, deliver::{Courier, DeliveryReport}};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub resumed: usize,
    pub auto_closed: usize,
    pub reminders: usize,
    pub escalations: usize,
    pub hold_timeouts: usize,
    pub nags: usize,
    pub surveys: usize,
    /// Tickets removed by the retention policy.
    pub purged: usize,
    /// Steps the tutorial robot took.
    pub tutorial_steps: usize,
    pub delivery: DeliveryReport,
}

/// Tickets looked at per write transaction.
const TICKETS_PER_COMMIT: usize = 200;

/// One scheduler pass at `now`, ending with delivery of the due outbox rows.
///
/// Only tickets whose `scheduler_at` has come are read: each look ends by storing when
/// the ticket's next job can fire, and each statement of `store::tickets` that changes
/// what the jobs read resets it, so a pass with nothing due costs one index probe at any
/// store size.
pub fn tick(site: &Site, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
    let mut report = TickReport { resumed: pipeline::resume(site, store, now)?, ..TickReport::default() };
    reschedule_if_rules_changed(site, store)?;
    let numbers = store::tickets::due_for_scheduler(&store.conn, &format_time(now))?;
    // A long pass delivers each commit's letters on another thread while the next
    // commit's jobs run, as `fetch` does; a short one delivers them at the end.
    let mut courier = match numbers.len() > TICKETS_PER_COMMIT {
        true => Courier::beside(&site.config.store, &site.config.outbound, now),
        false => None,
    };
    // In short transactions, mail arriving meanwhile waits a millisecond for the write
    // lock, not the whole pass.
    for chunk in numbers.chunks(TICKETS_PER_COMMIT) {
        let tx = store.write()?;
        for &number in chunk {
            let Some(ticket) = store::tickets::get(&tx, number)? else { continue };
            // A job's own effect (closing, say) may arm the next job: the ticket as the
            // last job left it says when.
            let after = run_jobs(site, &tx, ticket, now, &mut report)?;
            let next = next_look(&site.rules, &after, now);
            store::tickets::set_scheduler_at(&tx, number, next.map(format_time).as_deref())?;
        }
        let claimed = match courier.as_mut() {
            Some(courier) => courier.settle(&tx, now)?,
            None => Vec::new(),
        };
        tx.commit()?;
        if let Some(courier) = &courier {
            courier.hand(claimed);
        }
    }
    if let Some(courier) = courier {
        report.delivery.add(&courier.finish(store, now));
    }
    report.purged = retention::purge_due(&site.config.retention, store, now)?;
    report.tutorial_steps = tutorial::tick(site, store, now)?;
    // Last week's report to its readers, once (report::weekly); a failure waits for the next pass.
    if let Err(error) = crate::report::weekly::send_if_due(&site.config, &site.rules, store, now) {
        tracing::warn!("weekly report postponed: {error:#}");
    }
    let outbound = &site.config.outbound;
    let mut transport = transport::from_config(outbound)?;
    report.delivery.add(&transport::deliver::deliver_due(store, transport.as_mut(), outbound, now)?);
    Ok(report)
}

/// Whether the pass at `now` has more tickets due than one commit takes: a process of
/// its own (`reqmail tick`) then copies the WAL beside it; an idle pass, run every
/// minute, would only pay for opening the connection that does.
pub fn is_long_pass(store: &Store, now: DateTime<Utc>) -> anyhow::Result<bool> {
    Ok(store::tickets::due_for_scheduler(&store.conn, &format_time(now))?.len() > TICKETS_PER_COMMIT)
}

/// The times stored in `scheduler_at` follow from the rules (grace periods, thresholds,
/// timeouts): when those change, every ticket is looked at once more.
fn reschedule_if_rules_changed(site: &Site, store: &mut Store) -> anyhow::Result<()> {
    let fingerprint = site.rules.scheduler_fingerprint();
    if store::setting(&store.conn, SCHEDULER_RULES)?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    let tx = store.write()?;
    store::tickets::reschedule_all(&tx)?;
    store::set_setting(&tx, SCHEDULER_RULES, &fingerprint)?;
    tx.commit()?;
    Ok(())
}

const SCHEDULER_RULES: &str = "scheduler_rules";

/// One timed job of a ticket: it fires once per `key` from `at`, and not from `until` on.
struct Job {
    name: &'static str,
    key: String,
    at: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    changes: Vec<Change>,
    notice: Notice,
    counted_in: fn(&mut TickReport) -> &mut usize,
}

impl Job {
    fn due(&self, now: DateTime<Utc>) -> bool {
        now >= self.at && self.until.is_none_or(|until| now < until)
    }
}

/// The jobs the ticket's state and the rules give it, due or not.
fn jobs(rules: &Rules, ticket: &Ticket) -> Vec<Job> {
    // A ticket transferred to a peer site is that site's work, its clocks and survey too.
    if ticket.peer.as_ref().is_some_and(|peer| peer.theirs) {
        return Vec::new();
    }
    let queue = rules.queue(&ticket.queue);
    let job = |name, key, at, changes, notice, counted_in| Job { name, key, at, until: None, changes, notice, counted_in };
    let mut jobs = Vec::new();
    match ticket.status {
        Status::Resolved => {
            let waits_for_customer = ticket.approval_stage != Some(ApprovalStage::Supervisor);
            if let Some(resolved_at) = ticket.resolved_at.filter(|_| waits_for_customer) {
                let changes = vec![Change::Status { to: Status::Closed, why: Some("no answer within the grace period") }];
                jobs.push(job("auto-close", format_time(resolved_at), resolved_at + rules.grace(&ticket.queue), changes, Notice::AutoClosed, |report| &mut report.auto_closed));
            }
        }
        Status::Closed => {
            if let Some(closed) = ticket.closed_at.filter(|_| rules.survey) {
                jobs.push(job("survey", "once".into(), closed, Vec::new(), Notice::Survey, |report| &mut report.surveys));
            }
        }
        Status::Hold => {
            let timeout = queue.and_then(|queue| queue.hold_timeout);
            if let (Some(timeout), Some(started)) = (timeout, ticket.hold_started) {
                let changes = vec![Change::Status { to: Status::Open, why: Some("the hold timed out") }];
                jobs.push(job("hold-timeout", format_time(started), started + timeout, changes, Notice::HoldTimeout, |report| &mut report.hold_timeouts));
            }
        }
        Status::New | Status::Open => {
            if let Some(due) = ticket.due {
                // Keyed by the due date, so that a new one (after a hold, a new priority) fires again.
                jobs.push(job("escalation", format_time(due), due, Vec::new(), Notice::Escalation, |report| &mut report.escalations));
                let span = due - ticket.created;
                for threshold in &rules.reminder_thresholds {
                    let at = ticket.created + Duration::milliseconds((span.num_milliseconds() as f64 * threshold) as i64);
                    jobs.push(Job { until: Some(due), ..job("reminder", format!("{threshold} of {}", format_time(due)), at, Vec::new(), Notice::Reminder, |report| &mut report.reminders) });
                }
            }
            if let Some(nag_after) = queue.and_then(|queue| queue.nag_after) {
                jobs.push(job("nag", format_time(ticket.updated), ticket.updated + nag_after, Vec::new(), Notice::Nag, |report| &mut report.nags));
            }
        }
        Status::Merged | Status::Rejected => {}
    }
    // The vendor's clock runs apart from the customer's SLA, on hold too (vendors put tickets on hold).
    let vendor = ticket.vendor.as_deref().and_then(|name| rules.vendor(name));
    if let (Some(vendor), Some(vendor_due)) = (vendor, ticket.vendor_due.filter(|_| matches!(ticket.status, Status::New | Status::Open | Status::Hold))) {
        let late = rules.calendar_of(&ticket.queue).add(vendor_due, vendor.response);
        jobs.push(job("vendor-reminder", format_time(vendor_due), vendor_due, Vec::new(), Notice::VendorReminder, |report| &mut report.reminders));
        jobs.push(job("vendor-escalation", format_time(vendor_due), late, Vec::new(), Notice::VendorEscalation, |report| &mut report.escalations));
    }
    jobs
}

/// When `tick` next needs to look at the ticket, having run its jobs due at `now`: the
/// earliest job that can still fire (one due exactly now waits for the next pass).
fn next_look(rules: &Rules, ticket: &Ticket, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    jobs(rules, ticket).into_iter().filter(|job| job.at >= now && job.until.is_none_or(|until| job.at < until)).map(|job| job.at).min()
}

fn system_actor(site: &Site) -> Sender {
    Sender {
        address: site.config.mail.address.clone(),
        name: Some(site.config.mail.name.clone()),
        person: None,
        role: Role::Admin,
        trust: Trust::Authentic { by: "scheduler".into() },
    }
}

/// Runs the jobs of `ticket` (as stored) due at `now`; the ticket as the last of them
/// left it, as stored.
fn run_jobs(site: &Site, conn: &Connection, ticket: Ticket, now: DateTime<Utc>, report: &mut TickReport) -> anyhow::Result<Ticket> {
    let number = ticket.number;
    let due: Vec<Job> = jobs(&site.rules, &ticket).into_iter().filter(|job| job.due(now)).collect();
    let mut after = ticket;
    for job in due {
        if !store::tickets::mark_job_done(conn, number, job.name, &job.key, now)? {
            continue;
        }
        let plan = plan::system(number, system_actor(site), job.changes, vec![job.notice]);
        // Each job's plan reads the ticket as the one before it left it.
        after = crate::apply::apply_to(conn, site, &plan, after, now)?.current;
        tracing::info!(ticket = number.0, job = job.name, key = job.key, "scheduler job");
        *(job.counted_in)(report) += 1;
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tickets::NewTicket;
    use crate::ticket::Level;

    #[test]
    fn a_pass_is_long_only_with_more_tickets_due_than_one_commit_takes() {
        let store = Store::open_in_memory(&Default::default()).unwrap();
        let now = crate::clock::parse_time("2026-01-02T00:00:00Z").unwrap();
        let person = store::people::create(&store.conn, "p@example.org", None, Role::Customer, now).unwrap();
        let new = NewTicket { subject: "s".into(), queue: "general".into(), importance: Level::Medium, priority: Level::Medium, requester: person, first_number: 1 };
        let tickets: Vec<_> = (0..=TICKETS_PER_COMMIT).map(|_| store::tickets::create(&store.conn, &new, now).unwrap()).collect();
        let set = |tickets: &[crate::ticket::TicketId], at: Option<&str>| {
            tickets.iter().for_each(|&ticket| store::tickets::set_scheduler_at(&store.conn, ticket, at).unwrap())
        };
        set(&tickets, None);
        assert!(!is_long_pass(&store, now).unwrap(), "nothing due");
        set(&tickets[..TICKETS_PER_COMMIT], Some(""));
        assert!(!is_long_pass(&store, now).unwrap(), "one commit's worth");
        set(&tickets, Some(""));
        assert!(is_long_pass(&store, now).unwrap());
    }
}
