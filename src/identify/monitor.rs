//! Monitoring systems (`[[monitors]]`): which alert a message is, by its sender and its
//! key (from the subject or from `Name: value` lines of the body), so that a repeated
//! alert threads onto the ticket the first one opened while that is still open.

use regex::Regex;
use crate::store::Connection;

use super::thread::{MatchedBy, TicketMatch};
use crate::config::integrations::MonitorConfig;
use crate::parse::Mail;
use crate::store;
use crate::store::monitors::MonitorLink;

/// The configured monitors, compiled.
#[derive(Debug, Default)]
pub struct Monitors {
    monitors: Vec<Monitor>,
}

#[derive(Debug)]
struct Monitor {
    name: String,
    from: Regex,
    key: Option<Regex>,
    key_fields: Vec<String>,
}

/// Longest key kept, in bytes; alert subjects can be long, keys need not be.
const MAX_KEY_BYTES: usize = 200;

impl Monitors {
    /// Compiles the `[[monitors]]` tables; the error names the table.
    pub fn compile(configs: &[MonitorConfig]) -> anyhow::Result<Monitors> {
        let mut monitors = Vec::new();
        for (index, config) in configs.iter().enumerate() {
            let pattern: Vec<String> = config.from.to_lowercase().split('*').map(regex::escape).collect();
            let from = Regex::new(&format!("^{}$", pattern.join(".*")))?;
            let key = config.key.as_deref().map(Regex::new).transpose().map_err(|error| anyhow::anyhow!("monitors[{index}].key: {error}"))?;
            monitors.push(Monitor { name: config.name.clone(), from, key, key_fields: config.key_fields.clone() });
        }
        Ok(Monitors { monitors })
    }

    /// The monitor whose address sent `mail`: its mail is a machine's, whatever its headers say.
    pub fn sender_monitor(&self, mail: &Mail) -> Option<&str> {
        self.monitor_of(mail).map(|monitor| monitor.name.as_str())
    }

    fn monitor_of(&self, mail: &Mail) -> Option<&Monitor> {
        let address = &mail.from.as_ref()?.address;
        self.monitors.iter().find(|monitor| monitor.from.is_match(address))
    }

    /// The alert `mail` is, when a monitor sent it and its key can be read.
    pub fn recognise(&self, mail: &Mail) -> Option<MonitorLink> {
        let monitor = self.monitor_of(mail)?;
        let mut parts = Vec::new();
        if let Some(key) = &monitor.key {
            let found = key.captures(&mail.subject)?;
            parts.push(found.get(1).or_else(|| found.get(0))?.as_str().trim().to_string());
        }
        for field in &monitor.key_fields {
            parts.push(field_value(&mail.text, field)?);
        }
        let mut key = parts.join("/");
        if key.len() > MAX_KEY_BYTES {
            let cut = (0..=MAX_KEY_BYTES).rev().find(|&cut| key.is_char_boundary(cut)).unwrap_or(0);
            key.truncate(cut);
        }
        Some(MonitorLink { monitor: monitor.name.clone(), key, address: mail.from.as_ref()?.address.clone() })
    }

    /// `matched` as threading found it; a new alert whose key has an open ticket goes there.
    pub fn thread(&self, conn: &Connection, mail: &Mail, matched: TicketMatch) -> crate::store::Result<TicketMatch> {
        if matched != TicketMatch::New {
            return Ok(matched);
        }
        let Some(alert) = self.recognise(mail) else { return Ok(matched) };
        Ok(match store::monitors::open_ticket(conn, &alert.monitor, &alert.key)? {
            Some(ticket) => TicketMatch::Existing { ticket, by: MatchedBy::MonitorKey },
            None => matched,
        })
    }
}

/// The value of the first `Name: value` line for `name` (any case) in `text`.
fn field_value(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (field, value) = line.trim().split_once(':')?;
        (field.trim().eq_ignore_ascii_case(name) && !value.trim().is_empty()).then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(from: &str, subject: &str, text: &str) -> Mail {
        let raw = format!("From: {from}\r\nTo: help@example.com\r\nSubject: {subject}\r\nMessage-ID: <a@x>\r\n\r\n{text}\r\n");
        crate::parse::parse(raw.as_bytes(), &crate::config::LimitsConfig::default()).unwrap()
    }

    fn monitors(toml: &str) -> Monitors {
        let config = crate::config::Config::from_toml(toml).unwrap();
        Monitors::compile(&config.monitors).unwrap()
    }

    #[test]
    fn the_key_comes_from_the_subject_or_the_fields_and_only_for_the_monitors_address() {
        let by_subject = monitors("[[monitors]]\nname = \"nagios\"\nfrom = \"nagios@*.example.com\"\nkey = 'PROBLEM: (\\S+ \\S+)'\n");
        let mail = alert("Nagios <nagios@mon1.example.com>", "** PROBLEM: web01 HTTP is CRITICAL **", "");
        assert_eq!(by_subject.recognise(&mail).map(|link| link.key), Some("web01 HTTP".to_string()));
        assert!(by_subject.recognise(&alert("nagios@example.org", "** PROBLEM: web01 HTTP **", "")).is_none());
        assert!(by_subject.recognise(&alert("nagios@mon1.example.com", "Weekly summary", "")).is_none());
        let by_fields = monitors("[[monitors]]\nname = \"zabbix\"\nfrom = \"zabbix@example.com\"\nkey_fields = [\"Host\", \"Trigger\"]\n");
        let mail = alert("zabbix@example.com", "Problem", "Problem started\nHost: db02\nTrigger: Disk full on /var\n");
        assert_eq!(by_fields.recognise(&mail).map(|link| link.key), Some("db02/Disk full on /var".to_string()));
        assert!(by_fields.recognise(&alert("zabbix@example.com", "Problem", "Host: db02\n")).is_none(), "a missing field is no key");
    }
}
