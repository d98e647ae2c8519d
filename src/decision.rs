//! What the pipeline decided about one message, as a plain record: its class, the
//! sender and how far they are trusted, the ticket and why, the fields applied and
//! refused, the changes made and the letters written with their readers.
//!
//! The golden tests compare it with `fixtures/mail/**/NAME.json`, so a change of
//! behaviour shows as a diff of JSON; `reqmail trace` prints the same record. It holds
//! nothing that varies between runs (no times, no process ids), and no maps, so its
//! JSON is the same for the same message and database.

use serde::{Deserialize, Serialize};

/// The record of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// `applied`, `quarantined`, `ignored` or `duplicate`.
    pub outcome: String,
    /// Why it was quarantined or ignored.
    pub reason: Option<String>,
    /// `person`, `machine (KIND): REASON` or `ours: REASON`; `None` when it ended before
    /// it was classified.
    pub class: Option<String>,
    pub sender: Option<SenderRecord>,
    pub ticket: Option<TicketRecord>,
    /// What routing rules did, each line led by the rule's name.
    pub rules: Vec<String>,
    /// The sender's fields, checked and applied.
    pub applied: Vec<String>,
    /// The sender's fields that were not applied, with the reason the sender is told.
    pub refused: Vec<RefusedField>,
    /// The lines of the ticket's history that describe what changed.
    pub changes: Vec<String>,
    /// The letters written into the outbox, in order.
    pub letters: Vec<LetterRecord>,
    /// Letters that were due but not written (rate limit, an address we cannot write to).
    pub withheld: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderRecord {
    pub address: String,
    pub role: String,
    /// `authentic` or `unverified`.
    pub trust: String,
    /// What proved the address, or why it is not proven.
    pub trust_why: String,
    /// The agent who forwarded this sender's mail to open the ticket for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub number: i64,
    pub created: bool,
    /// How the message was tied to an existing ticket (plus-address, subject tag, …).
    pub matched_by: Option<String>,
    /// The closed ticket a new one follows up.
    pub follow_up_of: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedField {
    pub field: String,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterRecord {
    /// The template it was written from.
    pub template: String,
    pub to: String,
    /// The reader's role, which decides what they are shown.
    pub role: String,
}

impl Decision {
    /// The record as indented JSON with a final newline, the form the golden files keep.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a decision is plain data");
        text.push('\n');
        text
    }
}
