//! `reqmail serve` as a process of the test, with its log in the test's folder.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::dovecot::{signal, wait_until};
use super::Desk;

/// A running `reqmail serve`, killed in `Drop` if the test did not stop it.
pub struct Daemon {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Daemon {
    pub fn start(desk: &Desk) -> Daemon {
        Daemon::spawn(desk, desk.command(&["serve"]))
    }

    /// As [`Daemon::start`], with `variable` set to `value` (`REQMAIL_FAULT`, say).
    pub fn start_with_env(desk: &Desk, variable: &str, value: &str) -> Daemon {
        let mut command = desk.command(&["serve"]);
        command.env(variable, value);
        Daemon::spawn(desk, command)
    }

    /// As [`Daemon::start`], as user and group `uid` (the account an MTA's pipe runs
    /// `ingest` as).
    pub fn start_as(desk: &Desk, uid: u32) -> Daemon {
        let mut command = Command::new("setpriv");
        command.arg(format!("--reuid={uid}")).arg(format!("--regid={uid}")).arg("--clear-groups");
        command.arg(super::BINARY).arg("--config").arg(desk.config_path()).arg("serve").current_dir(desk.path());
        command.env_remove("REQMAIL_CONFIG").env_remove("RUST_LOG").env_remove("REQMAIL_NOW");
        Daemon::spawn(desk, command)
    }

    fn spawn(desk: &Desk, mut command: Command) -> Daemon {
        let log = desk.path().join("serve.log");
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
        let daemon = Daemon { child: Some(child), log };
        // The schema exists once it says so; the test's own queries come after.
        assert!(wait_until(Duration::from_secs(20), || daemon.log().contains("serving")), "serve did not start:\n{}", daemon.log());
        daemon
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        assert!(signal(self.child.as_ref().unwrap().id(), name));
    }

    /// SIGKILL, as a crash or the OOM killer would: no clean-up at all.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits until serve has ended on its own (an injected fault), and says how.
    pub fn wait_for_exit(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let exited = wait_until(Duration::from_secs(20), || matches!(child.try_wait(), Ok(Some(_))));
        assert!(exited, "serve did not end:\n{}", self.log());
        child.wait().unwrap()
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> i32 {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let exited = wait_until(Duration::from_secs(20), || matches!(child.try_wait(), Ok(Some(_))));
        assert!(exited, "serve did not stop on SIGTERM:\n{}", self.log());
        child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- serve log ---\n{}", self.log());
        }
    }
}
