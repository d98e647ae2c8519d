//! Step 6: what a message says: the note (quotes and signature removed) and the subject.
//!
//! Interpreting never fails: whatever cannot be understood is left as plain text.

pub mod body;
pub mod subject;
