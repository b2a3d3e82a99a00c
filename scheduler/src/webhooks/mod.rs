//! Webhooks: an HTTP POST to the operator's endpoint when a broadcast goes
//! on or off the air, when its VOD copy is ready (or failed) and when a
//! worker refuses a publish, so that a site built on livefleet shows a
//! "live" badge, notifies followers, lists the recording and tells a
//! producer why the stream was cut, without polling the admin API.
//!
//! ```text
//! worker --publish_event--> LIVEFLEET_EVENTS (livefleet.events.broadcast.<channel>) --durable consumer--+
//!                                           (livefleet.events.refusal.<channel>) ---durable consumer--+
//! worker (archive) --put--> KV livefleet_broadcasts (<channel>.<broadcast>) ------durable consumer------+--> POST <url>
//! ```
//!
//! Each source is read through one durable JetStream consumer that every
//! scheduler replica (and `dev`) shares, so each event is delivered once
//! across replicas, in order, at least once: a try that fails is retried
//! with a growing pause, and the event's `id` (stable across tries) lets a
//! receiver drop a repeat. Bodies are signed with HMAC-SHA256 when a secret
//! is set. Decisions and measurements: `docs/design/webhooks.md`.

mod deliver;
mod payload;
mod ping;

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, AckKind};
use futures::StreamExt;
use livefleet_bus::{ArchiveState, ArchivedBroadcast, ChannelEvent, BROADCASTS_BUCKET};
use prometheus::{IntCounterVec, Opts, Registry};
use tracing::Instrument;

pub use deliver::{signature, ANSWER_WITHIN, TRIES};
pub use payload::{Live, Refusal, Urls, Vod, Webhook};
pub use ping::{Ping, PingResult, Pinger};

/// Where webhooks go.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// Signs every body (`Livefleet-Signature`); `None` sends them unsigned.
    pub secret: Option<String>,
}

/// How long a try may stay unanswered before the bus hands it out again
/// (a replica that died mid-try): above the receiver's answer time.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// The pause before a consumer is opened again after the bus failed it.
const REOPEN_AFTER: Duration = Duration::from_secs(5);

/// The places webhooks come from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Broadcasts,
    Refusals,
    Archives,
}

impl Source {
    fn stream(self) -> String {
        match self {
            Source::Broadcasts | Source::Refusals => livefleet_bus::EVENTS_STREAM.to_owned(),
            Source::Archives => format!("KV_{BROADCASTS_BUCKET}"),
        }
    }

    fn consumer(self) -> &'static str {
        match self {
            Source::Broadcasts => "livefleet_webhooks_broadcasts",
            Source::Refusals => "livefleet_webhooks_refusals",
            Source::Archives => "livefleet_webhooks_archives",
        }
    }

    fn filter(self) -> String {
        match self {
            Source::Broadcasts => "livefleet.events.broadcast.>".to_owned(),
            Source::Refusals => "livefleet.events.refusal.>".to_owned(),
            Source::Archives => format!("$KV.{BROADCASTS_BUCKET}.>"),
        }
    }
}

struct Dispatch {
    js: jetstream::Context,
    http: reqwest::Client,
    config: WebhookConfig,
    urls: Urls,
    deliveries: IntCounterVec,
}

/// Delivering webhooks; they stop when this is dropped (a try cut short
/// is tried again by whoever reads the consumer next).
pub struct Webhooks {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pinger: Pinger,
}

