//! Step 5: who sent the message, whether that is proven, and which ticket it belongs to.
//!
//! `sender.rs` finds the person and computes [`sender::Trust`] from `token.rs` (reply
//! tokens) and `authentication.rs` (RFC 8601 results of our own MTA); `thread.rs`
//! finds the ticket, by plus-address, by the subject tag of `subject.rs` (which also
//! knows the reply prefixes of many languages) or by references; `monitor.rs` threads
//! a monitoring system's repeated alert onto the ticket its first one opened.

pub mod authentication;
pub mod monitor;
pub mod sender;
pub mod subject;
pub mod thread;
pub mod token;
