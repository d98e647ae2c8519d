//! The files in `deploy/` that INSTALL.md tells an admin to install: the systemd units
//! are checked by systemd's own parser (`systemd-analyze`), which reports unknown keys
//! and values it cannot read, and must keep their hardening. (The Postfix files are
//! used by the end-to-end test in `mta_pipe.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::BINARY;

const UNITS: [&str; 3] = ["reqmail.service", "reqmail-tick.service", "reqmail-tick.timer"];

/// The units with `/usr/bin/reqmail` replaced by the binary under test (systemd checks
/// that the program exists), in a fresh folder.
fn units_in_temp_dir() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = UNITS
        .iter()
        .map(|unit| {
            let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd").join(unit)).unwrap();
            let path = dir.path().join(unit);
            std::fs::write(&path, text.replace("/usr/bin/reqmail", BINARY)).unwrap();
            path
        })
        .collect();
    (dir, paths)
}

fn systemd_analyze(args: &[&str], units: &[PathBuf]) -> (bool, String) {
    let output = Command::new("systemd-analyze")
        .args(args)
        .args(units)
        .output()
        .expect("systemd-analyze runs (.ci/run installs the systemd package)");
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn systemd_units_parse_without_a_warning() {
    let (_dir, units) = units_in_temp_dir();
    let (verified, output) = systemd_analyze(&["verify", "--man=no"], &units);
    assert!(verified, "{output}");
    // verify passes units with unknown keys; the offline security check reports them.
    for unit in &units[..2] {
        let (_, output) = systemd_analyze(&["security", "--offline=true", "--no-pager"], std::slice::from_ref(unit));
        for problem in ["Unknown", "Failed to parse", "ignoring"] {
            assert!(!output.contains(problem), "{}: {output}", unit.display());
        }
    }
}

#[test]
fn services_run_as_their_own_user_with_only_the_state_directory_writable() {
    let (_dir, units) = units_in_temp_dir();
    for unit in &units[..2] {
        let text = std::fs::read_to_string(unit).unwrap();
        for line in [
            "User=reqmail",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "StateDirectory=reqmail",
            "ReadWritePaths=/var/lib/reqmail",
            "CapabilityBoundingSet=",
        ] {
            assert!(text.lines().any(|unit_line| unit_line == line), "{} lacks {line}", unit.display());
        }
        // systemd's own exposure score: 0 is locked down, 10 is unprotected.
        let (within, output) = systemd_analyze(&["security", "--offline=true", "--no-pager", "--threshold=20"], std::slice::from_ref(unit));
        assert!(within, "{output}");
        let score: f64 = output
            .lines()
            .find_map(|line| line.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|score| score.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in: {output}"));
        assert!(score <= 2.0, "{}: exposure {score}\n{output}", unit.display());
    }
}

#[test]
fn the_debian_configuration_is_valid_and_keeps_its_state_where_the_units_may_write() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = root.join("deploy/reqmail.debian.toml");
    let output = Command::new(BINARY).arg("--config").arg(&config).args(["rules", "check"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(&config).unwrap();
    for line in ["path = \"/var/lib/reqmail/reqmail.db\"", "maildir = \"/var/lib/reqmail/mail/inbox\""] {
        assert!(text.lines().any(|config_line| config_line == line), "{line} missing: the service may write only /var/lib/reqmail");
    }
    let postinst = Command::new("sh").arg("-n").arg(root.join("deploy/debian/postinst")).output().unwrap();
    assert!(postinst.status.success(), "{}", String::from_utf8_lossy(&postinst.stderr));
}
