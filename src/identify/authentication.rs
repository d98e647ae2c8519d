//! Authentication-Results (RFC 8601) from our own receiving MTA, read with suspicion.
//!
//! Anybody can write an Authentication-Results header into a message. Only our MTA's
//! is believed: the one header whose authserv-id equals `mail.trusted_authserv_id`.
//! When two or more carry that id, one of them is forged, and which one depends on
//! whether the MTA prepends or appends its own; so none is believed. From it a sender is authentic when DMARC passed for the
//! From domain, or DKIM passed with `header.d` aligned to it, or SPF passed with
//! `smtp.mailfrom` aligned to it (DMARC's relaxed alignment, RFC 7489 §3.1, with the
//! organisational domain approximated by "one is the other or a parent of it").
//! A message with several From mailboxes or From fields, or with an address that
//! only appears after decoding, is never authentic.

use crate::parse::Mail;

/// One `method=result` statement with its properties (`header.d`, `smtp.mailfrom`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    pub method: String,
    pub result: String,
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Parses one header value: the authserv-id and its results. Linear in the input.
pub fn parse_header(value: &str) -> Option<(String, Vec<MethodResult>)> {
    let cleaned = strip_comments(value);
    let mut statements = cleaned.split(';');
    let authserv_id = statements.next()?.split_whitespace().next()?.to_ascii_lowercase();
    let mut results = Vec::new();
    for statement in statements.take(50) {
        let mut words = statement.split_whitespace();
        let Some((method, result)) = words.next().and_then(|word| word.split_once('=')) else { continue };
        let method = method.split('/').next().unwrap_or(method).to_ascii_lowercase();
        let properties = words
            .take(20)
            .filter_map(|word| word.split_once('='))
            .map(|(key, value)| (key.to_ascii_lowercase(), value.trim_matches('"').to_ascii_lowercase()))
            .collect();
        results.push(MethodResult { method, result: result.to_ascii_lowercase(), properties });
    }
    Some((authserv_id, results))
}

/// RFC 5322 comments `( … )`, nested, removed in one pass; quoted strings kept.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether `domain` is aligned with `from_domain` (relaxed).
fn aligned(domain: &str, from_domain: &str) -> bool {
    let domain = domain.trim().trim_start_matches('@').trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.rsplit_once('@').map_or(domain.as_str(), |(_, after)| after).to_string();
    let from_domain = from_domain.to_ascii_lowercase();
    if domain.is_empty() {
        return false;
    }
    if domain == from_domain {
        return true;
    }
    let (shorter, longer) = if domain.len() < from_domain.len() { (&domain, &from_domain) } else { (&from_domain, &domain) };
    shorter.contains('.') && longer.ends_with(&format!(".{shorter}"))
}

/// Why `mail` is authentic by our MTA's word, or `None`.
pub fn verdict(mail: &Mail, trusted_authserv_id: Option<&str>) -> Option<String> {
    let trusted = trusted_authserv_id?.trim().to_ascii_lowercase();
    if trusted.is_empty() || mail.from_count != 1 || mail.from_fields != 1 || mail.from_disguised {
        return None;
    }
    let from = mail.from.as_ref()?;
    let (_, from_domain) = from.address.rsplit_once('@')?;
    let mut ours = mail.headers_named("authentication-results").filter_map(parse_header).filter(|(authserv_id, _)| *authserv_id == trusted);
    let (_, results) = ours.next()?;
    if ours.next().is_some() {
        return None;
    }
    for result in &results {
        if result.result != "pass" {
            continue;
        }
        let reason = match result.method.as_str() {
            "dmarc" => match result.property("header.from") {
                Some(domain) if !aligned(domain, from_domain) => continue,
                _ => format!("DMARC pass for {from_domain}"),
            },
            "dkim" => match result.property("header.d").or(result.property("header.i")) {
                Some(domain) if aligned(domain, from_domain) => format!("DKIM pass, d={domain} aligned with {from_domain}"),
                _ => continue,
            },
            "spf" => match result.property("smtp.mailfrom") {
                Some(domain) if aligned(domain, from_domain) => format!("SPF pass, MAIL FROM {domain} aligned with {from_domain}"),
                _ => continue,
            },
            _ => continue,
        };
        return Some(format!("{reason} (Authentication-Results of {trusted})"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn check(headers: &str) -> Option<String> {
        let raw = format!("{headers}\r\nSubject: s\r\n\r\nbody\r\n");
        verdict(&parse(raw.as_bytes(), &crate::config::LimitsConfig::default()).unwrap(), Some("mx.example.com"))
    }

    #[test]
    fn parses_rfc8601_examples() {
        let (id, results) = parse_header("example.com (comment; with=semicolon) 1; spf=pass (good) smtp.mailfrom=example.net; dkim=fail reason=\"bad sig\" header.d=x.org").unwrap();
        assert_eq!(id, "example.com");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].method, "spf");
        assert_eq!(results[0].property("smtp.mailfrom"), Some("example.net"));
        assert_eq!(results[1].result, "fail");
        assert_eq!(parse_header("mx.example.com; none").unwrap().1, vec![]);
    }

    #[test]
    fn only_a_single_trusted_header_counts() {
        let from = "From: Ann <ann@example.org>";
        assert!(check(&format!("Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\n{from}")).is_some());
        assert!(check(&format!("Authentication-Results: mx.example.com; dkim=pass header.d=mail.example.org\r\n{from}")).is_some());
        assert!(check(&format!("Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=bounce@example.org\r\n{from}")).is_some());
        // Two verdicts from "our" server: one is forged, whichever order the MTA adds its own in.
        for (first, second) in [("fail", "pass"), ("pass", "fail"), ("pass", "pass")] {
            assert!(check(&format!(
                "Authentication-Results: mx.example.com; dmarc={first} header.from=example.org\r\nAuthentication-Results: mx.example.com; dmarc={second} header.from=example.org\r\n{from}"
            ))
            .is_none(), "{first} then {second}");
        }
        // Another server's header beside ours changes nothing.
        assert!(check(&format!(
            "Authentication-Results: mx.evil.test; dmarc=fail\r\nAuthentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\n{from}"
        ))
        .is_some());
        // Another server's word is not ours.
        assert!(check(&format!("Authentication-Results: mx.evil.test; dmarc=pass header.from=example.org\r\n{from}")).is_none());
        // Not aligned.
        assert!(check(&format!("Authentication-Results: mx.example.com; dkim=pass header.d=evil.test\r\n{from}")).is_none());
        assert!(check(&format!("Authentication-Results: mx.example.com; dkim=pass header.d=org\r\n{from}")).is_none());
        assert!(check(&format!("Authentication-Results: mx.example.com; dmarc=pass header.from=evil.test\r\n{from}")).is_none());
        // Several From mailboxes or fields.
        assert!(check("Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\nFrom: ann@example.org, eve@evil.test").is_none());
        assert!(check("Authentication-Results: mx.example.com; dmarc=pass header.from=example.org\r\nFrom: ann@example.org\r\nFrom: eve@evil.test").is_none());
        // Nothing trusted when no id is configured.
        let raw = format!("Authentication-Results: mx.example.com; dmarc=pass\r\n{from}\r\n\r\nx");
        assert!(verdict(&parse(raw.as_bytes(), &crate::config::LimitsConfig::default()).unwrap(), None).is_none());
    }
}
