//! The tutorial queue: tickets in `[tutorial] queue` are worked by a built-in robot
//! agent, so that new users learn the mail language on a ticket that bothers nobody.
//!
//! The robot takes one step each time the ticket has been quiet for `step_minutes`:
//! it takes the ticket and raises its priority (the requester sees fields change), puts
//! it on hold (a reply from the requester takes it off again), resolves it (the
//! requester gets the two check boxes to approve or deny), and finally closes it if
//! nobody answered. Every step is an agent's mail-language command applied through the
//! ordinary plan and apply, so the mail the requester gets is the real thing. Each step
//! fires once (`scheduled_done`).

use chrono::{DateTime, Duration, Utc};
use crate::store::Connection;

use crate::config::TutorialConfig;
use crate::identify::sender::{Sender, Trust};
use crate::site::Site;
use crate::store;
use crate::ticket::{Role, Status, Ticket};

/// The robot's steps: (job key, the status it acts in, the fields and note it writes).
const STEPS: &[(&str, &[Status], &str)] = &[
    (
        "take",
        &[Status::New, Status::Open],
        "Owner: {robot}\nPriority: high\n\nHello, I am the tutorial robot and I have taken your practice ticket.\n\
         Lines like \"Priority: high\" at the top of a message change a ticket; try \"Importance: urgent\" or\n\
         \"Host: my-laptop\" in a reply to this mail and see what happens.",
    ),
    (
        "hold",
        &[Status::Open],
        "Status: hold\n\nI have put your ticket on hold, as an agent does while waiting for you.\n\
         Any reply from you takes it off hold again.",
    ),
    (
        "resolve",
        &[Status::Open, Status::Hold],
        "Status: resolved\n\nI think this is solved. The next mail asks you to approve: put an X into one of\n\
         the boxes and reply, or say nothing and the ticket closes by itself.",
    ),
    ("close", &[Status::Resolved], "Status: closed\n\nThe tutorial is over: nobody answered, so I closed the ticket. Well done!"),
];

/// The robot's address: `[tutorial] robot`, else `tutorial-robot@` the help domain.
pub fn robot_address(config: &TutorialConfig, help_address: &str) -> String {
    config.robot.clone().unwrap_or_else(|| {
        let domain = help_address.rsplit_once('@').map_or("localhost", |(_, domain)| domain);
        format!("tutorial-robot@{domain}")
    })
}

/// The scheduler's share: one transaction over the tutorial queue.
pub fn tick(site: &Site, store: &mut crate::store::Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    if site.config.tutorial.queue.is_none() {
        return Ok(0);
    }
    let tx = store.write()?;
    let steps = work(site, &tx, now)?;
    tx.commit()?;
    Ok(steps)
}

/// Works every ticket of the tutorial queue that has been quiet for a step; returns how
/// many steps were taken, in the caller's transaction.
pub fn work(site: &Site, conn: &Connection, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let config = &site.config.tutorial;
    let Some(queue) = config.queue.as_deref() else { return Ok(0) };
    let robot = robot_address(config, &site.config.mail.address);
    let filter = store::tickets::TicketFilter { queue: Some(queue.to_string()), ..Default::default() };
    let mut steps = 0;
    for ticket in store::tickets::list(conn, &filter)? {
        if now < ticket.updated + Duration::minutes(i64::from(config.step_minutes)) {
            continue;
        }
        let taken = store::tutorial::steps_taken(conn, ticket.number)?;
        let next = STEPS.iter().find(|(key, _, _)| !taken.iter().any(|done| done == key));
        let Some((key, statuses, text)) = next else { continue };
        if !statuses.contains(&ticket.status) {
            // The requester moved on (a reply took it off hold, they approved): this
            // step no longer fits; the next one may.
            if ticket.status == Status::Closed || ticket.status == Status::Merged || ticket.status == Status::Rejected {
                continue;
            }
            store::tickets::mark_job_done(conn, ticket.number, "tutorial", key, now)?;
            continue;
        }
        store::tickets::mark_job_done(conn, ticket.number, "tutorial", key, now)?;
        act(site, conn, &ticket, &robot, &text.replace("{robot}", &robot), now)?;
        tracing::info!(ticket = ticket.number.0, step = key, "tutorial robot");
        steps += 1;
    }
    Ok(steps)
}

/// The robot writes `text` on `ticket`, as an agent's reply would.
fn act(site: &Site, conn: &Connection, ticket: &Ticket, robot: &str, text: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let person = match store::people::find_by_address(conn, robot)? {
        Some((person, _)) => person,
        None => store::people::create(conn, robot, Some("Tutorial Robot"), Role::Agent, now)?,
    };
    let sender = Sender {
        address: robot.to_string(),
        name: Some("Tutorial Robot".into()),
        person: Some(person),
        role: Role::Agent,
        trust: Trust::Authentic { by: "tutorial".into() },
    };
    let plan = crate::plan::plan(crate::plan::PlanInput {
        rules: &site.rules,
        tag: &site.threading.tag,
        lookup: &crate::plan::StoreLookup { conn, rules: &site.rules, now },
        inbound: crate::plan::Inbound { text: text.to_string(), ..Default::default() },
        class: &crate::classify::Class::Person,
        sender,
        current: Some(ticket),
        matched_by: None,
        follow_up_of: None,
        routing: Default::default(),
        now,
    })?;
    crate::apply::apply(conn, site, &plan, now)?;
    Ok(())
}
