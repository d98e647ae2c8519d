//! Step 5: who sent the message, and which ticket it belongs to.

pub mod sender;
pub mod thread;