impl Webhooks {
    /// What sends a test event on demand (the admin API's
    /// `POST /v1/webhooks/ping`), to the same URL with the same secret.
    pub fn pinger(&self) -> Pinger {
        self.pinger.clone()
    }
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts delivering webhooks.
pub fn spawn(
    js: jetstream::Context,
    config: WebhookConfig,
    urls: Urls,
    registry: &Registry,
) -> Result<Webhooks, prometheus::Error> {
    let deliveries = IntCounterVec::new(
        Opts::new(
            "livefleet_webhook_deliveries_total",
            "Webhook tries by event type and result (delivered, failed: tried again later, given_up)",
        ),
        &["type", "result"],
    )?;
    registry.register(Box::new(deliveries.clone()))?;
    if config.secret.is_none() {
        tracing::warn!(url = %config.url, "webhooks are sent unsigned: set a webhook secret so the receiver can check where they come from");
    }
    tracing::info!(url = %config.url, "webhooks on");
    let http = reqwest::Client::new();
    let pinger = Pinger::new(http.clone(), config.clone(), deliveries.clone());
    let dispatch = std::sync::Arc::new(Dispatch {
        js,
        http,
        config,
        urls,
        deliveries,
    });
    let span = || tracing::info_span!("webhooks");
    let tasks = [Source::Broadcasts, Source::Refusals, Source::Archives]
        .into_iter()
        .map(|source| tokio::spawn(dispatch.clone().follow(source).instrument(span())))
        .collect();
    Ok(Webhooks { tasks, pinger })
}

impl Dispatch {
    /// Reads `source` for good, opening its consumer again after a failure.
    async fn follow(self: std::sync::Arc<Self>, source: Source) {
        loop {
            if let Err(error) = self.read(source).await {
                tracing::warn!(?source, %error, "webhooks: the bus failed; reading again in 5 s");
            }
            tokio::time::sleep(REOPEN_AFTER).await;
        }
    }

