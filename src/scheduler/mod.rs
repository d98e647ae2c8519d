//! `tick`: the jobs that run by themselves, through the same `plan`/`apply` path as mail.
//!
//! Auto-close after the grace period, reminders before the SLA due date, escalation
//! after it, hold timeouts, nag mail for untouched tickets, the satisfaction survey,
//! and messages left spooled by an earlier run. Each job records itself in
//! `scheduled_done` (ticket, job, key) in the same transaction as its effect, so it
//! fires once per ticket and threshold, survives restarts, and two ticks at once do
//! it once: the write lock orders them and the second finds the row.

pub mod retention;
pub mod tutorial;

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use crate::clock::format_time;
use crate::identify::sender::{Sender, Trust};
use crate::pipeline;
use crate::site::Site;
use crate::plan::{self, Change, Notice};
use crate::store::{self, Store};
use crate::ticket::{ApprovalStage, Role, Status, Ticket};
use crate::transport::{self, deliver::DeliveryReport};

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
pub fn tick(site: &Site, store: &mut Store, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
    let mut report = TickReport { resumed: pipeline::resume(site, store, now)?, ..TickReport::default() };
    let numbers = store::tickets::numbers_with_status(&store.conn, &[Status::New, Status::Open, Status::Hold, Status::Resolved, Status::Closed])?;
    // A pass over 100,000 tickets takes a second; in short transactions, mail arriving
    // meanwhile waits a millisecond for the write lock, not the whole pass.
    for chunk in numbers.chunks(TICKETS_PER_COMMIT) {
        let tx = store.write()?;
        for &ticket in chunk {
            let Some(ticket) = store::tickets::get(&tx, ticket)? else { continue };
            run_jobs(site, &tx, &ticket, now, &mut report)?;
        }
        tx.commit()?;
    }
    report.purged = retention::purge_due(&site.config.retention, store, now)?;
    report.tutorial_steps = tutorial::tick(site, store, now)?;
    // Last week's report to its readers, once (report::weekly); a failure waits for the next pass.
    if let Err(error) = crate::report::weekly::send_if_due(&site.config, &site.rules, store, now) {
        tracing::warn!("weekly report postponed: {error:#}");
    }
    let outbound = &site.config.outbound;
    let mut transport = transport::from_config(outbound)?;
    report.delivery = transport::deliver::deliver_due(store, transport.as_mut(), outbound, now)?;
    Ok(report)
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

fn run_jobs(site: &Site, conn: &Connection, ticket: &Ticket, now: DateTime<Utc>, report: &mut TickReport) -> anyhow::Result<()> {
    let rules = &site.rules;
    let queue = rules.queue(&ticket.queue);
    let fire = |job: &str, key: String, changes: Vec<Change>, notices: Vec<Notice>| -> anyhow::Result<bool> {
        if !store::tickets::mark_job_done(conn, ticket.number, job, &key, now)? {
            return Ok(false);
        }
        let plan = plan::system(ticket.number, system_actor(site), changes, notices);
        crate::apply::apply(conn, site, &plan, now)?;
        tracing::info!(ticket = ticket.number.0, job, key, "scheduler job");
        Ok(true)
    };
    match ticket.status {
        Status::Resolved => {
            let Some(resolved_at) = ticket.resolved_at else { return Ok(()) };
            let waits_for_customer = ticket.approval_stage != Some(ApprovalStage::Supervisor);
            if waits_for_customer && now >= resolved_at + rules.grace(&ticket.queue) {
                let changes = vec![Change::Status { to: Status::Closed, why: Some("no answer within the grace period") }];
                report.auto_closed += fire("auto-close", format_time(resolved_at), changes, vec![Notice::AutoClosed])? as usize;
            }
        }
        Status::Closed => {
            if rules.survey && ticket.closed_at.is_some_and(|closed| now >= closed) {
                report.surveys += fire("survey", "once".into(), Vec::new(), vec![Notice::Survey])? as usize;
            }
        }
        Status::Hold => {
            let timeout = queue.and_then(|queue| queue.hold_timeout);
            if let (Some(timeout), Some(started)) = (timeout, ticket.hold_started) {
                if now >= started + timeout {
                    let changes = vec![Change::Status { to: Status::Open, why: Some("the hold timed out") }];
                    report.hold_timeouts += fire("hold-timeout", format_time(started), changes, vec![Notice::HoldTimeout])? as usize;
                }
            }
        }
        Status::New | Status::Open => {
            if let Some(due) = ticket.due {
                if now >= due {
                    // Keyed by the due date, so that a new one (after a hold, a new priority) fires again.
                    report.escalations += fire("escalation", format_time(due), Vec::new(), vec![Notice::Escalation])? as usize;
                } else {
                    let span = due - ticket.created;
                    for threshold in &rules.reminder_thresholds {
                        let at = ticket.created + Duration::milliseconds((span.num_milliseconds() as f64 * threshold) as i64);
                        if now >= at {
                            let key = format!("{threshold} of {}", format_time(due));
                            report.reminders += fire("reminder", key, Vec::new(), vec![Notice::Reminder])? as usize;
                        }
                    }
                }
            }
            if let Some(nag_after) = queue.and_then(|queue| queue.nag_after) {
                if now >= ticket.updated + nag_after {
                    report.nags += fire("nag", format_time(ticket.updated), Vec::new(), vec![Notice::Nag])? as usize;
                }
            }
        }
        Status::Merged | Status::Rejected => {}
    }
    Ok(())
}
