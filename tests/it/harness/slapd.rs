//! A private OpenLDAP server (Debian's `slapd`) started by a test: a minimal slapd.conf
//! with one mdb database for dc=example,dc=com in a temporary folder, loaded from
//! `fixtures/directory/people.ldif` with `ldapadd`, listening on 127.0.0.1 only, stopped
//! in `Drop`. Changes go in with `ldapmodify`, as an administrator would make them.

use std::io::Write as _;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::dovecot::{free_port, relaunch, stop_child, wait_until};

pub const BASE: &str = "dc=example,dc=com";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PASSWORD: &str = "directory-secret";

pub struct Slapd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
}

impl Slapd {
    /// A running server holding the fixture's people.
    pub fn start() -> Slapd {
        Slapd::start_with("")
    }

    /// The same with the test certificate for 127.0.0.1, offering StartTLS.
    pub fn start_with_tls() -> Slapd {
        let certificates = super::dovecot::certificates();
        Slapd::start_with(&format!(
            "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
            certificates.ca.display(),
            certificates.cert.display(),
            certificates.key.display()
        ))
    }

    fn start_with(settings: &str) -> Slapd {
        let dir = tempfile::Builder::new().prefix("reqmail-slapd-").tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let config = format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\ninclude /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {dir}/slapd.pid\n{settings}\
             database mdb\nsuffix \"{BASE}\"\nrootdn \"{ADMIN_DN}\"\nrootpw {ADMIN_PASSWORD}\ndirectory {dir}/db\nmaxsize 10485760\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("slapd.conf"), config).unwrap();
        let mut slapd = Slapd { dir, child: None, port: 0 };
        let mut last_error = String::new();
        for _attempt in 0..5 {
            slapd.port = free_port();
            match slapd.launch() {
                Ok(()) => {
                    slapd.ldap("ldapadd", &std::fs::read_to_string(super::fixtures().join("directory/people.ldif")).unwrap());
                    return slapd;
                }
                Err(error) => last_error = error,
            }
        }
        panic!("cannot start slapd: {last_error}");
    }

    fn launch(&mut self) -> Result<(), String> {
        let mut child = Command::new("slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(self.url())
            // Debug level 0 keeps it in the foreground, a child of the test.
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("slapd.stderr")).unwrap())
            .spawn()
            .map_err(|error| format!("cannot run slapd (scripts/test installs slapd and ldap-utils): {error}"))?;
        let port = self.port;
        let ready = wait_until(Duration::from_secs(20), || matches!(child.try_wait(), Ok(Some(_))) || TcpStream::connect(("127.0.0.1", port)).is_ok());
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("slapd exited with {status}: {}", self.log()));
        }
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return Err("slapd did not listen within 20 seconds".into());
        }
        self.child = Some(child);
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The `[directory.ldap]` table for this server, binding as its administrator,
    /// with `extra` lines added to it.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "[directory.ldap]\nurl = \"{}\"\nbind_dn = \"{ADMIN_DN}\"\npassword = \"{ADMIN_PASSWORD}\"\nbase = \"ou=people,{BASE}\"\nfilter = \"(objectClass=inetOrgPerson)\"\n{extra}\n",
            self.url()
        )
    }

    pub fn ca_file(&self) -> &'static std::path::Path {
        &super::dovecot::certificates().ca
    }

    /// Runs `tool` (ldapadd, ldapmodify, ldapdelete) as the administrator with `ldif` on stdin.
    pub fn ldap(&self, tool: &str, ldif: &str) {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {tool} (scripts/test installs ldap-utils): {error}"));
        child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{tool} failed: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }

    /// Stops the server (SIGTERM, then SIGKILL), waiting until it is gone.
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }

    /// Starts it again on the same port, with the data it had.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(error) = relaunch(|| self.launch()) {
            panic!("cannot restart slapd: {error}");
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.stderr")).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- slapd.stderr ({}) ---\n{}", self.dir.path().display(), self.log());
        }
    }
}
