//! A worker's word that it gave up on a publish session (a codec it cannot
//! copy, a decoder that cannot open, a store that refused its segments).
//!
//! The worker ignores the rest of such a session, so a publisher that went
//! on would stream into nothing: the ingest looks for the refusal of the
//! session it forwards at each recheck of a running publish, and ends that
//! publish with the worker's reason in the RTMP error status
//! (`docs/design/publish-refusal.md`).

use async_nats::jetstream::{self, stream};
use livefleet_base::{now_unix_ms, ChannelName};
use serde::{Deserialize, Serialize};

use crate::events::{subject, EVENTS_STREAM};
use crate::BusError;

/// The event kind in the subject: `livefleet.events.refusal.<channel>`.
pub(crate) const REFUSAL: &str = "refusal";
/// The longest reason carried: an RTMP status text, not a log.
const MAX_REASON: usize = 400;

/// A publish session a worker gave up on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRefusal {
    /// The ingest's session number of the publish.
    pub session: u32,
    pub reason: String,
    /// When the worker gave up, Unix ms.
    pub at_ms: i64,
}

impl PublishRefusal {
    /// The refusal of `session` now, its reason cut to what a status carries.
    pub fn new(session: u32, reason: &str) -> Self {
        Self {
            session,
            reason: shorten(reason),
            at_ms: now_unix_ms(),
        }
    }

    /// Reads a refusal from a message body; the reason is cut as [`Self::new`] cuts it.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        let mut r: Self = serde_json::from_slice(body)?;
        r.reason = shorten(&r.reason);
        Ok(r)
    }
}

fn shorten(reason: &str) -> String {
    match reason.char_indices().nth(MAX_REASON) {
        Some((cut, _)) => format!("{}...", &reason[..cut]),
        None => reason.to_owned(),
    }
}

/// The latest refusal stored for `channel`, if any. A body that does not
/// read as a refusal is an error naming the channel.
pub async fn last_refusal(
    js: &jetstream::Context,
    channel: &ChannelName,
) -> Result<Option<PublishRefusal>, BusError> {
    let stream = js
        .get_stream(EVENTS_STREAM)
        .await
        .map_err(|e| BusError::nats("cannot open the events stream", e))?;
    match stream
        .get_last_raw_message_by_subject(&subject(REFUSAL, channel))
        .await
    {
        Ok(m) => PublishRefusal::parse(&m.payload).map(Some).map_err(|e| {
            BusError::nats(
                format!("the last refusal of channel {channel} is unreadable"),
                e,
            )
        }),
        Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(BusError::nats(
            format!("cannot read the last refusal of channel {channel}"),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let r = PublishRefusal::new(1, &"é".repeat(1000));
        assert_eq!(r.reason.chars().count(), MAX_REASON + 3);
        let body = serde_json::to_vec(&PublishRefusal {
            reason: "x".repeat(5000),
            ..r
        })
        .unwrap();
        assert_eq!(
            PublishRefusal::parse(&body).unwrap().reason.len(),
            MAX_REASON + 3
        );
    }
}
