//! Deciding on a publish request: the stream key (the gate), then the
//! channel's claim (`crate::claims`), then the answer to the publisher.

use std::net::SocketAddr;
use std::time::Duration;

use livefleet_base::ChannelName;

use crate::claims::{Busy, Claims, Taken};
use crate::connection::{ConnectionEvent, ProtocolError, PublishRequest, RtmpConnection};
use crate::{IngestMetrics, PublishGate, Refusal};

/// How long a new publisher waits for a silent one it replaces to end.
const TAKEOVER_WAIT: Duration = Duration::from_secs(2);

/// A publish request let in.
pub(crate) struct Accepted {
    pub channel: ChannelName,
    pub session: u32,
    pub taken: Taken,
}

/// What deciding on a publish request takes.
pub(crate) struct Admission<'a> {
    pub gate: &'a dyn PublishGate,
    pub claims: &'a Claims,
    pub takeover_after: Duration,
    pub metrics: &'a IngestMetrics,
}

/// Asks the gate about a publish request and claims the channel: free, or
/// held by a publisher that has sent nothing for `takeover_after`. The
/// events answer the publisher (accepted or refused).
pub(crate) async fn admit(
    conn: &mut RtmpConnection,
    request: &PublishRequest,
    peer: SocketAddr,
    admission: &Admission<'_>,
) -> Result<(Vec<ConnectionEvent>, Option<Accepted>), ProtocolError> {
    let verdict = match admission.gate.authorize(&request.stream_key, peer).await {
        Ok(channel) => {
            let claimed = admission
                .claims
                .claim(&channel, admission.takeover_after, TAKEOVER_WAIT)
                .await;
            match claimed {
                Ok(taken) => Ok((channel, taken)),
                Err(busy) => {
                    let reason = match busy {
                        Busy::Sending => format!("channel {channel} already has a publisher"),
                        Busy::NotReleased => format!("channel {channel} already has a publisher (silent, but it did not end in time)"),
                    };
                    Err(Refusal::bad_name(reason).because("busy"))
                }
            }
        }
        Err(refusal) => Err(refusal),
    };
    match verdict {
        Ok((channel, taken)) => {
            let session = rand::random::<u32>();
            match conn.accept_publish(request, channel.clone(), session) {
                Ok(events) => {
                    admission
                        .metrics
                        .publishes
                        .with_label_values(&["accepted"])
                        .inc();
                    Ok((
                        events,
                        Some(Accepted {
                            channel,
                            session,
                            taken,
                        }),
                    ))
                }
                Err(e) => {
                    admission.claims.release(&channel, &taken.claim);
                    Err(e)
                }
            }
        }
        Err(refusal) => {
            admission
                .metrics
                .refusals
                .with_label_values(&[refusal.kind])
                .inc();
            let events = conn.refuse_publish(request, refusal.code.as_str(), &refusal.reason)?;
            Ok((events, None))
        }
    }
}
