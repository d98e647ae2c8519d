//! Fault injection for crash tests: `REQMAIL_FAULT=NAME` makes the process die on the
//! spot, like SIGKILL (no unwinding, no destructors, no commit), at the named point.
//!
//! The points: `after-spool` (raw bytes stored, nothing processed; not yet committed
//! where one commit stores and processes the message, as `ingest` does),
//! `before-apply-commit` (the processing transaction is complete but not committed),
//! `after-send` (a letter was handed to the transport, its outbox row not yet marked
//! sent). `processing-panics` is a bug instead of a death: `ingest` panics at the end of
//! processing, before its one commit. Unset, it costs one environment lookup per point.

/// The environment variable naming the point to die at.
pub const FAULT_VARIABLE: &str = "REQMAIL_FAULT";

/// Dies here when `REQMAIL_FAULT` names `point`.
pub fn point(point: &str) {
    if std::env::var_os(FAULT_VARIABLE).is_some_and(|value| value == point) {
        eprintln!("reqmail: {FAULT_VARIABLE}={point}: dying here on purpose");
        std::process::abort();
    }
}

/// Panics here when `REQMAIL_FAULT` names `point`: a bug, which the caller must survive.
pub fn panic_point(point: &str) {
    if std::env::var_os(FAULT_VARIABLE).is_some_and(|value| value == point) {
        panic!("{FAULT_VARIABLE}={point}: failing here on purpose");
    }
}
