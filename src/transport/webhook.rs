//! Delivery of queued webhook events: each POSTed with its signature, after the change
//! that queued it has committed, from its own queue so that a slow or dead endpoint
//! never holds up mail.
//!
//! Retries follow the mail's rules (`[outbound]` backoff and `max_attempts`); a
//! connection failure, a timeout, 408, 429 and 5xx are worth another try, other answers
//! are not. Once an endpoint failed in a pass, its other events of that pass wait for
//! the next one without another request, so one pass spends at most one timeout on it.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::deliver::{backoff, DeliveryReport};
use super::TransportError;
use crate::config::integrations::WebhookConfig;
use crate::config::Config;
use crate::store::webhooks::QueuedEvent;
use crate::store::{self, Store};

/// Events claimed at a time; a pass goes on until nothing is due.
const BATCH: i64 = 100;
/// How long a claim keeps other deliverers away; a crash makes the events due again after it.
const LEASE_MINUTES: i64 = 15;
/// The header with the body's HMAC-SHA256, `sha256=` and lowercase hex.
pub const SIGNATURE_HEADER: &str = "X-Reqmail-Signature";

/// POSTs every event due at `now`, a batch at a time.
pub fn deliver_due(store: &Store, config: &Config, now: DateTime<Utc>) -> anyhow::Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    if !store::webhooks::any_due(&store.conn, now)? {
        return Ok(report);
    }
    let mut failed_endpoints: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let due = store::webhooks::claim_due(&store.conn, now, now + Duration::minutes(LEASE_MINUTES), BATCH)?;
        if due.is_empty() {
            return Ok(report);
        }
        // Send first, then record every result in one short commit.
        let results: Vec<Result<(), TransportError>> = due
            .iter()
            .map(|event| match config.webhooks.iter().find(|webhook| webhook.name() == event.webhook) {
                None => Err(TransportError::permanent(format!("no [[webhooks]] table is named {:?} any more", event.webhook))),
                Some(webhook) => match failed_endpoints.get(webhook.name()) {
                    Some(error) => Err(TransportError::transient(format!("not tried: {error}"))),
                    None => {
                        let result = post(webhook, event);
                        match &result {
                            Err(error) if !error.permanent => {
                                failed_endpoints.insert(webhook.name().to_string(), error.message.clone());
                            }
                            _ => {}
                        }
                        result
                    }
                },
            })
            .collect();
        let tx = store.conn.unchecked_write()?;
        for (event, result) in due.iter().zip(results) {
            match result {
                Ok(()) => {
                    store::webhooks::mark_sent(&tx, event.id, now)?;
                    report.sent += 1;
                }
                Err(error) if !error.permanent && event.attempts + 1 < config.outbound.max_attempts => {
                    tracing::warn!(webhook = event.webhook, event = event.id, %error, "webhook deferred");
                    store::webhooks::reschedule(&tx, event.id, now + backoff(&config.outbound, event.attempts), &error.message)?;
                    report.deferred += 1;
                }
                Err(error) => {
                    tracing::warn!(webhook = event.webhook, event = event.id, %error, "webhook given up");
                    store::webhooks::give_up(&tx, event.id, &error.message)?;
                    let detail = format!("webhook {} not told of {}: {}", event.webhook, event.event, error.message);
                    store::tickets::add_history(&tx, event.ticket, now, "reqmail", "webhook-failed", &detail, None)?;
                    report.failed += 1;
                }
            }
        }
        tx.commit()?;
        if (due.len() as i64) < BATCH {
            return Ok(report);
        }
    }
}

/// The signature header's value for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn post(webhook: &WebhookConfig, event: &QueuedEvent) -> Result<(), TransportError> {
    let timeout = StdDuration::from_secs(webhook.timeout_seconds);
    // No redirects: the signed body must go where the configuration says, nowhere else.
    let agent = ureq::AgentBuilder::new().timeout(timeout).redirects(0).build();
    let answer = agent
        .post(&webhook.url)
        .set("Content-Type", "application/json")
        .set("User-Agent", concat!("reqmail/", env!("CARGO_PKG_VERSION")))
        .set("X-Reqmail-Event", &event.event)
        .set("X-Reqmail-Delivery", &event.id.to_string())
        .set(SIGNATURE_HEADER, &signature(webhook.secret.expose(), event.payload.as_bytes()))
        .send_string(&event.payload);
    match answer {
        Ok(response) if (200..300).contains(&response.status()) => Ok(()),
        Ok(response) => Err(TransportError::permanent(format!(
            "{} answered {} {}; redirects are not followed, configure the final URL",
            webhook.url,
            response.status(),
            response.status_text()
        ))),
        Err(ureq::Error::Status(code, response)) => {
            let message = format!("{} answered {code} {}", webhook.url, response.status_text());
            if code == 408 || code == 429 || code >= 500 {
                Err(TransportError::transient(message))
            } else {
                Err(TransportError::permanent(message))
            }
        }
        Err(ureq::Error::Transport(error)) => Err(TransportError::transient(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
