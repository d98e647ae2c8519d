//! reqmail: a mail-first trouble-ticket gateway.
//!
//! # Layout, in the order a message flows (DESIGN §1)
//!
//! 1. [`source`]: mail comes in (MTA pipe on stdin, inbound Maildir).
//! 2. [`pipeline::spool`]: the raw bytes are durable in SQLite before any source acknowledges them.
//! 3. [`parse`]: mail-parser turns bytes into [`parse::Mail`].
//! 4. [`classify`]: a person or a machine (RFC 3834), our own mail coming back.
//! 5. [`identify`]: the sender's person and role; the ticket the message continues.
//! 6. [`interpret`]: the note (quotes and signatures removed), subject tags.
//! 7. [`rules`] and [`plan`]: the site's policy; the change, decided without writing anything.
//! 8. [`notify`]: templates rendered and one message composed per recipient.
//! 9. [`apply`]: ticket, history, messages and outbox rows in one transaction.
//! 10. [`transport`]: the outbox delivered after commit (Maildir, SMTP, sendmail).
//!
//! Around them: [`scheduler`] runs timed jobs through the same plan and apply,
//! [`pipeline`] drives steps 3–9, [`store`] holds all SQL, [`ticket`] the
//! domain types, [`config`] and [`clock`] what every command starts from, [`cli`] the
//! commands, [`scheduler`] the work that falls due with time (`tick`), [`serve`]
//! the daemon that runs sources, delivery and scheduler in one process, [`tls`] the
//! TLS client settings of the network edges, and [`fault`] the crash points of the
//! crash tests.

pub mod cli;
pub mod clock;
pub mod config;
pub mod fault;
pub mod source;
pub mod pipeline;
pub mod parse;
pub mod classify;
pub mod identify;
pub mod interpret;
pub mod rules;
pub mod plan;
pub mod notify;
pub mod apply;
pub mod transport;
pub mod scheduler;
pub mod store;
pub mod ticket;
pub mod tls;
pub mod serve;
pub mod report;
pub mod search;
