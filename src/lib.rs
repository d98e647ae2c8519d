//! reqmail: a mail-first trouble-ticket gateway.
//!
//! # Layout, in the order a message flows (DESIGN §1)
//!
//! 1. [`source`]: mail comes in (MTA pipe on stdin, inbound Maildir).
//! 2. [`pipeline::spool`]: the raw bytes are durable in SQLite before any source acknowledges them.
//! 3. [`parse`]: mail-parser turns bytes into [`parse::Mail`].
//! 4. [`classify`]: a person or a machine (RFC 3834), our own mail coming back.
//! 5. [`identify`]: the sender's person, role and trust; the ticket the message continues
//!    (plus-address, subject tag, references).
//! 6. [`interpret`]: the field block and its commands, the note (quotes and signatures
//!    removed), the answer to a resolution.
//! 7. [`rules`] and [`plan`]: the site's policy, routing and assignment; the change,
//!    decided without writing anything.
//! 8. [`notify`]: who reads which letter; templates rendered, one message composed per
//!    reader, within the rate limits.
//! 9. [`apply`]: ticket, history, messages, and the letters with their outbox rows, in
//!    one transaction.
//! 10. [`transport`]: the outbox delivered after commit (Maildir, SMTP, sendmail).
//!
//! Around them: [`site`] holds the configuration and everything compiled from it,
//! [`pipeline`] drives steps 3–9 and records a [`decision`] per message, [`scheduler`]
//! runs the work that falls due with time (`tick`) through the same plan and apply,
//! [`store`] holds all SQL, [`ticket`] the domain types, [`config`] and [`clock`] what
//! every command starts from, [`cli`] the commands, [`serve`] the daemon that runs
//! sources, delivery and scheduler in one process, [`tls`] the TLS client settings of
//! the network edges, and [`fault`] the crash points of the crash tests.
//!
//! The `pub mod` lines below follow the layers of ARCHITECTURE.md: each module uses only
//! those above it (`tests/it/architecture.rs` checks this).

pub mod ticket;
pub mod clock;
pub mod fault;
pub mod config;
pub mod tls;
pub mod oauth;
pub mod parse;
pub mod store;
pub mod decision;
pub mod classify;
pub mod identify;
pub mod interpret;
pub mod rules;
pub mod knowledge;
pub mod plan;
pub mod notify;
pub mod site;
pub mod apply;
pub mod transfer;
pub mod search;
pub mod report;
pub mod pipeline;
pub mod transport;
pub mod scheduler;
pub mod source;
pub mod ops;
pub mod serve;
pub mod cli;
