//! Channel events on the bus: a worker says when a segment closes and when a
//! broadcast starts or stops; the chat relays listen. A worker that gives up
//! on a publish session says so too ([`PublishRefusal`]); the ingest ends that
//! publish.
//!
//! The events live in the JetStream stream [`EVENTS_STREAM`], a bounded number
//! per subject, so a relay that starts in the middle of a broadcast learns
//! its recent segments before the live ones arrive:
//!
//! ```text
//! worker --publish_event--> LIVEFLEET_EVENTS (events.segment.<channel>, events.broadcast.<channel>) --subscribe_events--> chat relay
//!                                           (events.refusal.<channel>) --last_refusal--> ingest
//! ```
//!
//! Publishing never waits for the stream: an event that cannot be stored is
//! logged and lost, and the relays fall back to the live edge (see
//! `docs/chat.md`).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

pub use crate::refusal::PublishRefusal;
use crate::refusal::REFUSAL;
use crate::replication::{ensure_stream, StreamKind};
use crate::BusError;

/// The stream that keeps recent channel events.
pub const EVENTS_STREAM: &str = "LIVEFLEET_EVENTS";
const PREFIX: &str = "livefleet.events";
/// Events kept per subject: segment closes of one channel (at 2 s segments,
/// the last eight and a half minutes), or its broadcast starts and stops.
const PER_SUBJECT: i64 = 256;
/// Events are about live media; a day is more than any relay needs.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A media segment closed (the same number on every rendition; numbers go
/// on across a channel's broadcasts, so a number names one segment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEvent {
    pub number: u64,
    /// Its PROGRAM-DATE-TIME: wall-clock time of its first frame, Unix ms.
    pub start_ms: i64,
    pub duration_ms: i64,
}

impl SegmentEvent {
    /// Wall-clock end of the segment, Unix ms.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.duration_ms
    }
}

/// A broadcast of a channel started or stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastEvent {
    pub state: BroadcastState,
    /// The broadcast (its start, Unix ms).
    pub broadcast: i64,
    /// When it happened, Unix ms.
    pub at_ms: i64,
}

/// Whether a broadcast started or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastState {
    Started,
    Stopped,
}

/// One event of one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelEvent {
    Segment(SegmentEvent),
    Broadcast(BroadcastEvent),
    /// A worker gave up on a publish session; its ingest ends that publish.
    Refusal(PublishRefusal),
}

impl ChannelEvent {
    fn subject(&self, channel: &ChannelName) -> String {
        let kind = match self {
            Self::Segment(_) => "segment",
            Self::Broadcast(_) => "broadcast",
            Self::Refusal(_) => REFUSAL,
        };
        subject(kind, channel)
    }

    fn body(&self) -> Vec<u8> {
        match self {
            Self::Segment(e) => serde_json::to_vec(e),
            Self::Broadcast(e) => serde_json::to_vec(e),
            Self::Refusal(e) => serde_json::to_vec(e),
        }
        .unwrap_or_default()
    }

