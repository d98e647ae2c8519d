//! Step 6: what a message says: its field block and commands, its note (quotes and
//! signature removed), its answer to a resolution.
//!
//! Interpreting never fails: whatever cannot be understood is left as plain text or
//! becomes a refusal with its reason.

pub mod approval;
pub mod body;
pub mod commands;
pub mod dates;
pub mod fields;
pub mod forward;
