//! From the bus to a channel's decode thread: the media subscription, made
//! again when it stalls, without replaying or losing media.

use std::time::Duration;

use livefleet_base::{ChannelName, MediaPacket, PacketKind, Track};

/// Media silence after which the subscription is made again (a NATS server
/// restart loses the in-memory media stream and the consumer with it).
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(3);
/// How long one attempt to subscribe to the media may take.
const SUBSCRIBE_WITHIN: Duration = Duration::from_secs(3);

/// Feeds `tx` with the media of `channel` from the latest keyframe, until
/// `tx` closes. When media stops for a few seconds the subscription is made
/// again, right after the last packet forwarded (so a bus that stalled and
/// then delivers its backlog at once loses nothing), or at the latest
/// keyframe when the stream lost that point (a server restart); frames
/// already forwarded are skipped, so a publisher's pause never replays media.
pub async fn forward_media(
    js: async_nats::jetstream::Context,
    channel: ChannelName,
    tx: tokio::sync::mpsc::Sender<MediaPacket>,
) {
    let mut last: std::collections::HashMap<(u32, Track), i64> = std::collections::HashMap::new();
    // Where this worker is in the stream: a new subscription continues from there.
    let mut position: Option<(u64, i128)> = None;
    loop {
        let start = match position {
            Some((sequence, stream_created)) => livefleet_bus::MediaStart::After {
                sequence,
                stream_created,
            },
            None => livefleet_bus::MediaStart::LatestKeyframe,
        };
        // Bounded: on a cluster electing the stream's new leader, a request
        // can hang for the client's whole timeout; trying again soon wins.
        let attempt = match tokio::time::timeout(
            SUBSCRIBE_WITHIN,
            livefleet_bus::subscribe_media(&js, &channel, start),
        )
        .await
        {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {SUBSCRIBE_WITHIN:?}")),
        };
        let mut subscription = match attempt {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%channel, error = %e, "cannot subscribe to the media; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                if tx.is_closed() {
                    return;
                }
                continue;
            }
        };
        loop {
            match tokio::time::timeout(RESUBSCRIBE_AFTER, subscription.next()).await {
                Ok(Some(Ok((seq, p)))) => {
                    position = Some((seq, subscription.stream_created()));
                    if p.kind == PacketKind::Frame {
                        let key = (p.session, p.track);
                        if last.get(&key).is_some_and(|d| p.dts_ms <= *d) {
                            continue;
                        }
                        last.insert(key, p.dts_ms);
                    }
                    if tx.send(p).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(%channel, error = %e, "media subscription error")
                }
                Ok(None) => {
                    tracing::warn!(%channel, "media subscription ended; subscribing again");
                    break;
                }
                Err(_) => {
                    if tx.is_closed() {
                        return;
                    }
                    tracing::debug!(%channel, "no media for {RESUBSCRIBE_AFTER:?}; subscribing again where this worker was");
                    break;
                }
            }
        }
    }
}