    /// Parses an event from its subject and body; bad input is an error naming it.
    pub fn parse(subject: &str, body: &[u8]) -> Result<(ChannelName, ChannelEvent), BadEvent> {
        let bad = |reason: String| BadEvent {
            subject: subject.chars().take(200).collect(),
            reason,
        };
        let rest = subject
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(|| bad("not an event subject".into()))?;
        let (kind, channel) = rest
            .split_once('.')
            .ok_or_else(|| bad("no channel".into()))?;
        let channel = ChannelName::new(channel).map_err(|e| bad(e.to_string()))?;
        let event = match kind {
            "segment" => serde_json::from_slice(body).map(ChannelEvent::Segment),
            "broadcast" => serde_json::from_slice(body).map(ChannelEvent::Broadcast),
            REFUSAL => PublishRefusal::parse(body).map(ChannelEvent::Refusal),
            other => return Err(bad(format!("unknown event kind {other:?}"))),
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok((channel, event))
    }
}

/// The subject of `channel`'s events of `kind`.
pub(crate) fn subject(kind: &str, channel: &ChannelName) -> String {
    format!("{PREFIX}.{kind}.{channel}")
}

/// A message on the events subjects that is not an event.
#[derive(Debug, thiserror::Error)]
#[error("{subject}: {reason}")]
pub struct BadEvent {
    /// The message's subject (its first 200 characters).
    pub subject: String,
    pub reason: String,
}

/// Creates the events stream if it is not there.
pub async fn ensure_events_stream(js: &jetstream::Context) -> Result<(), BusError> {
    let config = stream::Config {
        name: EVENTS_STREAM.to_owned(),
        description: Some(
            "livefleet channel events: segment closes, broadcast starts and stops".into(),
        ),
        subjects: vec![format!("{PREFIX}.>")],
        max_messages_per_subject: PER_SUBJECT,
        max_age: MAX_AGE,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    ensure_stream(js, config, StreamKind::State)
        .await
        .map_err(|e| {
            BusError::nats(
                format!("cannot create or open the stream {EVENTS_STREAM}"),
                e,
            )
        })?;
    Ok(())
}

/// How long a refusal is published again until the stream stores it: until
/// then its publisher streams into nothing (`docs/design/publish-refusal.md`).
/// Other events are published again once, at once, when the stream was not
/// there: a chat relay takes segment events in order.
const REFUSAL_TRIED_FOR: Duration = Duration::from_secs(120);
/// The longest wait for the stream's answer to one publish.
const STORE_ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Publishes `event` of `channel` without waiting: the store's answer is
/// awaited in a task of its own and a failure is logged. A stream that is
/// gone (a bus that lost its storage) is created again. A refusal is
/// published again, with backoff, for [`REFUSAL_TRIED_FOR`] until stored.
pub fn publish_event(js: &jetstream::Context, channel: &ChannelName, event: &ChannelEvent) {
    let js = js.clone();
    let subject = event.subject(channel);
    let body = bytes::Bytes::from(event.body());
    let channel = channel.clone();
    let refusal = matches!(event, ChannelEvent::Refusal(_));
    tokio::spawn(async move {
        let give_up = tokio::time::Instant::now() + REFUSAL_TRIED_FOR;
        let mut backoff = Duration::from_millis(250);
        for attempt in 1.. {
            let stored = async {
                js.publish(subject.clone(), body.clone()).await?.await?;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            };
            let (error, answered) = match tokio::time::timeout(STORE_ANSWER_WITHIN, stored).await {
                Ok(Ok(())) => {
                    if attempt > 1 {
                        tracing::info!(%channel, attempt, %subject, "the channel event is stored");
                    }
                    return;
                }
                Ok(Err(e)) => (e.to_string(), true),
                Err(_) => (format!("no answer within {STORE_ANSWER_WITHIN:?}"), false),
            };
            // No stream answered (it is gone): create it again.
            if answered {
                if let Err(e) = ensure_events_stream(&js).await {
                    tracing::debug!(%channel, error = %e, "the events stream cannot be created");
                }
            }
            let again = if refusal {
                tokio::time::Instant::now() + backoff <= give_up
            } else {
                attempt == 1 && answered
            };
            if !again {
                if refusal {
                    tracing::warn!(%channel, %error, attempt, "the publish refusal was not stored; its publisher streams on until it stops");
                } else {
                    tracing::debug!(%channel, %error, %subject, "a channel event was not stored");
                }
                return;
            }
            if refusal && attempt > 1 {
                tracing::warn!(%channel, %error, attempt, "the publish refusal was not stored; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(4));
            }
        }
    });
}

/// The last broadcast event of `channel` (its broadcast started, or
/// stopped); `None` when it has none, or the events stream is not there.
pub async fn last_broadcast_event(
    js: &jetstream::Context,
    channel: &ChannelName,
) -> Result<Option<BroadcastEvent>, BusError> {
    let Ok(stream) = js.get_stream(EVENTS_STREAM).await else {
        return Ok(None);
    };
    match stream
        .get_last_raw_message_by_subject(&subject("broadcast", channel))
        .await
    {
        Ok(m) => serde_json::from_slice(&m.payload).map(Some).map_err(|e| {
            BusError::nats(
                format!("the last broadcast event of channel {channel} is unreadable"),
                e,
            )
        }),
        Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(BusError::nats(
            format!("cannot read the last broadcast event of channel {channel}"),
            e,
        )),
    }
}

/// A channel event as read from the stream.
type EventStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = (ChannelName, ChannelEvent)> + Send>>;

/// Every channel's events: the recent ones the stream keeps, then the live
/// ones, in order. Malformed events are logged and skipped. When the
/// stream is made again (a bus that lost its storage,
/// [`crate::restorations`]), the events are followed again from its start.
pub async fn subscribe_events(
    js: &jetstream::Context,
) -> Result<impl futures::Stream<Item = (ChannelName, ChannelEvent)>, BusError> {
    let first = follow_events(js).await?;
    let state = (first, crate::restorations(EVENTS_STREAM), js.clone());
    Ok(futures::stream::unfold(
        state,
        |(mut current, mut restored, js)| async move {
            loop {
                tokio::select! {
                    event = current.next() => return event.map(|e| (e, (current, restored, js))),
                    () = restored.made_again() => match follow_events(&js).await {
                        Ok(again) => {
                            tracing::warn!("the events stream was made again; following it from its start");
                            current = again;
                        }
                        Err(e) => tracing::warn!(error = %e, "the events stream was made again but cannot be followed yet"),
                    },
                }
            }
        },
    ))
}

/// One ordered consumer of the events stream, from its first message.
async fn follow_events(js: &jetstream::Context) -> Result<EventStream, BusError> {
    ensure_events_stream(js).await?;
    let stream = js
        .get_stream(EVENTS_STREAM)
        .await
        .map_err(|e| BusError::nats("cannot open the events stream", e))?;
    let messages = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::nats("cannot follow the events stream", e))?
        .messages()
        .await
        .map_err(|e| BusError::nats("cannot follow the events stream", e))?;
    Ok(Box::pin(messages.filter_map(|m| async move {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "events stream: a message was not read");
                return None;
            }
        };
        match ChannelEvent::parse(m.subject.as_str(), &m.payload) {
            Ok(e) => Some(e),
            Err(reason) => {
                tracing::warn!(%reason, "skipping a malformed channel event");
                None
            }
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_subject_and_body() {
        let channel = ChannelName::new("demo").unwrap();
        let event = ChannelEvent::Segment(SegmentEvent {
            number: 7,
            start_ms: 1_000,
            duration_ms: 2_000,
        });
        let parsed = ChannelEvent::parse(&event.subject(&channel), &event.body()).unwrap();
        assert_eq!(parsed, (channel.clone(), event));
        let refusal = ChannelEvent::Refusal(PublishRefusal::new(
            9,
            "rendition source: passthrough copies H.264 or HEVC",
        ));
        let parsed = ChannelEvent::parse(&refusal.subject(&channel), &refusal.body()).unwrap();
        assert_eq!(parsed, (channel, refusal));
    }

    #[test]
    fn malformed_events_are_errors() {
        for (subject, body) in [
            ("livefleet.events.segment.Demo", &b"{}"[..]),
            ("livefleet.events.other.demo", b"{}"),
            ("livefleet.events.segment.demo", b"{\"number\":-1}"),
            ("livefleet.events.segment", b"{}"),
            ("livefleet.events.refusal.demo", b"{\"session\":1}"),
            ("other.subject", b"{}"),
        ] {
            assert!(ChannelEvent::parse(subject, body).is_err(), "{subject}");
        }
    }
}
