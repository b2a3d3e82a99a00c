//! A test event on demand: `POST /v1/webhooks/ping` sends a `ping` to the
//! webhook URL at once, signed as every event is, and answers with what the
//! receiver did. An operator setting up a receiver (or rotating its secret)
//! checks it end to end without waiting for a broadcast.
//!
//! A ping is one try, straight from the replica that was asked, not through
//! the bus: it is a question whose answer the caller waits for, and a retry
//! an hour later would answer no one. The events behind it are untouched.

use std::time::Instant;

use prometheus::IntCounterVec;
use serde::Serialize;

use super::deliver::{self, Delivery, Failed};
use super::WebhookConfig;

/// The `type` of the test event.
pub const PING: &str = "ping";

/// The body of a ping: the fields every event has, and no channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ping {
    /// `ping/<at_ms>`: unique per ping, as other ids are per event.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it was sent, Unix ms.
    pub at_ms: i64,
}

/// What came of a ping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingResult {
    pub id: String,
    pub url: String,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it was not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From sending to the answer (or the failure), in milliseconds.
    pub elapsed_ms: u64,
    /// Whether the body was signed (a webhook secret is set).
    pub signed: bool,
}

/// Sends pings to the webhook URL.
#[derive(Clone)]
pub struct Pinger {
    http: reqwest::Client,
    config: WebhookConfig,
    deliveries: IntCounterVec,
}

impl Pinger {
    pub(super) fn new(
        http: reqwest::Client,
        config: WebhookConfig,
        deliveries: IntCounterVec,
    ) -> Self {
        Self {
            http,
            config,
            deliveries,
        }
    }

    /// Sends one ping and waits for the receiver (at most
    /// [`deliver::ANSWER_WITHIN`]); counted in
    /// `livefleet_webhook_deliveries_total{type="ping"}`.
    pub async fn ping(&self) -> PingResult {
        let at_ms = livefleet_base::clock::now_unix_ms();
        let ping = Ping {
            id: format!("{PING}/{at_ms}"),
            kind: PING,
            at_ms,
        };
        let body = serde_json::to_vec(&ping).unwrap_or_default();
        let secret = self.config.secret.as_deref().map(str::as_bytes);
        let started = Instant::now();
        let delivery = Delivery {
            id: &ping.id,
            kind: PING,
            attempt: 1,
            body,
        };
        let answer = deliver::post(&self.http, &self.config.url, secret, delivery).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error) = match answer {
            Ok(status) => (Some(status), None),
            Err(e @ Failed::Status(status)) => (Some(status), Some(e.to_string())),
            Err(e) => (None, Some(e.to_string())),
        };
        let delivered = error.is_none();
        let result = if delivered { "delivered" } else { "failed" };
        self.deliveries.with_label_values(&[PING, result]).inc();
        match &error {
            None => {
                tracing::info!(id = %ping.id, url = %self.config.url, elapsed_ms, "webhook ping delivered")
            }
            Some(error) => {
                tracing::warn!(id = %ping.id, url = %self.config.url, elapsed_ms, %error, "webhook ping not delivered")
            }
        }
        PingResult {
            id: ping.id,
            url: self.config.url.clone(),
            delivered,
            status,
            error,
            elapsed_ms,
            signed: secret.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_has_the_fields_of_every_event_and_no_channel() {
        let ping = Ping {
            id: "ping/1700000000000".into(),
            kind: PING,
            at_ms: 1_700_000_000_000,
        };
        assert_eq!(
            serde_json::to_value(&ping).unwrap(),
            serde_json::json!({"id": "ping/1700000000000", "type": "ping", "at_ms": 1_700_000_000_000_i64})
        );
    }
}
