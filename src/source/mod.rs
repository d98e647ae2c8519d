//! Step 1: where mail comes from. Each source hands raw bytes to `pipeline::spool` and
//! acknowledges them (exit status, Maildir rename) only after the spool commit.

pub mod maildir;
pub mod pipe;
