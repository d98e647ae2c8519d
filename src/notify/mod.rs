//! Step 8: the mail reqmail writes. `readers` decides who reads which letter, `letters`
//! builds each one (the data the templates see, rate limits) with `render` (the
//! templates) and `compose` (the message with the headers that keep threads and loops in
//! order). `apply` asks for the letters and writes them with their outbox rows.
//! `webhooks` turns the same change into the JSON event each configured webhook hears;
//! `monitors` writes the status mail a monitoring system gets when its ticket ends;
//! `view` is the ticket object that `ticket show --json` and webhook events share;
//! `transfer` is the signed message that hands a ticket to a peer site and back.

pub mod compose;
pub mod finisher;
pub mod letters;
pub mod monitors;
pub mod readers;
pub mod view;
pub mod render;
pub mod transfer;
pub mod webhooks;
