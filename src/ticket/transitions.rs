//! Which status changes the life cycle allows, and to whom (DESIGN §3). Pure.

use super::{Role, Status};

/// Checks that `role` may move a ticket from `from` to `to`; the error says why not.
pub fn check(from: Status, to: Status, role: Role) -> Result<(), String> {
    if from == to {
        return Ok(());
    }
    if from == Status::Merged {
        return Err("the ticket was merged into another; write to that one".into());
    }
    match role {
        Role::Agent | Role::Admin => match to {
            Status::Merged => Err("use the Merge field to merge tickets".into()),
            Status::New => Err("a ticket cannot become new again; use open".into()),
            _ => Ok(()),
        },
        Role::Vendor if to == Status::Hold && !from.is_final() => Ok(()),
        Role::Vendor => Err("vendors may only put a ticket on hold".into()),
        Role::Customer => Err("customers cannot set the status; answer the resolution mail to close or reopen".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_do_what() {
        assert!(check(Status::Open, Status::Resolved, Role::Agent).is_ok());
        assert!(check(Status::Closed, Status::Open, Role::Agent).is_ok(), "agents reopen closed tickets");
        assert!(check(Status::Open, Status::Hold, Role::Vendor).is_ok());
        assert!(check(Status::Open, Status::Resolved, Role::Vendor).is_err());
        assert!(check(Status::Closed, Status::Hold, Role::Vendor).is_err());
        assert!(check(Status::Open, Status::Closed, Role::Customer).is_err());
        assert!(check(Status::Merged, Status::Open, Role::Admin).is_err());
        assert!(check(Status::Open, Status::Merged, Role::Agent).is_err());
        assert!(check(Status::Open, Status::New, Role::Agent).is_err());
    }
}
