//! The recheck of a running publish: is its channel still there with its
//! key (the gate), and has its worker not given up on its session (the sink)?

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use livefleet_base::ChannelName;

use crate::metrics::ENDED_BY_WORKER;
use crate::{IngestConfig, MediaSink, PublishGate, Refusal};

/// A recheck of a running publish in flight: the registry's verdict, or
/// `Elapsed` when it did not answer within [`recheck_bound`].
pub(crate) type Recheck<'a> = Pin<
    Box<dyn Future<Output = Result<Result<(), Refusal>, tokio::time::error::Elapsed>> + Send + 'a>,
>;

/// How long one recheck of a running publish may wait on the registry: at
/// most one recheck period, and never more than 2 s. A recheck that cannot
/// answer lets the publish go on; the next one asks again.
pub(crate) fn recheck_bound(config: &IngestConfig) -> Duration {
    config
        .publish_recheck
        .clamp(Duration::from_millis(100), Duration::from_secs(2))
}

/// The refusal kind of a publish its worker gave up on.
const WORKER: &str = "worker";

/// Whether a running publish may go on: its gate's recheck (the channel and
/// its key still there), then whether the worker gave up on its session.
pub(crate) async fn recheck_publish(
    gate: &dyn PublishGate,
    sink: &dyn MediaSink,
    stream_key: &str,
    channel: &ChannelName,
    session: u32,
) -> Result<(), Refusal> {
    gate.recheck(stream_key, channel).await?;
    match sink.refusal(channel, session).await {
        Some(reason) => Err(Refusal::denied(reason).because(WORKER)),
        None => Ok(()),
    }
}

/// `livefleet_ingest_publishes_total`'s result for a running publish that
/// `refusal` ended.
pub(crate) fn revoked_result(refusal: &Refusal) -> &'static str {
    if refusal.kind == WORKER {
        ENDED_BY_WORKER
    } else {
        "revoked"
    }
}