    async fn read(&self, source: Source) -> Result<(), String> {
        let stream = match source {
            Source::Broadcasts | Source::Refusals => {
                livefleet_bus::ensure_events_stream(&self.js)
                    .await
                    .map_err(|e| e.to_string())?;
                self.js.get_stream(source.stream()).await
            }
            Source::Archives => {
                livefleet_bus::BroadcastIndex::open(&self.js)
                    .await
                    .map_err(|e| e.to_string())?;
                self.js.get_stream(source.stream()).await
            }
        }
        .map_err(|e| format!("cannot open the stream {}: {e}", source.stream()))?;
        let records = match source {
            Source::Archives => Some(
                self.js
                    .get_key_value(BROADCASTS_BUCKET)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            Source::Broadcasts | Source::Refusals => None,
        };
        let consumer = stream
            .get_or_create_consumer(
                source.consumer(),
                consumer::pull::Config {
                    durable_name: Some(source.consumer().to_owned()),
                    description: Some("livefleet webhooks (shared by every scheduler)".into()),
                    filter_subject: source.filter(),
                    // Events from before webhooks were first switched on are not sent.
                    deliver_policy: consumer::DeliverPolicy::New,
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    // Above TRIES: the last try is ended by this code, with a log line.
                    max_deliver: TRIES + 2,
                    // One at a time: a channel's started comes before its stopped.
                    max_ack_pending: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("cannot open the consumer {}: {e}", source.consumer()))?;
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        tracing::info!(consumer = source.consumer(), "webhooks: reading");
        while let Some(m) = messages.next().await {
            let m = m.map_err(|e| e.to_string())?;
            let hook = match source {
                Source::Broadcasts | Source::Refusals => self.event_hook(&m),
                Source::Archives => archive_hook(&m, records.as_ref(), &self.urls).await,
            };
            let ack = match hook {
                Some(hook) => self.deliver(&m, &hook).await,
                None => AckKind::Ack,
            };
            if let Err(e) = m.ack_with(ack).await {
                tracing::debug!(error = %e, "webhooks: an acknowledgement was lost; the event may come again");
            }
        }
        Err("the consumer's messages ended".into())
    }

    fn event_hook(&self, m: &jetstream::Message) -> Option<Webhook> {
        match ChannelEvent::parse(m.subject.as_str(), &m.payload) {
            Ok((channel, ChannelEvent::Broadcast(e))) => {
                Some(Webhook::of_broadcast(&channel, &e, &self.urls))
            }
            Ok((channel, ChannelEvent::Refusal(r))) => Some(Webhook::of_refusal(&channel, &r)),
            Ok(_) => None,
            Err(reason) => {
                tracing::warn!(%reason, "webhooks: skipping a malformed channel event");
                None
            }
        }
    }

    /// One try of `hook`; how the message is acknowledged.
    async fn deliver(&self, m: &jetstream::Message, hook: &Webhook) -> AckKind {
        let tries = m.info().map(|i| i.delivered).unwrap_or(1).max(1);
        let body = match serde_json::to_vec(hook) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(id = %hook.id, error = %e, "webhooks: the event cannot be written as JSON");
                return AckKind::Term;
            }
        };
        let secret = self.config.secret.as_deref().map(str::as_bytes);
        let counted = |result: &str| {
            self.deliveries
                .with_label_values(&[hook.kind, result])
                .inc();
        };
        let delivery = deliver::Delivery {
            id: &hook.id,
            kind: hook.kind,
            attempt: tries,
            body,
        };
        match deliver::post(&self.http, &self.config.url, secret, delivery).await {
            Ok(_) => {
                counted("delivered");
                tracing::info!(id = %hook.id, channel = %hook.channel, tries, "webhook delivered");
                AckKind::Ack
            }
            Err(error) if tries >= TRIES => {
                counted("given_up");
                tracing::error!(id = %hook.id, channel = %hook.channel, tries, %error, url = %self.config.url, "webhook given up");
                AckKind::Term
            }
            Err(error) => {
                counted("failed");
                let pause = deliver::pause_after(tries);
                tracing::warn!(id = %hook.id, channel = %hook.channel, tries, %error, url = %self.config.url, next_in_s = pause.as_secs(), "webhook not delivered; trying again");
                AckKind::Nak(Some(pause))
            }
        }
    }
}

/// The webhook of an archive record's write, if it is the first write of
/// a finished archive: later writes of a complete record (the claim of the
/// live copy's deletion, a takeover) find a complete one before them.
async fn archive_hook(
    m: &jetstream::Message,
    records: Option<&kv::Store>,
    urls: &Urls,
) -> Option<Webhook> {
    let operation = m
        .headers
        .as_ref()
        .and_then(|h| h.get("KV-Operation"))
        .map(|v| v.as_str());
    let record = match archive_record(operation, &m.payload) {
        Ok(r) => r?,
        Err(e) => {
            tracing::warn!(subject = %m.subject, error = %e, "webhooks: skipping a malformed archive record");
            return None;
        }
    };
    let hook = Webhook::of_archive(&record, urls)?;
    let revision = m.info().map(|i| i.stream_sequence).unwrap_or(u64::MAX);
    let key = m
        .subject
        .as_str()
        .strip_prefix(&format!("$KV.{BROADCASTS_BUCKET}."))?;
    if let Some(records) = records {
        if finished_before(records, key, revision).await {
            return None;
        }
    }
    Some(hook)
}

/// The record a write of the archive bucket carries: `None` for a deletion
/// or a purge (a `KV-Operation` other than `PUT`, or no body), an error for
/// a body that is not a record.
fn archive_record(
    operation: Option<&str>,
    payload: &[u8],
) -> Result<Option<ArchivedBroadcast>, serde_json::Error> {
    if operation.is_some_and(|o| o != "PUT") || payload.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(payload).map(Some)
}

/// Whether a revision of `key` older than `revision` is a finished archive.
async fn finished_before(records: &kv::Store, key: &str, revision: u64) -> bool {
    let Ok(mut history) = records.history(key).await else {
        return false;
    };
    while let Some(Ok(entry)) = history.next().await {
        if entry.revision >= revision {
            continue;
        }
        if let Ok(r) = serde_json::from_slice::<ArchivedBroadcast>(&entry.value) {
            if r.state != ArchiveState::Archiving {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_writes_that_are_not_records_are_skipped_or_refused() {
        assert!(matches!(archive_record(Some("DEL"), b""), Ok(None)));
        assert!(matches!(archive_record(Some("PURGE"), b"{}"), Ok(None)));
        assert!(matches!(archive_record(None, b""), Ok(None)));
        for bad in [
            &b"{"[..],
            b"null",
            b"{\"channel\":\"Bad Name\"}",
            b"\xff\xfe",
            b"[]",
        ] {
            assert!(archive_record(Some("PUT"), bad).is_err(), "{bad:?}");
        }
        let good = br#"{"channel":"demo","id":"20261207T220000Z-12","started_ms":1,"ended_ms":2,
            "duration_seconds":1.0,"segments":1,"gaps":0,"prefix":"vod/demo/x/","state":"complete","updated_ms":3}"#;
        let r = archive_record(None, good).unwrap().unwrap();
        assert_eq!(r.state, ArchiveState::Complete);
    }
}
